//! A trade fair we host.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trade_fair")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub name: String,
    pub place: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub booths: i32,
    pub booths_taken: i32,
    pub min_stars: i32,
    pub registration_deadline: Date,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
