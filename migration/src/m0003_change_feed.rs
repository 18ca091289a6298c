//! The change feed: one row per change to an owned record, numbered in commit
//! order, and the head row whose lock hands out those numbers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Seq,
    Idx,
    Kind,
    RecordId,
    Version,
    Operation,
    SharedWith,
    At,
}

#[derive(DeriveIden)]
enum ChangeHead {
    Table,
    Id,
    Epoch,
    LastSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(big_integer(ChangeLog::Seq))
                    .col(integer(ChangeLog::Idx))
                    .col(string(ChangeLog::Kind))
                    .col(big_integer(ChangeLog::RecordId))
                    .col(integer(ChangeLog::Version))
                    .col(string(ChangeLog::Operation))
                    .col(string(ChangeLog::SharedWith))
                    .col(timestamp_with_time_zone(ChangeLog::At))
                    .primary_key(Index::create().col(ChangeLog::Seq).col(ChangeLog::Idx))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChangeHead::Table)
                    .col(integer(ChangeHead::Id).primary_key())
                    .col(string(ChangeHead::Epoch))
                    .col(big_integer(ChangeHead::LastSeq))
                    .to_owned(),
            )
            .await?;
        // A new feed gets a new epoch, so that cursors of another database (a
        // restore, a re-created province) are recognised as foreign.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let epoch = format!("{:x}{:04x}", nanos, std::process::id() & 0xffff);
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ChangeHead::Table)
                    .columns([ChangeHead::Id, ChangeHead::Epoch, ChangeHead::LastSeq])
                    .values_panic([1.into(), epoch.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
