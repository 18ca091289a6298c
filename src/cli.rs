//! The command line: `serve`, `demo`, `migrate`, `seed`, `schema`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Config, LogFormat};
use crate::domain::ProvinceCode;

#[derive(Debug, Parser)]
#[command(
    name = "caunoi",
    version,
    about = "Cầu Nối: the food-safety data exchange gateway"
)]
pub struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "CAUNOI_CONFIG")]
    config: Option<PathBuf>,
    /// The province this gateway serves (overrides the configuration).
    #[arg(long, global = true)]
    province: Option<String>,
    /// Where state lives (overrides the configuration).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve this province's GraphQL API until Ctrl-C.
    Serve,
    /// Start a seeded province on the embedded database, show example queries
    /// and their answers, then serve until Ctrl-C.
    Demo {
        /// Exit after the examples: non-zero if any answer is wrong.
        #[arg(long)]
        check: bool,
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Fill an empty database with realistic data of a province.
    Seed,
    /// Print the GraphQL schema (SDL), as committed in schema.graphql.
    Schema,
}

/// Runs the command line; errors are printed with their causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match cli.config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("caunoi: {error:#}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("caunoi: {error:#}");
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(province) = &self.province {
            config.province.code = province.clone();
        }
        if let Some(state_dir) = &self.state_dir {
            config.state_dir = state_dir.clone();
        }
        if let Command::Demo { listen, .. } = &self.command {
            config.listen = *listen;
        }
        config.validate()?;
        Ok(config)
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Schema => unreachable!("handled before the runtime starts"),
        Command::Migrate => {
            App::build(&config).await?;
            tracing::info!("migrations applied");
        }
        Command::Seed => {
            let app = App::build(&config).await?;
            let report = crate::seed::seed(app.store()).await?;
            println!("{report}");
        }
        Command::Serve => {
            let app = App::build(&config).await?;
            serve(app, &config).await?;
        }
        Command::Demo { check, .. } => {
            if config.province.name.is_none() {
                config.province.name =
                    crate::seed::province_name(config.province_code()?).map(str::to_owned);
            }
            let app = App::build(&config).await?;
            let seeded = crate::seed::seed(app.store()).await?;
            println!("{seeded}\n");
            let ok = crate::demo::show(&app).await?;
            if check {
                return Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            serve(app, &config).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(app: App, config: &Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let province: ProvinceCode = config.province_code()?;
    tracing::info!(%address, %province, "serving GraphQL at http://{address}/graphql");
    let example = r#"{"query":"{ province { code name } facilities(first: 2) { edges { node { name } } } }"}"#;
    println!(
        "Province {province} serves GraphQL at http://{address}/graphql (GraphiQL in a browser).\n\
         Try: curl -s http://{address}/graphql -H 'content-type: application/json' -d '{example}'\n\
         Ctrl-C stops."
    );
    app.run(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
