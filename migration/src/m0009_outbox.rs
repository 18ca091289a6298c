//! Notices of our records owed to partners, written in the transaction that
//! makes them due and kept until delivered, with each attempt's outcome.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    /// The partner to tell.
    Partner,
    /// The kind of our record it is about (`alert`).
    Kind,
    RecordLocal,
    /// The version of the record the notice names.
    Version,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    LastError,
    DeliveredAt,
    /// Until when a deliverer holds it.
    ClaimedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(integer(Outbox::Partner))
                    .col(string(Outbox::Kind))
                    .col(big_integer(Outbox::RecordLocal))
                    .col(integer(Outbox::Version))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(integer(Outbox::Attempts))
                    .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                    .col(text_null(Outbox::LastError))
                    .col(timestamp_with_time_zone_null(Outbox::DeliveredAt))
                    .col(timestamp_with_time_zone_null(Outbox::ClaimedUntil))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("outbox_due", [Outbox::DeliveredAt, Outbox::NextAttemptAt]),
            ("outbox_record", [Outbox::Kind, Outbox::RecordLocal]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Outbox::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}
