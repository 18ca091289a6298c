//! Products and their OCOP ratings.

use chrono::{DateTime, Utc};
use entity::{facility, product};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store, claim,
    facility::{facility_search_text, matching_facilities, of_visible_facilities, supplies},
    holds_terms, matches_terms, page, search_text, stored,
};
use crate::domain::{FacilityRecord, ProductData, ProductRecord};
use crate::domain::{
    GlobalId, OcopRating, ProductCategory, ProvinceCode, RecordKind, Stars, today,
};
use crate::error::AppError;

impl ProductRecord {
    /// This record's entry in the change feed.
    fn change(&self, operation: ChangeOperation, shared_with: SharedWith) -> Change {
        Change::of(self.id, self.version, operation, shared_with)
    }
}

/// Which products a list holds.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub category: Option<ProductCategory>,
    /// Only products with a currently valid OCOP rating of at least these stars.
    pub min_stars: Option<Stars>,
    pub facility: Option<GlobalId>,
    pub supplies_to: Option<ProvinceCode>,
    pub specialty: Option<bool>,
    pub key_product: Option<bool>,
    pub text: Vec<String>,
    pub audience: Audience,
}

impl Admits<ProductRecord> for ProductFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Product
    }

    fn facility_of(&self, record: &ProductRecord) -> Option<GlobalId> {
        Some(record.data.facility)
    }

    fn admits(&self, r: &ProductRecord, facility: Option<&FacilityRecord>) -> bool {
        self.category.is_none_or(|c| r.data.category == c)
            && self.min_stars.is_none_or(|stars| {
                r.data
                    .ocop
                    .is_some_and(|o| o.stars.get() >= stars.get() && o.expires_on() >= today())
            })
            && self.facility.is_none_or(|f| r.data.facility == f)
            && self
                .supplies_to
                .is_none_or(|p| facility.is_some_and(|f| f.data.supplies_to.contains(&p)))
            && self.specialty.is_none_or(|s| r.data.specialty == s)
            && self.key_product.is_none_or(|k| r.data.key_product == k)
            && (self.text.is_empty()
                || holds_terms(&product_search_text(&r.data), &self.text)
                || facility
                    .is_some_and(|f| holds_terms(&facility_search_text(&f.data), &self.text)))
    }
}

