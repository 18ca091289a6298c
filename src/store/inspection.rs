//! Inspections of production-chain stages.

use chrono::Utc;
use entity::inspection;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, EntityTrait,
    QueryFilter,
};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store,
    facility::of_visible_facilities, page, stored, supervision::Reply,
};
use crate::domain::{ChainStage, GlobalId, InspectionResult, ProvinceCode, RecordKind};
use crate::domain::{FacilityRecord, InspectionData, InspectionRecord};
use crate::error::AppError;

/// Which inspections a list holds.
#[derive(Debug, Clone, Default)]
pub struct InspectionFilter {
    pub facility: Option<GlobalId>,
    /// Inspections of any of these facilities (none: of any).
    pub facilities: Vec<GlobalId>,
    pub stage: Option<ChainStage>,
    pub result: Option<InspectionResult>,
    pub audience: Audience,
}

impl Admits<InspectionRecord> for InspectionFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Inspection
    }

    fn facility_of(&self, _: &InspectionRecord) -> Option<GlobalId> {
        // The filter does not look at an inspection's facility record.
        None
    }

    fn admits(&self, r: &InspectionRecord, _: Option<&FacilityRecord>) -> bool {
        self.facility.is_none_or(|f| r.data.facility == f)
            && (self.facilities.is_empty() || self.facilities.contains(&r.data.facility))
            && self.stage.is_none_or(|s| r.data.stage == s)
            && self.result.is_none_or(|x| r.data.result == x)
    }
}

impl Store {
    /// Inspections by row id, in no particular order, for batched lookups.
    #[tracing::instrument(skip(self, ids), fields(count = ids.len()))]
    pub async fn inspections_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<InspectionRecord>, AppError> {
        inspection::Entity::find()
            .filter(inspection::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_inspections(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.inspection_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn inspections(
        &self,
        filter: &InspectionFilter,
        request: PageRequest,
    ) -> Result<Page<InspectionRecord>, AppError> {
        use inspection::Column as I;
        let mut select =
            inspection::Entity::find().filter(self.visible_inspections(filter.audience));
        if let Some(facility) = filter.facility {
            select = select
                .filter(I::FacilityProvince.eq(facility.province.number()))
                .filter(I::FacilityId.eq(facility.local));
        }
        if !filter.facilities.is_empty() {
            select = select.filter(super::of_facilities(
                I::FacilityProvince,
                I::FacilityId,
                &filter.facilities,
            ));
        }
        if let Some(stage) = filter.stage {
            select = select.filter(I::Stage.eq(stage.code()));
        }
        if let Some(result) = filter.result {
            select = select.filter(I::Result.eq(result.code()));
        }
        let rows = page(&self.db, select, I::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.inspection_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Records an inspection. A facility of ours must exist here; a partner's
    /// facility must have been confirmed with its owner by the caller (only
    /// `federation` talks to partners), and only its trading is ours to inspect.
    /// An inspection that answers a request (`reply`) adds its follow-up to
    /// the request's alert in the same transaction.
    #[tracing::instrument(skip(self, data, reply), fields(stage = %data.stage))]
    pub async fn record_inspection(
        &self,
        data: InspectionData,
        reply: Option<Reply>,
    ) -> Result<InspectionRecord, AppError> {
        data.check(self.province)?;
        if let Some(reply) = &reply {
            reply.request.answered_by(self.province, &data)?;
        }
        let txn = self.write().await?;
        let record = self.insert_inspection(&txn, data).await?;
        let replied = reply.is_some();
        if let Some(reply) = reply {
            let answer = record.data.answering(record.id, &reply.request);
            self.write_follow_up(&txn, answer, reply.partner_alert.as_ref())
                .await?;
        }
        txn.commit().await?;
        if replied {
            self.events_committed();
            self.wake_deliverer();
        }
        Ok(record)
    }

    async fn insert_inspection(
        &self,
        txn: &DatabaseTransaction,
        data: InspectionData,
    ) -> Result<InspectionRecord, AppError> {
        let partner_facility = data.facility.province != self.province;
        let data_facility_province = data.facility.province;
        let facility_id = if partner_facility {
            data.facility.local
        } else {
            self.existing_facility(txn, data.facility).await?
        };
        let now = Utc::now();
        let row = inspection::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            facility_province: Set(data.facility.province.number()),
            facility_id: Set(facility_id),
            stage: Set(data.stage.code().to_owned()),
            inspected_on: Set(data.inspected_on),
            result: Set(data.result.code().to_owned()),
            findings: Set(data.findings),
            internal_notes: Set(data.internal_notes),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        let record = self.inspection_record(row)?;
        let shared_with = if partner_facility {
            // The facility's owner sees how its facility's trading was inspected.
            SharedWith::Provinces(vec![data_facility_province])
        } else {
            SharedWith::Provinces(self.markets_of(txn, facility_id).await?)
        };
        let change = Change {
            kind: RecordKind::Inspection,
            record: record.id.local,
            version: record.version,
            operation: ChangeOperation::Create,
            shared_with,
        };
        self.record_changes(txn, &[change]).await?;
        Ok(record)
    }

    /// The inspections `audience` may see: those of our facilities it may see,
    /// and those of its own facilities (their trading, inspected here).
    fn visible_inspections(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(partner) => Condition::any()
                .add(inspection::Column::FacilityProvince.eq(partner.number()))
                .add(
                    Condition::all()
                        .add(inspection::Column::FacilityProvince.eq(self.province.number()))
                        .add(of_visible_facilities(
                            inspection::Column::FacilityId,
                            audience,
                        )),
                ),
        }
    }

    fn inspection_record(&self, row: inspection::Model) -> Result<InspectionRecord, AppError> {
        let what = "inspection";
        let facility_province = stored(
            ProvinceCode::from_number(row.facility_province.into()),
            what,
        )?;
        Ok(InspectionRecord {
            id: self.id(RecordKind::Inspection, row.id),
            version: row.version,
            data: InspectionData {
                facility: GlobalId::new(RecordKind::Facility, facility_province, row.facility_id),
                stage: stored(ChainStage::from_code(&row.stage), what)?,
                inspected_on: row.inspected_on,
                result: stored(InspectionResult::from_code(&row.result), what)?,
                findings: row.findings,
                internal_notes: row.internal_notes,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
