//! A product or facility, of either province, that an alert concerns.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_concern")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub alert_id: i64,
    /// `product` or `facility`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The record's owner province.
    #[sea_orm(primary_key, auto_increment = false)]
    pub province: i32,
    /// The record's row on its owner.
    #[sea_orm(primary_key, auto_increment = false)]
    pub local: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
