//! An EPCIS event recorded by one of our facilities (the row's owner).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trace_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    #[sea_orm(unique)]
    pub event_uri: String,
    pub event_type: String,
    pub action: Option<String>,
    pub biz_step: String,
    pub disposition: Option<String>,
    pub event_time: DateTimeUtc,
    pub time_zone_offset: String,
    pub facility_id: i64,
    pub source_province: Option<i32>,
    pub source_id: Option<i64>,
    pub destination_province: Option<i32>,
    pub destination_id: Option<i64>,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
