//! Who is calling: the verified client certificate becomes a typed caller before
//! any resolver runs.
//!
//! rustls has already verified the chain against the union of trusted CAs (our own
//! and each partner's). That does not say *which* CA vouched for the holder, and a
//! partner controls its own CA's names, so the chain is verified again against each
//! CA on its own; the one that accepts it decides what the certificate may claim:
//! our CA issues dashboards, operators and sync jobs of our province; partner CA
//! `P` issues only `urn:caunoi:P:gateway`. Anything else is authenticated but
//! refused. Verdicts are cached by the leaf certificate's bytes until the trust
//! material is reloaded, so its SHA-256 fingerprint is taken once, not on every
//! request (where it cost about 18 000 instructions, 9 % of a local lookup).
//! Headers play no part.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::domain::{Caller, Principal, ProvinceCode, Role};

/// A verified caller and the certificate that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub caller: Caller,
    pub principal: Principal,
    /// SHA-256 of the leaf certificate, lower-case hex.
    pub fingerprint: String,
    pub subject: String,
}

impl Identity {
    /// A caller inside this process (the demo's examples), with no certificate.
    pub fn local(province: ProvinceCode, role: Role) -> Self {
        Self {
            caller: Caller::Internal(role),
            principal: Principal::new(province, role),
            fingerprint: "local".to_owned(),
            subject: "in-process".to_owned(),
        }
    }
}

/// A certificate that was trusted but may not call us, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub fingerprint: String,
    pub subject: String,
    pub principal: Option<Principal>,
}

/// One trusted CA and what its certificates may claim.
pub struct Anchor {
    /// `None` for our own CA, the partner's province otherwise.
    pub partner: Option<ProvinceCode>,
    pub verifier: Arc<dyn ClientCertVerifier>,
}

/// Turns verified certificate chains into callers.
pub struct Authenticator {
    own: ProvinceCode,
    anchors: Vec<Anchor>,
    allowed: Option<HashSet<String>>,
    /// Verdicts by leaf certificate (DER).
    cache: Mutex<HashMap<Vec<u8>, Result<Identity, Refusal>>>,
}

/// Cached verdicts kept before the cache starts afresh.
const CACHE_LIMIT: usize = 10_000;

impl Authenticator {
    pub fn new(own: ProvinceCode, anchors: Vec<Anchor>, allowed: Option<HashSet<String>>) -> Self {
        Self {
            own,
            anchors,
            allowed,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Identifies the holder of `chain` (leaf first), as presented in the handshake.
    pub fn identify(&self, chain: &[Vec<u8>]) -> Result<Identity, Refusal> {
        let Some(leaf) = chain.first() else {
            return Err(Refusal {
                reason: "no client certificate".to_owned(),
                fingerprint: String::new(),
                subject: String::new(),
                principal: None,
            });
        };
        if let Some(verdict) = self.cache.lock().expect("cache lock").get(leaf.as_slice()) {
            return verdict.clone();
        }
        let verdict = self.decide(chain, leaf, &fingerprint(leaf));
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(leaf.clone(), verdict.clone());
        verdict
    }

    fn decide(
        &self,
        chain: &[Vec<u8>],
        leaf: &[u8],
        fingerprint: &str,
    ) -> Result<Identity, Refusal> {
        let (subject, claimed) = claimed(leaf);
        let refuse = |reason: String, principal: Option<Principal>| Refusal {
            reason,
            fingerprint: fingerprint.to_owned(),
            subject: subject.clone(),
            principal,
        };
        let principal = claimed.map_err(|reason| refuse(reason, None))?;
        if let Some(allowed) = &self.allowed
            && !allowed.contains(fingerprint)
        {
            return Err(refuse(
                "the certificate is not in the fingerprint allow-list".to_owned(),
                Some(principal),
            ));
        }
        let end_entity = CertificateDer::from(leaf);
        let intermediates: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let now = UnixTime::now();
        let anchor = self
            .anchors
            .iter()
            .find(|a| {
                a.verifier
                    .verify_client_cert(&end_entity, &intermediates, now)
                    .is_ok()
            })
            .ok_or_else(|| {
                refuse(
                    "no trusted CA issued this certificate".to_owned(),
                    Some(principal),
                )
            })?;
        let caller = match (anchor.partner, principal.role) {
            (None, Role::Dashboard | Role::Operator | Role::Sync)
                if principal.province == self.own =>
            {
                Caller::Internal(principal.role)
            }
            (None, Role::Gateway) if principal.province == self.own => {
                return Err(refuse(
                    "our own gateway certificate is for asking partners, not us".to_owned(),
                    Some(principal),
                ));
            }
            (Some(partner), Role::Gateway) if principal.province == partner => {
                Caller::Partner(partner)
            }
            (Some(partner), _) if principal.province == partner => {
                return Err(refuse(
                    format!("province {partner}'s CA may vouch only for its gateway"),
                    Some(principal),
                ));
            }
            (issuer, _) => {
                let issuer = issuer.unwrap_or(self.own);
                return Err(refuse(
                    format!(
                        "a certificate from province {issuer}'s CA claims province {}",
                        principal.province
                    ),
                    Some(principal),
                ));
            }
        };
        Ok(Identity {
            caller,
            principal,
            fingerprint: fingerprint.to_owned(),
            subject,
        })
    }
}

/// SHA-256 of a DER certificate, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    crate::domain::audit::sha256_hex(der)
}

/// The subject of a certificate, and the one `urn:caunoi` identity its
/// subject alternative names claim (`Err` says why there is none).
pub fn claimed(der: &[u8]) -> (String, Result<Principal, String>) {
    let (subject, uris) = describe(der);
    let claimed = match uris.as_slice() {
        [uri] => Principal::parse(uri).map_err(|e| e.0),
        [] => Err("the certificate names no urn:caunoi identity".to_owned()),
        _ => Err("the certificate names several identities".to_owned()),
    };
    (subject, claimed)
}

/// The subject and the `urn:caunoi:` SAN URIs of a certificate.
fn describe(der: &[u8]) -> (String, Vec<String>) {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return (String::new(), Vec::new());
    };
    let subject = cert.subject().to_string();
    let uris = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) if uri.starts_with(Principal::PREFIX) => {
                        Some((*uri).to_owned())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    (subject, uris)
}
