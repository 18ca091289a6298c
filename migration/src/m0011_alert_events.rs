//! The alert events a province's dashboards follow, numbered in commit
//! order like the change feed: by a head row of their own (row 2 of
//! `change_head`), whose lock hands out the numbers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlertEvent {
    Table,
    Seq,
    Idx,
    /// `raised`, `received`, `followed_up`…
    Kind,
    AlertProvince,
    AlertLocal,
    /// The follow-up or request it came through, if any.
    RecordKind,
    RecordProvince,
    RecordLocal,
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
        use AlertEvent as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(big_integer(E::Seq))
                    .col(integer(E::Idx))
                    .col(string(E::Kind))
                    .col(integer(E::AlertProvince))
                    .col(big_integer(E::AlertLocal))
                    .col(string_null(E::RecordKind))
                    .col(integer_null(E::RecordProvince))
                    .col(big_integer_null(E::RecordLocal))
                    .col(timestamp_with_time_zone(E::At))
                    .primary_key(Index::create().col(E::Seq).col(E::Idx))
                    .to_owned(),
            )
            .await?;
        // Row 1 is the change feed's, and its epoch names the database.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ChangeHead::Table)
                    .columns([ChangeHead::Id, ChangeHead::Epoch, ChangeHead::LastSeq])
                    .values_panic([2.into(), "alert events".into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
