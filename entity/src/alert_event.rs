//! An event dashboards follow — of an alert, or of the market — numbered
//! in commit order: `(seq, idx)`, the `idx`-th event of the transaction
//! numbered `seq`. Its subject is `subject_kind` at `alert_province`,
//! `alert_local`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i32,
    pub kind: String,
    pub subject_kind: String,
    pub alert_province: i32,
    pub alert_local: i64,
    pub record_kind: Option<String>,
    pub record_province: Option<i32>,
    pub record_local: Option<i64>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
