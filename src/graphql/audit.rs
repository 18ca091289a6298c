//! The audit trail, for operators: who asked what, when, and what they got.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::{pagination, scalars, store};
use crate::domain::Role;
use crate::domain::audit::{Entry, Outcome};
use crate::store::AuditFilter;

/// One audited request: a link of the hash chain.
pub struct AuditEntry(pub Entry);

super::pagination::connection_types!(AuditEntry, AuditEntryEdge, AuditEntryConnection);

#[Object]
impl AuditEntry {
    /// Position in the chain, from 1.
    async fn sequence(&self) -> i64 {
        self.0.id
    }
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.event.at
    }
    /// SHA-256 of the caller's certificate.
    async fn fingerprint(&self) -> &str {
        &self.0.event.fingerprint
    }
    /// The certificate's subject.
    async fn subject(&self) -> &str {
        &self.0.event.subject
    }
    /// The role the certificate claims, if it names one.
    async fn role(&self) -> Option<&str> {
        self.0.event.role.as_deref()
    }
    /// The province the certificate claims, if it names one.
    async fn caller_province(&self) -> Option<String> {
        self.0.event.province.map(|p| format!("{p:02}"))
    }
    async fn operation_name(&self) -> Option<&str> {
        self.0.event.operation_name.as_deref()
    }
    /// `query`, `mutation` or `none` (refused before a query was read).
    async fn operation_type(&self) -> &str {
        &self.0.event.operation_type
    }
    /// SHA-256 of the query text.
    async fn query_hash(&self) -> &str {
        &self.0.event.query_hash
    }
    /// SHA-256 of the variables as JSON.
    async fn variables_hash(&self) -> &str {
        &self.0.event.variables_hash
    }
    /// Every record returned, as `ID@version`.
    async fn records(&self) -> &[String] {
        &self.0.event.records
    }
    async fn outcome(&self) -> Option<Outcome> {
        Outcome::from_code(&self.0.event.outcome).ok()
    }
    async fn error_codes(&self) -> &[String] {
        &self.0.event.error_codes
    }
    async fn latency_ms(&self) -> f64 {
        self.0.event.latency_us as f64 / 1000.0
    }
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}

/// The chain's head, to keep outside the gateway: a later `caunoi audit verify
/// --expect` proves the chain was not cut short.
#[derive(SimpleObject)]
pub struct AuditHead {
    pub sequence: i64,
    pub hash: String,
}

/// Which audit entries to list.
#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    pub outcome: Option<Outcome>,
    pub caller_province: Option<scalars::ProvinceCode>,
    pub role: Option<Role>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail, oldest first (operators only).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let filter = filter.unwrap_or_default();
        let filter = AuditFilter {
            outcome: filter.outcome.map(|o| o.code().to_owned()),
            province: filter.caller_province.map(|p| p.0.number()),
            role: filter.role.map(|r| r.code().to_owned()),
        };
        let page = store(ctx)
            .audit_entries(pagination::request(first, after.as_deref())?, &filter)
            .await?;
        Ok(pagination::connection(page, |e| e.id, AuditEntry))
    }

    /// The audit chain's head (operators only).
    async fn audit_head(&self, ctx: &Context<'_>) -> Result<AuditHead> {
        let head = store(ctx).audit_head().await?;
        Ok(AuditHead {
            sequence: head.id,
            hash: head.hash,
        })
    }
}
