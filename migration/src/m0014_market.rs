//! The market: harvest offers, the interest buyers register in them, and a
//! subject kind for the events dashboards follow, which now tell of offers
//! as well as alerts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HarvestOffer {
    Table,
    Id,
    Province,
    Version,
    /// Our facility and product.
    FacilityId,
    ProductId,
    Quantity,
    /// UN/ECE Recommendation 20 code (`KGM`).
    Unit,
    HarvestFrom,
    HarvestUntil,
    /// Indicative prices, in đồng per unit.
    MinPriceVnd,
    MaxPriceVnd,
    CollectionPoint,
    Urgent,
    /// Personal data, shown to partners only with `contact_shared`.
    ContactName,
    ContactPhone,
    ContactShared,
    Note,
    /// `open` or `closed`.
    Status,
    /// Folded words of the offer, for text search.
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Interest {
    Table,
    Id,
    Province,
    Version,
    /// Our offer.
    OfferId,
    /// The buying facility, of this or a partner's province.
    BuyerProvince,
    BuyerId,
    /// The buyer's province's name for the interest, unique with it.
    Reference,
    Quantity,
    Message,
    ContactName,
    ContactPhone,
    /// `pending`, `accepted` or `declined`.
    State,
    Answer,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertEvent {
    Table,
    /// The kind of the event's subject (`alert`, `harvest_offer`); the
    /// subject's province and row are in `alert_province`, `alert_local`.
    SubjectKind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use HarvestOffer as O;
        manager
            .create_table(
                Table::create()
                    .table(O::Table)
                    .col(big_pk_auto(O::Id))
                    .col(integer(O::Province))
                    .col(integer(O::Version))
                    .col(big_integer(O::FacilityId))
                    .col(big_integer(O::ProductId))
                    .col(double(O::Quantity))
                    .col(string(O::Unit))
                    .col(date(O::HarvestFrom))
                    .col(date(O::HarvestUntil))
                    .col(big_integer(O::MinPriceVnd))
                    .col(big_integer(O::MaxPriceVnd))
                    .col(string(O::CollectionPoint))
                    .col(boolean(O::Urgent))
                    .col(string_null(O::ContactName))
                    .col(string_null(O::ContactPhone))
                    .col(boolean(O::ContactShared))
                    .col(text_null(O::Note))
                    .col(string(O::Status))
                    .col(text(O::SearchText))
                    .col(timestamp_with_time_zone(O::CreatedAt))
                    .col(timestamp_with_time_zone(O::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        use Interest as I;
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(big_pk_auto(I::Id))
                    .col(integer(I::Province))
                    .col(integer(I::Version))
                    .col(big_integer(I::OfferId))
                    .col(integer(I::BuyerProvince))
                    .col(big_integer(I::BuyerId))
                    .col(string(I::Reference))
                    .col(double_null(I::Quantity))
                    .col(text_null(I::Message))
                    .col(string_null(I::ContactName))
                    .col(string_null(I::ContactPhone))
                    .col(string(I::State))
                    .col(text_null(I::Answer))
                    .col(timestamp_with_time_zone(I::CreatedAt))
                    .col(timestamp_with_time_zone(I::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("interest_reference")
                    .table(I::Table)
                    .col(I::BuyerProvince)
                    .col(I::Reference)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("interest_offer")
                    .table(I::Table)
                    .col(I::OfferId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AlertEvent::Table)
                    .add_column(string(AlertEvent::SubjectKind).default("alert"))
                    .to_owned(),
            )
            .await
    }
}
