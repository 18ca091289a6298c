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
    /// The partner provinces the change concerns, as `,40,01,` (`*` for all):
    /// those the record was shared with before or after the change.
    pub shared_with: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
