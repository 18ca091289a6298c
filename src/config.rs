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

use crate::domain::ProvinceCode;
use crate::graphql::{ProvinceNames, QueryLimits};

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
    /// The GraphQL listener. Loopback only until mutual TLS is in place.
    pub listen: SocketAddr,
    pub limits: Limits,
    pub log: Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceConfig {
    /// Two-digit administrative code, e.g. "19".
    pub code: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Deepest selection nesting.
    pub depth: usize,
    /// Highest query complexity (one per field, times page sizes).
    pub complexity: usize,
    /// Longest a request may run.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

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
            limits: Limits::default(),
            log: Log::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let query = QueryLimits::default();
        Self {
            body_bytes: 1024 * 1024,
            depth: query.depth,
            complexity: query.complexity,
            request_timeout: Duration::from_secs(10),
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

    /// Checks what the types cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.province_code()?;
        for code in self.province_names.keys() {
            ProvinceCode::parse(code).map_err(|e| anyhow::anyhow!("province_names.{code}: {e}"))?;
        }
        anyhow::ensure!(
            self.listen.ip().is_loopback(),
            "listen: {} is not a loopback address; until mutual TLS is in place the \
             gateway serves loopback only",
            self.listen
        );
        anyhow::ensure!(
            self.limits.body_bytes >= 1024,
            "limits.body_bytes: at least 1024"
        );
        anyhow::ensure!(self.limits.depth >= 2, "limits.depth: at least 2");
        anyhow::ensure!(
            self.limits.complexity >= 10,
            "limits.complexity: at least 10"
        );
        Ok(())
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

    /// Province names the API shows.
    pub fn province_names(&self) -> anyhow::Result<ProvinceNames> {
        let mut names = BTreeMap::new();
        for (code, name) in &self.province_names {
            names.insert(
                ProvinceCode::parse(code).map_err(|e| anyhow::anyhow!("{e}"))?,
                name.clone(),
            );
        }
        if let Some(name) = &self.province.name {
            names.insert(self.province_code()?, name.clone());
        }
        Ok(ProvinceNames(names))
    }

    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            depth: self.limits.depth,
            complexity: self.limits.complexity,
        }
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
    fn non_loopback_listeners_are_refused() {
        let config = Config {
            listen: "0.0.0.0:8443".parse().unwrap(),
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
