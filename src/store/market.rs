//! Harvest offers of our facilities and the interest buyers register in
//! them. An offer is shown to every partner, with what its product and
//! facility are and whether the facility is certified today, read with the
//! offer (never copied into it). An interest is shown to our own callers
//! and to the province of its buyer.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::{certificate, harvest_offer, interest, product};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, Query, SelectStatement},
};

use super::facility::matching_facilities;
use super::{
    Admits, Audience, Page, PageRequest, Store, claim, holds_terms, matches_terms, page,
    search_text, stored,
};
use crate::domain::{
    Contact, Event, FacilityRecord, GlobalId, HarvestOfferData, HarvestOfferRecord, InterestData,
    InterestRecord, InterestState, MarketEventKind, OcopRating, OfferShown, OfferStatus,
    PhoneNumber, ProductCategory, ProvinceCode, QuantityUnit, RecordKind, Stars, StoredStatus,
    today,
};
use crate::error::AppError;

/// Which offers a list holds.
#[derive(Debug, Clone, Default)]
pub struct HarvestOfferFilter {
    pub status: Option<OfferStatus>,
    pub urgent: Option<bool>,
    pub category: Option<ProductCategory>,
    /// Products with an OCOP rating valid today of at least these stars.
    pub min_stars: Option<Stars>,
    /// Offers whose harvest window meets these days.
    pub harvest_from: Option<chrono::NaiveDate>,
    pub harvest_until: Option<chrono::NaiveDate>,
    /// Whether the facility holds a certificate valid today.
    pub certified: Option<bool>,
    pub facility: Option<GlobalId>,
    pub product: Option<GlobalId>,
    /// Folded words, each in the offer, its product or its facility.
    pub text: Vec<String>,
    pub audience: Audience,
}

impl Admits<HarvestOfferRecord> for HarvestOfferFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::HarvestOffer
    }

    fn facility_of(&self, _: &HarvestOfferRecord) -> Option<GlobalId> {
        None
    }

    /// Judged on what the offer showed when it was read; offers are not
    /// replicated, so this judges only what a partner answered.
    fn admits(&self, r: &HarvestOfferRecord, _: Option<&FacilityRecord>) -> bool {
        let shown = &r.shown;
        self.status.is_none_or(|s| r.status == s)
            && self.urgent.is_none_or(|u| r.data.urgent == u)
            && self.category.is_none_or(|c| shown.category == c)
            && self.min_stars.is_none_or(|stars| {
                shown
                    .ocop
                    .is_some_and(|o| o.stars >= stars && o.is_valid_on(today()))
            })
            && self.harvest_from.is_none_or(|d| r.data.harvest_until >= d)
            && self.harvest_until.is_none_or(|d| r.data.harvest_from <= d)
            && self.certified.is_none_or(|c| shown.certified == c)
            && self.facility.is_none_or(|f| r.data.facility == f)
            && self.product.is_none_or(|p| r.data.product == p)
            && (self.text.is_empty()
                || holds_terms(
                    &search_text([
                        r.data.collection_point.as_str(),
                        r.data.note.as_deref().unwrap_or(""),
                        shown.product_name.as_str(),
                        shown.facility_name.as_str(),
                    ]),
                    &self.text,
                ))
    }
}

/// Which interests a list holds.
#[derive(Debug, Clone, Default)]
pub struct InterestFilter {
    /// Interests in these offers (at most a page of them).
    pub offers: Vec<GlobalId>,
    pub state: Option<InterestState>,
    /// Interests of buyers of this province.
    pub buyer_province: Option<ProvinceCode>,
    pub audience: Audience,
}

impl Admits<InterestRecord> for InterestFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Interest
    }

    fn facility_of(&self, _: &InterestRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &InterestRecord, _: Option<&FacilityRecord>) -> bool {
        (self.offers.is_empty() || self.offers.contains(&r.data.offer))
            && self.state.is_none_or(|s| r.state == s)
            && self
                .buyer_province
                .is_none_or(|p| r.data.buyer.province == p)
    }
}

