//! Everything a run stands on: each province's development PKI, a seeded SQLite
//! database, a gateway process serving it, and mTLS clients to reach it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context;
use caunoi::domain::{CertificateData, FacilityData};
use caunoi::domain::{CertificateKind, FacilityKind, GlobalId, ProvinceCode, Role, today};
use caunoi::store::Store;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Certificates per facility in the seeded registers.
const PER_FACILITY: usize = 20;

/// Where a run's databases live: SQLite files in each province's directory,
/// or databases the harness creates on a PostgreSQL server, named after the
/// run so that two runs do not meet, and dropped when it ends.
#[derive(Clone, Debug)]
pub enum Databases {
    Sqlite,
    Postgres { server: String, prefix: String },
}

impl Databases {
    /// SQLite, or databases on the PostgreSQL server at `server`, a URL
    /// whose role may create databases.
    pub fn new(server: Option<&str>) -> anyhow::Result<Self> {
        let Some(server) = server else {
            return Ok(Self::Sqlite);
        };
        anyhow::ensure!(
            server.starts_with("postgres://") || server.starts_with("postgresql://"),
            "--database takes a postgres://… URL, not {server}"
        );
        Ok(Self::Postgres {
            server: server.to_owned(),
            prefix: format!("caunoi_bench_{}", std::process::id()),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres { .. } => "PostgreSQL",
        }
    }

    /// The URL of database `name` of province `code` whose files are in `dir`.
    fn url(&self, dir: &Path, code: ProvinceCode, name: &str) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}?mode=rwc", dir.join(name).display()),
            Self::Postgres { server, prefix } => {
                let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
                let stem = name.trim_end_matches(".sqlite").replace('-', "_");
                format!("{base}/{prefix}_{code}_{stem}")
            }
        }
    }

    /// Creates the database at `url` unless it exists (SQLite creates its own).
    async fn create(&self, url: &str) -> anyhow::Result<()> {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let Self::Postgres { server, .. } = self else {
            return Ok(());
        };
        let name = url.rsplit('/').next().unwrap_or_default();
        let admin = Database::connect(server).await?;
        let exists = admin
            .query_one_raw(Statement::from_sql_and_values(
                admin.get_database_backend(),
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.into()],
            ))
            .await?
            .is_some();
        if !exists {
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
        }
        admin.close().await?;
        Ok(())
    }

    /// Drops the databases this run created, once no gateway uses them.
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let Self::Postgres { server, prefix } = self else {
            return Ok(());
        };
        let admin = Database::connect(server).await?;
        let rows = admin
            .query_all_raw(Statement::from_string(
                admin.get_database_backend(),
                "SELECT datname FROM pg_database",
            ))
            .await?;
        let ours = format!("{prefix}_");
        for row in rows {
            let name: String = row.try_get("", "datname")?;
            if !name.starts_with(&ours) {
                continue;
            }
            admin
                .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .await?;
        }
        admin.close().await?;
        Ok(())
    }
}

/// One province's state: its directory (PKI, SQLite files), its databases,
/// its ports.
pub struct Province {
    pub code: ProvinceCode,
    pub dir: PathBuf,
    pub databases: Databases,
    pub port: u16,
    pub ops_port: u16,
}

impl Province {
    /// The same province on fresh ports: a second gateway of its own, over
    /// another database, with the same PKI.
    pub fn sibling(&self) -> anyhow::Result<Self> {
        Ok(Self {
            code: self.code,
            dir: self.dir.clone(),
            databases: self.databases.clone(),
            port: free_port()?,
            ops_port: free_port()?,
        })
    }

