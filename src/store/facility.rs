//! Facilities and the provinces they supply.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{facility, facility_market};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, Query, SimpleExpr},
};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store, claim,
    holds_terms, matches_terms, page, search_text, stored,
};
use crate::domain::{
    BusinessRegistrationNumber, FacilityKind, GlobalId, IdNumber, PhoneNumber, ProvinceCode,
    RecordKind,
};
use crate::domain::{FacilityData, FacilityRecord};
use crate::error::AppError;

impl FacilityRecord {
    /// This record's entry in the change feed.
    fn change(&self, operation: ChangeOperation, shared_with: SharedWith) -> Change {
        Change::of(self.id, self.version, operation, shared_with)
    }
}

impl Store {
    /// Re-announcements of a facility's certificates, products and inspections,
    /// unchanged, to the partners `concerned`.
    async fn dependents(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        facility_id: i64,
        concerned: &[ProvinceCode],
    ) -> Result<Vec<Change>, AppError> {
        use entity::{certificate, inspection, product};
        use sea_orm::QuerySelect;
        let shared = || SharedWith::Provinces(concerned.to_vec());
        let mut changes = Vec::new();
        let certificates: Vec<(i64, i32)> = certificate::Entity::find()
            .select_only()
            .column(certificate::Column::Id)
            .column(certificate::Column::Version)
            .filter(certificate::Column::FacilityId.eq(facility_id))
            .into_tuple()
            .all(txn)
            .await?;
        changes.extend(certificates.into_iter().map(|(id, version)| Change {
            kind: RecordKind::Certificate,
            record: id,
            version,
            operation: ChangeOperation::Update,
            shared_with: shared(),
        }));
        let products: Vec<(i64, i32)> = product::Entity::find()
            .select_only()
            .column(product::Column::Id)
            .column(product::Column::Version)
            .filter(product::Column::FacilityId.eq(facility_id))
            .into_tuple()
            .all(txn)
            .await?;
        changes.extend(products.into_iter().map(|(id, version)| Change {
            kind: RecordKind::Product,
            record: id,
            version,
            operation: ChangeOperation::Update,
            shared_with: shared(),
        }));
        let inspections: Vec<(i64, i32)> = inspection::Entity::find()
            .select_only()
            .column(inspection::Column::Id)
            .column(inspection::Column::Version)
            .filter(inspection::Column::FacilityProvince.eq(self.province.number()))
            .filter(inspection::Column::FacilityId.eq(facility_id))
            .into_tuple()
            .all(txn)
            .await?;
        changes.extend(inspections.into_iter().map(|(id, version)| Change {
            kind: RecordKind::Inspection,
            record: id,
            version,
            operation: ChangeOperation::Update,
            shared_with: shared(),
        }));
        Ok(changes)
    }
}

/// Which facilities a list holds.
#[derive(Debug, Clone, Default)]
pub struct FacilityFilter {
    pub kind: Option<FacilityKind>,
    pub supplies_to: Option<ProvinceCode>,
    /// Folded search terms, all of which must match.
    pub text: Vec<String>,
    pub audience: Audience,
}

impl Admits<FacilityRecord> for FacilityFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Facility
    }

    fn facility_of(&self, _: &FacilityRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &FacilityRecord, _: Option<&FacilityRecord>) -> bool {
        self.kind.is_none_or(|kind| r.data.kind == kind)
            && self
                .supplies_to
                .is_none_or(|p| r.data.supplies_to.contains(&p))
            && holds_terms(&facility_search_text(&r.data), &self.text)
    }
}

