//! The declaration that one of our events was in error, and the events that
//! correct it; the event's own row is never edited.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trace_error")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_id: i64,
    pub declared_at: DateTimeUtc,
    pub reason: String,
    /// A JSON array of `eventID` URIs.
    pub corrective_event_uris: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
