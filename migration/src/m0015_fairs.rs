//! Trade fairs a province hosts, the booths provinces register at them, and
//! the products each business will show there.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TradeFair {
    Table,
    Id,
    Province,
    Version,
    Name,
    Place,
    StartsOn,
    EndsOn,
    Booths,
    /// Booths registered so far; never more than `booths`.
    BoothsTaken,
    MinStars,
    RegistrationDeadline,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BoothRegistration {
    Table,
    Id,
    Province,
    Version,
    /// Our fair.
    FairId,
    /// The province whose businesses exhibit.
    Exhibiting,
    /// Its own name for the registration, unique with it.
    Reference,
    Booths,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BoothProduct {
    Table,
    Id,
    RegistrationId,
    /// The business and its product, of the exhibiting province.
    FacilityId,
    ProductId,
    /// The order they were registered in.
    Position,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use TradeFair as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .col(big_pk_auto(F::Id))
                    .col(integer(F::Province))
                    .col(integer(F::Version))
                    .col(string(F::Name))
                    .col(string(F::Place))
                    .col(date(F::StartsOn))
                    .col(date(F::EndsOn))
                    .col(integer(F::Booths))
                    .col(integer(F::BoothsTaken))
                    .col(integer(F::MinStars))
                    .col(date(F::RegistrationDeadline))
                    .col(timestamp_with_time_zone(F::CreatedAt))
                    .col(timestamp_with_time_zone(F::UpdatedAt))
                    .check(Expr::col(F::BoothsTaken).lte(Expr::col(F::Booths)))
                    .to_owned(),
            )
            .await?;
        use BoothRegistration as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(big_pk_auto(R::Id))
                    .col(integer(R::Province))
                    .col(integer(R::Version))
                    .col(big_integer(R::FairId))
                    .col(integer(R::Exhibiting))
                    .col(string(R::Reference))
                    .col(integer(R::Booths))
                    .col(timestamp_with_time_zone(R::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("booth_registration_reference")
                    .table(R::Table)
                    .col(R::Exhibiting)
                    .col(R::Reference)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("booth_registration_fair")
                    .table(R::Table)
                    .col(R::FairId)
                    .to_owned(),
            )
            .await?;
        use BoothProduct as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(big_pk_auto(P::Id))
                    .col(big_integer(P::RegistrationId))
                    .col(big_integer(P::FacilityId))
                    .col(big_integer(P::ProductId))
                    .col(integer(P::Position))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("booth_product_registration")
                    .table(P::Table)
                    .col(P::RegistrationId)
                    .to_owned(),
            )
            .await
    }
}
