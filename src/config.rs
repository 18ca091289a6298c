//! One typed configuration tree, read once at start.
//!
//! Layers, later winning: defaults < the TOML file (`--config`, or
//! `CAUNOI_CONFIG`) < environment (`CAUNOI_…`, nested keys joined by `__`, e.g.
//! `CAUNOI_LIMITS__BODY_BYTES`) < `DATABASE_URL` < command-line flags. Unknown keys
//! are errors that name the key and the file; durations are written like `10s`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::domain::{Deadlines, ProvinceCode};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The province this gateway serves.
    pub province: ProvinceConfig,
    /// Names of other provinces, by code, for display: `{ "40" = "Nghệ An" }`.
    pub province_names: BTreeMap<String, String>,
    /// Where the embedded database and other state live.
    pub state_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; by default a SQLite file under `state_dir`.
    pub database_url: Option<String>,
    /// The exchange listener: GraphQL over mutual TLS.
    pub listen: SocketAddr,
    /// The ops listener: `/healthz`, `/readyz`, `/metrics` over plain HTTP.
    pub ops_listen: SocketAddr,
    pub tls: Tls,
    /// Partner provinces whose gateways may call us.
    pub partners: Vec<Partner>,
    pub federation: Federation,
    pub limits: Limits,
    pub supervision: Supervision,
    pub log: Log,
}

/// The problems of a configuration that does not read, section by section;
/// `whole` is the error of reading it all at once.
fn sections(figment: &Figment, whole: figment::Error) -> Vec<Problem> {
    use figment::Provider;
    let problem = |error: &figment::Error| Problem {
        key: error.path.join("."),
        reason: error.kind.to_string(),
    };
    // A file that does not parse has one problem, wherever it is read.
    let Ok(data) = figment.data() else {
        return vec![problem(&whole)];
    };
    fn read<T: serde::de::DeserializeOwned>(figment: &Figment, key: &str) -> Vec<Problem> {
        match figment.extract_inner::<T>(key) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|error| {
                    // figment names the section last; it goes first.
                    let mut path = error.path.clone();
                    path.retain(|step| step != key);
                    path.insert(0, key.to_owned());
                    Problem {
                        key: path.join("."),
                        reason: error.kind.to_string(),
                    }
                })
                .collect(),
        }
    }
    let mut problems = Vec::new();
    problems.extend(read::<ProvinceConfig>(figment, "province"));
    problems.extend(read::<BTreeMap<String, String>>(figment, "province_names"));
    problems.extend(read::<PathBuf>(figment, "state_dir"));
    problems.extend(read::<Option<String>>(figment, "database_url"));
    problems.extend(read::<SocketAddr>(figment, "listen"));
    problems.extend(read::<SocketAddr>(figment, "ops_listen"));
    problems.extend(read::<Tls>(figment, "tls"));
    problems.extend(read::<Vec<Partner>>(figment, "partners"));
    problems.extend(read::<Federation>(figment, "federation"));
    problems.extend(read::<Limits>(figment, "limits"));
    problems.extend(read::<Supervision>(figment, "supervision"));
    problems.extend(read::<Log>(figment, "log"));
    let known = serde_json::to_value(Config::default()).unwrap_or_default();
    for key in data.values().flat_map(|dict| dict.keys()) {
        if known.get(key).is_none() {
            problems.push(Problem {
                key: key.clone(),
                reason: "unknown key".to_owned(),
            });
        }
    }
    if problems.is_empty() {
        problems.push(problem(&whole));
    }
    problems
}

/// A problem with one key of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, as it is written in the file: `limits.depth`, `partners[0].ca`.
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Where `ca.pem`, `gateway.pem` and `gateway.key` live; `<state_dir>/pki` by
    /// default, which `caunoi pki init` fills.
    pub dir: Option<PathBuf>,
    /// CRLs in PEM, checked on every handshake. An expired CRL is an error.
    pub crls: Vec<PathBuf>,
    /// Accept TLS 1.2 as well as 1.3.
    pub allow_tls12: bool,
    /// A connection that has not finished its handshake by then is closed.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// If not empty, only certificates with these SHA-256 fingerprints (hex) may
    /// call, however trusted their CA.
    pub allowed_fingerprints: Vec<String>,
    /// How often certificate, CA and CRL files are checked for changes (SIGHUP
    /// reloads at once).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

/// How we call partners.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Federation {
    /// Longest wait for a connection to a partner.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest a whole partner call may take, retries included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest partner answer accepted.
    pub max_response_bytes: usize,
    /// Retries of a query after a connection failure or a 429/502/503/504,
    /// within the timeout and the retry budget.
    pub retries: u32,
    /// Consecutive failures (unreachable or slow) that open a partner's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub breaker_open_for: Duration,
    /// How long a sync worker's claim on a partner's feed lasts unless renewed
    /// (it is renewed at every page): after a crash, the next worker waits at
    /// most this long.
    #[serde(with = "humantime_serde")]
    pub sync_lease: Duration,
    /// Changes a sync worker reads per page (1 to 1000): smaller pages for a
    /// partner too slow to answer 1000 records within `timeout`.
    pub sync_page: u64,
}

