//! The only module that talks to partners.
//!
//! Each configured partner with an endpoint gets one pooled HTTPS client, built
//! once: it presents our gateway's certificate, trusts only that partner's CA,
//! follows no redirects, has connect and total timeouts and caps the size of an
//! answer. Every call carries a hop marker (`x-caunoi-hop`), so a gateway never
//! federates a request that came from a gateway. A partner's own error text never
//! reaches our callers: failures become [`PartnerError`]s with stable codes.

pub mod calls;
pub mod feed;
pub mod notice;
pub mod records;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::HeaderValue;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::config::Config;
use crate::domain::ProvinceCode;
use crate::pki;

/// The header that marks a call from one gateway to another.
pub const HOP_HEADER: &str = "x-caunoi-hop";
/// The header naming the request a call belongs to, on both gateways' logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Which request a partner call belongs to: its ID and W3C trace context, sent
/// with every call so both gateways' logs can be joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub request_id: String,
    /// 32 hex digits.
    pub trace_id: String,
}

impl Trace {
    /// From the incoming headers, or fresh. A request ID is kept only if it is
    /// short and plain; a `traceparent` only if well formed.
    pub fn from_headers(request_id: Option<&str>, traceparent: Option<&str>) -> Self {
        let request_id = request_id
            .filter(|id| {
                !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
        let trace_id = traceparent
            .and_then(|header| {
                let parts: Vec<&str> = header.split('-').collect();
                match parts.as_slice() {
                    [_, trace, _, _]
                        if trace.len() == 32
                            && trace.bytes().all(|b| b.is_ascii_hexdigit())
                            && *trace != "00000000000000000000000000000000" =>
                    {
                        Some(trace.to_ascii_lowercase())
                    }
                    _ => None,
                }
            })
            .unwrap_or_else(|| format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(1..)));
        Self {
            request_id,
            trace_id,
        }
    }

    /// The request ID as a header value; see [`unindexed`].
    pub fn request_id_header(&self) -> HeaderValue {
        unindexed(&self.request_id)
    }

    /// A `traceparent` for one outgoing call: our trace, a new span.
    fn traceparent(&self) -> HeaderValue {
        unindexed(&format!(
            "00-{}-{:016x}-01",
            self.trace_id,
            fastrand::u64(1..)
        ))
    }
}

/// A header value that differs on every message, marked for HTTP/2 not to keep
/// in the connection's header table: kept, each would push out an entry worth
/// keeping, and every later one would be compared against it before being sent.
fn unindexed(value: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(value).expect("request IDs and trace parents are plain");
    value.set_sensitive(true);
    value
}

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
    /// The partner failed repeatedly; we are not asking it for a while.
    CircuitOpen,
    /// This request has made as many calls of the partner as one request may.
    OverBudget(usize),
    /// The owner refused a write made for partners on its rules: one of
    /// [`REFUSALS`], and the field it named.
    Refused {
        code: &'static str,
        field: Option<String>,
    },
}

/// The codes with which an owner refuses a partner's write on its rules:
/// passed on to our caller as they are, the owner's words left out.
pub const REFUSALS: [&str; 4] = ["INVALID_INPUT", "CONFLICT", "NOT_FOUND", "NOT_OWNER"];

