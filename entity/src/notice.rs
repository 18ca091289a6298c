//! A notice a partner sent us of one of its records (an alert), stored once
//! however many times it was delivered. The record stays the partner's: we
//! keep only that we were told, and our acknowledgement.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sender: i32,
    pub kind: String,
    pub record_local: i64,
    pub version: i32,
    /// An alert's status code at `version`, as its owner told it.
    pub status: Option<String>,
    pub received_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
