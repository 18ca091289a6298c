//! A rapid alert, owned by the province that raised it. Hazards, measures and
//! lots are JSON lists written and read by the store.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub classification: String,
    pub risk: String,
    pub basis: String,
    pub subject: String,
    pub description: String,
    pub hazards: String,
    pub measures: String,
    pub lots: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub notified_at: Option<DateTimeUtc>,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
