//! A read-only copy of a record a partner shares, as its owner sent it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "replica_record")]
pub struct Model {
    /// The owner province.
    #[sea_orm(primary_key, auto_increment = false)]
    pub province: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: i64,
    /// The owner's version of the record.
    pub version: i32,
    /// The record as the owner answered it (JSON of our own fragments).
    pub body: String,
    /// A certificate's number, for lookups by number.
    pub number: Option<String>,
    pub synced_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
