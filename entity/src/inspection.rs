//! An inspection of one stage of a facility's production chain, recorded by the
//! inspecting province (the row's owner).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inspection")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    /// The facility's owner province: a facility may belong to a partner.
    pub facility_province: i32,
    pub facility_id: i64,
    pub stage: String,
    pub inspected_on: Date,
    pub result: String,
    pub findings: Option<String>,
    pub internal_notes: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
