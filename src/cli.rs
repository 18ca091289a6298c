//! The command line: `serve`, `demo`, `migrate`, `seed`, `schema`, `pki`,
//! `audit`, `sync`, `healthcheck`, `config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Config, LogFormat};
use crate::domain::{ProvinceCode, Role};

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
    /// Manage this province's certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Check or export the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Exit 0 only when this province's gateway is ready (its ops listener's
    /// `/readyz` answers 200): for container and systemd health checks.
    Healthcheck,
    /// Check a configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Pull partners' change feeds into the read-only replica, once.
    Sync {
        /// Run one pass and exit (for an external scheduler). Exits 75 when
        /// another worker held a partner's sync, so nothing was done; 1 on a
        /// failure.
        #[arg(long)]
        once: bool,
        /// Only this partner (default: every partner with an endpoint).
        #[arg(long)]
        partner: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print every problem of FILE on its own (over the defaults, without
    /// the environment), each with the key and the reason; exit 1 if there is
    /// any.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit non-zero at the first broken link.
    Verify {
        /// A head exported earlier (`<sequence>:<hash>`) that must still be in
        /// the chain, so that cutting entries off the end is caught.
        #[arg(long)]
        expect: Option<String>,
    },
    /// Print the chain's head, `<sequence>:<hash>`, to keep elsewhere.
    Head,
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create the province's CA and the gateway's certificate.
    Init {
        /// Where to write them (default: the configured TLS directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// DNS names and IP addresses the gateway is reached at.
        #[arg(long = "host", default_values = ["localhost", "127.0.0.1"])]
        hosts: Vec<String>,
    },
    /// Issue a client certificate for an internal user.
    Issue {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// dashboard, operator or sync.
        #[arg(long)]
        role: String,
        /// Names the files <name>.pem and <name>.key.
        #[arg(long)]
        name: String,
    },
    /// Print the CA certificate, which partners configure to trust us.
    ExportCa {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Runs the command line; errors are printed with their causes.
pub fn main() -> ExitCode {
    main_from(std::env::args_os())
}

/// Runs the command line `args` (the first is the program's name).
pub fn main_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = Cli::parse_from(args);
    if let Command::Schema = cli.command {
        print!("{}", crate::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        let problems = Config::check(file);
        for problem in &problems {
            println!("{}: {problem}", file.display());
        }
        if problems.is_empty() {
            println!("{}: ok", file.display());
            return ExitCode::SUCCESS;
        }
        return ExitCode::FAILURE;
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

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Schema | Command::Config(_) => {
            unreachable!("handled before the runtime starts")
        }
        Command::Healthcheck => {
            let (ready, said) = healthcheck(&config).await;
            println!("{said}");
            if !ready {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Pki(command) => pki(command, &config)?,
        Command::Audit(AuditCommand::Head) => {
            println!(
                "{}",
                open_store(&config)
                    .await?
                    .audit_head()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?
            );
        }
        Command::Audit(AuditCommand::Verify { expect }) => {
            let expect = expect
                .as_deref()
                .map(crate::domain::audit::Head::parse)
                .transpose()?;
            let verdict =
                crate::audit::verify(&open_store(&config).await?, expect.as_ref()).await?;
            println!("{verdict}");
            if verdict.broken.is_some() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Migrate => {
            open_store(&config).await?;
            tracing::info!("migrations applied");
        }
        Command::Seed => {
            let report = crate::seed::seed(&open_store(&config).await?).await?;
            println!("{report}");
        }
        Command::Serve => {
            let app = App::build(&config).await?;
            serve(app, &config).await?;
        }
        Command::Sync { once, partner } => {
            anyhow::ensure!(
                once,
                "scheduled sync runs inside `caunoi serve`; run `caunoi sync --once` from an external scheduler"
            );
            let store = open_store(&config).await?;
            let partners = crate::federation::Partners::build(&config)?;
            let wanted = partner
                .as_deref()
                .map(ProvinceCode::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--partner: {e}"))?;
            let holder = crate::sync::worker("caunoi-sync");
            let (mut failed, mut skipped) = (false, false);
            for province in partners.iter().map(|p| p.province) {
                if wanted.is_some_and(|w| w != province) {
                    continue;
                }
                match crate::sync::sync_once(&store, &partners, province, &holder).await {
                    Ok(report) => {
                        skipped |= report.skipped;
                        println!("{report}");
                    }
                    Err(error) => {
                        failed = true;
                        eprintln!("caunoi: sync: {error}");
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
            if skipped {
                return Ok(ExitCode::from(crate::sync::SKIPPED_EXIT));
            }
        }
        Command::Demo { check, .. } => {
            let ok = crate::demo::run(config, check).await?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the ops listener's `/readyz` (on loopback when it listens on every
/// address): whether the gateway is ready, and what it said.
async fn healthcheck(config: &Config) -> (bool, String) {
    let mut address = config.ops_listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{address}/readyz");
    let asked = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string());
    let answer = match asked {
        Ok(client) => client.get(&url).send().await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match answer {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            (
                status == reqwest::StatusCode::OK,
                format!("{url}: {status} {}", body.trim()),
            )
        }
        Err(error) => (false, format!("{url}: no answer: {error}")),
    }
}

/// The configured database, migrated; no certificates needed.
async fn open_store(config: &Config) -> anyhow::Result<crate::store::Store> {
    let store =
        crate::store::Store::connect(&config.database_url()?, config.province_code()?).await?;
    store.migrate().await?;
    Ok(store)
}

fn pki(command: PkiCommand, config: &Config) -> anyhow::Result<()> {
    let province = config.province_code()?;
    match command {
        PkiCommand::Init { dir, hosts } => {
            let dir = dir.unwrap_or_else(|| config.pki_dir());
            for path in crate::pki::init(&dir, province, &hosts)? {
                println!("wrote {}", path.display());
            }
        }
        PkiCommand::Issue { dir, role, name } => {
            let dir = dir.unwrap_or_else(|| config.pki_dir());
            let role = Role::from_code(&role).map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let (cert, key) = crate::pki::issue(&dir, province, role, &name)?;
            println!("wrote {}\nwrote {}", cert.display(), key.display());
        }
        PkiCommand::ExportCa { dir } => {
            let dir = dir.unwrap_or_else(|| config.pki_dir());
            let path = dir.join(crate::pki::CA_CERT);
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            print!("{pem}");
        }
    }
    Ok(())
}

async fn serve(app: App, config: &Config) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let ops = TcpListener::bind(config.ops_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.ops_listen))?;
    let address = listener.local_addr()?;
    let province: ProvinceCode = config.province_code()?;
    tracing::info!(%address, ops = %config.ops_listen, %province, "serving");
    println!(
        "Province {province} serves GraphQL at https://{address}/graphql (mutual TLS), \
         health and readiness at http://{}/healthz and /readyz. Ctrl-C stops.",
        config.ops_listen
    );
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopped = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut receiver = stop.subscribe();
        async move {
            let _ = receiver.recv().await;
        }
    };
    tokio::spawn(watch_tls(app.clone(), config.tls.reload_interval));
    let exchange = tokio::spawn(app.clone().run(listener, stopped(&stop)));
    let ops = tokio::spawn(app.run_ops(ops, stopped(&stop)));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop.send(());
    exchange.await??;
    ops.await??;
    Ok(())
}

/// Reloads the TLS material on SIGHUP, and when its files change.
async fn watch_tls(app: App, interval: std::time::Duration) {
    let mut ticks = tokio::time::interval(interval);
    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hangups.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let result = tokio::select! {
            _ = ticks.tick() => app.tls().reload_if_changed().map(|_| ()),
            _ = hangup => app.tls().reload(),
        };
        if let Err(error) = result {
            tracing::error!(error = %format!("{error:#}"), "TLS reload failed; the previous material stays in force");
        }
    }
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
