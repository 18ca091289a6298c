//! The records a province owns: facilities, certificates with their status
//! history, products and inspections, with the indexes their queries use.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Facility {
    Table,
    Id,
    Province,
    Version,
    Name,
    Kind,
    BusinessRegistrationNumber,
    Commune,
    District,
    AddressDetail,
    ContactName,
    ContactPhone,
    ContactIdNumber,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FacilityMarket {
    Table,
    FacilityId,
    Province,
}

#[derive(DeriveIden)]
enum Certificate {
    Table,
    Id,
    Province,
    Version,
    Number,
    Kind,
    Standard,
    FacilityId,
    Scope,
    IssuingAuthority,
    IssuedOn,
    ExpiresOn,
    Status,
    StatusReason,
    Grade,
    ReplacesId,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CertificateStatusChange {
    Table,
    Id,
    CertificateId,
    Status,
    EffectiveOn,
    Reason,
    RecordedAt,
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)] // `KeyProduct` is the column key_product
enum Product {
    Table,
    Id,
    Province,
    Version,
    Name,
    Category,
    FacilityId,
    Description,
    OcopStars,
    OcopRatedOn,
    OcopExpiresOn,
    Specialty,
    KeyProduct,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Inspection {
    Table,
    Id,
    Province,
    Version,
    FacilityProvince,
    FacilityId,
    Stage,
    InspectedOn,
    Result,
    Findings,
    InternalNotes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NumberCounter {
    Table,
    Kind,
    Year,
    Next,
}

fn index(table: impl IntoIden + 'static, name: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(Alias::new(*column));
    }
    statement.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Facility::Table)
                    .col(big_pk_auto(Facility::Id))
                    .col(integer(Facility::Province))
                    .col(integer(Facility::Version))
                    .col(string(Facility::Name))
                    .col(string(Facility::Kind))
                    .col(string_null(Facility::BusinessRegistrationNumber))
                    .col(string(Facility::Commune))
                    .col(string_null(Facility::District))
                    .col(string_null(Facility::AddressDetail))
                    .col(string_null(Facility::ContactName))
                    .col(string_null(Facility::ContactPhone))
                    .col(string_null(Facility::ContactIdNumber))
                    .col(text(Facility::SearchText))
                    .col(timestamp_with_time_zone(Facility::CreatedAt))
                    .col(timestamp_with_time_zone(Facility::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Facility::Table, "facility_kind", &["kind", "id"]))
            .await?;
        manager
            .create_index(index(
                Facility::Table,
                "facility_registration",
                &["business_registration_number"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FacilityMarket::Table)
                    .col(big_integer(FacilityMarket::FacilityId))
                    .col(integer(FacilityMarket::Province))
                    .primary_key(
                        Index::create()
                            .col(FacilityMarket::FacilityId)
                            .col(FacilityMarket::Province),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FacilityMarket::Table, FacilityMarket::FacilityId)
                            .to(Facility::Table, Facility::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                FacilityMarket::Table,
                "facility_market_province",
                &["province", "facility_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Certificate::Table)
                    .col(big_pk_auto(Certificate::Id))
                    .col(integer(Certificate::Province))
                    .col(integer(Certificate::Version))
                    .col(string_uniq(Certificate::Number))
                    .col(string(Certificate::Kind))
                    .col(string_null(Certificate::Standard))
                    .col(big_integer(Certificate::FacilityId))
                    .col(text(Certificate::Scope))
                    .col(string(Certificate::IssuingAuthority))
                    .col(date(Certificate::IssuedOn))
                    .col(date_null(Certificate::ExpiresOn))
                    .col(string(Certificate::Status))
                    .col(text_null(Certificate::StatusReason))
                    .col(string_null(Certificate::Grade))
                    .col(big_integer_null(Certificate::ReplacesId))
                    .col(text(Certificate::SearchText))
                    .col(timestamp_with_time_zone(Certificate::CreatedAt))
                    .col(timestamp_with_time_zone(Certificate::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Certificate::Table, Certificate::FacilityId)
                            .to(Facility::Table, Facility::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Certificate::Table, Certificate::ReplacesId)
                            .to(Certificate::Table, Certificate::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Certificate::Table,
                "certificate_facility",
                &["facility_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                Certificate::Table,
                "certificate_status_expiry",
                &["status", "expires_on"],
            ))
            .await?;
        manager
            .create_index(index(
                Certificate::Table,
                "certificate_replaces",
                &["replaces_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CertificateStatusChange::Table)
                    .col(big_pk_auto(CertificateStatusChange::Id))
                    .col(big_integer(CertificateStatusChange::CertificateId))
                    .col(string(CertificateStatusChange::Status))
                    .col(date(CertificateStatusChange::EffectiveOn))
                    .col(text_null(CertificateStatusChange::Reason))
                    .col(timestamp_with_time_zone(
                        CertificateStatusChange::RecordedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                CertificateStatusChange::Table,
                                CertificateStatusChange::CertificateId,
                            )
                            .to(Certificate::Table, Certificate::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                CertificateStatusChange::Table,
                "certificate_status_change_certificate",
                &["certificate_id", "effective_on"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Product::Table)
                    .col(big_pk_auto(Product::Id))
                    .col(integer(Product::Province))
                    .col(integer(Product::Version))
                    .col(string(Product::Name))
                    .col(string(Product::Category))
                    .col(big_integer(Product::FacilityId))
                    .col(text_null(Product::Description))
                    .col(integer_null(Product::OcopStars))
                    .col(date_null(Product::OcopRatedOn))
                    .col(date_null(Product::OcopExpiresOn))
                    .col(boolean(Product::Specialty))
                    .col(boolean(Product::KeyProduct))
                    .col(text(Product::SearchText))
                    .col(timestamp_with_time_zone(Product::CreatedAt))
                    .col(timestamp_with_time_zone(Product::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Product::Table, Product::FacilityId)
                            .to(Facility::Table, Facility::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Product::Table,
                "product_facility",
                &["facility_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                Product::Table,
                "product_ocop",
                &["ocop_stars", "ocop_expires_on"],
            ))
            .await?;
        manager
            .create_index(index(
                Product::Table,
                "product_category",
                &["category", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Inspection::Table)
                    .col(big_pk_auto(Inspection::Id))
                    .col(integer(Inspection::Province))
                    .col(integer(Inspection::Version))
                    .col(integer(Inspection::FacilityProvince))
                    .col(big_integer(Inspection::FacilityId))
                    .col(string(Inspection::Stage))
                    .col(date(Inspection::InspectedOn))
                    .col(string(Inspection::Result))
                    .col(text_null(Inspection::Findings))
                    .col(text_null(Inspection::InternalNotes))
                    .col(timestamp_with_time_zone(Inspection::CreatedAt))
                    .col(timestamp_with_time_zone(Inspection::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Inspection::Table,
                "inspection_facility",
                &["facility_province", "facility_id", "inspected_on"],
            ))
            .await?;
        manager
            .create_index(index(
                Inspection::Table,
                "inspection_stage",
                &["stage", "inspected_on"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NumberCounter::Table)
                    .col(string(NumberCounter::Kind))
                    .col(integer(NumberCounter::Year))
                    .col(big_integer(NumberCounter::Next))
                    .primary_key(
                        Index::create()
                            .col(NumberCounter::Kind)
                            .col(NumberCounter::Year),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
