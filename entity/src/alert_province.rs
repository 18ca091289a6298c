//! A province an alert concerns.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_province")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub alert_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub province: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
