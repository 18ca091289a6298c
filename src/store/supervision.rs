//! Inspection requests: what the owner of an alert asks each province of the
//! chain to inspect. A request is the asker's; it is written with the
//! notification that makes it (each assignee owed a notice of it), cancelled
//! with the alert's closing, and answered by the assignee's follow-up —
//! in the answering write when the assignee is us, or when the assignee's
//! notice of that follow-up arrives.

use chrono::Utc;
use entity::inspection_request;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store, stored,
};
use crate::domain::{
    AlertEvent, AlertEventKind, AlertRecord, Answer, ChainStage, Deadlines, FacilityRecord,
    GlobalId, InspectionRequestData, InspectionRequestRecord, Needed, ProvinceCode, RecordKind,
    RequestState, date_in_vietnam, today,
};
use crate::error::AppError;

/// What an inspection answers: a request as its owner showed it, with —
/// when the owner is a partner — the request's alert, read from it too.
#[derive(Debug, Clone)]
pub struct Reply {
    pub request: InspectionRequestRecord,
    pub partner_alert: Option<AlertRecord>,
}

/// Which inspection requests a list holds.
#[derive(Debug, Clone, Default)]
pub struct InspectionRequestFilter {
    pub alert: Option<GlobalId>,
    /// Requests to inspect any of these facilities (none: any).
    pub facilities: Vec<GlobalId>,
    pub assignee: Option<ProvinceCode>,
    pub state: Option<RequestState>,
    /// Open past their last day (or not).
    pub overdue: Option<bool>,
    pub audience: Audience,
}

impl Admits<InspectionRequestRecord> for InspectionRequestFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::InspectionRequest
    }

    fn facility_of(&self, _: &InspectionRequestRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &InspectionRequestRecord, _: Option<&FacilityRecord>) -> bool {
        self.alert.is_none_or(|a| r.data.alert == a)
            && (self.facilities.is_empty() || self.facilities.contains(&r.data.facility))
            && self.assignee.is_none_or(|p| r.data.assignee == p)
            && self.state.is_none_or(|s| r.state == s)
            && self.overdue.is_none_or(|o| r.overdue(today()) == o)
    }
}

