//! A buyer's interest in one of our harvest offers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "interest")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub offer_id: i64,
    pub buyer_province: i32,
    pub buyer_id: i64,
    pub reference: String,
    pub quantity: Option<f64>,
    pub message: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub state: String,
    pub answer: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
