//! Booths a province registered at one of our fairs.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booth_registration")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub fair_id: i64,
    pub exhibiting: i32,
    pub reference: String,
    pub booths: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
