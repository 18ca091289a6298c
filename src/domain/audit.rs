//! The tamper-evident audit trail's primitives.
//!
//! Every partner request, every refused request and every mutation becomes an
//! [`Event`], appended to a hash chain: each entry's hash covers the previous
//! entry's hash and every field of its own, in a canonical JSON encoding. Changing,
//! removing or reordering an entry breaks every hash after it (`crate::audit`
//! verifies the chain). The head (last id and hash) is kept in its own row and
//! can be exported, so that cutting entries off the end is caught too. Times are kept to the microsecond, which both databases store exactly.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

super::coded_enum! {
    /// How an audited request ended.
    pub enum Outcome {
        /// Answered without errors.
        Ok => "ok",
        /// Answered, with at least one error.
        Error => "error",
        /// Refused before any resolver ran.
        Refused => "refused",
        /// Not answered within the request timeout: nothing was returned.
        Timeout => "timeout",
    }
}

/// What one audited request was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// SHA-256 of the caller's certificate.
    pub fingerprint: String,
    pub subject: String,
    /// The role and province the certificate claims, when it names them.
    pub role: Option<String>,
    pub province: Option<i32>,
    pub operation_name: Option<String>,
    /// `query`, `mutation`, `subscription` or `none`.
    pub operation_type: String,
    pub query_hash: String,
    pub variables_hash: String,
    /// `GlobalId@version` of every record returned.
    pub records: Vec<String>,
    pub outcome: String,
    pub error_codes: Vec<String>,
    pub latency_us: i64,
}

impl Event {
    /// An event happening now, its time cut to the microsecond.
    pub fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }

    /// The hash of this event as entry `id` after `prev_hash`.
    pub fn link_hash(&self, id: i64, prev_hash: &str) -> String {
        sha256_hex(self.canonical(id, prev_hash).as_bytes())
    }

    /// The bytes [`Event::link_hash`] covers: a JSON array of `prev_hash`, `id`
    /// and every field, in order.
    fn canonical(&self, id: i64, prev_hash: &str) -> String {
        // A tuple is written as an array, as `json!` would write it, without
        // copying every field into a `Value` first.
        serde_json::to_string(&(
            prev_hash,
            id,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            &self.fingerprint,
            &self.subject,
            &self.role,
            self.province,
            &self.operation_name,
            &self.operation_type,
            &self.query_hash,
            &self.variables_hash,
            &self.records,
            &self.outcome,
            &self.error_codes,
            self.latency_us,
        ))
        .expect("strings and numbers are JSON")
    }
}

/// SHA-256, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub event: Event,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain's head: its last entry's id and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub hash: String,
}

impl Head {
    /// Reads `id:hash`, as `caunoi audit head` prints it.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (id, hash) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("a chain head is written <id>:<hash>"))?;
        let id = id
            .parse()
            .map_err(|_| anyhow::anyhow!("`{id}` is not an entry id"))?;
        anyhow::ensure!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "`{hash}` is not a SHA-256 hash"
        );
        Ok(Self {
            id,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, sha256_hex};

    fn event(full: bool) -> Event {
        Event {
            at: chrono::DateTime::parse_from_rfc3339("2026-12-01T14:31:00.123456Z")
                .unwrap()
                .to_utc(),
            fingerprint: "ab".repeat(32),
            subject: "CN=Cổng Nghệ An, O=\"Sở\" \\ 40".to_owned(),
            role: full.then(|| "gateway".to_owned()),
            province: full.then_some(40),
            operation_name: full.then(|| "Certificate".to_owned()),
            operation_type: "query".to_owned(),
            query_hash: "cd".repeat(32),
            variables_hash: "ef".repeat(32),
            records: if full {
                vec![
                    "Certificate:19:7@2".to_owned(),
                    "Facility:19:3@1".to_owned(),
                ]
            } else {
                Vec::new()
            },
            outcome: "error".to_owned(),
            error_codes: if full {
                vec!["NOT_FOUND".to_owned()]
            } else {
                Vec::new()
            },
            latency_us: 1234,
        }
    }

    #[test]
    fn the_canonical_encoding_never_changes() {
        // Every chain ever written depends on these bytes: the hash of each
        // entry covers them.
        assert_eq!(
            event(true).canonical(8, "00ff"),
            format!(
                r#"["00ff",8,"2026-12-01T14:31:00.123456Z","{}","CN=Cổng Nghệ An, O=\"Sở\" \\ 40","gateway",40,"Certificate","query","{}","{}",["Certificate:19:7@2","Facility:19:3@1"],"error",["NOT_FOUND"],1234]"#,
                "ab".repeat(32),
                "cd".repeat(32),
                "ef".repeat(32),
            )
        );
        assert_eq!(
            event(false).canonical(1, super::GENESIS),
            format!(
                r#"["{}",1,"2026-12-01T14:31:00.123456Z","{}","CN=Cổng Nghệ An, O=\"Sở\" \\ 40",null,null,null,"query","{}","{}",[],"error",[],1234]"#,
                super::GENESIS,
                "ab".repeat(32),
                "cd".repeat(32),
                "ef".repeat(32),
            )
        );
        assert_eq!(
            event(true).link_hash(8, "00ff"),
            sha256_hex(event(true).canonical(8, "00ff").as_bytes())
        );
    }

    #[test]
    fn sha256_is_written_in_lower_case_hex() {
        // FIPS 180-2's examples.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
