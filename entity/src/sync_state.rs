//! Where the sync of one partner's feed stands, and who holds it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub province: i32,
    /// The partner feed's epoch when we started reading it.
    pub epoch: Option<String>,
    /// The partner's cursor after the last change applied.
    pub cursor: Option<String>,
    pub last_success: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub rows_applied: i64,
    /// The worker holding the lease, until `lease_until`.
    pub holder: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
