//! One change to an owned record, in commit order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    /// The committing transaction's number: taken under the head's lock, so
    /// numbers become visible in the order they were taken.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The change's place within its transaction.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i32,
    /// `facility`, `certificate`, `product` or `inspection`.
    pub kind: String,
    pub record_id: i64,
    pub version: i32,
    /// `create` or `update`.
    pub operation: String,
    /// The facility the record belongs to, for deciding what a partner may see.
    pub facility_id: Option<i64>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