impl PartnerError {
    pub fn code(&self) -> &'static str {
        match self {
            PartnerError::Unavailable(_) | PartnerError::NotConfigured => "PARTNER_UNAVAILABLE",
            PartnerError::Timeout => "PARTNER_TIMEOUT",
            PartnerError::Rejected(_) => "PARTNER_REJECTED",
            PartnerError::BadResponse(_) => "PARTNER_BAD_RESPONSE",
            PartnerError::CircuitOpen => "PARTNER_CIRCUIT_OPEN",
            PartnerError::OverBudget(_) => "QUERY_TOO_COMPLEX",
            PartnerError::Refused { code, .. } => code,
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
            PartnerError::Unavailable(_) => "could not be reached".to_owned(),
            PartnerError::NotConfigured => "is not a partner this gateway can ask".to_owned(),
            PartnerError::Timeout => "did not answer in time".to_owned(),
            PartnerError::Rejected(_) => "refused our request".to_owned(),
            PartnerError::BadResponse(_) => "gave an answer that could not be used".to_owned(),
            PartnerError::CircuitOpen => {
                "failed repeatedly and is not being asked for now".to_owned()
            }
            PartnerError::OverBudget(limit) => {
                format!("was not asked again: one request may call it at most {limit} times")
            }
            PartnerError::Refused { code, field } => match (*code, field) {
                ("CONFLICT", _) => {
                    "refused: its record changed, or has no room for this".to_owned()
                }
                (_, Some(field)) => format!("refused the value of `{field}`"),
                _ => "refused the write".to_owned(),
            },
        };
        let mut error =
            async_graphql::ServerError::new(format!("province {province} {what}"), None);
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", self.code());
        extensions.set("province", province.to_string());
        if let PartnerError::OverBudget(_) = self {
            extensions.set("limit", "partnerCalls");
        }
        if let PartnerError::Refused {
            field: Some(field), ..
        } = self
        {
            extensions.set("field", field.as_str());
        }
        error
    }
}

/// How many calls one request may still make of each partner: its lists over
/// `scope` are counted before it runs (`graphql::cost`), but what a page of a
/// partner's records asks in turn (each facility's certificates) is known only
/// as it runs.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    spent: std::sync::Mutex<BTreeMap<ProvinceCode, usize>>,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            spent: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes one call of `province`, if any is left.
    pub fn spend(&self, province: ProvinceCode) -> Result<(), PartnerError> {
        let mut spent = self.spent.lock().expect("a budget is never poisoned");
        let calls = spent.entry(province).or_default();
        if *calls >= self.limit {
            return Err(PartnerError::OverBudget(self.limit));
        }
        *calls += 1;
        Ok(())
    }
}

/// One partner's client.
pub struct Partner {
    pub province: ProvinceCode,
    /// Parsed once: a URL given as text is parsed again on every call.
    endpoint: reqwest::Url,
    http: reqwest::Client,
    settings: crate::config::Federation,
    health: std::sync::Mutex<Health>,
}

/// A partner's circuit: closed (calls go through), open (calls fail at once until
/// the cool-down ends), or half-open (one probe decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

/// What we know of a partner's health, from our own calls.
#[derive(Debug, Clone, Default)]
struct Health {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probing: bool,
    /// Retry tokens: each call earns a fifth, each retry spends one.
    budget: f64,
    last_latency: Option<Duration>,
    last_success: Option<chrono::DateTime<chrono::Utc>>,
    last_failure: Option<(chrono::DateTime<chrono::Utc>, &'static str)>,
    certificate_expires: Option<chrono::DateTime<chrono::Utc>>,
    /// The certificate `certificate_expires` was read from.
    certificate: Vec<u8>,
}

/// A partner's health, as `provinces` reports it.
#[derive(Debug, Clone)]
pub struct Status {
    pub circuit: Circuit,
    pub reachable: Option<bool>,
    pub last_latency: Option<Duration>,
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<&'static str>,
    pub certificate_expires: Option<chrono::DateTime<chrono::Utc>>,
}

/// One failed attempt, and whether trying again may help.
struct Failure {
    error: PartnerError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl From<PartnerError> for Failure {
    fn from(error: PartnerError) -> Self {
        Self {
            retryable: matches!(error, PartnerError::Unavailable(_)),
            error,
            retry_after: None,
        }
    }
}

/// Every partner we can ask.
#[derive(Clone, Default)]
pub struct Partners {
    by_province: Arc<BTreeMap<ProvinceCode, Arc<Partner>>>,
}

impl Partner {
    /// How long a sync worker's claim on this partner's feed lasts unless renewed.
    pub fn sync_lease(&self) -> std::time::Duration {
        self.settings.sync_lease
    }

