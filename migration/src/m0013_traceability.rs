//! Traceability: lots, the EPCIS events that make and move them, the EPCs
//! each event names, and error declarations (a declared event is never
//! edited; its declaration is a row of its own).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Lot {
    Table,
    Id,
    Province,
    Version,
    /// `19-LO-2026-000042`, unique.
    Code,
    /// Our product and facility.
    ProductId,
    FacilityId,
    Quantity,
    /// UN/ECE Recommendation 20 code (`KGM`).
    Unit,
    ProducedOn,
    /// The business's own lot number.
    Batch,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TraceEvent {
    Table,
    Id,
    Province,
    Version,
    /// The EPCIS `eventID` URI, unique.
    EventUri,
    /// `object` or `transformation`.
    EventType,
    Action,
    BizStep,
    Disposition,
    EventTime,
    TimeZoneOffset,
    /// Our facility where it happened.
    FacilityId,
    SourceProvince,
    SourceId,
    DestinationProvince,
    DestinationId,
    RecordedAt,
}

#[derive(DeriveIden)]
enum TraceEventItem {
    Table,
    Id,
    EventId,
    /// `what`, `input` or `output`.
    Role,
    /// The EPC's URI (ours: `urn:caunoi:lot:19-LO-2026-000042`).
    Epc,
    /// The province a lot's code names, for a lot of ours or a partner's.
    LotProvince,
    Quantity,
    Unit,
}

#[derive(DeriveIden)]
enum TraceError {
    Table,
    Id,
    /// The event declared in error, one declaration each.
    EventId,
    DeclaredAt,
    Reason,
    /// A JSON array of the corrective events' `eventID`s.
    CorrectiveEventUris,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Lot::Table)
                    .col(big_pk_auto(Lot::Id))
                    .col(integer(Lot::Province))
                    .col(integer(Lot::Version))
                    .col(string_uniq(Lot::Code))
                    .col(big_integer(Lot::ProductId))
                    .col(big_integer(Lot::FacilityId))
                    .col(double(Lot::Quantity))
                    .col(string(Lot::Unit))
                    .col(date(Lot::ProducedOn))
                    .col(string_null(Lot::Batch))
                    .col(timestamp_with_time_zone(Lot::CreatedAt))
                    .to_owned(),
            )
            .await?;
        use TraceEvent as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(big_pk_auto(E::Id))
                    .col(integer(E::Province))
                    .col(integer(E::Version))
                    .col(string_uniq(E::EventUri))
                    .col(string(E::EventType))
                    .col(string_null(E::Action))
                    .col(string(E::BizStep))
                    .col(string_null(E::Disposition))
                    .col(timestamp_with_time_zone(E::EventTime))
                    .col(string(E::TimeZoneOffset))
                    .col(big_integer(E::FacilityId))
                    .col(integer_null(E::SourceProvince))
                    .col(big_integer_null(E::SourceId))
                    .col(integer_null(E::DestinationProvince))
                    .col(big_integer_null(E::DestinationId))
                    .col(timestamp_with_time_zone(E::RecordedAt))
                    .to_owned(),
            )
            .await?;
        use TraceEventItem as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(big_pk_auto(I::Id))
                    .col(big_integer(I::EventId))
                    .col(string(I::Role))
                    .col(string(I::Epc))
                    .col(integer_null(I::LotProvince))
                    .col(double_null(I::Quantity))
                    .col(string_null(I::Unit))
                    .to_owned(),
            )
            .await?;
        use TraceError as X;
        manager
            .create_table(
                Table::create()
                    .table(X::Table)
                    .col(big_pk_auto(X::Id))
                    .col(big_integer_uniq(X::EventId))
                    .col(timestamp_with_time_zone(X::DeclaredAt))
                    .col(string(X::Reason))
                    .col(text(X::CorrectiveEventUris))
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            (
                "trace_event_item_epc",
                I::Table.into_iden(),
                I::Epc.into_iden(),
            ),
            (
                "trace_event_item_event",
                I::Table.into_iden(),
                I::EventId.into_iden(),
            ),
            (
                "trace_event_facility",
                E::Table.into_iden(),
                E::FacilityId.into_iden(),
            ),
            (
                "lot_facility",
                Lot::Table.into_iden(),
                Lot::FacilityId.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