impl Store {
    /// Requests by row id, in no particular order, for batched lookups.
    pub async fn inspection_requests_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<InspectionRequestRecord>, AppError> {
        inspection_request::Entity::find()
            .filter(inspection_request::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_requests(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.request_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn inspection_requests(
        &self,
        filter: &InspectionRequestFilter,
        request: PageRequest,
    ) -> Result<Page<InspectionRequestRecord>, AppError> {
        use inspection_request::Column as R;
        let mut select =
            inspection_request::Entity::find().filter(self.visible_requests(filter.audience));
        if let Some(alert) = filter.alert {
            if alert.province != self.province {
                return Ok(Page::empty());
            }
            select = select.filter(R::AlertId.eq(alert.local));
        }
        if !filter.facilities.is_empty() {
            select = select.filter(super::of_facilities(
                R::FacilityProvince,
                R::FacilityId,
                &filter.facilities,
            ));
        }
        if let Some(assignee) = filter.assignee {
            select = select.filter(R::Assignee.eq(assignee.number()));
        }
        if let Some(state) = filter.state {
            select = select.filter(R::State.eq(state.code()));
        }
        if let Some(overdue) = filter.overdue {
            let late = Condition::all()
                .add(R::State.eq(RequestState::Open.code()))
                .add(R::DueOn.lt(today()));
            select = select.filter(if overdue { late } else { late.not() });
        }
        let rows = super::page(&self.db, select, R::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.request_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Asks, in `txn`, for the inspections `needed` by our alert `alert`,
    /// just notified, each due by `deadlines` for its risk; owes each other
    /// assignee a notice of its request. Says which partners are owed one.
    pub(super) async fn ask_inspections(
        &self,
        txn: &DatabaseTransaction,
        alert: &AlertRecord,
        needed: &[Needed],
        deadlines: &Deadlines,
    ) -> Result<Vec<ProvinceCode>, AppError> {
        let now = Utc::now();
        let due_on = deadlines.due_on(alert.data.risk, date_in_vietnam(now));
        let shared = SharedWith::Provinces(alert.data.partners(self.province));
        let (mut owed, mut changes, mut events) = (Vec::new(), Vec::new(), Vec::new());
        for need in needed {
            let row = inspection_request::ActiveModel {
                province: Set(self.province.number()),
                version: Set(1),
                alert_id: Set(alert.id.local),
                facility_province: Set(need.facility.province.number()),
                facility_id: Set(need.facility.local),
                stage: Set(need.stage.code().to_owned()),
                assignee: Set(need.assignee.number()),
                due_on: Set(due_on),
                state: Set(RequestState::Open.code().to_owned()),
                answer_follow_up: Set(None),
                answer_inspection: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            let id = inspection_request::Entity::insert(row)
                .exec(txn)
                .await?
                .last_insert_id;
            let request = self.id(RecordKind::InspectionRequest, id);
            changes.push(Change::of(
                request,
                1,
                ChangeOperation::Create,
                shared.clone(),
            ));
            events.push(AlertEvent::now(
                AlertEventKind::RequestAssigned,
                alert.id,
                Some(request),
            ));
            if need.assignee != self.province {
                self.owe_notices(txn, &[need.assignee], request, 1).await?;
                owed.push(need.assignee);
            }
        }
        // One number of the feed and of the events for the whole write.
        if !changes.is_empty() {
            self.record_changes(txn, &changes).await?;
        }
        self.record_events(txn, &events).await?;
        Ok(owed)
    }

    /// Cancels, in `txn`, the open requests of our alert `alert`, closed or
    /// withdrawn.
    pub(super) async fn cancel_requests(
        &self,
        txn: &DatabaseTransaction,
        alert: &AlertRecord,
    ) -> Result<(), AppError> {
        use inspection_request::Column as R;
        let open = inspection_request::Entity::find()
            .filter(R::AlertId.eq(alert.id.local))
            .filter(R::State.eq(RequestState::Open.code()))
            .all(txn)
            .await?;
        if open.is_empty() {
            return Ok(());
        }
        inspection_request::Entity::update_many()
            .col_expr(R::State, Expr::value(RequestState::Cancelled.code()))
            .col_expr(R::Version, Expr::col(R::Version).add(1))
            .col_expr(R::UpdatedAt, Expr::value(Utc::now()))
            .filter(R::Id.is_in(open.iter().map(|r| r.id)))
            .exec(txn)
            .await?;
        let shared = SharedWith::Provinces(alert.data.partners(self.province));
        let changes: Vec<Change> = open
            .iter()
            .map(|row| {
                Change::of(
                    self.id(RecordKind::InspectionRequest, row.id),
                    row.version + 1,
                    ChangeOperation::Update,
                    shared.clone(),
                )
            })
            .collect();
        self.record_changes(txn, &changes).await
    }

    /// Marks, in `txn`, our request `request` answered by `answer`, the
    /// assignee's; says whether it was open and assigned to the answer's
    /// writer (a request answered, cancelled or another's stays as it is).
    pub(super) async fn answer_request(
        &self,
        txn: &DatabaseTransaction,
        request: GlobalId,
        answer: Answer,
    ) -> Result<bool, AppError> {
        use inspection_request::Column as R;
        if request.province != self.province || request.kind != RecordKind::InspectionRequest {
            return Ok(false);
        }
        let answered = inspection_request::Entity::update_many()
            .col_expr(R::State, Expr::value(RequestState::Answered.code()))
            .col_expr(R::AnswerFollowUp, Expr::value(answer.follow_up.local))
            .col_expr(R::AnswerInspection, Expr::value(answer.inspection.local))
            .col_expr(R::Version, Expr::col(R::Version).add(1))
            .col_expr(R::UpdatedAt, Expr::value(Utc::now()))
            .filter(R::Id.eq(request.local))
            .filter(R::State.eq(RequestState::Open.code()))
            .filter(R::Assignee.eq(answer.follow_up.province.number()))
            .exec(txn)
            .await?
            .rows_affected
            == 1;
        if answered {
            let row = inspection_request::Entity::find_by_id(request.local)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("{request} vanished")))?;
            // Everyone the alert concerns sees its requests.
            let provinces = entity::alert_province::Entity::find()
                .filter(entity::alert_province::Column::AlertId.eq(row.alert_id))
                .all(txn)
                .await?
                .into_iter()
                .filter_map(|p| ProvinceCode::from_number(p.province.into()).ok())
                .filter(|p| *p != self.province)
                .collect();
            let change = Change::of(
                request,
                row.version,
                ChangeOperation::Update,
                SharedWith::Provinces(provinces),
            );
            self.record_changes(txn, &[change]).await?;
            let alert = self.id(RecordKind::Alert, row.alert_id);
            let answered = AlertEvent::now(AlertEventKind::RequestAnswered, alert, Some(request));
            self.record_events(txn, &[answered]).await?;
        }
        Ok(answered)
    }

    /// The requests `audience` may see: a partner, those of the alerts it
    /// sees.
    fn visible_requests(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(_) => Condition::all().add(
                inspection_request::Column::AlertId.in_subquery(
                    Query::select()
                        .column(entity::alert::Column::Id)
                        .from(entity::alert::Entity)
                        .cond_where(self.visible_alerts(audience))
                        .to_owned(),
                ),
            ),
        }
    }

    fn request_record(
        &self,
        row: inspection_request::Model,
    ) -> Result<InspectionRequestRecord, AppError> {
        let what = "inspection request";
        let province = |n: i32| stored(ProvinceCode::from_number(n.into()), what);
        let answer = match (row.answer_follow_up, row.answer_inspection) {
            (Some(follow_up), Some(inspection)) => {
                let assignee = province(row.assignee)?;
                Some(Answer {
                    follow_up: GlobalId::new(RecordKind::FollowUp, assignee, follow_up),
                    inspection: GlobalId::new(RecordKind::Inspection, assignee, inspection),
                })
            }
            _ => None,
        };
        Ok(InspectionRequestRecord {
            id: self.id(RecordKind::InspectionRequest, row.id),
            version: row.version,
            data: InspectionRequestData {
                alert: self.id(RecordKind::Alert, row.alert_id),
                facility: GlobalId::new(
                    RecordKind::Facility,
                    province(row.facility_province)?,
                    row.facility_id,
                ),
                stage: stored(ChainStage::from_code(&row.stage), what)?,
                assignee: province(row.assignee)?,
                due_on: row.due_on,
            },
            state: stored(RequestState::from_code(&row.state), what)?,
            answer,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
