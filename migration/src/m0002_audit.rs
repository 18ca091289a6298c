//! The audit trail: a hash chain of every partner request, refused request and
//! mutation, and its head.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    Fingerprint,
    Subject,
    Role,
    Province,
    OperationName,
    OperationType,
    QueryHash,
    VariablesHash,
    Records,
    Outcome,
    ErrorCodes,
    LatencyUs,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    LastId,
    LastHash,
}

/// The hash before the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_integer(AuditLog::Id).primary_key())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string(AuditLog::Fingerprint))
                    .col(text(AuditLog::Subject))
                    .col(string_null(AuditLog::Role))
                    .col(integer_null(AuditLog::Province))
                    .col(string_null(AuditLog::OperationName))
                    .col(string(AuditLog::OperationType))
                    .col(string(AuditLog::QueryHash))
                    .col(string(AuditLog::VariablesHash))
                    .col(text(AuditLog::Records))
                    .col(string(AuditLog::Outcome))
                    .col(string(AuditLog::ErrorCodes))
                    .col(big_integer(AuditLog::LatencyUs))
                    .col(string(AuditLog::PrevHash))
                    .col(string(AuditLog::Hash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_outcome")
                    .table(AuditLog::Table)
                    .col(AuditLog::Outcome)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::LastId))
                    .col(string(AuditHead::LastHash))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::LastId, AuditHead::LastHash])
                    .values_panic([1.into(), 0i64.into(), GENESIS.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
