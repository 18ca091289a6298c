//! Rapid alerts and their threads: the objects, their queries and mutations.
//! An alert is its raiser's; each follow-up is its writer's, read live from
//! it, so a thread is answered by every province that wrote in it.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::answer::{access, find, listed, local, told, wrap};
use super::objects::{Facility, Inspection, Product};
use super::scalars::Date;
use super::{
    InternalOnly, Province, as_argument, as_input, audience, check, forward, heavy, opt_check,
    refused_at, store, writable_id,
};
use crate::access::{Consistency, Listing, Paged, Scope};
use crate::domain::{
    AlertData, AlertRecord, AlertStatusChange, Answering, Deadlines, Delivery, FollowUpData,
    FollowUpRecord, Hazard, InspectionRequestRecord, Measure, Needed, Notice, Told,
    inspections_needed,
};
use crate::domain::{
    AlertStatus, Caller, ChainStage, Classification, GlobalId, HazardCategory, MeasureKind,
    NotificationBasis, RECURRENCE_DAYS, RecordKind, RequestState, RiskDecision, text, today,
};
use crate::error::{AppError, FieldContext};
use crate::store::{
    AlertFilter, Audience, FollowUpFilter, InspectionRequestFilter, MAX_PAGE, NoticeFilter,
};

super::answer::record_object! {
    /// A rapid alert on unsafe food, owned by the province that raised it.
    object Alert(AlertRecord), AlertEdge, AlertConnection;
    province: " The owner: the province that raised it.";
    version: " Grows by one on each write; send it back to change the alert.";
    async fn classification(&self) -> Classification {
        self.0.data.classification
    }
    async fn risk(&self) -> RiskDecision {
        self.0.data.risk
    }
    async fn basis(&self) -> NotificationBasis {
        self.0.data.basis
    }
    async fn subject(&self) -> &str {
        &self.0.data.subject
    }
    async fn description(&self) -> &str {
        &self.0.data.description
    }
    async fn hazards(&self) -> Vec<HazardFound> {
        self.0.data.hazards.iter().map(HazardFound::from).collect()
    }
    /// Measures the raising province took.
    async fn measures(&self) -> Vec<MeasureTaken> {
        measures_taken(&self.0.data.measures)
    }
    /// The products concerned, of either province.
    async fn product_ids(&self) -> Vec<ID> {
        ids(&self.0.data.products)
    }
    /// The products concerned, each from its owner; null where the owner
    /// cannot be asked or does not share it.
    async fn products(&self, ctx: &Context<'_>) -> Result<Vec<Option<Product>>> {
        heavy(async {
            let found = self.0.data.products.iter().map(|id| find::<Product>(ctx, *id));
            futures_util::future::try_join_all(found).await
        })
        .await
    }
    /// The facilities concerned, of either province.
    async fn facility_ids(&self) -> Vec<ID> {
        ids(&self.0.data.facilities)
    }
    /// The facilities concerned, each from its owner.
    async fn facilities(&self, ctx: &Context<'_>) -> Result<Vec<Option<Facility>>> {
        heavy(async {
            let found = self.0.data.facilities.iter().map(|id| find::<Facility>(ctx, *id));
            futures_util::future::try_join_all(found).await
        })
        .await
    }
    /// Lots concerned, as their codes are written on the goods.
    async fn lots(&self) -> &[String] {
        &self.0.data.lots
    }
    /// Where a recall must act: every facility, of either province, that
    /// the forward traces of the alert's lots (those written as lot codes,
    /// `19-LO-2026-000042`) say received them, each with the province
    /// responsible for acting on it.
    async fn recall_scope(&self, ctx: &Context<'_>) -> Result<super::trace::RecallScope> {
        let codes = self
            .0
            .data
            .lots
            .iter()
            .filter_map(|lot| crate::domain::LotCode::parse(lot).ok())
            .collect();
        heavy(super::trace::RecallScope::of(ctx, codes)).await
    }
    /// The provinces that must know, and may add to the thread.
    async fn provinces_concerned(&self) -> Vec<Province> {
        self.0.data.provinces.iter().copied().map(Province).collect()
    }
    async fn status(&self) -> AlertStatus {
        self.0.status
    }
    /// Why it was withdrawn or closed.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// When it was notified; null for a draft.
    async fn notified_at(&self) -> Option<DateTime<Utc>> {
        self.0.notified_at
    }
    /// How the notice of this alert reached each partner concerned: for our
    /// own alerts, and our own callers; null otherwise.
    #[graphql(guard = "InternalOnly")]
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Option<Vec<AlertDelivery>>> {
        heavy(async {
            let store = store(ctx);
            if self.0.id.province != store.province() {
                return Ok(None);
            }
            let deliveries = store.deliveries(self.0.id).await?;
            Ok(Some(deliveries.into_iter().map(AlertDelivery).collect()))
        })
        .await
    }
    /// The thread: what each province found and did, each follow-up from the
    /// province that wrote it, writer by writer.
    async fn follow_ups(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<FollowUpConnection> {
        heavy(async {
            let filter = FollowUpFilter {
                alert: Some(self.0.id),
                audience: audience(ctx),
            };
            let forwarded = forward(&Some(FollowUpFilterInput {
                alert_id: Some(ID(self.0.id.to_string())),
            }));
            let listing = Listing::new(scope, None, filter, forwarded);
            listed(ctx, listing, first, after).await
        })
        .await
    }
    /// The inspections this alert asks of the provinces of its chain, from
    /// its owner, which asked.
    async fn inspection_requests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InspectionRequestConnection> {
        heavy(async {
            let filter = InspectionRequestFilter {
                alert: Some(self.0.id),
                audience: audience(ctx),
                ..Default::default()
            };
            let forwarded = forward(&Some(InspectionRequestFilterInput {
                alert_id: Some(ID(self.0.id.to_string())),
                ..Default::default()
            }));
            let ours = self.0.id.province == store(ctx).province();
            let scope = if ours { Scope::Local } else { Scope::Partners };
            let listing = Listing::new(Some(scope), None, filter, forwarded).none_of_ours(!ours);
            listed(ctx, listing, first, after).await
        })
        .await
    }
    /// Alerts of either province notified in the twelve months before this
    /// one on the same facility, or on the same product with the same hazard.
    async fn earlier_alerts(&self, ctx: &Context<'_>, scope: Option<Scope>) -> Result<Vec<Alert>> {
        heavy(self.earlier(ctx, scope)).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

impl Alert {
    /// The work of `earlierAlerts`: the alerts on any of this one's records
    /// in the year before it, of which those on the same risk.
    async fn earlier(&self, ctx: &Context<'_>, scope: Option<Scope>) -> Result<Vec<Alert>> {
        let data = &self.0.data;
        let concerning: Vec<GlobalId> = data
            .products
            .iter()
            .chain(&data.facilities)
            .copied()
            .collect();
        if concerning.is_empty() {
            return Ok(Vec::new());
        }
        let until = self.0.raised_at();
        let since = until - chrono::Duration::days(RECURRENCE_DAYS);
        let forwarded = forward(&Some(AlertFilterInput {
            concerning: Some(ids(&concerning)),
            notified_after: Some(since),
            notified_before: Some(until),
            ..Default::default()
        }));
        let filter = AlertFilter {
            concerning,
            notified_after: Some(since),
            notified_before: Some(until),
            audience: audience(ctx),
            ..Default::default()
        };
        // Every page of the alerts on the same records, each page one call of
        // each partner (the request's call budget bounds them).
        let (mut earlier, mut after) = (Vec::new(), None);
        loop {
            let listing =
                Listing::<AlertRecord>::new(scope, None, filter.clone(), forwarded.clone());
            let page = told(ctx, access(ctx).list(listing, MAX_PAGE, after).await?);
            earlier.extend(
                page.edges
                    .into_iter()
                    .map(|(_, sourced)| sourced)
                    .filter(|sourced| self.0.recurs(&sourced.record))
                    .map(|sourced| wrap(ctx, sourced)),
            );
            match page.end_cursor {
                Some(cursor) if page.has_next => after = Some(cursor),
                _ => return Ok(earlier),
            }
        }
    }
}

super::answer::record_object! {
    /// What a province found and did about an alert, owned by the province
    /// that wrote it, whoever owns the alert.
    object FollowUp(FollowUpRecord), FollowUpEdge, FollowUpConnection;
    province: " The owner: the province that wrote it.";
    version: " Grows by one on each write.";
    /// The alert followed up, which names its owner.
    async fn alert_id(&self) -> ID {
        ID(self.0.data.alert.to_string())
    }
    /// The alert followed up, from its owner.
    async fn alert(&self, ctx: &Context<'_>) -> Result<Option<Alert>> {
        heavy(find::<Alert>(ctx, self.0.data.alert)).await
    }
    /// What was found.
    async fn findings(&self) -> &str {
        &self.0.data.findings
    }
    async fn measures(&self) -> Vec<MeasureTaken> {
        measures_taken(&self.0.data.measures)
    }
    /// Results of analyses or of the measures.
    async fn results(&self) -> Option<&str> {
        self.0.data.results.as_deref()
    }
    /// The inspection request this follow-up answers, which the alert's
    /// owner made.
    async fn answers_request_id(&self) -> Option<ID> {
        self.0.data.answers.map(|a| ID(a.request.to_string()))
    }
    /// The request answered, from its owner.
    async fn answers_request(&self, ctx: &Context<'_>) -> Result<Option<InspectionRequest>> {
        let Some(answering) = self.0.data.answers else {
            return Ok(None);
        };
        heavy(find::<InspectionRequest>(ctx, answering.request)).await
    }
    /// The writer's inspection that answers the request.
    async fn inspection_id(&self) -> Option<ID> {
        self.0.data.answers.map(|a| ID(a.inspection.to_string()))
    }
    /// That inspection, from its owner, the writer.
    async fn inspection(&self, ctx: &Context<'_>) -> Result<Option<Inspection>> {
        let Some(answering) = self.0.data.answers else {
            return Ok(None);
        };
        heavy(find::<Inspection>(ctx, answering.inspection)).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

super::answer::record_object! {
    /// An inspection that an alert's owner asks of a province of the chain,
    /// by the agreement's split of supervision; owned by the alert's owner.
    /// The assignee answers it by recording the inspection
    /// (`recordInspection` with `answersRequestId`), which adds a follow-up
    /// to the alert's thread.
    object InspectionRequest(InspectionRequestRecord), InspectionRequestEdge, InspectionRequestConnection;
    province: " The owner: the province that raised the alert and asked.";
    version: " Grows by one on each change of state.";
    /// The alert, the asking province's.
    async fn alert_id(&self) -> ID {
        ID(self.0.data.alert.to_string())
    }
    async fn alert(&self, ctx: &Context<'_>) -> Result<Option<Alert>> {
        heavy(find::<Alert>(ctx, self.0.data.alert)).await
    }
    /// The facility to inspect, which names its owner.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    /// The stage of the chain to inspect.
    async fn stage(&self) -> ChainStage {
        self.0.data.stage
    }
    /// The province that is to inspect.
    async fn assignee(&self) -> Province {
        Province(self.0.data.assignee)
    }
    /// The last day to answer, in Vietnam; set by the alert's risk.
    async fn due_on(&self) -> Date {
        Date(self.0.data.due_on)
    }
    async fn state(&self) -> RequestState {
        self.0.state
    }
    /// Open past its last day.
    async fn overdue(&self) -> bool {
        self.0.overdue(today())
    }
    /// The assignee's follow-up that answered it.
    async fn answer_follow_up_id(&self) -> Option<ID> {
        self.0.answer.map(|a| ID(a.follow_up.to_string()))
    }
    /// The assignee's inspection that answered it.
    async fn answer_inspection_id(&self) -> Option<ID> {
        self.0.answer.map(|a| ID(a.inspection.to_string()))
    }
    /// That inspection, from the assignee.
    async fn answer_inspection(&self, ctx: &Context<'_>) -> Result<Option<Inspection>> {
        let Some(answer) = self.0.answer else {
            return Ok(None);
        };
        heavy(find::<Inspection>(ctx, answer.inspection)).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Which inspection requests to list.
#[derive(InputObject, Default)]
pub struct InspectionRequestFilterInput {
    pub alert_id: Option<ID>,
    /// Requests to inspect any of these facilities (at most 100).
    pub facility_ids: Option<Vec<ID>>,
    /// Requests assigned to this province.
    pub assignee: Option<super::scalars::ProvinceCode>,
    pub state: Option<RequestState>,
    /// Open past their last day (true), or not (false).
    pub overdue: Option<bool>,
}

/// A partner's notice of one of its alerts, as we received it; the alert is
/// read live from its owner.
pub struct AlertNotice(Notice);

#[Object]
impl AlertNotice {
    /// The alert, which names its owner, the sender.
    async fn alert_id(&self) -> ID {
        ID(self.0.about.to_string())
    }
    /// The alert, from its owner.
    async fn alert(&self, ctx: &Context<'_>) -> Result<Option<Alert>> {
        heavy(find::<Alert>(ctx, self.0.about)).await
    }
    /// The latest version of the alert a delivery named.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The alert's status at that version, as its owner told it: null
    /// from an owner that does not tell it. `alert` reads it live.
    async fn status(&self) -> Option<AlertStatus> {
        self.0.status
    }
    /// When the first delivery arrived.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    /// When one of our operators acknowledged it; null until then.
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
}

super::pagination::connection_types!(AlertNotice, AlertNoticeEdge, AlertNoticeConnection);

/// Where a notice owed to a partner stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum DeliveryState {
    /// Not yet taken by the partner; tried again until it is.
    Pending,
    /// The partner has stored it.
    Delivered,
}

/// The notice of one of our alerts to one partner.
pub struct AlertDelivery(Delivery);

#[Object]
impl AlertDelivery {
    async fn province(&self) -> Province {
        Province(self.0.partner)
    }
    async fn state(&self) -> DeliveryState {
        match self.0.delivered_at {
            Some(_) => DeliveryState::Delivered,
            None => DeliveryState::Pending,
        }
    }
    /// The version of the alert the notice names.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The code of the last failed attempt, e.g. `PARTNER_UNAVAILABLE`.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When it is tried next; null once delivered.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0
            .delivered_at
            .is_none()
            .then_some(self.0.next_attempt_at)
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// When the partner's operators acknowledged it, as the partner says;
    /// null until then, or when it cannot be asked (with its error).
    async fn acknowledged_at(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        // Not delivered, nothing to acknowledge.
        self.0.delivered_at?;
        let said = access(ctx)
            .acknowledgement(self.0.partner, self.0.about)
            .await;
        told(ctx, said).flatten()
    }
}

/// What a partner's gateway is told when it delivers a notice.
#[derive(SimpleObject)]
pub struct NoticeReceipt {
    /// The record the notice is of.
    pub record_id: ID,
    /// When the first delivery arrived.
    pub received_at: DateTime<Utc>,
    /// Whether it had been delivered before (and is stored once).
    pub duplicate: bool,
}

/// A hazard found: a substance or organism, and how much against the limit.
#[derive(SimpleObject)]
#[graphql(name = "Hazard")]
pub struct HazardFound {
    pub category: HazardCategory,
    /// The substance or organism, e.g. chlorpyrifos or Salmonella.
    pub agent: String,
    /// The analytical result, in `unit`.
    pub result: Option<f64>,
    pub unit: Option<String>,
    /// The legal limit, in `unit`.
    pub legal_limit: Option<f64>,
}

impl From<&Hazard> for HazardFound {
    fn from(hazard: &Hazard) -> Self {
        Self {
            category: hazard.category,
            agent: hazard.agent.clone(),
            result: hazard.result,
            unit: hazard.unit.clone(),
            legal_limit: hazard.legal_limit,
        }
    }
}

/// A measure taken against a risk.
#[derive(SimpleObject)]
#[graphql(name = "Measure")]
pub struct MeasureTaken {
    pub kind: MeasureKind,
    pub detail: Option<String>,
}

fn measures_taken(measures: &[Measure]) -> Vec<MeasureTaken> {
    measures
        .iter()
        .map(|m| MeasureTaken {
            kind: m.kind,
            detail: m.detail.clone(),
        })
        .collect()
}

fn ids(ids: &[GlobalId]) -> Vec<ID> {
    ids.iter().map(|id| ID(id.to_string())).collect()
}

/// Which alerts to list.
#[derive(InputObject, Default)]
pub struct AlertFilterInput {
    pub status: Option<AlertStatus>,
    pub classification: Option<Classification>,
    pub risk: Option<RiskDecision>,
    /// Alerts concerning any of these products or facilities.
    pub concerning: Option<Vec<ID>>,
    /// Notified at or after this time.
    pub notified_after: Option<DateTime<Utc>>,
    /// Notified before this time.
    pub notified_before: Option<DateTime<Utc>>,
    /// Words that must all appear in the subject, description, hazards or
    /// lots; case and Vietnamese diacritics are ignored.
    pub text: Option<String>,
}

/// Which follow-ups to list.
#[derive(InputObject, Default)]
pub struct FollowUpFilterInput {
    pub alert_id: Option<ID>,
}

/// A hazard, as reported.
#[derive(InputObject)]
pub struct HazardInput {
    pub category: HazardCategory,
    /// The substance or organism.
    pub agent: String,
    pub result: Option<f64>,
    /// Required with a result or a limit.
    pub unit: Option<String>,
    pub legal_limit: Option<f64>,
}

/// A measure taken.
#[derive(InputObject)]
pub struct MeasureInput {
    pub kind: MeasureKind,
    pub detail: Option<String>,
}

/// What an alert says. It is raised as a draft, which its province may
/// rewrite until it is notified.
#[derive(InputObject)]
pub struct AlertInput {
    pub classification: Classification,
    pub risk: RiskDecision,
    pub basis: NotificationBasis,
    pub subject: String,
    /// In Vietnamese.
    pub description: String,
    pub hazards: Vec<HazardInput>,
    #[graphql(default)]
    pub measures: Vec<MeasureInput>,
    /// Products concerned, of either province.
    #[graphql(default)]
    pub product_ids: Vec<ID>,
    /// Facilities concerned, of either province.
    #[graphql(default)]
    pub facility_ids: Vec<ID>,
    /// Lot codes concerned.
    #[graphql(default)]
    pub lots: Vec<String>,
    /// The provinces that must know. When absent: this province, the owners
    /// of the records concerned, and every province their facilities supply.
    pub provinces_concerned: Option<Vec<super::scalars::ProvinceCode>>,
}

/// What a province adds to an alert's thread.
#[derive(InputObject)]
pub struct FollowUpInput {
    /// The alert, of either province.
    pub alert_id: ID,
    /// What was found.
    pub findings: String,
    #[graphql(default)]
    pub measures: Vec<MeasureInput>,
    pub results: Option<String>,
}

#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// Alerts raised by this province and, with `scope`, by its partners
    /// (those addressed to us), in a stable order, a page at a time.
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<AlertFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AlertConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let concerning = filter
            .concerning
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, id)| concerned_id(id, &format!("filter.concerning.{i}")))
            .collect::<Result<_, _>>()?;
        let filter = AlertFilter {
            status: filter.status,
            classification: filter.classification,
            risk: filter.risk,
            concerning,
            notified_after: filter.notified_after,
            notified_before: filter.notified_before,
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        let listing = Listing::<AlertRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// Follow-ups written by this province and, with `scope`, by its
    /// partners, a page at a time.
    async fn follow_ups(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<FollowUpFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<FollowUpConnection> {
        let forwarded = forward(&filter);
        let alert = super::optional_id(
            RecordKind::Alert,
            "filter.alertId",
            filter.and_then(|f| f.alert_id),
        )?;
        let filter = FollowUpFilter {
            alert,
            audience: audience(ctx),
        };
        let listing = Listing::<FollowUpRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// The notice a partner sent us of its alert `alertId`, and our
    /// acknowledgement; null if it sent none. A partner reads ours of its
    /// own alerts only.
    async fn alert_notice(&self, ctx: &Context<'_>, alert_id: ID) -> Result<Option<AlertNotice>> {
        let alert = GlobalId::parse_kind(&alert_id, RecordKind::Alert).field("alertId")?;
        if let Caller::Partner(partner) = *ctx.data::<Caller>()?
            && partner != alert.province
        {
            return Ok(None);
        }
        Ok(store(ctx).notice(alert).await?.map(AlertNotice))
    }

    /// Partners' alerts notified to us, in the order they first arrived,
    /// with our acknowledgement (internal callers).
    async fn alert_notices(
        &self,
        ctx: &Context<'_>,
        acknowledged: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AlertNoticeConnection> {
        let request = super::pagination::request(first, after.as_deref())?;
        let filter = NoticeFilter {
            kind: Some(RecordKind::Alert),
            acknowledged,
        };
        let page = store(ctx).notices(&filter, request).await?;
        let paged = Paged::ours(page, |(row, _)| *row);
        Ok(super::pagination::assemble(paged, |sourced| {
            AlertNotice(sourced.record.1)
        }))
    }
}

#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Raises an alert as a draft; `changeAlertStatus` to `NOTIFIED` sends it.
    async fn raise_alert(&self, ctx: &Context<'_>, input: AlertInput) -> Result<Alert> {
        let data = alert_data(ctx, input).await?;
        let raised = store(ctx).raise_alert(data).await.map_err(as_input)?;
        Ok(local(ctx, raised))
    }

    /// Rewrites a draft alert.
    async fn update_alert(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: AlertInput,
    ) -> Result<Alert> {
        let id = writable_id(ctx, &id, RecordKind::Alert)?;
        let data = alert_data(ctx, input).await?;
        let updated = store(ctx)
            .update_alert(id, version, data)
            .await
            .map_err(as_input)?;
        Ok(local(ctx, updated))
    }

    /// Moves an alert along its life: a draft is `NOTIFIED` (sent to the
    /// provinces concerned) or `WITHDRAWN`; a notified one goes
    /// `UNDER_INVESTIGATION`, `CLOSED` or `WITHDRAWN`. A withdrawal gives
    /// its `reason`.
    async fn change_alert_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        status: AlertStatus,
        reason: Option<String>,
    ) -> Result<Alert> {
        let id = writable_id(ctx, &id, RecordKind::Alert)?;
        let reason = opt_check("reason", reason.as_deref(), |r| {
            text::paragraph(r, text::LONG)
        })?;
        let change = AlertStatusChange { to: status, reason };
        let needed = if status == AlertStatus::Notified {
            inspections_asked(ctx, id).await?
        } else {
            Vec::new()
        };
        let deadlines = ctx.data_unchecked::<Deadlines>();
        let changed = store(ctx)
            .change_alert_status(id, version, change, &needed, deadlines)
            .await
            .map_err(as_argument)?;
        Ok(local(ctx, changed))
    }

    /// For partners' gateways: the partner's alert `alertId`, at `version`,
    /// concerns this province; `status` is the alert's at that version
    /// (sent again whenever it changes). Delivered again, it is stored
    /// once; an older version than one already told changes nothing.
    async fn receive_alert_notice(
        &self,
        ctx: &Context<'_>,
        alert_id: ID,
        version: i32,
        status: Option<AlertStatus>,
    ) -> Result<NoticeReceipt> {
        let about = GlobalId::parse_kind(&alert_id, RecordKind::Alert).field("alertId")?;
        let told = Told {
            about,
            version,
            status,
            alert: None,
            answers: None,
        };
        received(ctx, "alertId", told).await
    }

    /// For partners' gateways: the partner wrote the follow-up `followUpId`
    /// in the thread of the alert `alertId`, which concerns us; one that
    /// answers an inspection request of ours (`answersRequestId`, with the
    /// partner's `inspectionId`) answers it. Delivered again, it is stored
    /// once.
    async fn receive_follow_up_notice(
        &self,
        ctx: &Context<'_>,
        follow_up_id: ID,
        version: i32,
        alert_id: ID,
        answers_request_id: Option<ID>,
        inspection_id: Option<ID>,
    ) -> Result<NoticeReceipt> {
        let follow_up =
            GlobalId::parse_kind(&follow_up_id, RecordKind::FollowUp).field("followUpId")?;
        let alert = GlobalId::parse_kind(&alert_id, RecordKind::Alert).field("alertId")?;
        let answers = match (answers_request_id, inspection_id) {
            (None, None) => None,
            (Some(request), Some(inspection)) => Some(Answering {
                request: GlobalId::parse_kind(&request, RecordKind::InspectionRequest)
                    .field("answersRequestId")?,
                inspection: GlobalId::parse_kind(&inspection, RecordKind::Inspection)
                    .field("inspectionId")?,
            }),
            (Some(_), None) => {
                return Err(AppError::invalid(
                    "inspectionId",
                    "a follow-up that answers a request names its inspection",
                )
                .into());
            }
            (None, Some(_)) => {
                return Err(AppError::invalid(
                    "answersRequestId",
                    "an inspection is named with the request it answers",
                )
                .into());
            }
        };
        if let Some(answering) = answers
            && answering.inspection.province != follow_up.province
        {
            return Err(AppError::invalid(
                "inspectionId",
                "a follow-up answers with its writer's own inspection",
            )
            .into());
        }
        let told = Told {
            about: follow_up,
            version,
            status: None,
            alert: Some(alert),
            answers,
        };
        received(ctx, "followUpId", told).await
    }

    /// Acknowledges a partner's alert notified to us: an operator has read it.
    async fn acknowledge_alert(&self, ctx: &Context<'_>, alert_id: ID) -> Result<AlertNotice> {
        let alert = GlobalId::parse_kind(&alert_id, RecordKind::Alert).field("alertId")?;
        Ok(AlertNotice(store(ctx).acknowledge_notice(alert).await?))
    }

    /// Adds a follow-up to an open alert's thread, ours or a partner's; each
    /// other province the alert concerns is sent a notice of it.
    async fn add_follow_up(&self, ctx: &Context<'_>, input: FollowUpInput) -> Result<FollowUp> {
        let alert =
            GlobalId::parse_kind(&input.alert_id, RecordKind::Alert).field("input.alertId")?;
        let data = FollowUpData {
            alert,
            findings: check(
                "input.findings",
                text::paragraph(&input.findings, text::LONG),
            )?,
            measures: measures(input.measures, "input.measures")?,
            results: opt_check("input.results", input.results.as_deref(), |r| {
                text::paragraph(r, text::LONG)
            })?,
            answers: None,
        };
        let partner_alert = partner_record::<AlertRecord>(ctx, alert, "input.alertId").await?;
        let added = store(ctx)
            .add_follow_up(data, partner_alert.as_ref())
            .await
            .map_err(as_input)?;
        Ok(local(ctx, added))
    }
}

/// A partner's record `id` as its owner shows it to us, to write about it;
/// `None` for one of ours, which the store reads in its write. An owner
/// that cannot say is its failure (`PARTNER_*`), not a missing record; one
/// it does not show us is `INVALID_INPUT` on `field`.
pub(crate) async fn partner_record<K: crate::access::Kind>(
    ctx: &Context<'_>,
    id: GlobalId,
    field: &str,
) -> Result<Option<K>> {
    if id.province == store(ctx).province() {
        return Ok(None);
    }
    let found = access(ctx).find_kind::<K>(id).await?;
    if found.value.is_none()
        && let Some(crate::access::Note::Failed { province, error }) = found.notes.first()
    {
        return Err(error.to_error(*province));
    }
    match told(ctx, found) {
        Some(found) => Ok(Some(found.record)),
        None => Err(AppError::invalid(
            field,
            format!(
                "province {} shows us no {} {id}",
                id.province,
                id.kind.name()
            ),
        )
        .into()),
    }
}

/// Keeps a partner's notice of its record `about` (named by the argument
/// `field`), which only the partner that owns it sends.
pub(crate) async fn received(ctx: &Context<'_>, field: &str, told: Told) -> Result<NoticeReceipt> {
    let about = told.about;
    let Caller::Partner(sender) = *ctx.data::<Caller>()? else {
        return Err(AppError::Forbidden("notices come from partners' gateways".to_owned()).into());
    };
    if about.province != sender {
        return Err(AppError::NotOwner {
            province: about.province,
            message: format!(
                "{field}: {about} belongs to province {}; a province tells of its own records",
                about.province
            ),
        }
        .into());
    }
    let (notice, duplicate) = store(ctx).receive_notice(told).await?;
    Ok(NoticeReceipt {
        record_id: ID(about.to_string()),
        received_at: notice.received_at,
        duplicate,
    })
}

/// The inspections our draft `id`, about to be notified, asks for: by the
/// split of supervision, over the facilities of its chain as their owners
/// describe them now. A facility no one can describe (its owner down, our
/// replica without it) asks for nothing, and the owner's failure is told.
async fn inspections_asked(ctx: &Context<'_>, id: GlobalId) -> Result<Vec<Needed>> {
    let Some(alert) = store(ctx)
        .alerts_by_id(&[id.local], Audience::Internal)
        .await?
        .pop()
    else {
        return Ok(Vec::new());
    };
    let data = &alert.data;
    let concerned = told(
        ctx,
        access(ctx)
            .provinces_concerned(&data.products, &data.facilities)
            .await?,
    );
    Ok(inspections_needed(
        &concerned.chain,
        &data.provinces,
        id.province,
    ))
}

/// Reads an alert's input into its data, asking the owners of the records
/// concerned which provinces they concern.
async fn alert_data(ctx: &Context<'_>, input: AlertInput) -> Result<AlertData> {
    let hazards = input
        .hazards
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let at = format!("input.hazards.{i}");
            let unit = opt_check(&format!("{at}.unit"), h.unit.as_deref(), |u| {
                text::line(u, text::SHORT)
            })?;
            Hazard::new(h.category, &h.agent, h.result, unit, h.legal_limit)
                .map_err(|refusal| refused_at(&at, refusal))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let read_ids = |ids: &[ID], kind, field: &str| {
        ids.iter()
            .enumerate()
            .map(|(i, id)| GlobalId::parse_kind(id, kind).field(&format!("{field}.{i}")))
            .collect::<Result<Vec<_>, _>>()
    };
    let products = read_ids(&input.product_ids, RecordKind::Product, "input.productIds")?;
    let facilities = read_ids(
        &input.facility_ids,
        RecordKind::Facility,
        "input.facilityIds",
    )?;
    let lots = input
        .lots
        .iter()
        .enumerate()
        .map(|(i, lot)| check(&format!("input.lots.{i}"), text::line(lot, text::SHORT)))
        .collect::<Result<Vec<_>, _>>()?;
    let access = access(ctx);
    let mut data = AlertData {
        classification: input.classification,
        risk: input.risk,
        basis: input.basis,
        subject: check("input.subject", text::line(&input.subject, text::SHORT))?,
        description: check(
            "input.description",
            text::paragraph(&input.description, text::LONG),
        )?,
        hazards,
        measures: measures(input.measures, "input.measures")?,
        products,
        facilities,
        lots,
        provinces: vec![access.province()],
    };
    // Refused before its owners are asked about a thousand records.
    data.check().map_err(|refusal| as_input(refusal.into()))?;
    let (products, facilities) = (&data.products, &data.facilities);
    let concerned = told(ctx, access.provinces_concerned(products, facilities).await?);
    let position = |id: &GlobalId| match id.kind {
        RecordKind::Product => format!(
            "input.productIds.{}",
            products.iter().position(|p| p == id).unwrap_or_default()
        ),
        _ => format!(
            "input.facilityIds.{}",
            facilities.iter().position(|f| f == id).unwrap_or_default()
        ),
    };
    if let Some(id) = concerned.not_partners.first() {
        return Err(AppError::invalid(
            position(id),
            format!(
                "{id} belongs to province {}, not a partner of this gateway",
                id.province
            ),
        )
        .into());
    }
    if let Some(id) = concerned.unknown.first() {
        return Err(AppError::invalid(
            position(id),
            format!(
                "province {} has no {} {id} it shares with us",
                id.province,
                id.kind.name()
            ),
        )
        .into());
    }
    data.provinces = match input.provinces_concerned {
        None => concerned.provinces,
        Some(codes) => codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let field = format!("input.provincesConcerned.{i}");
                let province = code.0;
                if province != access.province() && !access.is_partner(province) {
                    return Err(AppError::invalid(
                        field,
                        format!("province {province} is not a partner of this gateway"),
                    ));
                }
                Ok(province)
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(data)
}

fn measures(input: Vec<MeasureInput>, field: &str) -> Result<Vec<Measure>, AppError> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(Measure {
                kind: m.kind,
                detail: opt_check(&format!("{field}.{i}.detail"), m.detail.as_deref(), |d| {
                    text::paragraph(d, text::LONG)
                })?,
            })
        })
        .collect()
}

/// A record an alert may concern: a product or a facility.
fn concerned_id(id: &ID, field: &str) -> Result<GlobalId, AppError> {
    let id = GlobalId::parse(id).field(field)?;
    match id.kind {
        RecordKind::Product | RecordKind::Facility => Ok(id),
        other => Err(AppError::invalid(
            field,
            format!(
                "an alert concerns products and facilities, not a {}",
                other.name()
            ),
        )),
    }
}
