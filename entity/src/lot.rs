//! A lot: goods made or harvested together by one of our facilities, owned
//! by the province its code names.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lot")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    #[sea_orm(unique)]
    pub code: String,
    pub product_id: i64,
    pub facility_id: i64,
    pub quantity: f64,
    pub unit: String,
    pub produced_on: Date,
    pub batch: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
