//! Notices a partner sent us of its alerts: one row per alert, however many
//! times it was delivered, with our acknowledgement.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notice {
    Table,
    Id,
    /// The partner that sent it, which owns the record.
    Sender,
    /// The kind of record it is about (`alert`).
    Kind,
    /// The record's row on its owner.
    RecordLocal,
    /// The latest version of the record a notice named.
    Version,
    ReceivedAt,
    /// When one of our operators acknowledged it (who did is in the audit
    /// trail).
    AcknowledgedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notice::Table)
                    .col(big_pk_auto(Notice::Id))
                    .col(integer(Notice::Sender))
                    .col(string(Notice::Kind))
                    .col(big_integer(Notice::RecordLocal))
                    .col(integer(Notice::Version))
                    .col(timestamp_with_time_zone(Notice::ReceivedAt))
                    .col(timestamp_with_time_zone_null(Notice::AcknowledgedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notice_record")
                    .table(Notice::Table)
                    .col(Notice::Sender)
                    .col(Notice::Kind)
                    .col(Notice::RecordLocal)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