/// What a product's words are searched in.
fn product_search_text(data: &ProductData) -> String {
    search_text([
        data.name.as_str(),
        data.description.as_deref().unwrap_or(""),
    ])
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn product(
        &self,
        id: i64,
        audience: Audience,
    ) -> Result<Option<ProductRecord>, AppError> {
        Ok(self.products_by_id(&[id], audience).await?.pop())
    }

    /// Products by row id, in no particular order, for batched lookups.
    #[tracing::instrument(skip(self, ids), fields(count = ids.len()))]
    pub async fn products_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<ProductRecord>, AppError> {
        product::Entity::find()
            .filter(product::Column::Id.is_in(ids.iter().copied()))
            .filter(visible_products(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.product_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn products(
        &self,
        filter: &ProductFilter,
        request: PageRequest,
    ) -> Result<Page<ProductRecord>, AppError> {
        use product::Column as P;
        let mut select = product::Entity::find().filter(visible_products(filter.audience));
        if let Some(category) = filter.category {
            select = select.filter(P::Category.eq(category.code()));
        }
        if let Some(stars) = filter.min_stars {
            select = select
                .filter(P::OcopStars.gte(stars.get()))
                .filter(P::OcopExpiresOn.gte(today()));
        }
        if let Some(facility) = filter.facility {
            select = select.filter(P::FacilityId.eq(facility.local));
        }
        if let Some(province) = filter.supplies_to {
            select = select.filter(supplies(P::FacilityId, province));
        }
        if let Some(specialty) = filter.specialty {
            select = select.filter(P::Specialty.eq(specialty));
        }
        if let Some(key_product) = filter.key_product {
            select = select.filter(P::KeyProduct.eq(key_product));
        }
        if !filter.text.is_empty() {
            let facilities = matching_facilities(&filter.text);
            select = select.filter(
                Condition::any()
                    .add(matches_terms(P::SearchText, &filter.text))
                    .add(P::FacilityId.in_subquery(facilities)),
            );
        }
        let rows = page(&self.db, select, P::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.product_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    #[tracing::instrument(skip(self, data), fields(name = %data.name))]
    pub async fn register_product(&self, data: ProductData) -> Result<ProductRecord, AppError> {
        let txn = self.write().await?;
        let facility_id = self.existing_facility(&txn, data.facility).await?;
        let now = Utc::now();
        let row = product::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            created_at: Set(now),
            ..product_columns(&data, facility_id, now)
        }
        .insert(&txn)
        .await?;
        let record = self.product_record(row)?;
        let shared = self.product_audience(&txn, &record, false).await?;
        self.record_changes(&txn, &[record.change(ChangeOperation::Create, shared)])
            .await?;
        txn.commit().await?;
        Ok(record)
    }

    #[tracing::instrument(skip(self, data))]
    pub async fn update_product(
        &self,
        id: GlobalId,
        version: i32,
        data: ProductData,
    ) -> Result<ProductRecord, AppError> {
        let txn = self.write().await?;
        claim(&txn, "product", id, version).await?;
        let was_rated = product::Entity::find_by_id(id.local)
            .one(&txn)
            .await?
            .is_some_and(|row| row.ocop_stars.is_some());
        let facility_id = self.existing_facility(&txn, data.facility).await?;
        let row = product::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.local),
            ..product_columns(&data, facility_id, Utc::now())
        }
        .update(&txn)
        .await?;
        let record = self.product_record(row)?;
        let shared = self.product_audience(&txn, &record, was_rated).await?;
        self.record_changes(&txn, &[record.change(ChangeOperation::Update, shared)])
            .await?;
        txn.commit().await?;
        Ok(record)
    }

    /// The partners a product's change concerns: everyone if it is (or was)
    /// OCOP-rated, which both provinces promote; else its facility's markets.
    async fn product_audience(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        record: &ProductRecord,
        was_rated: bool,
    ) -> Result<SharedWith, AppError> {
        if was_rated || record.data.ocop.is_some() {
            return Ok(SharedWith::Everyone);
        }
        Ok(SharedWith::Provinces(
            self.markets_of(txn, record.data.facility.local).await?,
        ))
    }

    /// The local row id of a facility named in an input, which must exist here.
    pub(super) async fn existing_facility(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        id: GlobalId,
    ) -> Result<i64, AppError> {
        let local = self.owned(id, "facility")?;
        match facility::Entity::find_by_id(local).one(txn).await? {
            Some(_) => Ok(local),
            None => Err(AppError::invalid(
                "facility",
                format!("no facility has the ID {id}"),
            )),
        }
    }

    fn product_record(&self, row: product::Model) -> Result<ProductRecord, AppError> {
        let what = "product";
        let ocop = match (row.ocop_stars, row.ocop_rated_on) {
            (Some(stars), Some(rated_on)) => Some(OcopRating {
                stars: stored(Stars::parse(stars.into()), what)?,
                rated_on,
            }),
            _ => None,
        };
        Ok(ProductRecord {
            id: self.id(RecordKind::Product, row.id),
            version: row.version,
            data: ProductData {
                name: row.name,
                category: stored(ProductCategory::from_code(&row.category), what)?,
                facility: self.id(RecordKind::Facility, row.facility_id),
                description: row.description,
                ocop,
                specialty: row.specialty,
                key_product: row.key_product,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The products `audience` may see: those of facilities it may see, and every
/// OCOP-rated product, which both provinces promote.
fn visible_products(audience: Audience) -> Condition {
    match audience {
        Audience::Internal => Condition::all(),
        Audience::Partner(_) => Condition::any()
            .add(product::Column::OcopStars.is_not_null())
            .add(of_visible_facilities(product::Column::FacilityId, audience)),
    }
}

fn product_columns(
    data: &ProductData,
    facility_id: i64,
    now: DateTime<Utc>,
) -> product::ActiveModel {
    product::ActiveModel {
        name: Set(data.name.clone()),
        category: Set(data.category.code().to_owned()),
        facility_id: Set(facility_id),
        description: Set(data.description.clone()),
        ocop_stars: Set(data.ocop.map(|r| r.stars.get())),
        ocop_rated_on: Set(data.ocop.map(|r| r.rated_on)),
        ocop_expires_on: Set(data.ocop.map(OcopRating::expires_on)),
        specialty: Set(data.specialty),
        key_product: Set(data.key_product),
        search_text: Set(product_search_text(data)),
        updated_at: Set(now),
        ..Default::default()
    }
}
