//! Rapid alerts and the follow-ups of their threads.
//!
//! An alert's hazards, measures and lots are kept as JSON lists in its row
//! (their stored form is defined here); the records and provinces it concerns
//! are rows of their own, which partners' reads and the search for earlier
//! alerts filter on. A partner sees an alert once it is notified and only if
//! it is among the provinces concerned; it sees a follow-up on its own alert,
//! and ours on an alert of ours it sees.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{alert, alert_concern, alert_province, follow_up};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, sea_query::Query,
};
use serde::{Deserialize, Serialize};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store, claim,
    holds_terms, matches_terms, page, search_text, stored, stored_kind,
};
use crate::domain::{
    AlertData, AlertEvent, AlertEventKind, AlertRecord, AlertStatus, AlertStatusChange, Answer,
    Answering, Deadlines, FacilityRecord, FollowUpData, FollowUpRecord, Hazard, Measure, Needed,
};
use crate::domain::{
    Classification, GlobalId, HazardCategory, MeasureKind, NotificationBasis, ProvinceCode,
    RecordKind, RiskDecision,
};
use crate::error::AppError;

/// Which alerts a list holds.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub classification: Option<Classification>,
    pub risk: Option<RiskDecision>,
    /// Alerts concerning any of these products or facilities.
    pub concerning: Vec<GlobalId>,
    /// Notified at or after.
    pub notified_after: Option<DateTime<Utc>>,
    /// Notified before.
    pub notified_before: Option<DateTime<Utc>>,
    /// Folded search terms, all of which must match.
    pub text: Vec<String>,
    pub audience: Audience,
}

impl Admits<AlertRecord> for AlertFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Alert
    }

    fn facility_of(&self, _: &AlertRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &AlertRecord, _: Option<&FacilityRecord>) -> bool {
        let concerns =
            |id: &GlobalId| r.data.products.contains(id) || r.data.facilities.contains(id);
        self.status.is_none_or(|s| r.status == s)
            && self
                .classification
                .is_none_or(|c| r.data.classification == c)
            && self.risk.is_none_or(|x| r.data.risk == x)
            && (self.concerning.is_empty() || self.concerning.iter().any(concerns))
            && self
                .notified_after
                .is_none_or(|t| r.notified_at.is_some_and(|at| at >= t))
            && self
                .notified_before
                .is_none_or(|t| r.notified_at.is_some_and(|at| at < t))
            && holds_terms(&alert_search_text(&r.data), &self.text)
    }
}

/// Which follow-ups a list holds.
#[derive(Debug, Clone, Default)]
pub struct FollowUpFilter {
    pub alert: Option<GlobalId>,
    pub audience: Audience,
}

impl Admits<FollowUpRecord> for FollowUpFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::FollowUp
    }

    fn facility_of(&self, _: &FollowUpRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &FollowUpRecord, _: Option<&FacilityRecord>) -> bool {
        self.alert.is_none_or(|a| r.data.alert == a)
    }
}

/// What an alert's words are searched in.
fn alert_search_text(data: &AlertData) -> String {
    search_text(
        [data.subject.as_str(), data.description.as_str()]
            .into_iter()
            .chain(data.hazards.iter().map(|h| h.agent.as_str()))
            .chain(data.lots.iter().map(String::as_str)),
    )
}

