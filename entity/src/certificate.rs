//! A food-safety certificate: eligibility certificate, safe-food-production
//! commitment, or exemption by a recognised standard.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    #[sea_orm(unique)]
    pub number: String,
    pub kind: String,
    pub standard: Option<String>,
    pub facility_id: i64,
    /// Product groups covered, one per line.
    pub scope: String,
    pub issuing_authority: String,
    pub issued_on: Date,
    pub expires_on: Option<Date>,
    /// `active`, `suspended` or `revoked`; expiry is derived from `expires_on`.
    pub status: String,
    pub status_reason: Option<String>,
    pub grade: Option<String>,
    pub replaces_id: Option<i64>,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
