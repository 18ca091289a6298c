//! A harvest offer of one of our facilities, looking for buyers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "harvest_offer")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub facility_id: i64,
    pub product_id: i64,
    pub quantity: f64,
    pub unit: String,
    pub harvest_from: Date,
    pub harvest_until: Date,
    pub min_price_vnd: i64,
    pub max_price_vnd: i64,
    pub collection_point: String,
    pub urgent: bool,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_shared: bool,
    pub note: Option<String>,
    pub status: String,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
