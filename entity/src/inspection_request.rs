//! An inspection an alert's owner asks of a province, owned by the asker.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inspection_request")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub alert_id: i64,
    pub facility_province: i32,
    pub facility_id: i64,
    pub stage: String,
    pub assignee: i32,
    pub due_on: Date,
    pub state: String,
    pub answer_follow_up: Option<i64>,
    pub answer_inspection: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