impl Store {
    /// Alerts by row id, in no particular order, for batched lookups.
    pub async fn alerts_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<AlertRecord>, AppError> {
        let rows = alert::Entity::find()
            .filter(alert::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_alerts(audience))
            .all(&self.db)
            .await?;
        self.alert_records(&self.db, rows).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        request: PageRequest,
    ) -> Result<Page<AlertRecord>, AppError> {
        use alert::Column as A;
        let mut select = alert::Entity::find().filter(self.visible_alerts(filter.audience));
        if let Some(status) = filter.status {
            select = select.filter(A::Status.eq(status.code()));
        }
        if let Some(classification) = filter.classification {
            select = select.filter(A::Classification.eq(classification.code()));
        }
        if let Some(risk) = filter.risk {
            select = select.filter(A::Risk.eq(risk.code()));
        }
        if !filter.concerning.is_empty() {
            let mut any = Condition::any();
            for id in &filter.concerning {
                any = any.add(
                    Condition::all()
                        .add(alert_concern::Column::Kind.eq(id.kind.code()))
                        .add(alert_concern::Column::Province.eq(id.province.number()))
                        .add(alert_concern::Column::Local.eq(id.local)),
                );
            }
            select = select.filter(
                A::Id.in_subquery(
                    Query::select()
                        .column(alert_concern::Column::AlertId)
                        .from(alert_concern::Entity)
                        .cond_where(any)
                        .to_owned(),
                ),
            );
        }
        if let Some(after) = filter.notified_after {
            select = select.filter(A::NotifiedAt.gte(after));
        }
        if let Some(before) = filter.notified_before {
            select = select.filter(A::NotifiedAt.lt(before));
        }
        if !filter.text.is_empty() {
            select = select.filter(matches_terms(A::SearchText, &filter.text));
        }
        let rows = page(&self.db, select, A::Id, request).await?;
        Ok(Page {
            items: self.alert_records(&self.db, rows.items).await?,
            has_next: rows.has_next,
        })
    }

    /// Raises an alert as a draft, seen by no one outside the province until
    /// it is notified.
    #[tracing::instrument(skip(self, data))]
    pub async fn raise_alert(&self, data: AlertData) -> Result<AlertRecord, AppError> {
        let txn = self.write().await?;
        let record = self.insert_alert(&txn, data, AlertStatus::Draft).await?;
        txn.commit().await?;
        Ok(record)
    }

    /// Raises, in `txn`, an alert notified at once — one a write of ours
    /// owes the provinces concerned (a certificate withdrawn) — and owes
    /// each partner concerned its notice.
    pub(super) async fn raise_notified(
        &self,
        txn: &DatabaseTransaction,
        data: AlertData,
    ) -> Result<AlertRecord, AppError> {
        let record = self.insert_alert(txn, data, AlertStatus::Notified).await?;
        let partners = record.data.partners(self.province);
        self.owe_notices(txn, &partners, record.id, record.version)
            .await?;
        let raised = AlertEvent::now(AlertEventKind::Raised, record.id, None);
        self.record_events(txn, &[raised]).await?;
        Ok(record)
    }

    /// Writes a new alert, a draft or notified, in `txn`.
    async fn insert_alert(
        &self,
        txn: &DatabaseTransaction,
        mut data: AlertData,
        status: AlertStatus,
    ) -> Result<AlertRecord, AppError> {
        data.check()?;
        tidy(&mut data);
        let now = Utc::now();
        let notified_at = (status == AlertStatus::Notified).then_some(now);
        let row = alert::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            status: Set(status.code().to_owned()),
            notified_at: Set(notified_at),
            created_at: Set(now),
            ..alert_columns(&data, now)
        }
        .insert(txn)
        .await?;
        replace_concerns(txn, row.id, &data).await?;
        let record = AlertRecord {
            id: self.id(RecordKind::Alert, row.id),
            version: row.version,
            data,
            status,
            status_reason: None,
            notified_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        // A draft is shared with no one.
        let shared = match notified_at {
            Some(_) => SharedWith::Provinces(record.data.partners(self.province)),
            None => nobody(),
        };
        let change = Change::of(record.id, record.version, ChangeOperation::Create, shared);
        self.record_changes(txn, &[change]).await?;
        Ok(record)
    }