/// An interest as the buyer's province sent it.
#[derive(Debug, Clone)]
pub struct NewInterest {
    pub data: InterestData,
    /// The buyer's province's name for it: sent again, it is kept once.
    pub reference: String,
}

impl Store {
    /// Offers by row id, in no particular order, for batched lookups.
    pub async fn harvest_offers_by_id(
        &self,
        ids: &[i64],
        _audience: Audience,
    ) -> Result<Vec<HarvestOfferRecord>, AppError> {
        let rows = harvest_offer::Entity::find()
            .filter(harvest_offer::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        self.offer_records(&self.db, rows).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn harvest_offers(
        &self,
        filter: &HarvestOfferFilter,
        request: PageRequest,
    ) -> Result<Page<HarvestOfferRecord>, AppError> {
        use harvest_offer::Column as O;
        let mut select = harvest_offer::Entity::find();
        for (id, column) in [
            (filter.facility, O::FacilityId),
            (filter.product, O::ProductId),
        ] {
            if let Some(id) = id {
                if id.province != self.province {
                    return Ok(Page::empty());
                }
                select = select.filter(column.eq(id.local));
            }
        }
        if let Some(status) = filter.status {
            select = select.filter(O::Status.eq(status.code()));
        }
        if let Some(urgent) = filter.urgent {
            select = select.filter(O::Urgent.eq(urgent));
        }
        if filter.category.is_some() || filter.min_stars.is_some() {
            let mut products = Query::select()
                .column(product::Column::Id)
                .from(product::Entity)
                .to_owned();
            if let Some(category) = filter.category {
                products.and_where(product::Column::Category.eq(category.code()));
            }
            if let Some(stars) = filter.min_stars {
                products
                    .and_where(product::Column::OcopStars.gte(stars.get()))
                    .and_where(product::Column::OcopExpiresOn.gte(today()));
            }
            select = select.filter(O::ProductId.in_subquery(products));
        }
        if let Some(from) = filter.harvest_from {
            select = select.filter(O::HarvestUntil.gte(from));
        }
        if let Some(until) = filter.harvest_until {
            select = select.filter(O::HarvestFrom.lte(until));
        }
        if let Some(certified) = filter.certified {
            select = select.filter(if certified {
                O::FacilityId.in_subquery(certified_facilities())
            } else {
                O::FacilityId.not_in_subquery(certified_facilities())
            });
        }
        if !filter.text.is_empty() {
            let products = Query::select()
                .column(product::Column::Id)
                .from(product::Entity)
                .and_where(matches_terms(product::Column::SearchText, &filter.text))
                .to_owned();
            select = select.filter(
                Condition::any()
                    .add(matches_terms(O::SearchText, &filter.text))
                    .add(O::ProductId.in_subquery(products))
                    .add(O::FacilityId.in_subquery(matching_facilities(&filter.text))),
            );
        }
        let rows = page(&self.db, select, O::Id, request).await?;
        Ok(Page {
            items: self.offer_records(&self.db, rows.items).await?,
            has_next: rows.has_next,
        })
    }

    /// Records an offer of one of our facilities, of one of its products.
    /// An urgent one is owed to every partner of `partners` and told on our
    /// market feed, in the same transaction.
    #[tracing::instrument(skip(self, data))]
    pub async fn create_harvest_offer(
        &self,
        data: HarvestOfferData,
        partners: &[ProvinceCode],
    ) -> Result<HarvestOfferRecord, AppError> {
        data.check()
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let txn = self.write().await?;
        let facility = self.existing_facility(&txn, data.facility).await?;
        let product = self.owned(data.product, "product_id")?;
        let product_row = product::Entity::find_by_id(product)
            .one(&txn)
            .await?
            .filter(|row| row.facility_id == facility)
            .ok_or_else(|| {
                AppError::invalid(
                    "product_id",
                    format!(
                        "{} has no product with the ID {}",
                        data.facility, data.product
                    ),
                )
            })?;
        let now = Utc::now();
        let (contact_name, contact_phone) = contact_columns(data.contact.clone());
        let row = harvest_offer::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            facility_id: Set(facility),
            product_id: Set(product),
            quantity: Set(data.quantity),
            unit: Set(data.unit.code().to_owned()),
            harvest_from: Set(data.harvest_from),
            harvest_until: Set(data.harvest_until),
            min_price_vnd: Set(data.min_price_vnd),
            max_price_vnd: Set(data.max_price_vnd),
            collection_point: Set(data.collection_point.clone()),
            urgent: Set(data.urgent),
            contact_name: Set(contact_name),
            contact_phone: Set(contact_phone),
            contact_shared: Set(data.contact_shared),
            note: Set(data.note.clone()),
            status: Set(OfferStatus::Open.code().to_owned()),
            search_text: Set(search_text([
                data.collection_point.as_str(),
                data.note.as_deref().unwrap_or(""),
                product_row.name.as_str(),
            ])),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let offer = self
            .offer_records(&txn, vec![row])
            .await?
            .pop()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a new offer vanished")))?;
        if offer.data.urgent {
            self.owe_notices(&txn, partners, offer.id, offer.version)
                .await?;
            let event = Event::now(MarketEventKind::UrgentOffer, offer.id, None);
            self.record_events(&txn, &[event]).await?;
        }
        txn.commit().await?;
        if offer.data.urgent {
            self.wake_deliverer();
            self.events_committed();
        }
        Ok(offer)
    }

    /// Closes our offer `id` at `version`: kept, no longer open to interest.
    #[tracing::instrument(skip(self))]
    pub async fn close_harvest_offer(
        &self,
        id: GlobalId,
        version: i32,
    ) -> Result<HarvestOfferRecord, AppError> {
        let local = self.owned(id, "id")?;
        let txn = self.write().await?;
        claim(&txn, "harvest_offer", id, version).await?;
        harvest_offer::Entity::update_many()
            .col_expr(
                harvest_offer::Column::Status,
                Expr::value(OfferStatus::Closed.code()),
            )
            .filter(harvest_offer::Column::Id.eq(local))
            .exec(&txn)
            .await?;
        let row = harvest_offer::Entity::find_by_id(local)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no harvest offer has the ID {id}")))?;
        let offer = self.offer_records(&txn, vec![row]).await?.pop();
        txn.commit().await?;
        offer.ok_or_else(|| AppError::Internal(anyhow::anyhow!("a closed offer vanished")))
    }

    /// Interests by row id, in no particular order, for batched lookups.
    pub async fn interests_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<InterestRecord>, AppError> {
        interest::Entity::find()
            .filter(interest::Column::Id.is_in(ids.iter().copied()))
            .filter(visible_interests(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.interest_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn interests(
        &self,
        filter: &InterestFilter,
        request: PageRequest,
    ) -> Result<Page<InterestRecord>, AppError> {
        use interest::Column as I;
        let mut select = interest::Entity::find().filter(visible_interests(filter.audience));
        if !filter.offers.is_empty() {
            let ours: Vec<i64> = filter
                .offers
                .iter()
                .filter(|o| o.province == self.province)
                .map(|o| o.local)
                .collect();
            select = select.filter(I::OfferId.is_in(ours));
        }
        if let Some(state) = filter.state {
            select = select.filter(I::State.eq(state.code()));
        }
        if let Some(province) = filter.buyer_province {
            select = select.filter(I::BuyerProvince.eq(province.number()));
        }
        let rows = page(&self.db, select, I::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.interest_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Keeps a buyer's interest in our open offer, and tells our market
    /// feed; the same `reference` from the same province again is the same
    /// interest, kept once. Says whether it was known already.
    #[tracing::instrument(skip(self, new))]
    pub async fn receive_interest(
        &self,
        new: NewInterest,
    ) -> Result<(InterestRecord, bool), AppError> {
        use interest::Column as I;
        let NewInterest { data, reference } = new;
        data.check()
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let offer_local = self.owned(data.offer, "offer_id")?;
        let txn = self.write().await?;
        let buyer = data.buyer.province.number();
        if let Some(known) = interest::Entity::find()
            .filter(I::BuyerProvince.eq(buyer))
            .filter(I::Reference.eq(reference.as_str()))
            .one(&txn)
            .await?
        {
            txn.commit().await?;
            return Ok((self.interest_record(known)?, true));
        }
        let offer = harvest_offer::Entity::find_by_id(offer_local)
            .one(&txn)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "offer_id",
                    format!("no harvest offer has the ID {}", data.offer),
                )
            })?;
        if offer.status != OfferStatus::Open.code() {
            return Err(AppError::invalid("offer_id", "the offer is closed"));
        }
        let now = Utc::now();
        let (contact_name, contact_phone) = contact_columns(data.contact.clone());
        let row = interest::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            offer_id: Set(offer_local),
            buyer_province: Set(buyer),
            buyer_id: Set(data.buyer.local),
            reference: Set(reference),
            quantity: Set(data.quantity),
            message: Set(data.message.clone()),
            contact_name: Set(contact_name),
            contact_phone: Set(contact_phone),
            state: Set(InterestState::Pending.code().to_owned()),
            answer: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let record = self.interest_record(row)?;
        let event = Event::now(
            MarketEventKind::InterestReceived,
            data.offer,
            Some(record.id),
        );
        self.record_events(&txn, &[event]).await?;
        txn.commit().await?;
        self.events_committed();
        Ok((record, false))
    }

    /// Answers the interest `id` in our offer, at `version`.
    #[tracing::instrument(skip(self, answer))]
    pub async fn answer_interest(
        &self,
        id: GlobalId,
        version: i32,
        state: InterestState,
        answer: Option<String>,
    ) -> Result<InterestRecord, AppError> {
        use interest::Column as I;
        if state == InterestState::Pending {
            return Err(AppError::invalid(
                "state",
                "an answer accepts or declines the interest",
            ));
        }
        let local = self.owned(id, "id")?;
        let txn = self.write().await?;
        claim(&txn, "interest", id, version).await?;
        interest::Entity::update_many()
            .col_expr(I::State, Expr::value(state.code()))
            .col_expr(I::Answer, Expr::value(answer))
            .filter(I::Id.eq(local))
            .exec(&txn)
            .await?;
        let row = interest::Entity::find_by_id(local)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no interest has the ID {id}")))?;
        let record = self.interest_record(row)?;
        let event = Event::now(
            MarketEventKind::InterestAnswered,
            record.data.offer,
            Some(record.id),
        );
        self.record_events(&txn, &[event]).await?;
        txn.commit().await?;
        self.events_committed();
        Ok(record)
    }

    /// Offers of `rows`, in their order, each with what its product and
    /// facility are now and whether the facility is certified today.
    async fn offer_records(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<harvest_offer::Model>,
    ) -> Result<Vec<HarvestOfferRecord>, AppError> {
        let what = "harvest offer";
        let products: HashSet<i64> = rows.iter().map(|r| r.product_id).collect();
        let facilities: HashSet<i64> = rows.iter().map(|r| r.facility_id).collect();
        let products: HashMap<i64, product::Model> = product::Entity::find()
            .filter(product::Column::Id.is_in(products))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let names: HashMap<i64, String> = entity::facility::Entity::find()
            .select_only()
            .column(entity::facility::Column::Id)
            .column(entity::facility::Column::Name)
            .filter(entity::facility::Column::Id.is_in(facilities.iter().copied()))
            .into_tuple::<(i64, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let certified: HashSet<i64> = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::FacilityId)
            .filter(certificate::Column::FacilityId.is_in(facilities))
            .filter(certificate::Column::Id.in_subquery(valid_certificates()))
            .into_tuple::<i64>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        rows.into_iter()
            .map(|row| {
                let product = products.get(&row.product_id).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("offer {} has no product", row.id))
                })?;
                let ocop = match (product.ocop_stars, product.ocop_rated_on) {
                    (Some(stars), Some(rated_on)) => Some(OcopRating {
                        stars: stored(Stars::parse(stars.into()), what)?,
                        rated_on,
                    }),
                    _ => None,
                };
                Ok(HarvestOfferRecord {
                    id: self.id(RecordKind::HarvestOffer, row.id),
                    version: row.version,
                    data: HarvestOfferData {
                        facility: self.id(RecordKind::Facility, row.facility_id),
                        product: self.id(RecordKind::Product, row.product_id),
                        quantity: row.quantity,
                        unit: stored(QuantityUnit::from_code(&row.unit), what)?,
                        harvest_from: row.harvest_from,
                        harvest_until: row.harvest_until,
                        min_price_vnd: row.min_price_vnd,
                        max_price_vnd: row.max_price_vnd,
                        collection_point: row.collection_point,
                        urgent: row.urgent,
                        contact: contact_of(row.contact_name, row.contact_phone, what)?,
                        contact_shared: row.contact_shared,
                        note: row.note,
                    },
                    status: stored(OfferStatus::from_code(&row.status), what)?,
                    shown: OfferShown {
                        product_name: product.name.clone(),
                        category: stored(ProductCategory::from_code(&product.category), what)?,
                        ocop,
                        facility_name: names.get(&row.facility_id).cloned().unwrap_or_default(),
                        certified: certified.contains(&row.facility_id),
                    },
                    created_at: row.created_at,
                    updated_at: row.updated_at,
                })
            })
            .collect()
    }

    fn interest_record(&self, row: interest::Model) -> Result<InterestRecord, AppError> {
        let what = "interest";
        let buyer_province = stored(ProvinceCode::from_number(row.buyer_province.into()), what)?;
        Ok(InterestRecord {
            id: self.id(RecordKind::Interest, row.id),
            version: row.version,
            data: InterestData {
                offer: self.id(RecordKind::HarvestOffer, row.offer_id),
                buyer: GlobalId::new(RecordKind::Facility, buyer_province, row.buyer_id),
                quantity: row.quantity,
                message: row.message,
                contact: contact_of(row.contact_name, row.contact_phone, what)?,
            },
            reference: row.reference,
            state: stored(InterestState::from_code(&row.state), what)?,
            answer: row.answer,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The interests `audience` may see: a partner, those of its buyers.
fn visible_interests(audience: Audience) -> Condition {
    match audience {
        Audience::Internal => Condition::all(),
        Audience::Partner(province) => {
            Condition::all().add(interest::Column::BuyerProvince.eq(province.number()))
        }
    }
}

/// Certificates valid today: in force, issued, not expired.
fn valid_certificates() -> SelectStatement {
    use certificate::Column as C;
    let today = today();
    Query::select()
        .column(C::Id)
        .from(certificate::Entity)
        .and_where(C::Status.eq(StoredStatus::Active.code()))
        .and_where(C::IssuedOn.lte(today))
        .cond_where(
            Condition::any()
                .add(C::ExpiresOn.is_null())
                .add(C::ExpiresOn.gte(today)),
        )
        .to_owned()
}

/// Facilities holding a certificate valid today.
fn certified_facilities() -> SelectStatement {
    use certificate::Column as C;
    Query::select()
        .column(C::FacilityId)
        .from(certificate::Entity)
        .and_where(C::Id.in_subquery(valid_certificates()))
        .to_owned()
}

fn contact_columns(contact: Option<Contact>) -> (Option<String>, Option<String>) {
    match contact {
        Some(Contact { name, phone }) => (Some(name), Some(phone.into_inner())),
        None => (None, None),
    }
}

fn contact_of(
    name: Option<String>,
    phone: Option<String>,
    what: &str,
) -> Result<Option<Contact>, AppError> {
    match (name, phone) {
        (Some(name), Some(phone)) => Ok(Some(Contact {
            name,
            phone: stored(PhoneNumber::parse(&phone), what)?,
        })),
        _ => Ok(None),
    }
}
