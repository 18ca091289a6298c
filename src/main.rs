//! The `caunoi` binary: install the crypto provider, parse the command line, run.

fn main() -> std::process::ExitCode {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("no other rustls crypto provider is installed before main");
    caunoi::cli::main()
}
