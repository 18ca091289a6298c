//! A follow-up on an alert, owned by the province that wrote it; the alert
//! may be a partner's. Measures are a JSON list written by the store.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "follow_up")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub province: i32,
    pub version: i32,
    pub alert_province: i32,
    pub alert_id: i64,
    pub findings: String,
    pub measures: String,
    pub results: Option<String>,
    /// The request (of the alert's owner) this follow-up answers.
    pub answers_request: Option<i64>,
    /// Our inspection that answers it.
    pub inspection_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
