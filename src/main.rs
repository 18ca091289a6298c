//! The `caunoi` binary: set up the allocator, install the crypto provider, parse
//! the command line, run.

// The schema's merged roots nest deeper than the compiler's default
// query depth when a binary lays out their resolvers' futures.
#![recursion_limit = "256"]

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
