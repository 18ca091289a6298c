//! Rapid alerts, owned by the province that raises them, with what they
//! concern and whom, and the follow-ups a province writes on any alert.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Alert {
    Table,
    Id,
    Province,
    Version,
    Classification,
    Risk,
    Basis,
    Subject,
    Description,
    /// JSON: the hazards, in order.
    Hazards,
    /// JSON: the measures taken, in order.
    Measures,
    /// JSON: the lot codes.
    Lots,
    Status,
    StatusReason,
    NotifiedAt,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

/// A product or facility an alert concerns, of either province.
#[derive(DeriveIden)]
enum AlertConcern {
    Table,
    AlertId,
    Kind,
    Province,
    Local,
}

/// A province an alert concerns.
#[derive(DeriveIden)]
enum AlertProvince {
    Table,
    AlertId,
    Province,
}

#[derive(DeriveIden)]
enum FollowUp {
    Table,
    Id,
    Province,
    Version,
    /// The alert followed up, which may be a partner's.
    AlertProvince,
    AlertId,
    Findings,
    Measures,
    Results,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alert::Table)
                    .col(big_pk_auto(Alert::Id))
                    .col(integer(Alert::Province))
                    .col(integer(Alert::Version))
                    .col(string(Alert::Classification))
                    .col(string(Alert::Risk))
                    .col(string(Alert::Basis))
                    .col(string(Alert::Subject))
                    .col(text(Alert::Description))
                    .col(text(Alert::Hazards))
                    .col(text(Alert::Measures))
                    .col(text(Alert::Lots))
                    .col(string(Alert::Status))
                    .col(text_null(Alert::StatusReason))
                    .col(timestamp_with_time_zone_null(Alert::NotifiedAt))
                    .col(text(Alert::SearchText))
                    .col(timestamp_with_time_zone(Alert::CreatedAt))
                    .col(timestamp_with_time_zone(Alert::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("alert_status")
                    .table(Alert::Table)
                    .col(Alert::Status)
                    .col(Alert::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AlertConcern::Table)
                    .col(big_integer(AlertConcern::AlertId))
                    .col(string(AlertConcern::Kind))
                    .col(integer(AlertConcern::Province))
                    .col(big_integer(AlertConcern::Local))
                    .primary_key(
                        Index::create()
                            .col(AlertConcern::AlertId)
                            .col(AlertConcern::Kind)
                            .col(AlertConcern::Province)
                            .col(AlertConcern::Local),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AlertConcern::Table, AlertConcern::AlertId)
                            .to(Alert::Table, Alert::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("alert_concern_record")
                    .table(AlertConcern::Table)
                    .col(AlertConcern::Kind)
                    .col(AlertConcern::Province)
                    .col(AlertConcern::Local)
                    .col(AlertConcern::AlertId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AlertProvince::Table)
                    .col(big_integer(AlertProvince::AlertId))
                    .col(integer(AlertProvince::Province))
                    .primary_key(
                        Index::create()
                            .col(AlertProvince::AlertId)
                            .col(AlertProvince::Province),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AlertProvince::Table, AlertProvince::AlertId)
                            .to(Alert::Table, Alert::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("alert_province_province")
                    .table(AlertProvince::Table)
                    .col(AlertProvince::Province)
                    .col(AlertProvince::AlertId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FollowUp::Table)
                    .col(big_pk_auto(FollowUp::Id))
                    .col(integer(FollowUp::Province))
                    .col(integer(FollowUp::Version))
                    .col(integer(FollowUp::AlertProvince))
                    .col(big_integer(FollowUp::AlertId))
                    .col(text(FollowUp::Findings))
                    .col(text(FollowUp::Measures))
                    .col(text_null(FollowUp::Results))
                    .col(timestamp_with_time_zone(FollowUp::CreatedAt))
                    .col(timestamp_with_time_zone(FollowUp::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("follow_up_alert")
                    .table(FollowUp::Table)
                    .col(FollowUp::AlertProvince)
                    .col(FollowUp::AlertId)
                    .col(FollowUp::Id)
                    .to_owned(),
            )
            .await
    }
}