/// What a facility's words are searched in.
pub(super) fn facility_search_text(data: &FacilityData) -> String {
    search_text([
        data.name.as_str(),
        data.commune.as_str(),
        data.district.as_deref().unwrap_or(""),
        data.business_registration_number
            .as_ref()
            .map_or("", |n| n.as_str()),
    ])
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn facility(
        &self,
        id: i64,
        audience: Audience,
    ) -> Result<Option<FacilityRecord>, AppError> {
        Ok(self.facilities_by_id(&[id], audience).await?.pop())
    }

    /// Facilities by row id, in no particular order, for batched lookups.
    #[tracing::instrument(skip(self, ids), fields(count = ids.len()))]
    pub async fn facilities_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<FacilityRecord>, AppError> {
        let rows = facility::Entity::find()
            .filter(facility::Column::Id.is_in(ids.iter().copied()))
            .filter(visible_facilities(audience))
            .all(&self.db)
            .await?;
        self.facility_records(&self.db, rows).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn facilities(
        &self,
        filter: &FacilityFilter,
        request: PageRequest,
    ) -> Result<Page<FacilityRecord>, AppError> {
        let mut select = facility::Entity::find().filter(visible_facilities(filter.audience));
        if let Some(kind) = filter.kind {
            select = select.filter(facility::Column::Kind.eq(kind.code()));
        }
        if let Some(province) = filter.supplies_to {
            select = select.filter(supplies(facility::Column::Id, province));
        }
        if !filter.text.is_empty() {
            select = select.filter(matches_terms(facility::Column::SearchText, &filter.text));
        }
        let rows = page(&self.db, select, facility::Column::Id, request).await?;
        Ok(Page {
            items: self.facility_records(&self.db, rows.items).await?,
            has_next: rows.has_next,
        })
    }

    #[tracing::instrument(skip(self, data), fields(name = %data.name))]
    pub async fn create_facility(&self, data: FacilityData) -> Result<FacilityRecord, AppError> {
        let txn = self.write().await?;
        let now = Utc::now();
        let row = facility::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            created_at: Set(now),
            ..facility_columns(&data, now)
        }
        .insert(&txn)
        .await?;
        replace_markets(&txn, row.id, &data.supplies_to).await?;
        let record = self.facility_records(&txn, vec![row]).await?.remove(0);
        let shared = SharedWith::Provinces(data.supplies_to.clone());
        self.record_changes(&txn, &[record.change(ChangeOperation::Create, shared)])
            .await?;
        txn.commit().await?;
        Ok(record)
    }

    #[tracing::instrument(skip(self, data))]
    pub async fn update_facility(
        &self,
        id: GlobalId,
        version: i32,
        data: FacilityData,
    ) -> Result<FacilityRecord, AppError> {
        let txn = self.write().await?;
        claim(&txn, "facility", id, version).await?;
        let before = self.markets_of(&txn, id.local).await?;
        let now = Utc::now();
        let row = facility::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.local),
            ..facility_columns(&data, now)
        }
        .update(&txn)
        .await?;
        replace_markets(&txn, row.id, &data.supplies_to).await?;
        let record = self.facility_records(&txn, vec![row]).await?.remove(0);
        let mut concerned = before.clone();
        concerned.extend(data.supplies_to.iter().copied());
        concerned.sort();
        concerned.dedup();
        let mut changes = vec![record.change(
            ChangeOperation::Update,
            SharedWith::Provinces(concerned.clone()),
        )];
        if before != data.supplies_to {
            // Who may see the facility's certificates, products and inspections
            // changed with it: announce them again to everyone concerned.
            changes.extend(self.dependents(&txn, id.local, &concerned).await?);
        }
        self.record_changes(&txn, &changes).await?;
        txn.commit().await?;
        Ok(record)
    }

    /// Turns rows into records, reading their markets in one query.
    async fn facility_records(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<facility::Model>,
    ) -> Result<Vec<FacilityRecord>, AppError> {
        let mut markets: HashMap<i64, Vec<ProvinceCode>> = HashMap::new();
        if !rows.is_empty() {
            let found = facility_market::Entity::find()
                .filter(facility_market::Column::FacilityId.is_in(rows.iter().map(|r| r.id)))
                .order_by_asc(facility_market::Column::Province)
                .all(db)
                .await?;
            for market in found {
                let province = stored(
                    ProvinceCode::from_number(market.province.into()),
                    "facility market",
                )?;
                markets
                    .entry(market.facility_id)
                    .or_default()
                    .push(province);
            }
        }
        rows.into_iter()
            .map(|row| {
                let supplies_to = markets.remove(&row.id).unwrap_or_default();
                self.facility_record(row, supplies_to)
            })
            .collect()
    }

    fn facility_record(
        &self,
        row: facility::Model,
        supplies_to: Vec<ProvinceCode>,
    ) -> Result<FacilityRecord, AppError> {
        let what = "facility";
        Ok(FacilityRecord {
            id: self.id(RecordKind::Facility, row.id),
            version: row.version,
            data: FacilityData {
                name: row.name,
                kind: stored(FacilityKind::from_code(&row.kind), what)?,
                business_registration_number: row
                    .business_registration_number
                    .map(|n| stored(BusinessRegistrationNumber::parse(&n), what))
                    .transpose()?,
                commune: row.commune,
                district: row.district,
                address_detail: row.address_detail,
                contact_name: row.contact_name,
                contact_phone: row
                    .contact_phone
                    .map(|p| stored(PhoneNumber::parse(&p), what))
                    .transpose()?,
                contact_id_number: row
                    .contact_id_number
                    .map(|n| stored(IdNumber::parse(&n), what))
                    .transpose()?,
                supplies_to,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The columns an operator's data sets.
fn facility_columns(data: &FacilityData, now: DateTime<Utc>) -> facility::ActiveModel {
    facility::ActiveModel {
        name: Set(data.name.clone()),
        kind: Set(data.kind.code().to_owned()),
        business_registration_number: Set(data
            .business_registration_number
            .as_ref()
            .map(|n| n.as_str().to_owned())),
        commune: Set(data.commune.clone()),
        district: Set(data.district.clone()),
        address_detail: Set(data.address_detail.clone()),
        contact_name: Set(data.contact_name.clone()),
        contact_phone: Set(data.contact_phone.clone().map(PhoneNumber::into_inner)),
        contact_id_number: Set(data.contact_id_number.clone().map(IdNumber::into_inner)),
        search_text: Set(facility_search_text(data)),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// The facilities `audience` may see.
fn visible_facilities(audience: Audience) -> Condition {
    match audience {
        Audience::Internal => Condition::all(),
        Audience::Partner(province) => {
            Condition::all().add(supplies(facility::Column::Id, province))
        }
    }
}

/// Records of facilities `audience` may see, by their facility column.
pub(super) fn of_visible_facilities(column: impl ColumnTrait, audience: Audience) -> Condition {
    match audience {
        Audience::Internal => Condition::all(),
        Audience::Partner(province) => Condition::all().add(supplies(column, province)),
    }
}

/// Facility ids whose search text holds every one of `terms`.
pub(super) fn matching_facilities(terms: &[String]) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(facility::Column::Id)
        .from(facility::Entity)
        .and_where(matches_terms(facility::Column::SearchText, terms))
        .to_owned()
}

/// Whether the facility in `column` (of the row being read) supplies `province`.
/// A correlated `EXISTS`, not `IN (subquery)`: with `IN`, SQLite read every
/// matching row through the facility index and sorted them all for a page of
/// 100 (measured: a partner's first page at 10⁵ certificates timed out under
/// load); with `EXISTS` it walks the primary key and stops after the page.
pub(super) fn supplies(column: impl ColumnTrait, province: ProvinceCode) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(facility_market::Entity)
            .and_where(
                Expr::col((facility_market::Entity, facility_market::Column::FacilityId))
                    .equals((column.entity_name(), column)),
            )
            .and_where(
                Expr::col((facility_market::Entity, facility_market::Column::Province))
                    .eq(province.number()),
            )
            .to_owned(),
    )
}

async fn replace_markets(
    txn: &impl ConnectionTrait,
    facility_id: i64,
    provinces: &[ProvinceCode],
) -> Result<(), AppError> {
    facility_market::Entity::delete_many()
        .filter(facility_market::Column::FacilityId.eq(facility_id))
        .exec(txn)
        .await?;
    if !provinces.is_empty() {
        facility_market::Entity::insert_many(provinces.iter().map(|p| {
            facility_market::ActiveModel {
                facility_id: Set(facility_id),
                province: Set(p.number()),
            }
        }))
        .exec(txn)
        .await?;
    }
    Ok(())
}