    /// Creates `dir` with the province's CA, gateway certificate and a
    /// dashboard certificate, and picks its ports.
    pub fn create(root: &Path, code: &str, databases: &Databases) -> anyhow::Result<Self> {
        let code = ProvinceCode::parse(code).map_err(|e| anyhow::anyhow!("{}", e.0))?;
        let dir = root.join(code.to_string());
        let hosts = ["localhost".to_owned(), "127.0.0.1".to_owned()];
        caunoi::pki::init(&dir.join("pki"), code, &hosts)?;
        caunoi::pki::issue(&dir.join("pki"), code, Role::Dashboard, "benchmark")?;
        Ok(Self {
            code,
            dir,
            databases: databases.clone(),
            port: free_port()?,
            ops_port: free_port()?,
        })
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    pub fn database_url(&self, name: &str) -> String {
        self.databases.url(&self.dir, self.code, name)
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/graphql", self.port)
    }

    /// Opens (and migrates) the store `name` of this province, creating it
    /// if need be.
    pub async fn store(&self, name: &str) -> anyhow::Result<Store> {
        let url = self.database_url(name);
        self.databases.create(&url).await?;
        let store = Store::connect(&url, self.code).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// A configuration serving the store `name`, with `partners` as its partners.
    /// Without rate limits: the benchmark measures capacity, its dashboards
    /// sending thousands of requests a second with one certificate.
    pub fn config(&self, name: &str, partners: &[&Province]) -> String {
        let mut toml = format!(
            "state_dir = {dir:?}\ndatabase_url = {db:?}\nlisten = \"127.0.0.1:{port}\"\n\
             ops_listen = \"127.0.0.1:{ops}\"\n[province]\ncode = \"{code}\"\n\
             [log]\nfilter = \"warn\"\n\
             [limits]\nrate_per_certificate = 0\npartner_rate = 0\n",
            dir = self.dir,
            db = self.database_url(name),
            port = self.port,
            ops = self.ops_port,
            code = self.code,
        );
        for partner in partners {
            toml += &format!(
                "[[partners]]\nprovince = \"{code}\"\nca = {ca:?}\nendpoint = {url:?}\n",
                code = partner.code,
                ca = partner.pki().join(caunoi::pki::CA_CERT),
                url = partner.url(),
            );
        }
        toml
    }

    /// A client of this province's gateway presenting its dashboard certificate,
    /// with its own connection pool.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let pki = self.pki();
        client(
            &pki.join(caunoi::pki::CA_CERT),
            &pki.join("benchmark.pem"),
            &pki.join("benchmark.key"),
        )
    }
}

/// A loopback port free now, for a gateway to listen on once started. It is
/// taken below the kernel's ephemeral range, which outgoing connections draw
/// from: with dozens of gateways calling each other, a port the kernel chose
/// (`:0`) is soon some connection's own before its gateway listens. Each is
/// handed out once a run.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static START: LazyLock<u32> = LazyLock::new(|| fastrand::u32(..));
    static HANDED: AtomicU32 = AtomicU32::new(0);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral.saturating_sub(10_000).max(1024);
    let span = u32::from(ephemeral - low);
    for _ in 0..span {
        let next = START.wrapping_add(HANDED.fetch_add(1, Ordering::Relaxed));
        let port = low + (next % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port below {ephemeral}")
}

/// Seeds `store` with `certificates` certificates, twenty per facility, every
/// facility supplying `partners` (so all of it is shared); returns the numbers.
pub async fn seed(
    store: &Store,
    partners: &[ProvinceCode],
    certificates: usize,
) -> anyhow::Result<Vec<String>> {
    let province = store.province();
    let (place, product) = match province.number() {
        19 => ("Tân Cương", "Chè búp khô"),
        40 => ("Nghi Diên", "Cam Vinh tươi"),
        _ => ("Trung tâm", "Rau an toàn"),
    };
    let facilities = certificates.div_ceil(PER_FACILITY).max(1);
    let mut ids: Vec<GlobalId> = Vec::with_capacity(facilities);
    for i in 0..facilities {
        let record = store
            .create_facility(FacilityData {
                name: format!("Cơ sở {product} số {i}"),
                kind: FacilityKind::Processor,
                business_registration_number: None,
                commune: place.to_owned(),
                district: None,
                address_detail: None,
                contact_name: None,
                contact_phone: None,
                contact_id_number: None,
                supplies_to: partners.to_vec(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("seeding a facility: {e:?}"))?;
        ids.push(record.id);
    }
    let mut numbers = Vec::with_capacity(certificates);
    // Serials are six digits per kind and year: a register of a million spreads
    // over this year and the last two, as a real one would.
    let issued = |i: usize| today() - chrono::Duration::days(30 + 365 * (i % 3) as i64);
    for start in (0..certificates).step_by(1000) {
        let batch = (start..certificates.min(start + 1000))
            .map(|i| (i, issued(i)))
            .map(|(i, issued_on)| CertificateData {
                kind: CertificateKind::Eligibility,
                standard: None,
                facility: ids[i / PER_FACILITY],
                scope: vec![product.to_owned()],
                issuing_authority: format!("Chi cục Quản lý chất lượng tỉnh {province}"),
                issued_on,
                expires_on: Some(issued_on + chrono::Duration::days(3 * 365)),
                grade: None,
            })
            .collect();
        let records = store
            .issue_certificates(batch)
            .await
            .map_err(|e| anyhow::anyhow!("seeding certificates: {e:?}"))?;
        numbers.extend(records.into_iter().map(|r| r.number.to_string()));
    }
    Ok(numbers)
}

/// A gateway running as its own process (this binary, as `caunoi`).
pub struct Gateway {
    pub child: tokio::process::Child,
    pub ops: String,
    /// Where callgrind writes, for a gateway whose instructions are counted.
    callgrind: Option<PathBuf>,
}

impl Gateway {
    /// Starts `caunoi serve` with `config` and waits until it serves; with
    /// `callgrind`, under valgrind's callgrind, counting nothing until
    /// [`Gateway::count`] says so, and writing its counts there, where they
    /// stay for `callgrind_annotate`.
    pub async fn start(
        province: &Province,
        config: &str,
        name: &str,
        callgrind: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let path = province.dir.join(format!("{name}.toml"));
        std::fs::write(&path, config)?;
        let counted = callgrind.is_some();
        let exe = std::env::current_exe()?;
        let mut command = match &callgrind {
            None => tokio::process::Command::new(&exe),
            Some(out) => {
                let mut valgrind = tokio::process::Command::new("valgrind");
                valgrind
                    .args(["--quiet", "--tool=callgrind", "--instr-atstart=no"])
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg(&exe);
                valgrind
            }
        };
        let mut child = command
            .args(["gateway", "--config"])
            .arg(&path)
            .arg("serve")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| match counted {
                true => {
                    "cannot start valgrind, which counts instructions (apt-get install valgrind)"
                }
                false => "cannot start a gateway",
            })?;
        let stdout = child.stdout.take().context("the gateway's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if line.contains("serves GraphQL") {
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(Self {
                    child,
                    ops: format!("http://127.0.0.1:{}/metrics", province.ops_port),
                    callgrind,
                });
            }
        }
        anyhow::bail!("gateway {name} stopped before serving")
    }

    /// Switches the counting of a counted gateway's instructions on or off.
    pub async fn count(&self, on: bool) -> anyhow::Result<()> {
        self.callgrind_control(if on { "--instr=on" } else { "--instr=off" })
            .await
    }

    /// The instructions a counted gateway executed while counting: callgrind
    /// writes what it counted since it started (its first dump), read back here.
    pub async fn instructions(&self) -> anyhow::Result<u64> {
        let dump = self.dump().context("this gateway is not counted")?;
        self.callgrind_control("--dump").await?;
        let text = std::fs::read_to_string(&dump)
            .with_context(|| format!("callgrind's dump {}", dump.display()))?;
        text.lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|totals| totals.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no totals in {}", dump.display()))
    }

    /// Where a counted gateway's first dump is written.
    pub fn dump(&self) -> Option<PathBuf> {
        let out = self.callgrind.as_ref()?;
        Some(PathBuf::from(format!("{}.1", out.display())))
    }

    async fn callgrind_control(&self, action: &str) -> anyhow::Result<()> {
        let pid = self.child.id().context("the gateway has stopped")?;
        let done = tokio::process::Command::new("callgrind_control")
            .arg(action)
            .arg(pid.to_string())
            .output()
            .await
            .context("callgrind_control (valgrind)")?;
        anyhow::ensure!(
            done.status.success(),
            "callgrind_control {action} {pid} failed: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        Ok(())
    }

    /// The CPU time and page faults the gateway has used so far.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        Usage::of(
            &self
                .child
                .id()
                .context("the gateway has stopped")?
                .to_string(),
        )
    }

    /// The gateway's peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The sum of a counter's series whose labels contain `labels`.
    pub async fn counter(&self, name: &str, labels: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(&self.ops).await?.text().await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

/// What a process has used: CPU seconds in user space and in the kernel, and
/// minor page faults (pages the kernel mapped in, as an allocator that gives
/// memory back and takes it again causes). Instruction counts see none of the
/// kernel's part.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub user: f64,
    pub system: f64,
    pub faults: f64,
    /// Voluntary context switches of the process's threads: each time one
    /// went to sleep to wait (for a lock, a channel, the disk, the network).
    pub switches: f64,
}

impl Usage {
    /// The usage so far of process `pid` (`"self"`: the harness), from Linux's
    /// `/proc/PID/stat`.
    pub fn of(pid: &str) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        // The fields after the command name, which is in parentheses and may
        // hold spaces; the first of them is field 3 of proc_pid_stat(5).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> anyhow::Result<f64> {
            let value = fields.get(n - 3).and_then(|f| f.parse().ok());
            value.with_context(|| format!("field {n} of {path}"))
        };
        // CPU time is counted in USER_HZ ticks, a hundred a second on Linux.
        Ok(Self {
            user: field(14)? / 100.0,
            system: field(15)? / 100.0,
            faults: field(10)?,
            switches: voluntary_switches(pid)?,
        })
    }