impl Default for Federation {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(3),
            max_response_bytes: 8 * 1024 * 1024,
            retries: 2,
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(5),
            sync_lease: Duration::from_secs(120),
            sync_page: crate::store::MAX_FEED_PAGE,
        }
    }
}

/// A partner province.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// Its two-digit code.
    pub province: String,
    pub name: Option<String>,
    /// Its CA certificate (what `caunoi pki export-ca` printed there).
    pub ca: PathBuf,
    /// Its gateway's GraphQL endpoint, `https://…/graphql`. Without one, the
    /// partner may call us but we do not call it.
    pub endpoint: Option<String>,
    /// How often `caunoi serve` syncs its change feed into our replica (e.g.
    /// "5m"); never if absent.
    #[serde(default, with = "humantime_serde::option")]
    pub sync_every: Option<Duration>,
}

impl Partner {
    pub fn province_code(&self) -> anyhow::Result<ProvinceCode> {
        ProvinceCode::parse(&self.province)
            .map_err(|e| anyhow::anyhow!("partners: province {}: {e}", self.province))
    }

    /// Its endpoint, if it has one: an `https` URL with a host, or an error
    /// naming the partner and the text.
    pub fn endpoint_url(&self) -> anyhow::Result<Option<reqwest::Url>> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        reqwest::Url::parse(endpoint)
            .ok()
            .filter(|url| url.scheme() == "https" && url.host().is_some())
            .map(Some)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "partners: {}: the endpoint must be an https://… URL, not {endpoint}",
                    self.province
                )
            })
    }
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            dir: None,
            crls: Vec::new(),
            allow_tls12: false,
            handshake_timeout: Duration::from_secs(10),
            allowed_fingerprints: Vec::new(),
            reload_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceConfig {
    /// Two-digit administrative code, e.g. "19".
    pub code: String,
    pub name: Option<String>,
}

/// Working days a province has to answer an inspection request, by the
/// alert's risk decision; Saturdays and Sundays are not counted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Supervision {
    pub serious_days: u32,
    pub potentially_serious_days: u32,
    pub not_serious_days: u32,
    pub undecided_days: u32,
}

impl Default for Supervision {
    fn default() -> Self {
        let d = Deadlines::default();
        Self {
            serious_days: d.serious,
            potentially_serious_days: d.potentially_serious,
            not_serious_days: d.not_serious,
            undecided_days: d.undecided,
        }
    }
}

impl Supervision {
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            serious: self.serious_days,
            potentially_serious: self.potentially_serious_days,
            not_serious: self.not_serious_days,
            undecided: self.undecided_days,
        }
    }
}

/// Limits on requests and connections. Those of a query (depth to
/// `partner_calls`) are judged before any resolver runs, as `graphql::cost`
/// measures them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted from our own callers.
    pub body_bytes: usize,
    /// Largest request body accepted from a partner.
    pub partner_body_bytes: usize,
    /// Deepest selection nesting.
    pub depth: usize,
    /// Most fields a request of our own callers may resolve, each counted
    /// once for every item of every list above it (`first`, or 100 when it
    /// is absent; the number of `ids`).
    pub complexity: usize,
    /// The same, for a partner (a sync's page of 1000 records costs 27 000).
    pub partner_complexity: usize,
    /// Most aliased fields in one query.
    pub aliases: usize,
    /// Most lists over every partner (`scope` other than `LOCAL`) in one
    /// request, counted before it runs.
    pub partner_lists: usize,
    /// Most calls of each partner in one request, counted as it runs: its
    /// lists, lookups, and what a partner's page asks in turn.
    pub partner_calls: usize,
    /// Longest a request may run, its wait for a turn included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers, and then as
    /// long for its body; also how long a connection may wait for its first
    /// request, and an HTTP/1.1 connection for its next.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// A connection that reads and writes nothing for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most requests waiting for a turn in each line (ours, partners'); one
    /// more is refused at once with 503 `OVERLOADED`.
    pub queued_requests: usize,
    /// Requests per second each of our client certificates may make (twice
    /// that in a burst); more are refused with 429 `RATE_LIMITED`. 0: no limit.
    pub rate_per_certificate: u32,
    /// Requests per second each partner province may make; 0: no limit.
    pub partner_rate: u32,
    /// Most connections open at once on the exchange listener.
    pub connections: usize,
    /// Most connections one client certificate may hold open.
    pub connections_per_certificate: usize,
    /// Most requests at work at once, for our own callers and, separately, for
    /// partners; others wait their turn in arrival order. A request waiting on a
    /// partner's answer gives its turn back meanwhile.
    /// Bounds the memory that answers being built take. Default: 4 per CPU core.
    pub concurrent_requests: usize,
}