    /// Rewrites a draft.
    #[tracing::instrument(skip(self, data))]
    pub async fn update_alert(
        &self,
        id: GlobalId,
        version: i32,
        mut data: AlertData,
    ) -> Result<AlertRecord, AppError> {
        data.check()?;
        tidy(&mut data);
        let txn = self.write().await?;
        claim(&txn, "alert", id, version).await?;
        let before = self.alert_in(&txn, id).await?;
        if before.status != AlertStatus::Draft {
            return Err(AppError::Conflict(format!(
                "{id} is {}; once notified, an alert changes only by its status and thread",
                before.status
            )));
        }
        let now = Utc::now();
        alert::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.local),
            ..alert_columns(&data, now)
        }
        .update(&txn)
        .await?;
        replace_concerns(&txn, id.local, &data).await?;
        let record = AlertRecord {
            data,
            updated_at: now,
            ..before
        };
        let change = Change::of(record.id, record.version, ChangeOperation::Update, nobody());
        self.record_changes(&txn, &[change]).await?;
        txn.commit().await?;
        Ok(record)
    }

    /// Moves an alert along its life. Notifying it shares it with the
    /// provinces concerned and asks for the inspections `needed`, due by
    /// `deadlines`; closing or withdrawing it cancels those still open.
    #[tracing::instrument(skip(self, change, needed, deadlines), fields(to = %change.to))]
    pub async fn change_alert_status(
        &self,
        id: GlobalId,
        version: i32,
        change: AlertStatusChange,
        needed: &[Needed],
        deadlines: &Deadlines,
    ) -> Result<AlertRecord, AppError> {
        let txn = self.write().await?;
        claim(&txn, "alert", id, version).await?;
        let before = self.alert_in(&txn, id).await?;
        change.check(before.status)?;
        let now = Utc::now();
        let record = AlertRecord {
            status: change.to,
            status_reason: change.reason,
            notified_at: before
                .notified_at
                .or((change.to == AlertStatus::Notified).then_some(now)),
            updated_at: now,
            ..before
        };
        alert::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.local),
            status: Set(record.status.code().to_owned()),
            status_reason: Set(record.status_reason.clone()),
            notified_at: Set(record.notified_at),
            updated_at: Set(now),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        // A draft withdrawn was never shared.
        let shared = if record.notified_at.is_some() {
            SharedWith::Provinces(record.data.partners(self.province))
        } else {
            nobody()
        };
        let change = Change::of(record.id, record.version, ChangeOperation::Update, shared);
        self.record_changes(&txn, &[change]).await?;
        // Notified, the alert is owed to every partner concerned, and each
        // assignee its requests; every later status is told them too.
        let mut owed = Vec::new();
        if record.notified_at.is_some() {
            owed = record.data.partners(self.province);
            self.owe_notices(&txn, &owed, record.id, record.version)
                .await?;
        }
        let event = |kind| AlertEvent::now(kind, record.id, None);
        match record.status {
            AlertStatus::Notified => {
                self.record_events(&txn, &[event(AlertEventKind::Raised)])
                    .await?;
                owed.extend(
                    self.ask_inspections(&txn, &record, needed, deadlines)
                        .await?,
                );
            }
            AlertStatus::Closed | AlertStatus::Withdrawn => {
                self.cancel_requests(&txn, &record).await?;
                let kind = if record.status == AlertStatus::Closed {
                    AlertEventKind::Closed
                } else {
                    AlertEventKind::Withdrawn
                };
                self.record_events(&txn, &[event(kind)]).await?;
            }
            AlertStatus::Draft | AlertStatus::UnderInvestigation => {}
        }
        txn.commit().await?;
        self.events_committed();
        if !owed.is_empty() {
            self.wake_deliverer();
        }
        Ok(record)
    }

    /// One of our alerts, read inside a write.
    async fn alert_in(
        &self,
        txn: &impl ConnectionTrait,
        id: GlobalId,
    ) -> Result<AlertRecord, AppError> {
        let row = alert::Entity::find_by_id(id.local)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no alert has the ID {id}")))?;
        Ok(self.alert_records(txn, vec![row]).await?.remove(0))
    }

    /// Follow-ups by row id, in no particular order, for batched lookups.
    pub async fn follow_ups_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<FollowUpRecord>, AppError> {
        follow_up::Entity::find()
            .filter(follow_up::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_follow_ups(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.follow_up_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn follow_ups(
        &self,
        filter: &FollowUpFilter,
        request: PageRequest,
    ) -> Result<Page<FollowUpRecord>, AppError> {
        use follow_up::Column as F;
        let mut select = follow_up::Entity::find().filter(self.visible_follow_ups(filter.audience));
        if let Some(alert) = filter.alert {
            select = select
                .filter(F::AlertProvince.eq(alert.province.number()))
                .filter(F::AlertId.eq(alert.local));
        }
        let rows = page(&self.db, select, F::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.follow_up_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Adds a follow-up to an alert's thread. An alert of ours is read and
    /// checked in the same transaction; a partner's alert must have been read
    /// from its owner by the caller (only `federation` talks to partners) and
    /// is given as `partner_alert`.
    #[tracing::instrument(skip(self, data, partner_alert))]
    pub async fn add_follow_up(
        &self,
        data: FollowUpData,
        partner_alert: Option<&AlertRecord>,
    ) -> Result<FollowUpRecord, AppError> {
        let txn = self.write().await?;
        let record = self.write_follow_up(&txn, data, partner_alert).await?;
        txn.commit().await?;
        self.events_committed();
        self.wake_deliverer();
        Ok(record)
    }

    /// Writes a follow-up in `txn`, as [`Store::add_follow_up`] says; every
    /// other province the alert concerns, its owner first, is owed a notice
    /// of it. One that answers a request of ours answers it here.
    pub(super) async fn write_follow_up(
        &self,
        txn: &DatabaseTransaction,
        data: FollowUpData,
        partner_alert: Option<&AlertRecord>,
    ) -> Result<FollowUpRecord, AppError> {
        let alert = match partner_alert {
            Some(alert) => alert.clone(),
            None => {
                self.owned(data.alert, "alert")?;
                self.alert_in(txn, data.alert).await.map_err(|e| match e {
                    AppError::NotFound(message) => AppError::invalid("alert", message),
                    other => other,
                })?
            }
        };
        data.check(&alert)?;
        // A partner reads our follow-ups on its own alerts, and on ours that
        // concern it.
        let told = if alert.id.province == self.province {
            alert.data.partners(self.province)
        } else {
            vec![alert.id.province]
        };
        let shared_with = SharedWith::Provinces(told.clone());
        let now = Utc::now();
        let row = follow_up::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            alert_province: Set(data.alert.province.number()),
            alert_id: Set(data.alert.local),
            findings: Set(data.findings),
            measures: Set(measures_json(&data.measures)),
            results: Set(data.results),
            answers_request: Set(data.answers.map(|a| a.request.local)),
            inspection_id: Set(data.answers.map(|a| a.inspection.local)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        let record = self.follow_up_record(row)?;
        let change = Change::of(
            record.id,
            record.version,
            ChangeOperation::Create,
            shared_with,
        );
        self.record_changes(txn, &[change]).await?;
        let mut events = vec![AlertEvent::now(
            AlertEventKind::FollowedUp,
            alert.id,
            Some(record.id),
        )];
        // A request answered is told of by its owner's write: a partner's
        // here, ours where it is marked answered, just below.
        let ours = match record.data.answers {
            Some(answering) if answering.request.province == self.province => Some(answering),
            Some(answering) => {
                events.push(AlertEvent::now(
                    AlertEventKind::RequestAnswered,
                    alert.id,
                    Some(answering.request),
                ));
                None
            }
            None => None,
        };
        self.record_events(txn, &events).await?;
        if let Some(answering) = ours {
            let answer = Answer {
                follow_up: record.id,
                inspection: answering.inspection,
            };
            if !self.answer_request(txn, answering.request, answer).await? {
                return Err(AppError::Conflict(format!(
                    "{} is no longer open for this province to answer",
                    answering.request
                )));
            }
        }
        self.owe_notices(txn, &told, record.id, record.version)
            .await?;
        Ok(record)
    }

    /// The alerts `audience` may see: a partner, those notified to it.
    pub(super) fn visible_alerts(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(partner) => Condition::all()
                .add(alert::Column::Status.ne(AlertStatus::Draft.code()))
                .add(concerns_province(partner)),
        }
    }

    /// The follow-ups `audience` may see: a partner, those on its own alerts
    /// and those on alerts of ours it sees.
    fn visible_follow_ups(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(partner) => Condition::any()
                .add(follow_up::Column::AlertProvince.eq(partner.number()))
                .add(
                    Condition::all()
                        .add(follow_up::Column::AlertProvince.eq(self.province.number()))
                        .add(
                            follow_up::Column::AlertId.in_subquery(
                                Query::select()
                                    .column(alert::Column::Id)
                                    .from(alert::Entity)
                                    .cond_where(self.visible_alerts(audience))
                                    .to_owned(),
                            ),
                        ),
                ),
        }
    }

    /// Turns rows into records, reading what they concern in two queries.
    async fn alert_records(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<alert::Model>,
    ) -> Result<Vec<AlertRecord>, AppError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids = || rows.iter().map(|r| r.id);
        let mut concerns: HashMap<i64, Vec<GlobalId>> = HashMap::new();
        let found = alert_concern::Entity::find()
            .filter(alert_concern::Column::AlertId.is_in(ids()))
            .order_by_asc(alert_concern::Column::AlertId)
            .order_by_asc(alert_concern::Column::Kind)
            .order_by_asc(alert_concern::Column::Province)
            .order_by_asc(alert_concern::Column::Local)
            .all(db)
            .await?;
        for concern in found {
            let what = "alert concern";
            let kind = stored_kind(&concern.kind, what)?;
            let province = stored(ProvinceCode::from_number(concern.province.into()), what)?;
            concerns
                .entry(concern.alert_id)
                .or_default()
                .push(GlobalId::new(kind, province, concern.local));
        }
        let mut provinces: HashMap<i64, Vec<ProvinceCode>> = HashMap::new();
        let found = alert_province::Entity::find()
            .filter(alert_province::Column::AlertId.is_in(ids()))
            .order_by_asc(alert_province::Column::Province)
            .all(db)
            .await?;
        for row in found {
            let province = stored(ProvinceCode::from_number(row.province.into()), "alert")?;
            provinces.entry(row.alert_id).or_default().push(province);
        }
        rows.into_iter()
            .map(|row| {
                let concerned = concerns.remove(&row.id).unwrap_or_default();
                let provinces = provinces.remove(&row.id).unwrap_or_default();
                self.alert_record(row, concerned, provinces)
            })
            .collect()
    }

    fn alert_record(
        &self,
        row: alert::Model,
        concerned: Vec<GlobalId>,
        provinces: Vec<ProvinceCode>,
    ) -> Result<AlertRecord, AppError> {
        let what = "alert";
        let (products, facilities) = concerned
            .into_iter()
            .partition(|id| id.kind == RecordKind::Product);
        Ok(AlertRecord {
            id: self.id(RecordKind::Alert, row.id),
            version: row.version,
            data: AlertData {
                classification: stored(Classification::from_code(&row.classification), what)?,
                risk: stored(RiskDecision::from_code(&row.risk), what)?,
                basis: stored(NotificationBasis::from_code(&row.basis), what)?,
                subject: row.subject,
                description: row.description,
                hazards: read_json::<Vec<StoredHazard>>(&row.hazards, what)?
                    .into_iter()
                    .map(StoredHazard::read)
                    .collect::<Result<_, _>>()?,
                measures: read_measures(&row.measures)?,
                products,
                facilities,
                lots: read_json(&row.lots, what)?,
                provinces,
            },
            status: stored(AlertStatus::from_code(&row.status), what)?,
            status_reason: row.status_reason,
            notified_at: row.notified_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    fn follow_up_record(&self, row: follow_up::Model) -> Result<FollowUpRecord, AppError> {
        let what = "follow-up";
        let alert_province = stored(ProvinceCode::from_number(row.alert_province.into()), what)?;
        Ok(FollowUpRecord {
            id: self.id(RecordKind::FollowUp, row.id),
            version: row.version,
            data: FollowUpData {
                alert: GlobalId::new(RecordKind::Alert, alert_province, row.alert_id),
                findings: row.findings,
                measures: read_measures(&row.measures)?,
                results: row.results,
                // A request is its alert's owner's.
                answers: match (row.answers_request, row.inspection_id) {
                    (Some(request), Some(inspection)) => Some(Answering {
                        request: GlobalId::new(
                            RecordKind::InspectionRequest,
                            alert_province,
                            request,
                        ),
                        inspection: self.id(RecordKind::Inspection, inspection),
                    }),
                    _ => None,
                },
            },
            created_at: row.created_at,
        })
    }
}

/// A change no partner is told of: a draft's.
fn nobody() -> SharedWith {
    SharedWith::Provinces(Vec::new())
}

/// Alerts that concern `province`.
fn concerns_province(province: ProvinceCode) -> sea_orm::sea_query::SimpleExpr {
    alert::Column::Id.in_subquery(
        Query::select()
            .column(alert_province::Column::AlertId)
            .from(alert_province::Entity)
            .and_where(alert_province::Column::Province.eq(province.number()))
            .to_owned(),
    )
}

/// The columns the owner's data sets.
fn alert_columns(data: &AlertData, now: DateTime<Utc>) -> alert::ActiveModel {
    alert::ActiveModel {
        classification: Set(data.classification.code().to_owned()),
        risk: Set(data.risk.code().to_owned()),
        basis: Set(data.basis.code().to_owned()),
        subject: Set(data.subject.clone()),
        description: Set(data.description.clone()),
        hazards: Set(serde_json::to_string(
            &data
                .hazards
                .iter()
                .map(StoredHazard::from)
                .collect::<Vec<_>>(),
        )
        .expect("hazards serialise")),
        measures: Set(measures_json(&data.measures)),
        lots: Set(serde_json::to_string(&data.lots).expect("lots serialise")),
        search_text: Set(alert_search_text(data)),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Puts what an alert concerns in the order it is read back in: records by
/// province and row, each once; provinces by code, each once.
fn tidy(data: &mut AlertData) {
    for ids in [&mut data.products, &mut data.facilities] {
        ids.sort_by_key(|id| (id.province, id.local));
        ids.dedup();
    }
    data.provinces.sort();
    data.provinces.dedup();
}

/// Writes what an alert concerns anew (`tidy` first).
async fn replace_concerns(
    txn: &impl ConnectionTrait,
    alert_id: i64,
    data: &AlertData,
) -> Result<(), AppError> {
    alert_concern::Entity::delete_many()
        .filter(alert_concern::Column::AlertId.eq(alert_id))
        .exec(txn)
        .await?;
    alert_province::Entity::delete_many()
        .filter(alert_province::Column::AlertId.eq(alert_id))
        .exec(txn)
        .await?;
    let concerned: Vec<&GlobalId> = data.products.iter().chain(&data.facilities).collect();
    if !concerned.is_empty() {
        alert_concern::Entity::insert_many(concerned.iter().map(|id| alert_concern::ActiveModel {
            alert_id: Set(alert_id),
            kind: Set(id.kind.code().to_owned()),
            province: Set(id.province.number()),
            local: Set(id.local),
        }))
        .exec(txn)
        .await?;
    }
    alert_province::Entity::insert_many(data.provinces.iter().map(|p| {
        alert_province::ActiveModel {
            alert_id: Set(alert_id),
            province: Set(p.number()),
        }
    }))
    .exec(txn)
    .await?;
    Ok(())
}

/// A hazard as stored.
#[derive(Serialize, Deserialize)]
struct StoredHazard {
    category: String,
    agent: String,
    result: Option<f64>,
    unit: Option<String>,
    legal_limit: Option<f64>,
}

impl From<&Hazard> for StoredHazard {
    fn from(hazard: &Hazard) -> Self {
        Self {
            category: hazard.category.code().to_owned(),
            agent: hazard.agent.clone(),
            result: hazard.result,
            unit: hazard.unit.clone(),
            legal_limit: hazard.legal_limit,
        }
    }
}

impl StoredHazard {
    fn read(self) -> Result<Hazard, AppError> {
        Ok(Hazard {
            category: stored(HazardCategory::from_code(&self.category), "hazard")?,
            agent: self.agent,
            result: self.result,
            unit: self.unit,
            legal_limit: self.legal_limit,
        })
    }
}

/// A measure as stored.
#[derive(Serialize, Deserialize)]
struct StoredMeasure {
    kind: String,
    detail: Option<String>,
}

fn measures_json(measures: &[Measure]) -> String {
    let stored: Vec<StoredMeasure> = measures
        .iter()
        .map(|m| StoredMeasure {
            kind: m.kind.code().to_owned(),
            detail: m.detail.clone(),
        })
        .collect();
    serde_json::to_string(&stored).expect("measures serialise")
}

fn read_measures(json: &str) -> Result<Vec<Measure>, AppError> {
    read_json::<Vec<StoredMeasure>>(json, "measures")?
        .into_iter()
        .map(|m| {
            Ok(Measure {
                kind: stored(MeasureKind::from_code(&m.kind), "measure")?,
                detail: m.detail,
            })
        })
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, AppError> {
    serde_json::from_str(json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("corrupt {what}: {e}")))
}