    /// How many changes a sync worker reads per page of this partner's feed.
    pub fn sync_page(&self) -> u64 {
        self.settings.sync_page
    }
}

impl Partners {
    /// Builds a client for every partner with an endpoint.
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let dir = config.pki_dir();
        let mut by_province = BTreeMap::new();
        for partner in &config.partners {
            let Some(endpoint) = partner.endpoint_url()? else {
                continue;
            };
            let province = partner.province_code()?;
            let http = client(
                province,
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
                    endpoint,
                    http,
                    settings: config.federation.clone(),
                    health: std::sync::Mutex::new(Health {
                        budget: 1.0,
                        ..Health::default()
                    }),
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

    /// `province` alone (its client, breaker and health shared), for a
    /// partner's request that may ask its sender back.
    pub fn only(&self, province: ProvinceCode) -> Self {
        let by_province = self
            .by_province
            .get(&province)
            .map(|partner| (province, partner.clone()))
            .into_iter()
            .collect();
        Self {
            by_province: Arc::new(by_province),
        }
    }
}

fn client(
    province: ProvinceCode,
    partner_ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
    settings: &crate::config::Federation,
) -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(partner_ca)
        .with_context(|| format!("cannot read {}", partner_ca.display()))?
    {
        roots.add(ca?)?;
    }
    let verifier = PartnerGateway {
        province,
        chain: rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()?,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read {}", key.display()))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        // Idle connections go before a partner closes them (its `limits.idle_timeout`,
        // 60 s by default), so none is reused as it closes.
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .tls_info(true)
        .build()?)
}

/// Checks a partner's server certificate: webpki's checks against the
/// partner's CA (chain, validity, the host name), and then that it names the
/// partner's gateway. The partner's CA also issues its dashboards, operators
/// and sync jobs, and could issue anything else; only `urn:caunoi:<partner>:gateway`
/// answers for the partner.
#[derive(Debug)]
struct PartnerGateway {
    province: ProvinceCode,
    chain: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for PartnerGateway {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let gateway = crate::domain::Principal::new(self.province, crate::domain::Role::Gateway);
        match crate::server::identity::claimed(end_entity) {
            (_, Ok(principal)) if principal == gateway => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            (subject, claimed) => {
                let claimed = claimed.map_or_else(|reason| reason, |p| format!("it names {p}"));
                tracing::warn!(
                    province = %self.province,
                    %subject,
                    %claimed,
                    "the partner's server certificate does not name its gateway"
                );
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

impl Partner {
    /// Runs `query` on the partner and returns its `data`: a read, or a
    /// notice the partner stores once (`notice`), so retrying is safe: after a connection failure or a
    /// 429/502/503/504 (honouring `Retry-After`), with jittered backoff, within
    /// the total timeout and the retry budget. An open circuit fails at once.
    /// Errors the partner reports beside usable data are logged, not passed on.
    #[tracing::instrument(
        skip(self, query, variables, trace),
        fields(province = %self.province, request_id = %trace.request_id)
    )]
    pub async fn query(
        &self,
        query: &str,
        variables: Value,
        trace: &Trace,
    ) -> Result<Value, PartnerError> {
        self.admit()?;
        let started = Instant::now();
        let deadline = started + self.settings.timeout;
        let body = json!({ "query": query, "variables": variables });
        let mut attempt = 0;
        let result = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break Err(PartnerError::Timeout);
            }
            match self.attempt(&body, remaining, trace).await {
                Ok(data) => break Ok(data),
                Err(failure) => {
                    attempt += 1;
                    let delay = failure.retry_after.unwrap_or_else(|| backoff(attempt));
                    let again = failure.retryable
                        && attempt <= self.settings.retries
                        && Instant::now() + delay < deadline
                        && self.spend_retry();
                    if !again {
                        break Err(failure.error);
                    }
                    tracing::debug!(attempt, ?delay, "retrying partner query");
                    tokio::time::sleep(delay).await;
                }
            }
        };
        self.settle(&result, started.elapsed());
        if let Err(error) = &result {
            tracing::warn!(?error, "partner call failed");
        }
        result
    }

