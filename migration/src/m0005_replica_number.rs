//! Our copy of a partner's certificate can be found by its number, so that
//! `certificate(number:)` and `verifyCertificate` can answer from the replica.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplicaRecord {
    Table,
    Number,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ReplicaRecord::Table)
                    .add_column(string_null(ReplicaRecord::Number))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("replica_record_number")
                    .table(ReplicaRecord::Table)
                    .col(ReplicaRecord::Number)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}
