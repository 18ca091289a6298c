//! The only module that talks to partners.
//!
//! Each configured partner with an endpoint gets one pooled HTTPS client, built
//! once: it presents our gateway's certificate, trusts only that partner's CA,
//! follows no redirects, has connect and total timeouts and caps the size of an
//! answer. Every call carries a hop marker (`x-caunoi-hop`), so a gateway never
//! federates a request that came from a gateway. A partner's own error text never
//! reaches our callers: failures become [`PartnerError`]s with stable codes.

pub mod records;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::config::Config;
use crate::domain::ProvinceCode;
use crate::pki;

/// The header that marks a call from one gateway to another.
pub const HOP_HEADER: &str = "x-caunoi-hop";

/// Why a partner gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartnerError {
    /// No connection could be made, or the partner answered 5xx.
    Unavailable(String),
    /// No answer within the timeout.
    Timeout,
    /// The partner refused us (403, or our certificate in the handshake).
    Rejected(String),
    /// The answer was not a GraphQL answer we can use.
    BadResponse(String),
    /// We have no endpoint for that province.
    NotConfigured,
}

impl PartnerError {
    pub fn code(&self) -> &'static str {
        match self {
            PartnerError::Unavailable(_) | PartnerError::NotConfigured => "PARTNER_UNAVAILABLE",
            PartnerError::Timeout => "PARTNER_TIMEOUT",
            PartnerError::Rejected(_) => "PARTNER_REJECTED",
            PartnerError::BadResponse(_) => "PARTNER_BAD_RESPONSE",
        }
    }

    /// The same, as a resolver's error.
    pub fn to_error(&self, province: ProvinceCode) -> async_graphql::Error {
        let server = self.to_server_error(province);
        async_graphql::Error {
            message: server.message,
            source: None,
            extensions: server.extensions,
        }
    }

    /// What our caller is told: the code and the province, never the partner's words.
    pub fn to_server_error(&self, province: ProvinceCode) -> async_graphql::ServerError {
        let what = match self {
            PartnerError::Unavailable(_) => "could not be reached",
            PartnerError::NotConfigured => "is not a partner this gateway can ask",
            PartnerError::Timeout => "did not answer in time",
            PartnerError::Rejected(_) => "refused our request",
            PartnerError::BadResponse(_) => "gave an answer that could not be used",
        };
        let mut error =
            async_graphql::ServerError::new(format!("province {province} {what}"), None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", self.code());
        extensions.set("province", province.to_string());
        error
    }
}

/// One partner's client.
pub struct Partner {
    pub province: ProvinceCode,
    endpoint: String,
    http: reqwest::Client,
    max_bytes: usize,
}

/// Every partner we can ask.
#[derive(Clone, Default)]
pub struct Partners {
    by_province: Arc<BTreeMap<ProvinceCode, Arc<Partner>>>,
}

impl Partners {
    /// Builds a client for every partner with an endpoint.
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let dir = config.pki_dir();
        let mut by_province = BTreeMap::new();
        for partner in &config.partners {
            let Some(endpoint) = &partner.endpoint else {
                continue;
            };
            let province = partner.province_code()?;
            let http = client(
                &partner.ca,
                &dir.join(pki::GATEWAY_CERT),
                &dir.join(pki::GATEWAY_KEY),
                &config.federation,
            )
            .with_context(|| format!("partners: {province}: cannot build its client"))?;
            by_province.insert(
                province,
                Arc::new(Partner {
                    province,
                    endpoint: endpoint.clone(),
                    http,
                    max_bytes: config.federation.max_response_bytes,
                }),
            );
        }
        Ok(Self {
            by_province: Arc::new(by_province),
        })
    }

    /// The partner owning `province`'s records.
    pub fn get(&self, province: ProvinceCode) -> Result<&Arc<Partner>, PartnerError> {
        self.by_province
            .get(&province)
            .ok_or(PartnerError::NotConfigured)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Partner>> {
        self.by_province.values()
    }
}

fn client(
    partner_ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
    settings: &crate::config::Federation,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(partner_ca)
        .with_context(|| format!("cannot read {}", partner_ca.display()))?
    {
        roots.add(ca?)?;
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read {}", key.display()))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()?)
}

impl Partner {
    /// Runs `query` on the partner and returns its `data`. Errors the partner
    /// reports beside usable data are logged, not passed on.
    #[tracing::instrument(skip(self, query, variables), fields(province = %self.province))]
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, PartnerError> {
        let started = Instant::now();
        let result = self.call(query, variables).await;
        tracing::debug!(elapsed = ?started.elapsed(), ok = result.is_ok(), "partner call");
        if let Err(error) = &result {
            tracing::warn!(?error, "partner call failed");
        }
        result
    }

    async fn call(&self, query: &str, variables: Value) -> Result<Value, PartnerError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header(HOP_HEADER, "1")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if status == reqwest::StatusCode::FORBIDDEN || status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(PartnerError::Rejected(format!("HTTP {status}")));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(PartnerError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(PartnerError::BadResponse(format!("HTTP {status}")));
        }
        let body = self.read_capped(response).await?;
        let mut answer: Value = serde_json::from_slice(&body)
            .map_err(|e| PartnerError::BadResponse(format!("not JSON: {e}")))?;
        let data = answer
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if let Some(errors) = answer.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let codes: Vec<&str> = errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect();
            if data.is_null() {
                return Err(if codes.contains(&"FORBIDDEN") {
                    PartnerError::Rejected(format!("errors {codes:?}"))
                } else {
                    PartnerError::BadResponse(format!("errors {codes:?}"))
                });
            }
            tracing::info!(province = %self.province, ?codes, "partner answered with errors beside data");
        }
        if !data.is_object() {
            return Err(PartnerError::BadResponse("no data".to_owned()));
        }
        Ok(data)
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, PartnerError> {
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes as u64)
        {
            return Err(PartnerError::BadResponse("answer too large".to_owned()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(PartnerError::BadResponse("answer too large".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Sorts a transport error into what our callers are told. A TLS alert from the
/// partner (it refused our certificate) surfaces as an I/O error whose text is
/// rustls's, so both the typed error and that text are recognised.
fn classify(error: reqwest::Error) -> PartnerError {
    if error.is_timeout() {
        return PartnerError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls_failure(tls);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return tls_failure(tls);
            }
            if io.kind() == std::io::ErrorKind::InvalidData {
                let text = io.to_string();
                return if text.starts_with("received fatal alert") {
                    PartnerError::Rejected(text)
                } else {
                    PartnerError::BadResponse(format!("TLS: {text}"))
                };
            }
        }
        source = cause.source();
    }
    PartnerError::Unavailable(error.to_string())
}

fn tls_failure(tls: &rustls::Error) -> PartnerError {
    match tls {
        rustls::Error::AlertReceived(_) => PartnerError::Rejected(tls.to_string()),
        _ => PartnerError::BadResponse(format!("TLS: {tls}")),
    }
}
