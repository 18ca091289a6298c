//! The read-only replica of what partners share, and each partner's sync state.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplicaRecord {
    Table,
    Province,
    Kind,
    RecordId,
    Version,
    Body,
    SyncedAt,
}

#[derive(DeriveIden)]
enum SyncState {
    Table,
    Province,
    Epoch,
    Cursor,
    LastSuccess,
    LastError,
    RowsApplied,
    Holder,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplicaRecord::Table)
                    .col(integer(ReplicaRecord::Province))
                    .col(string(ReplicaRecord::Kind))
                    .col(big_integer(ReplicaRecord::RecordId))
                    .col(integer(ReplicaRecord::Version))
                    .col(text(ReplicaRecord::Body))
                    .col(timestamp_with_time_zone(ReplicaRecord::SyncedAt))
                    .primary_key(
                        Index::create()
                            .col(ReplicaRecord::Province)
                            .col(ReplicaRecord::Kind)
                            .col(ReplicaRecord::RecordId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SyncState::Table)
                    .col(integer(SyncState::Province).primary_key())
                    .col(string_null(SyncState::Epoch))
                    .col(text_null(SyncState::Cursor))
                    .col(timestamp_with_time_zone_null(SyncState::LastSuccess))
                    .col(text_null(SyncState::LastError))
                    .col(big_integer(SyncState::RowsApplied))
                    .col(string_null(SyncState::Holder))
                    .col(timestamp_with_time_zone_null(SyncState::LeaseUntil))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
