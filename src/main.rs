//! The `caunoi` binary: set up the allocator, install the crypto provider, parse
//! the command line, run.

fn main() -> std::process::ExitCode {
    caunoi::allocator::configure();
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("no other rustls crypto provider is installed before main");
    caunoi::cli::main()
}
