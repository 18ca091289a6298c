//! One link of the audit hash chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Consecutive from 1; assigned under the head's lock, not by the database.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub fingerprint: String,
    pub subject: String,
    pub role: Option<String>,
    pub province: Option<i32>,
    pub operation_name: Option<String>,
    pub operation_type: String,
    pub query_hash: String,
    pub variables_hash: String,
    /// JSON array of `GlobalId@version` strings.
    pub records: String,
    pub outcome: String,
    /// Comma-separated error codes.
    pub error_codes: String,
    pub latency_us: i64,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
