//! The listeners: the exchange listener (mutual TLS, GraphQL) and the ops
//! listener (plain HTTP, health and metrics only).
//!
//! The exchange listener's trust store holds our own CA and each configured
//! partner's CA, nothing else, never system roots. A client certificate with the
//! clientAuth usage is required; CRLs are enforced when given, and an expired CRL
//! is an error. TLS 1.3 only unless configuration allows 1.2. Trust material can be
//! reloaded without a restart ([`Tls::reload`]): new handshakes use the new
//! material, connections already open keep theirs.

pub mod connections;
pub mod http;
pub mod identity;
pub mod metrics;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::Config;
use crate::domain::ProvinceCode;
use crate::pki;
use identity::{Anchor, Authenticator};

/// The files that make up the trust material, and when they last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sources {
    own: ProvinceCode,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    partners: Vec<(ProvinceCode, PathBuf)>,
    crls: Vec<PathBuf>,
    allow_tls12: bool,
    allowed: Option<HashSet<String>>,
}

impl Sources {
    fn from_config(config: &Config) -> anyhow::Result<Self> {
        let dir = config.pki_dir();
        let mut partners = Vec::new();
        for partner in &config.partners {
            partners.push((partner.province_code()?, partner.ca.clone()));
        }
        let allowed = if config.tls.allowed_fingerprints.is_empty() {
            None
        } else {
            Some(
                config
                    .tls
                    .allowed_fingerprints
                    .iter()
                    .map(|f| f.to_ascii_lowercase().replace(':', ""))
                    .collect(),
            )
        };
        Ok(Self {
            own: config.province_code()?,
            ca: dir.join(pki::CA_CERT),
            cert: dir.join(pki::GATEWAY_CERT),
            key: dir.join(pki::GATEWAY_KEY),
            partners,
            crls: config.tls.crls.clone(),
            allow_tls12: config.tls.allow_tls12,
            allowed,
        })
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .chain(self.partners.iter().map(|(_, ca)| ca))
            .chain(self.crls.iter())
    }

    /// The latest modification time of any source file.
    fn stamp(&self) -> Option<SystemTime> {
        self.paths()
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .max()
    }
}

/// The exchange listener's TLS state: what rustls serves and who it lets in.
pub struct Tls {
    sources: Sources,
    rustls: RustlsConfig,
    authenticator: RwLock<Arc<Authenticator>>,
    stamp: RwLock<Option<SystemTime>>,
}

impl Tls {
    /// Loads the trust material named by `config`.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let sources = Sources::from_config(config)?;
        let stamp = sources.stamp();
        let (server, authenticator) = build(&sources)?;
        Ok(Self {
            rustls: RustlsConfig::from_config(server),
            authenticator: RwLock::new(Arc::new(authenticator)),
            stamp: RwLock::new(stamp),
            sources,
        })
    }

    pub fn rustls(&self) -> RustlsConfig {
        self.rustls.clone()
    }

    pub fn authenticator(&self) -> Arc<Authenticator> {
        self.authenticator
            .read()
            .expect("authenticator lock")
            .clone()
    }

    /// Reads the trust material again. On error the old material stays in force.
    pub fn reload(&self) -> anyhow::Result<()> {
        let stamp = self.sources.stamp();
        let (server, authenticator) = build(&self.sources)?;
        self.rustls.reload_from_config(server);
        *self.authenticator.write().expect("authenticator lock") = Arc::new(authenticator);
        *self.stamp.write().expect("stamp lock") = stamp;
        tracing::info!("TLS certificates, CAs and CRLs reloaded");
        Ok(())
    }

    /// Reloads if any source file changed since the last load.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = self.sources.stamp();
        if now == *self.stamp.read().expect("stamp lock") {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }
}

fn build(sources: &Sources) -> anyhow::Result<(Arc<rustls::ServerConfig>, Authenticator)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let own_ca = certificates(&sources.ca)?;
    let mut partner_cas = Vec::new();
    for (province, path) in &sources.partners {
        partner_cas.push((*province, certificates(path)?));
    }
    let crls = sources
        .crls
        .iter()
        .map(|path| crl(path))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let verifier = |cas: &[CertificateDer<'static>]| -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add(ca.clone()).context("a CA certificate is not usable as a trust anchor")?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls.clone())
            .enforce_revocation_expiration()
            .allow_unknown_revocation_status()
            .build()
            .context("cannot build the client certificate verifier")?;
        Ok(verifier)
    };

    let mut all = own_ca.clone();
    let mut anchors = vec![Anchor {
        partner: None,
        verifier: verifier(&own_ca)?,
    }];
    for (province, cas) in &partner_cas {
        anyhow::ensure!(
            *province != sources.own,
            "a partner cannot be our own province {province}"
        );
        all.extend(cas.iter().cloned());
        anchors.push(Anchor {
            partner: Some(*province),
            verifier: verifier(cas)?,
        });
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = if sources.allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let chain = certificates(&sources.cert)?;
    let key = PrivateKeyDer::from_pem_file(&sources.key)
        .with_context(|| format!("cannot read the private key {}", sources.key.display()))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .context("TLS versions")?
        .with_client_cert_verifier(verifier(&all)?)
        .with_single_cert(chain, key)
        .context("the gateway certificate does not match its key")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((
        Arc::new(server),
        Authenticator::new(sources.own, anchors, sources.allowed.clone()),
    ))
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} holds a malformed certificate", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// A CRL, refused when its next update has passed.
fn crl(path: &Path) -> anyhow::Result<CertificateRevocationListDer<'static>> {
    let der = CertificateRevocationListDer::from_pem_file(path)
        .with_context(|| format!("cannot read the CRL {}", path.display()))?;
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(|e| anyhow::anyhow!("{} is not a CRL: {e}", path.display()))?;
    if let Some(next) = parsed.next_update() {
        anyhow::ensure!(
            next.timestamp() > time::OffsetDateTime::now_utc().unix_timestamp(),
            "the CRL {} expired on {next}; fetch a fresh one",
            path.display()
        );
    }
    Ok(der)
}

use x509_parser::prelude::FromDer;
