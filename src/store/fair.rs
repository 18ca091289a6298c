//! Trade fairs we host, and the booths provinces register at them. A fair
//! is shown to every partner; a registration to our own callers and to the
//! province that made it. Booths are taken in the registration's own
//! transaction by one conditional update, so that two registrations racing
//! for the last booth cannot both have it.

use chrono::Utc;
use entity::{booth_product, booth_registration, trade_fair};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait},
};

use super::{Admits, Audience, Page, PageRequest, Store, page, stored};
use crate::domain::{
    BoothRegistrationData, BoothRegistrationRecord, Exhibitor, FacilityRecord, GlobalId,
    ProvinceCode, RecordKind, Stars, TradeFairData, TradeFairRecord, today,
};
use crate::error::AppError;

/// Which fairs a list holds.
#[derive(Debug, Clone, Default)]
pub struct TradeFairFilter {
    /// Fairs that end on or after this day.
    pub ends_from: Option<chrono::NaiveDate>,
    /// Fairs still open to registration today.
    pub open: Option<bool>,
    pub audience: Audience,
}

impl Admits<TradeFairRecord> for TradeFairFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::TradeFair
    }

    fn facility_of(&self, _: &TradeFairRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &TradeFairRecord, _: Option<&FacilityRecord>) -> bool {
        self.ends_from.is_none_or(|d| r.data.ends_on >= d)
            && self
                .open
                .is_none_or(|open| (r.data.registration_deadline >= today()) == open)
    }
}

/// Which registrations a list holds.
#[derive(Debug, Clone, Default)]
pub struct BoothRegistrationFilter {
    /// Registrations at these fairs (at most a page of them).
    pub fairs: Vec<GlobalId>,
    pub exhibiting: Option<ProvinceCode>,
    pub audience: Audience,
}

impl Admits<BoothRegistrationRecord> for BoothRegistrationFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::BoothRegistration
    }

    fn facility_of(&self, _: &BoothRegistrationRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &BoothRegistrationRecord, _: Option<&FacilityRecord>) -> bool {
        (self.fairs.is_empty() || self.fairs.contains(&r.data.fair))
            && self.exhibiting.is_none_or(|p| r.data.exhibiting == p)
    }
}

/// A registration to keep: its data, with only the products found
/// eligible, and the registering province's name for it.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub data: BoothRegistrationData,
    pub reference: String,
}

