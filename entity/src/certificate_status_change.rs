//! One entry of a certificate's status history: issued, suspended, reinstated or
//! revoked, effective on a date. Validity on a past date is read from here.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate_status_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub certificate_id: i64,
    /// The status from `effective_on` on: `active`, `suspended` or `revoked`.
    pub status: String,
    pub effective_on: Date,
    pub reason: Option<String>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