    /// What was used since `before`.
    pub fn since(self, before: Self) -> Self {
        Self {
            user: self.user - before.user,
            system: self.system - before.system,
            faults: self.faults - before.faults,
            switches: self.switches - before.switches,
        }
    }

    /// Per one of `count` things done: CPU in µs, user and kernel apart, page
    /// faults and context switches.
    pub fn per(self, count: u64) -> String {
        let count = count.max(1) as f64;
        let us = |seconds: f64| seconds * 1e6 / count;
        format!(
            "{:.0} µs of CPU ({:.0} user, {:.0} kernel), {:.2} page faults, {:.1} context switches",
            us(self.user + self.system),
            us(self.user),
            us(self.system),
            self.faults / count,
            self.switches / count
        )
    }
}

/// The voluntary context switches of process `pid`'s live threads, summed from
/// `/proc/PID/task/*/status` (a thread that has ended no longer counts).
fn voluntary_switches(pid: &str) -> anyhow::Result<f64> {
    let tasks = format!("/proc/{pid}/task");
    let mut switches = 0.0;
    for task in std::fs::read_dir(&tasks).with_context(|| tasks.clone())? {
        let path = task?.path().join("status");
        // A thread may end between the listing and the read.
        let Ok(status) = std::fs::read_to_string(&path) else {
            continue;
        };
        switches += status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|count| count.trim().parse::<f64>().ok())
            .with_context(|| format!("no voluntary_ctxt_switches in {}", path.display()))?;
    }
    Ok(switches)
}

/// The TLS settings of a client trusting `ca` and presenting `cert`/`key`.
pub fn tls(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(ca)? {
        roots.add(der?)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_file_iter(cert)?.collect::<Result<_, _>>()?,
        PrivateKeyDer::from_pem_file(key)?,
    )?)
}

/// An mTLS client trusting `ca` and presenting `cert`/`key`, pooled.
pub fn client(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<reqwest::Client> {
    let mut config = tls(ca, cert, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .tcp_nodelay(true)
        .build()?)
}
