//! The `caunoi` binary: set up the allocator, install the crypto provider, parse
//! the command line, run.

/// mimalloc, for the reasons `caunoi::allocator` gives.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    caunoi::allocator::configure();
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("no other rustls crypto provider is installed before main");
    caunoi::cli::main()
}