/// The names of the provinces this gateway knows, from configuration.
#[derive(Debug, Clone, Default)]
pub struct ProvinceNames(pub BTreeMap<ProvinceCode, String>);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `caunoi=debug,info`; `RUST_LOG` wins.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            province: ProvinceConfig {
                code: "19".to_owned(),
                name: None,
            },
            province_names: BTreeMap::new(),
            state_dir: PathBuf::from("state"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            tls: Tls::default(),
            partners: Vec::new(),
            federation: Federation::default(),
            limits: Limits::default(),
            supervision: Supervision::default(),
            log: Log::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            partner_body_bytes: 256 * 1024,
            depth: 10,
            complexity: 50_000,
            // A sync's page of a thousand alerts costs 27 000.
            partner_complexity: 40_000,
            aliases: 30,
            partner_lists: 10,
            partner_calls: 100,
            request_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            queued_requests: 64,
            rate_per_certificate: 1000,
            partner_rate: 3000,
            connections: 4096,
            connections_per_certificate: 128,
            concurrent_requests: std::thread::available_parallelism()
                .map_or(8, |cores| 4 * cores.get()),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sea_orm_migration=warn".to_owned(),
        }
    }
}

impl Config {
    /// Reads the layers below the command line: defaults, file, environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "configuration file {} not found",
                file.display()
            );
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("CAUNOI_").ignore(&["CONFIG"]).split("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        let config: Config = figment
            .extract()
            .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot; the first problem, if any.
    pub fn validate(&self) -> anyhow::Result<()> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(anyhow::anyhow!("{problem}")),
        }
    }

    /// Every problem the types cannot catch, each naming its key.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: String, reason: String| {
            if !ok {
                problems.push(Problem { key, reason });
            }
        };
        let own = ProvinceCode::parse(&self.province.code);
        if let Err(e) = &own {
            check(false, "province.code".to_owned(), e.to_string());
        }
        for code in self.province_names.keys() {
            if let Err(e) = ProvinceCode::parse(code) {
                check(false, format!("province_names.{code}"), e.to_string());
            }
        }
        let mut partners = std::collections::BTreeSet::new();
        for (i, partner) in self.partners.iter().enumerate() {
            let key = |field: &str| format!("partners[{i}].{field}");
            let code = match ProvinceCode::parse(&partner.province) {
                Ok(code) => code,
                Err(e) => {
                    check(false, key("province"), e.to_string());
                    continue;
                }
            };
            check(
                own.as_ref().ok() != Some(&code),
                key("province"),
                format!("{code} is this gateway's own province"),
            );
            check(
                partners.insert(code),
                key("province"),
                format!("{code} is listed twice"),
            );
            check(
                partner.sync_every.is_none() || partner.endpoint.is_some(),
                key("sync_every"),
                "needs an endpoint to sync from".to_owned(),
            );
            if partner.endpoint_url().is_err() {
                check(
                    false,
                    key("endpoint"),
                    "must be an https://… URL with a host".to_owned(),
                );
            }
        }
        let at_least = |value: usize, least: usize| (value >= least, format!("at least {least}"));
        for (key, (ok, reason)) in [
            ("limits.body_bytes", at_least(self.limits.body_bytes, 1024)),
            ("limits.depth", at_least(self.limits.depth, 2)),
            (
                "limits.concurrent_requests",
                at_least(self.limits.concurrent_requests, 1),
            ),
            ("limits.complexity", at_least(self.limits.complexity, 10)),
            (
                "limits.partner_complexity",
                at_least(self.limits.partner_complexity, 10),
            ),
            (
                "limits.partner_calls",
                at_least(self.limits.partner_calls, 1),
            ),
            ("limits.connections", at_least(self.limits.connections, 1)),
            (
                "limits.queued_requests",
                at_least(self.limits.queued_requests, 1),
            ),
            (
                "limits.connections_per_certificate",
                at_least(self.limits.connections_per_certificate, 1),
            ),
        ] {
            check(ok, key.to_owned(), reason);
        }
        for (key, duration) in [
            ("tls.handshake_timeout", self.tls.handshake_timeout),
            ("limits.read_timeout", self.limits.read_timeout),
            ("limits.idle_timeout", self.limits.idle_timeout),
        ] {
            check(
                duration >= Duration::from_millis(100),
                key.to_owned(),
                "at least 100ms".to_owned(),
            );
        }
        check(
            (1..=crate::store::MAX_FEED_PAGE).contains(&self.federation.sync_page),
            "federation.sync_page".to_owned(),
            format!("1 to {}", crate::store::MAX_FEED_PAGE),
        );
        problems
    }

    /// Every problem of the configuration file `file` on its own (over the
    /// defaults, without the environment), each naming its key: what does
    /// not parse or is of the wrong type, unknown keys, bad values, and
    /// files it names that cannot be read.
    pub fn check(file: &Path) -> Vec<Problem> {
        if !file.exists() {
            return vec![Problem {
                key: String::new(),
                reason: "the file does not exist".to_owned(),
            }];
        }
        let figment =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::file_exact(file));
        let config: Config = match figment.extract() {
            Ok(config) => config,
            // Reading the whole stops at its first error: each section is
            // read on its own, so that every section's first error is told.
            Err(error) => return sections(&figment, error),
        };
        let mut problems = config.problems();
        let mut readable = |key: String, path: &Path| {
            if let Err(e) = std::fs::File::open(path) {
                problems.push(Problem {
                    key,
                    reason: format!("cannot read {}: {e}", path.display()),
                });
            }
        };
        for (i, partner) in config.partners.iter().enumerate() {
            readable(format!("partners[{i}].ca"), &partner.ca);
        }
        for (i, crl) in config.tls.crls.iter().enumerate() {
            readable(format!("tls.crls[{i}]"), crl);
        }
        problems
    }

    pub fn province_code(&self) -> anyhow::Result<ProvinceCode> {
        ProvinceCode::parse(&self.province.code).map_err(|e| anyhow::anyhow!("province.code: {e}"))
    }

    /// The database to use: `database_url`, or the SQLite file
    /// `<state_dir>/<code>.sqlite`, whose directory is created.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.state_dir).with_context(|| {
            format!(
                "cannot create the state directory {}",
                self.state_dir.display()
            )
        })?;
        let file = self
            .state_dir
            .join(format!("{}.sqlite", self.province_code()?));
        Ok(format!("sqlite://{}?mode=rwc", file.display()))
    }

    /// Where the gateway's certificate, key and CA live.
    pub fn pki_dir(&self) -> PathBuf {
        self.tls
            .dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("pki"))
    }

    /// Province names the API shows.
    pub fn province_names(&self) -> anyhow::Result<ProvinceNames> {
        let mut names = BTreeMap::new();
        for (code, name) in &self.province_names {
            names.insert(
                ProvinceCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?,
                name.clone(),
            );
        }
        for partner in &self.partners {
            if let Some(name) = &partner.name {
                names.insert(partner.province_code()?, name.clone());
            }
        }
        if let Some(name) = &self.province.name {
            names.insert(self.province_code()?, name.clone());
        }
        Ok(ProvinceNames(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("caunoi.toml");
        std::fs::write(&file, "[limits]\nbody_byte = 5\n").unwrap();
        let error = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("body_byte"), "{error}");
    }

    #[test]
    fn a_file_sets_durations_and_province() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("caunoi.toml");
        std::fs::write(
            &file,
            "[province]\ncode = \"40\"\nname = \"Nghệ An\"\n[limits]\nrequest_timeout = \"3s\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.province_code().unwrap().to_string(), "40");
        assert_eq!(config.limits.request_timeout, Duration::from_secs(3));
    }

    #[test]
    fn partners_are_neither_ourselves_nor_repeated() {
        let partner = |code: &str| Partner {
            province: code.to_owned(),
            name: None,
            ca: "ca.pem".into(),
            endpoint: None,
            sync_every: None,
        };
        let ours = Config {
            partners: vec![partner("19")],
            ..Config::default()
        };
        assert!(ours.validate().is_err());
        let twice = Config {
            partners: vec![partner("40"), partner("40")],
            ..Config::default()
        };
        assert!(twice.validate().is_err());
        let nowhere = Config {
            partners: vec![Partner {
                sync_every: Some(Duration::from_secs(300)),
                ..partner("40")
            }],
            ..Config::default()
        };
        let error = nowhere.validate().unwrap_err().to_string();
        assert!(
            error.contains("partners[0].sync_every: needs an endpoint"),
            "{error}"
        );
        for endpoint in [
            "http://127.0.0.1:8443/graphql",
            "https://",
            "https://a b/graphql",
        ] {
            let odd = Config {
                partners: vec![Partner {
                    endpoint: Some(endpoint.to_owned()),
                    ..partner("40")
                }],
                ..Config::default()
            };
            let error = odd.validate().unwrap_err().to_string();
            assert!(
                error.contains("partners[0].endpoint: must be an https://… URL"),
                "{endpoint}: {error}"
            );
        }
        let fine = Config {
            partners: vec![Partner {
                endpoint: Some("https://127.0.0.1:8443/graphql".to_owned()),
                ..partner("40")
            }],
            ..Config::default()
        };
        fine.validate().unwrap();
    }
}