    /// Whether the circuit lets a call through now.
    fn admit(&self) -> Result<(), PartnerError> {
        let mut health = self.health.lock().expect("health lock");
        health.budget = (health.budget + 0.2).min(10.0);
        match health.open_until {
            Some(until) if Instant::now() < until => Err(PartnerError::CircuitOpen),
            Some(_) if health.probing => Err(PartnerError::CircuitOpen),
            Some(_) => {
                health.probing = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn spend_retry(&self) -> bool {
        let mut health = self.health.lock().expect("health lock");
        if health.budget >= 1.0 {
            health.budget -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records how a call ended, opening or closing the circuit.
    fn settle(&self, result: &Result<Value, PartnerError>, latency: Duration) {
        let mut health = self.health.lock().expect("health lock");
        health.probing = false;
        health.last_latency = Some(latency);
        match result {
            Ok(_) => {
                health.consecutive_failures = 0;
                health.open_until = None;
                health.last_success = Some(chrono::Utc::now());
            }
            Err(error) => {
                health.last_failure = Some((chrono::Utc::now(), error.code()));
                if matches!(error, PartnerError::Unavailable(_) | PartnerError::Timeout) {
                    health.consecutive_failures += 1;
                    if health.consecutive_failures >= self.settings.breaker_failures {
                        health.open_until = Some(Instant::now() + self.settings.breaker_open_for);
                    }
                }
            }
        }
    }

    /// The partner's health as we have seen it.
    pub fn status(&self) -> Status {
        let health = self.health.lock().expect("health lock").clone();
        let circuit = match health.open_until {
            None => Circuit::Closed,
            Some(until) if Instant::now() < until => Circuit::Open,
            Some(_) => Circuit::HalfOpen,
        };
        let reachable = match (health.last_success, health.last_failure) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(ok), Some((failed, _))) => Some(ok > failed),
        };
        Status {
            circuit,
            reachable,
            last_latency: health.last_latency,
            last_success: health.last_success,
            last_error: health.last_failure.map(|(_, code)| code),
            certificate_expires: health.certificate_expires,
        }
    }

    async fn attempt(
        &self,
        body: &Value,
        timeout: Duration,
        trace: &Trace,
    ) -> Result<Value, Failure> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(HOP_HEADER, "1")
            .header(REQUEST_ID_HEADER, trace.request_id_header())
            .header("traceparent", trace.traceparent())
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| Failure::from(classify(e)))?;
        self.note_certificate(&response);
        let status = response.status();
        if status == reqwest::StatusCode::FORBIDDEN || status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(PartnerError::Rejected(format!("HTTP {status}")).into());
        }
        let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
        if status.is_server_error() || retryable {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Failure {
                error: PartnerError::Unavailable(format!("HTTP {status}")),
                retryable,
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(PartnerError::BadResponse(format!("HTTP {status}")).into());
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
                let refusal = REFUSALS
                    .into_iter()
                    .find(|code| codes.first() == Some(code));
                return Err(if codes.contains(&"FORBIDDEN") {
                    PartnerError::Rejected(format!("errors {codes:?}"))
                } else if let Some(code) = refusal {
                    PartnerError::Refused {
                        code,
                        field: errors[0]["extensions"]["field"].as_str().map(str::to_owned),
                    }
                } else {
                    PartnerError::BadResponse(format!("errors {codes:?}"))
                }
                .into());
            }
            tracing::info!(province = %self.province, ?codes, "partner answered with errors beside data");
        }
        if !data.is_object() {
            return Err(PartnerError::BadResponse("no data".to_owned()).into());
        }
        Ok(data)
    }

    /// Remembers when the partner's certificate expires, from the connection.
    /// The certificate is read only when it is not the one seen last.
    fn note_certificate(&self, response: &reqwest::Response) {
        use x509_parser::prelude::FromDer;
        let Some(der) = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
        else {
            return;
        };
        let mut health = self.health.lock().expect("health lock");
        if health.certificate == der {
            return;
        }
        if let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) {
            health.certificate_expires =
                chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0);
            health.certificate = der.to_vec();
        }
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, PartnerError> {
        let max_bytes = self.settings.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(PartnerError::BadResponse("answer too large".to_owned()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(PartnerError::BadResponse("answer too large".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The wait before retry `attempt` (1, 2, …): 50 ms doubling, with up to half
/// again of jitter so that gateways do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.saturating_sub(1).min(6);
    Duration::from_millis(base + fastrand::u64(0..=base / 2))
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
            // An I/O error's `source` skips the error it wraps, which may be
            // another I/O error wrapping rustls's (as hyper's connector does).
            if let Some(inner) = io.get_ref()
                && (inner.is::<std::io::Error>() || inner.is::<rustls::Error>())
            {
                source = Some(inner);
                continue;
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