impl Store {
    /// Fairs by row id, in no particular order, for batched lookups.
    pub async fn trade_fairs_by_id(
        &self,
        ids: &[i64],
        _audience: Audience,
    ) -> Result<Vec<TradeFairRecord>, AppError> {
        trade_fair::Entity::find()
            .filter(trade_fair::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.fair_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn trade_fairs(
        &self,
        filter: &TradeFairFilter,
        request: PageRequest,
    ) -> Result<Page<TradeFairRecord>, AppError> {
        use trade_fair::Column as F;
        let mut select = trade_fair::Entity::find();
        if let Some(day) = filter.ends_from {
            select = select.filter(F::EndsOn.gte(day));
        }
        if let Some(open) = filter.open {
            select = select.filter(if open {
                F::RegistrationDeadline.gte(today())
            } else {
                F::RegistrationDeadline.lt(today())
            });
        }
        let rows = page(&self.db, select, F::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.fair_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Announces a fair we host.
    #[tracing::instrument(skip(self, data))]
    pub async fn create_trade_fair(
        &self,
        data: TradeFairData,
    ) -> Result<TradeFairRecord, AppError> {
        data.check()
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let now = Utc::now();
        let txn = self.write().await?;
        let row = trade_fair::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            name: Set(data.name),
            place: Set(data.place),
            starts_on: Set(data.starts_on),
            ends_on: Set(data.ends_on),
            booths: Set(data.booths),
            booths_taken: Set(0),
            min_stars: Set(data.min_stars.get()),
            registration_deadline: Set(data.registration_deadline),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.fair_record(row)
    }

    /// Registrations by row id, in no particular order, for batched lookups.
    pub async fn booth_registrations_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<BoothRegistrationRecord>, AppError> {
        let rows = booth_registration::Entity::find()
            .filter(booth_registration::Column::Id.is_in(ids.iter().copied()))
            .filter(visible_registrations(audience))
            .all(&self.db)
            .await?;
        self.registration_records(&self.db, rows).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn booth_registrations(
        &self,
        filter: &BoothRegistrationFilter,
        request: PageRequest,
    ) -> Result<Page<BoothRegistrationRecord>, AppError> {
        use booth_registration::Column as R;
        let mut select =
            booth_registration::Entity::find().filter(visible_registrations(filter.audience));
        if !filter.fairs.is_empty() {
            let ours = filter
                .fairs
                .iter()
                .filter(|f| f.province == self.province)
                .map(|f| f.local);
            select = select.filter(R::FairId.is_in(ours));
        }
        if let Some(province) = filter.exhibiting {
            select = select.filter(R::Exhibiting.eq(province.number()));
        }
        let rows = page(&self.db, select, R::Id, request).await?;
        Ok(Page {
            items: self.registration_records(&self.db, rows.items).await?,
            has_next: rows.has_next,
        })
    }

    /// Keeps a registration at our fair, taking its booths in the same
    /// transaction; the same reference from the same province again is the
    /// same registration, kept once. Refused, with nothing taken, past the
    /// fair's deadline (`INVALID_INPUT` on `fair`) or beyond its booths
    /// (`CONFLICT`). Says whether it was known already.
    #[tracing::instrument(skip(self, new))]
    pub async fn register_booths(
        &self,
        new: NewRegistration,
    ) -> Result<(BoothRegistrationRecord, bool), AppError> {
        use booth_registration::Column as R;
        use trade_fair::Column as F;
        let NewRegistration { data, reference } = new;
        data.check()
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let fair_local = self.owned(data.fair, "fair_id")?;
        let txn = self.write().await?;
        if let Some(known) = booth_registration::Entity::find()
            .filter(R::Exhibiting.eq(data.exhibiting.number()))
            .filter(R::Reference.eq(reference.as_str()))
            .one(&txn)
            .await?
        {
            let record = self.registration_records(&txn, vec![known]).await?.pop();
            txn.commit().await?;
            let record = record.ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a known registration vanished"))
            })?;
            return Ok((record, true));
        }
        let fair = trade_fair::Entity::find_by_id(fair_local)
            .one(&txn)
            .await?
            .ok_or_else(|| {
                AppError::invalid("fair_id", format!("no trade fair has the ID {}", data.fair))
            })?;
        if fair.registration_deadline < today() {
            return Err(AppError::invalid(
                "fair_id",
                format!("registration closed on {}", fair.registration_deadline),
            ));
        }
        let taken = trade_fair::Entity::update_many()
            .col_expr(F::BoothsTaken, Expr::col(F::BoothsTaken).add(data.booths))
            .col_expr(F::Version, Expr::col(F::Version).add(1))
            .col_expr(F::UpdatedAt, Expr::value(Utc::now()))
            .filter(F::Id.eq(fair_local))
            .filter(
                Expr::col(F::BoothsTaken)
                    .add(data.booths)
                    .lte(Expr::col(F::Booths)),
            )
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !taken {
            return Err(AppError::Conflict(format!(
                "{} booths are left at {}; {} were asked",
                fair.booths - fair.booths_taken,
                data.fair,
                data.booths
            )));
        }
        let row = booth_registration::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            fair_id: Set(fair_local),
            exhibiting: Set(data.exhibiting.number()),
            reference: Set(reference),
            booths: Set(data.booths),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let products = data
            .shown()
            .enumerate()
            .map(
                |(position, (facility, product))| booth_product::ActiveModel {
                    registration_id: Set(row.id),
                    facility_id: Set(facility.local),
                    product_id: Set(product.local),
                    position: Set(position as i32),
                    ..Default::default()
                },
            );
        booth_product::Entity::insert_many(products)
            .exec(&txn)
            .await?;
        let record = self.registration_records(&txn, vec![row]).await?.pop();
        txn.commit().await?;
        let record = record
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a new registration vanished")))?;
        Ok((record, false))
    }

    fn fair_record(&self, row: trade_fair::Model) -> Result<TradeFairRecord, AppError> {
        let what = "trade fair";
        Ok(TradeFairRecord {
            id: self.id(RecordKind::TradeFair, row.id),
            version: row.version,
            data: TradeFairData {
                name: row.name,
                place: row.place,
                starts_on: row.starts_on,
                ends_on: row.ends_on,
                booths: row.booths,
                min_stars: stored(Stars::parse(row.min_stars.into()), what)?,
                registration_deadline: row.registration_deadline,
            },
            booths_taken: row.booths_taken,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Registrations of `rows`, in their order, each with its businesses
    /// and their products in the order they were registered.
    async fn registration_records(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        rows: Vec<booth_registration::Model>,
    ) -> Result<Vec<BoothRegistrationRecord>, AppError> {
        let what = "booth registration";
        let products = booth_product::Entity::find()
            .filter(booth_product::Column::RegistrationId.is_in(rows.iter().map(|r| r.id)))
            .order_by_asc(booth_product::Column::Position)
            .all(db)
            .await?;
        rows.into_iter()
            .map(|row| {
                let exhibiting = stored(ProvinceCode::from_number(row.exhibiting.into()), what)?;
                let mut exhibitors: Vec<Exhibitor> = Vec::new();
                for p in products.iter().filter(|p| p.registration_id == row.id) {
                    let facility = GlobalId::new(RecordKind::Facility, exhibiting, p.facility_id);
                    let product = GlobalId::new(RecordKind::Product, exhibiting, p.product_id);
                    match exhibitors.iter_mut().find(|e| e.facility == facility) {
                        Some(exhibitor) => exhibitor.products.push(product),
                        None => exhibitors.push(Exhibitor {
                            facility,
                            products: vec![product],
                        }),
                    }
                }
                Ok(BoothRegistrationRecord {
                    id: self.id(RecordKind::BoothRegistration, row.id),
                    version: row.version,
                    data: BoothRegistrationData {
                        fair: self.id(RecordKind::TradeFair, row.fair_id),
                        exhibiting,
                        booths: row.booths,
                        exhibitors,
                    },
                    reference: row.reference,
                    created_at: row.created_at,
                })
            })
            .collect()
    }
}

/// The registrations `audience` may see: a partner, its own.
fn visible_registrations(audience: Audience) -> Condition {
    match audience {
        Audience::Internal => Condition::all(),
        Audience::Partner(province) => {
            Condition::all().add(booth_registration::Column::Exhibiting.eq(province.number()))
        }
    }
}
