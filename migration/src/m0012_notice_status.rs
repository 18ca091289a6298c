//! A partner's notice of its alert keeps the alert's status at the version
//! it names, so that we see the alert closed or withdrawn when its owner
//! tells us, and say so once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notice {
    Table,
    /// The alert's status code (`closed`…) as its owner last told it; null
    /// for notices of other records, and from senders that do not tell it.
    Status,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Notice::Table)
                    .add_column(string_null(Notice::Status))
                    .to_owned(),
            )
            .await
    }
}
