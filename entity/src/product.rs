//! A product, with its optional OCOP rating.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "product")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub name: String,
    pub category: String,
    pub facility_id: i64,
    pub description: Option<String>,
    pub ocop_stars: Option<i32>,
    pub ocop_rated_on: Option<Date>,
    pub ocop_expires_on: Option<Date>,
    pub specialty: bool,
    pub key_product: bool,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
