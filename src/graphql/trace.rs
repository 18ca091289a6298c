//! Traceability: lots, the EPCIS events that make and move them, and a lot's
//! trace across provinces.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::answer::{find, listed, local, wrap};
use super::objects::{Facility, Inspection, Product};
use super::{Province, as_input, audience, check, forward, heavy, opt_check, scalars, store};
use crate::access::{
    ChainLink, Consistency, Listing, Scope, TraceLimits, Unfollowed, UnfollowedReason,
};
use crate::domain::epcis;
use crate::domain::{
    BizStep, ChainStage, Direction, Disposition, Epc, ErrorDeclaration, ErrorReason, EventAction,
    GlobalId, InvalidReason, Item, ItemRole, LotCode, LotData, LotRecord, QuantityUnit, RecordKind,
    TraceEventData, TraceEventRecord, TraceEventType, text,
};
use crate::error::{AppError, FieldContext};
use crate::store::{LotFilter, NewEvent, TraceEventFilter};

super::answer::record_object! {
    /// A lot: goods made or harvested together by one facility, owned by the
    /// province its code names.
    object Lot(LotRecord), LotEdge, LotConnection;
    province: " The owner: the province of the facility that made it.";
    version: " Grows by one on each write.";
    /// `19-LO-2026-000042`: the owner province, the year, a serial.
    async fn code(&self) -> String {
        self.0.code.to_string()
    }
    /// The lot as an EPCIS `epcClass`.
    async fn epc(&self) -> String {
        self.0.code.uri()
    }
    async fn product_id(&self) -> ID {
        ID(self.0.data.product.to_string())
    }
    /// The product, from its owner.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        heavy(find::<Product>(ctx, self.0.data.product)).await
    }
    /// The facility that made or harvested it.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    async fn quantity(&self) -> f64 {
        self.0.data.quantity
    }
    async fn unit(&self) -> QuantityUnit {
        self.0.data.unit
    }
    async fn produced_on(&self) -> scalars::Date {
        scalars::Date(self.0.data.produced_on)
    }
    /// The business's own lot number.
    async fn batch(&self) -> Option<&str> {
        self.0.data.batch.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

super::answer::record_object! {
    /// An EPCIS event: what happened to which lots, when, where and why,
    /// owned by the province of the facility that recorded it. It is never
    /// edited: a mistaken one carries an error declaration, and its
    /// corrective events take its place.
    object TraceEvent(TraceEventRecord), TraceEventEdge, TraceEventConnection;
    province: " The owner: the province of the facility that recorded it.";
    version: " Grows by one on each write.";
    /// The EPCIS `eventID`, a URI.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }
    async fn event_type(&self) -> TraceEventType {
        self.0.data.event_type
    }
    /// An object event's action; null for a transformation.
    async fn action(&self) -> Option<EventAction> {
        self.0.data.action
    }
    /// The business step, from the Core Business Vocabulary.
    async fn biz_step(&self) -> BizStep {
        self.0.data.biz_step
    }
    async fn disposition(&self) -> Option<Disposition> {
        self.0.data.disposition
    }
    async fn event_time(&self) -> DateTime<Utc> {
        self.0.data.event_time
    }
    /// The offset of local time where it happened, `+07:00`.
    async fn event_time_zone_offset(&self) -> &str {
        &self.0.data.time_zone_offset
    }
    /// The facility where it happened.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    /// Where the lots came from, of either province.
    async fn source_id(&self) -> Option<ID> {
        self.0.data.source.map(|f| ID(f.to_string()))
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.data.source {
            Some(id) => heavy(find::<Facility>(ctx, id)).await,
            None => Ok(None),
        }
    }
    /// Where they went, of either province.
    async fn destination_id(&self) -> Option<ID> {
        self.0.data.destination.map(|f| ID(f.to_string()))
    }
    async fn destination(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        match self.0.data.destination {
            Some(id) => heavy(find::<Facility>(ctx, id)).await,
            None => Ok(None),
        }
    }
    /// What the event names: the lots it is about, or a transformation's
    /// inputs and outputs.
    async fn items(&self) -> Vec<TraceItem> {
        self.0.data.items.iter().map(TraceItem::from).collect()
    }
    /// Set when the event was declared in error.
    async fn error_declaration(&self) -> Option<TraceErrorDeclaration> {
        self.0.error.as_ref().map(TraceErrorDeclaration::from)
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
}

/// An EPC an event names, with its quantity when counted.
#[derive(SimpleObject)]
pub struct TraceItem {
    pub role: ItemRole,
    /// The EPC's URI (`urn:caunoi:lot:19-LO-2026-000042`, or a GS1 one).
    pub epc: String,
    /// The lot's code, when the EPC is one of our provinces' lots.
    pub lot_code: Option<String>,
    pub quantity: Option<f64>,
    pub unit: Option<QuantityUnit>,
}

impl From<&Item> for TraceItem {
    fn from(item: &Item) -> Self {
        Self {
            role: item.role,
            epc: item.epc.uri(),
            lot_code: item.epc.lot().map(|code| code.to_string()),
            quantity: item.quantity,
            unit: item.unit,
        }
    }
}

/// That an event was declared in error, and what corrects it.
#[derive(SimpleObject)]
pub struct TraceErrorDeclaration {
    pub declaration_time: DateTime<Utc>,
    pub reason: ErrorReason,
    /// The `eventID`s of the events that correct it.
    pub corrective_event_ids: Vec<String>,
}

impl From<&ErrorDeclaration> for TraceErrorDeclaration {
    fn from(error: &ErrorDeclaration) -> Self {
        Self {
            declaration_time: error.declared_at,
            reason: error.reason,
            corrective_event_ids: error.corrective_event_ids.clone(),
        }
    }
}

/// A hop a trace could not follow.
#[derive(SimpleObject)]
pub struct UnfollowedHop {
    /// The province that would have answered it.
    pub province: Province,
    pub epc: String,
    pub lot_code: Option<String>,
    pub reason: UnfollowedReason,
    /// A partner's failure (`PARTNER_TIMEOUT`…), when one failed.
    pub code: Option<&'static str>,
}

impl From<Unfollowed> for UnfollowedHop {
    fn from(hop: Unfollowed) -> Self {
        Self {
            province: Province(hop.province),
            epc: hop.epc.uri(),
            lot_code: hop.epc.lot().map(|code| code.to_string()),
            reason: hop.reason,
            code: hop.code,
        }
    }
}

/// A lot's trace: the lots and events found, each from its owner, and the
/// hops that could not be followed.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Trace {
    pub lot_code: String,
    pub direction: Direction,
    /// Levels walked after the first.
    pub hops: i32,
    pub max_hops: i32,
    /// The most lots one trace follows.
    pub max_lots: i32,
    /// Whether the limits cut lots or events off (they are listed in
    /// `unfollowed`).
    pub truncated: bool,
    pub lots: Vec<Lot>,
    /// Events that stand, oldest first.
    pub events: Vec<TraceEvent>,
    pub unfollowed: Vec<UnfollowedHop>,
    #[graphql(skip)]
    pub facility_ids: Vec<GlobalId>,
}

/// Which lots to list.
#[derive(InputObject, Default)]
pub struct LotFilterInput {
    /// Lots with these codes (at most 100).
    pub codes: Option<Vec<String>>,
    pub facility_id: Option<ID>,
    pub product_id: Option<ID>,
}

/// Which events to list.
#[derive(InputObject, Default)]
pub struct TraceEventFilterInput {
    /// Events that name any of these lots (by code) or EPCs (by URI); at
    /// most 100.
    pub epcs: Option<Vec<String>>,
    pub facility_id: Option<ID>,
    /// Events declared in error too (by default only those that stand).
    pub declared_in_error: Option<bool>,
}

/// A lot a facility of this province made or harvested.
#[derive(InputObject)]
pub struct CreateLotInput {
    /// A product of this province.
    pub product_id: ID,
    /// The facility of this province that made or harvested it.
    pub facility_id: ID,
    pub quantity: f64,
    pub unit: QuantityUnit,
    /// Not in the future.
    pub produced_on: scalars::Date,
    /// The business's own lot number.
    pub batch: Option<String>,
}

/// A lot a transformation makes, at its facility.
#[derive(InputObject)]
pub struct MadeLotInput {
    pub product_id: ID,
    pub quantity: f64,
    pub unit: QuantityUnit,
    pub produced_on: scalars::Date,
    pub batch: Option<String>,
}

/// An EPC an event names: a lot by code, or any EPC by URI.
#[derive(InputObject)]
pub struct TraceItemInput {
    pub lot_code: Option<String>,
    pub epc: Option<String>,
    pub quantity: Option<f64>,
    pub unit: Option<QuantityUnit>,
}

/// An event at a facility of this province. With `inputs` it is a
/// transformation, which consumes them into the lots it `makes` (and any
/// `outputs` named); otherwise an object event about `items`.
#[derive(InputObject)]
pub struct TraceEventInput {
    pub biz_step: BizStep,
    /// An object event's action: `OBSERVE` by default.
    pub action: Option<EventAction>,
    pub disposition: Option<Disposition>,
    /// Not in the future; now by default.
    pub event_time: Option<DateTime<Utc>>,
    pub facility_id: ID,
    /// Where the lots came from: the sender of a receipt.
    pub source_id: Option<ID>,
    /// Where they go: the receiver of a shipment.
    pub destination_id: Option<ID>,
    #[graphql(default)]
    pub items: Vec<TraceItemInput>,
    #[graphql(default)]
    pub inputs: Vec<TraceItemInput>,
    #[graphql(default)]
    pub outputs: Vec<TraceItemInput>,
    #[graphql(default)]
    pub makes: Vec<MadeLotInput>,
}

/// Whether an event's facility held a valid certificate on the day of the
/// event, by the certificates and their histories as their owner recorded
/// them.
#[derive(SimpleObject)]
pub struct EventCertification {
    pub event_id: ID,
    pub facility_id: ID,
    /// The day of the event, in Vietnam.
    pub on: scalars::Date,
    /// False when no certificate was valid that day, or its owner shares
    /// none with us; null when the facility's province could not answer.
    pub valid: Option<bool>,
    /// The certificate valid that day, or else the latest one.
    pub certificate_number: Option<String>,
    /// Why the latest certificate was not valid that day; null when one was,
    /// or when the facility holds none.
    pub reason: Option<InvalidReason>,
}

#[async_graphql::ComplexObject]
impl Trace {
    /// For each event, whether its facility held a valid certificate on the
    /// day of the event (one request per partner for all its facilities).
    async fn certification(&self, ctx: &Context<'_>) -> Result<Vec<EventCertification>> {
        let events: Vec<(GlobalId, GlobalId, chrono::NaiveDate)> = self
            .events
            .iter()
            .map(|e| {
                let data = &e.0.data;
                (
                    e.0.id,
                    data.facility,
                    crate::domain::date_in_vietnam(data.event_time),
                )
            })
            .collect();
        let certified =
            heavy(async { Ok(super::answer::access(ctx).certification(&events).await?) }).await?;
        Ok(super::answer::told(ctx, certified)
            .into_iter()
            .map(|c| EventCertification {
                event_id: ID(c.event.to_string()),
                facility_id: ID(c.facility.to_string()),
                on: scalars::Date(c.on),
                valid: c.valid,
                certificate_number: c.certificate.map(|n| n.to_string()),
                reason: c.reason,
            })
            .collect())
    }

    /// Every facility the trace passes through, by stage, with the province
    /// that inspects it under the agreement, its latest inspection by that
    /// province and any inspection asked of it and overdue.
    async fn facilities(&self, ctx: &Context<'_>) -> Result<Vec<ChainFacility>> {
        let links = heavy(async {
            Ok(super::answer::access(ctx)
                .supervision(self.facility_ids.clone())
                .await?)
        })
        .await?;
        Ok(super::answer::told(ctx, links)
            .into_iter()
            .map(ChainFacility)
            .collect())
    }

    /// The trace's events as one GS1 EPCIS 2.0 JSON-LD document.
    async fn epcis(&self) -> async_graphql::Json<serde_json::Value> {
        let events: Vec<&TraceEventRecord> = self.events.iter().map(|e| &e.0).collect();
        async_graphql::Json(epcis::document(&events, Utc::now()))
    }

    /// The trace's events as CSV, one row per event, oldest first: what an
    /// inspector answering a recall sorts and files.
    async fn csv(&self) -> String {
        let mut out = String::from(
            "event_time,province,facility_id,biz_step,event_type,action,disposition,\
             lots,quantities,source_id,destination_id,event_id\n",
        );
        for event in &self.events {
            out.push_str(&csv_row(&event.0));
        }
        out
    }
}

/// One event as a CSV row.
fn csv_row(event: &TraceEventRecord) -> String {
    let data = &event.data;
    let id = |f: Option<GlobalId>| f.map(|f| f.to_string()).unwrap_or_default();
    let lots: Vec<String> = data
        .items
        .iter()
        .map(|i| {
            let epc = i
                .epc
                .lot()
                .map(|l| l.to_string())
                .unwrap_or_else(|| i.epc.uri());
            format!("{}:{epc}", i.role.code())
        })
        .collect();
    let quantities: Vec<String> = data
        .items
        .iter()
        .map(|i| match (i.quantity, i.unit) {
            (Some(q), Some(u)) => format!("{q} {}", u.uom()),
            (Some(q), None) => q.to_string(),
            _ => String::new(),
        })
        .collect();
    let fields = [
        data.event_time.to_rfc3339(),
        event.id.province.to_string(),
        data.facility.to_string(),
        data.biz_step.code().to_owned(),
        data.event_type.code().to_owned(),
        data.action.map(|a| a.code().to_owned()).unwrap_or_default(),
        data.disposition
            .map(|d| d.code().to_owned())
            .unwrap_or_default(),
        lots.join(" "),
        quantities.join(" "),
        id(data.source),
        id(data.destination),
        event.event_id.clone(),
    ];
    let mut row = fields.map(|f| csv_field(&f)).join(",");
    row.push('\n');
    row
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// A facility of a lot's chain: the stage it works at, the province that
/// inspects it there under the agreement, its latest inspection, and any
/// inspection asked of it and overdue.
pub struct ChainFacility(ChainLink);

#[Object]
impl ChainFacility {
    async fn facility_id(&self) -> ID {
        ID(self.0.facility.to_string())
    }
    /// The facility, from its owner; null when it could not answer.
    async fn facility(&self, ctx: &Context<'_>) -> Option<Facility> {
        self.0.record.clone().map(|record| wrap(ctx, record))
    }
    /// The stage its kind works at; null when the facility could not be read.
    async fn stage(&self) -> Option<ChainStage> {
        self.0.stage
    }
    /// The province that inspects this stage here, by the agreement's split.
    async fn responsible(&self) -> Province {
        Province(self.0.responsible)
    }
    /// The latest inspection of the stage, by the responsible province.
    async fn latest_inspection(&self, ctx: &Context<'_>) -> Option<Inspection> {
        self.0
            .latest
            .clone()
            .map(|inspection| wrap(ctx, inspection))
    }
    /// Whether an inspection asked of this stage is past its last day.
    async fn overdue(&self) -> bool {
        !self.0.overdue.is_empty()
    }
    /// The open inspection requests for this stage past their last day.
    async fn overdue_requests(&self) -> Vec<OverdueRequest> {
        self.0
            .overdue
            .iter()
            .map(|request| OverdueRequest {
                request_id: ID(request.record.id.to_string()),
                alert_id: ID(request.record.data.alert.to_string()),
                assignee: Province(request.record.data.assignee),
                due_on: scalars::Date(request.record.data.due_on),
            })
            .collect()
    }
    /// In a recall's scope: the lots it received.
    async fn received_lots(&self) -> Vec<String> {
        self.0.received.iter().map(ToString::to_string).collect()
    }
}

/// An inspection asked and not done in time (`node(id: requestId)` reads it).
#[derive(SimpleObject)]
pub struct OverdueRequest {
    pub request_id: ID,
    pub alert_id: ID,
    /// The province asked to inspect.
    pub assignee: Province,
    /// The last day it had.
    pub due_on: scalars::Date,
}

/// Who supervises each stage of a lot's chain.
#[derive(SimpleObject)]
pub struct SupplyChain {
    pub lot_code: String,
    /// By stage, in the chain's order.
    pub facilities: Vec<ChainFacility>,
    pub unfollowed: Vec<UnfollowedHop>,
    pub truncated: bool,
}

/// Where a recall must act: every facility, of either province, that
/// received the lots, with the province responsible for acting on it.
#[derive(SimpleObject)]
pub struct RecallScope {
    /// The lots recalled (the alert's lots that are lot codes).
    pub lots: Vec<String>,
    pub facilities: Vec<ChainFacility>,
    pub unfollowed: Vec<UnfollowedHop>,
    pub truncated: bool,
}

impl RecallScope {
    /// The scope of a recall of `codes`.
    pub async fn of(ctx: &Context<'_>, codes: Vec<LotCode>) -> Result<Self> {
        let chain = super::answer::access(ctx)
            .recall_scope(&codes, TraceLimits::default())
            .await?;
        let chain = super::answer::told(ctx, chain);
        Ok(Self {
            lots: codes.iter().map(ToString::to_string).collect(),
            facilities: chain.links.into_iter().map(ChainFacility).collect(),
            unfollowed: chain.unfollowed.into_iter().map(Into::into).collect(),
            truncated: chain.truncated,
        })
    }
}

#[derive(Default)]
pub struct TraceQuery;

#[Object]
impl TraceQuery {
    /// Lots of this province and, with `scope`, of partners (the lots they
    /// share with us: of facilities that supply us, or shipped to us).
    async fn lots(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<LotFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LotConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let codes = filter
            .codes
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, code)| check(&format!("filter.codes.{i}"), LotCode::parse(code)))
            .collect::<Result<Vec<_>, _>>()?;
        bounded("filter.codes", codes.len())?;
        let filter = LotFilter {
            codes,
            facility: super::optional_id(
                RecordKind::Facility,
                "filter.facilityId",
                filter.facility_id,
            )?,
            product: super::optional_id(
                RecordKind::Product,
                "filter.productId",
                filter.product_id,
            )?,
            audience: audience(ctx),
        };
        let listing = Listing::<LotRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// Events recorded in this province and, with `scope`, by partners (the
    /// events they share with us: at facilities that supply us, or that
    /// ship to or receive from us).
    async fn trace_events(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<TraceEventFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TraceEventConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let epcs = filter
            .epcs
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, epc)| epc_of(&format!("filter.epcs.{i}"), epc))
            .collect::<Result<Vec<_>, _>>()?;
        bounded("filter.epcs", epcs.len())?;
        let filter = TraceEventFilter {
            epcs,
            facility: super::optional_id(
                RecordKind::Facility,
                "filter.facilityId",
                filter.facility_id,
            )?,
            declared_in_error: filter.declared_in_error.unwrap_or(false),
            audience: audience(ctx),
        };
        let listing = Listing::<TraceEventRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// Who supervises each stage of a lot's chain, found by its trace both
    /// ways: every facility it passes through, by stage (primary
    /// production, preliminary processing, processing, trading), with the
    /// province responsible for inspecting it under the agreement, its
    /// latest inspection, and whether an inspection asked of it is overdue.
    async fn supply_chain(&self, ctx: &Context<'_>, lot_code: String) -> Result<SupplyChain> {
        let code = check("lotCode", LotCode::parse(&lot_code))?;
        let chain = heavy(async {
            Ok(super::answer::access(ctx)
                .supply_chain(code, TraceLimits::default())
                .await?)
        })
        .await?;
        let chain = super::answer::told(ctx, chain);
        Ok(SupplyChain {
            lot_code: code.to_string(),
            facilities: chain.links.into_iter().map(ChainFacility).collect(),
            unfollowed: chain.unfollowed.into_iter().map(Into::into).collect(),
            truncated: chain.truncated,
        })
    }

    /// A lot's trace, one step back and one step forward at a time, across
    /// provinces: each hop answered by the province that holds it, with one
    /// request per province at each level. Hops that cannot be followed are
    /// listed with their reason; the rest of the trace stands.
    async fn trace(
        &self,
        ctx: &Context<'_>,
        lot_code: String,
        #[graphql(desc = "`BOTH` by default.")] direction: Option<Direction>,
        #[graphql(desc = "Levels after the first, 0 to 32; 8 by default.")] max_hops: Option<i32>,
    ) -> Result<Trace> {
        let code = check("lotCode", LotCode::parse(&lot_code))?;
        let direction = direction.unwrap_or(Direction::Both);
        let max_hops = max_hops.unwrap_or(8);
        if !(0..=32).contains(&max_hops) {
            return Err(AppError::invalid("maxHops", "from 0 to 32").into());
        }
        let limits = TraceLimits {
            max_hops: max_hops as u32,
            ..TraceLimits::default()
        };
        let traced = heavy(async {
            Ok(super::answer::access(ctx)
                .trace(&[code], direction, limits)
                .await?)
        })
        .await?;
        Ok(Trace {
            lot_code: code.to_string(),
            direction,
            hops: traced.hops as i32,
            max_hops,
            max_lots: limits.max_lots as i32,
            truncated: traced.truncated,
            facility_ids: traced.facilities(),
            lots: traced.lots.into_iter().map(|l| wrap(ctx, l)).collect(),
            events: traced.events.into_iter().map(|e| wrap(ctx, e)).collect(),
            unfollowed: traced.unfollowed.into_iter().map(Into::into).collect(),
        })
    }
}

#[derive(Default)]
pub struct TraceMutation;

#[Object]
impl TraceMutation {
    /// Records a lot made or harvested by a facility of this province, and
    /// the event that commissions it.
    async fn create_lot(&self, ctx: &Context<'_>, input: CreateLotInput) -> Result<Lot> {
        let facility = GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
            .field("input.facilityId")?;
        let data = made_lot(
            "input",
            facility,
            MadeLotInput {
                product_id: input.product_id,
                quantity: input.quantity,
                unit: input.unit,
                produced_on: input.produced_on,
                batch: input.batch,
            },
        )?;
        let (lot, _) = store(ctx)
            .create_lot(data, Utc::now())
            .await
            .map_err(as_input)?;
        Ok(local(ctx, lot))
    }

    /// Records events at facilities of this province, all or none: a bad
    /// one is named by its place (`input.2.items.0.lotCode`) and nothing is
    /// stored.
    async fn record_trace_events(
        &self,
        ctx: &Context<'_>,
        input: Vec<TraceEventInput>,
    ) -> Result<Vec<TraceEvent>> {
        if input.is_empty() || input.len() > 100 {
            return Err(AppError::invalid("input", "from 1 to 100 events at once").into());
        }
        let events = input
            .into_iter()
            .enumerate()
            .map(|(i, event)| new_event(&format!("input.{i}"), event))
            .collect::<Result<Vec<_>, _>>()?;
        let recorded = store(ctx)
            .record_trace_events(events)
            .await
            .map_err(|e| named_under("input", e))?;
        Ok(recorded
            .into_iter()
            .map(|recorded| local(ctx, recorded.event))
            .collect())
    }

    /// Captures a facility's events from a GS1 EPCIS 2.0 JSON-LD document,
    /// all or none: object and transformation events, at a facility of this
    /// province (`readPoint` and `bizLocation`, when ours, must name it), the
    /// business step and disposition from the Core Business Vocabulary. A
    /// bad event is named by its place (`document.epcisBody.eventList.2.
    /// bizStep`) and nothing is stored.
    async fn capture_epcis(
        &self,
        ctx: &Context<'_>,
        facility_id: ID,
        document: async_graphql::Json<serde_json::Value>,
    ) -> Result<Vec<TraceEvent>> {
        let facility =
            GlobalId::parse_kind(&facility_id, RecordKind::Facility).field("facilityId")?;
        let captured = epcis::read_document(&document.0, facility)
            .map_err(|(place, reason)| AppError::invalid(format!("document.{place}"), reason))?;
        let events = captured
            .into_iter()
            .map(|c| NewEvent {
                data: c.data,
                made: Vec::new(),
                event_id: c.event_id,
            })
            .collect();
        let recorded = store(ctx)
            .record_trace_events(events)
            .await
            .map_err(|e| named_under("document.epcisBody.eventList", e))?;
        Ok(recorded
            .into_iter()
            .map(|recorded| local(ctx, recorded.event))
            .collect())
    }

    /// Declares an event of this province in error, with the events that
    /// correct it (none when it did not occur), in one transaction; the
    /// event is kept as it was, and left out of traces.
    async fn correct_trace_event(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        reason: ErrorReason,
        #[graphql(default)] corrections: Vec<TraceEventInput>,
    ) -> Result<TraceCorrection> {
        let id = GlobalId::parse_kind(&event_id, RecordKind::TraceEvent).field("eventId")?;
        if reason == ErrorReason::IncorrectData && corrections.is_empty() {
            return Err(AppError::invalid(
                "corrections",
                "incorrect data is corrected by the events that say it right",
            )
            .into());
        }
        let corrections = corrections
            .into_iter()
            .enumerate()
            .map(|(i, event)| new_event(&format!("corrections.{i}"), event))
            .collect::<Result<Vec<_>, _>>()?;
        let (declared, corrected) = store(ctx)
            .declare_trace_error(id, reason, corrections)
            .await
            .map_err(|e| named_under("corrections", e))?;
        Ok(TraceCorrection {
            declared: local(ctx, declared),
            corrections: corrected
                .into_iter()
                .map(|recorded| local(ctx, recorded.event))
                .collect(),
        })
    }
}

/// An event declared in error, and the events that correct it.
#[derive(SimpleObject)]
pub struct TraceCorrection {
    pub declared: TraceEvent,
    pub corrections: Vec<TraceEvent>,
}

/// A lot or an EPC URI, as a filter or an item names it.
fn epc_of(field: &str, value: &str) -> Result<Epc, AppError> {
    let value = value.trim();
    if value.contains(':') {
        check(field, Epc::parse(value))
    } else {
        check(field, LotCode::parse(value)).map(Epc::Lot)
    }
}

fn bounded(field: &str, count: usize) -> Result<(), AppError> {
    if count > crate::store::MAX_PAGE as usize {
        return Err(AppError::invalid(field, "at most 100 at once"));
    }
    Ok(())
}

/// A lot made at `facility`, its fields named under `at`.
fn made_lot(at: &str, facility: GlobalId, input: MadeLotInput) -> Result<LotData, AppError> {
    let product = GlobalId::parse_kind(&input.product_id, RecordKind::Product)
        .field(&format!("{at}.productId"))?;
    if input.produced_on.0 > crate::domain::today() {
        return Err(AppError::invalid(
            format!("{at}.producedOn"),
            "must not be in the future",
        ));
    }
    let batch = opt_check(&format!("{at}.batch"), input.batch.as_deref(), |b| {
        text::line(b, text::SHORT)
    })?;
    let data = LotData {
        product,
        facility,
        quantity: input.quantity,
        unit: input.unit,
        produced_on: input.produced_on.0,
        batch,
    };
    data.check().map_err(|e| super::refused_at(at, e))?;
    Ok(data)
}

/// An event to record, its fields named under `at`.
fn new_event(at: &str, input: TraceEventInput) -> Result<NewEvent, AppError> {
    let field = |name: &str| format!("{at}.{name}");
    let facility =
        |id: &ID, name: &str| GlobalId::parse_kind(id, RecordKind::Facility).field(&field(name));
    let here = facility(&input.facility_id, "facilityId")?;
    let items = |list: Vec<TraceItemInput>, role, name: &str| {
        list.into_iter()
            .enumerate()
            .map(|(i, item)| item_of(&field(&format!("{name}.{i}")), role, item))
            .collect::<Result<Vec<_>, AppError>>()
    };
    let transformation = !input.inputs.is_empty() || !input.makes.is_empty();
    let mut named = items(input.items, ItemRole::What, "items")?;
    named.extend(items(input.inputs, ItemRole::Input, "inputs")?);
    named.extend(items(input.outputs, ItemRole::Output, "outputs")?);
    let made = input
        .makes
        .into_iter()
        .enumerate()
        .map(|(i, lot)| made_lot(&field(&format!("makes.{i}")), here, lot))
        .collect::<Result<Vec<_>, _>>()?;
    // What EPCIS leaves open, a trace needs: where a shipment went and where
    // a receipt came from.
    match input.biz_step {
        BizStep::Shipping if input.destination_id.is_none() => {
            return Err(AppError::invalid(
                field("destinationId"),
                "a shipment names the facility it goes to",
            ));
        }
        BizStep::Receiving if input.source_id.is_none() => {
            return Err(AppError::invalid(
                field("sourceId"),
                "a receipt names the facility it came from",
            ));
        }
        _ => {}
    }
    let now = Utc::now();
    let event_time = input.event_time.unwrap_or(now);
    if event_time > now + chrono::Duration::minutes(5) {
        return Err(AppError::invalid(
            field("eventTime"),
            "must not be in the future",
        ));
    }
    let data = TraceEventData {
        event_type: if transformation {
            TraceEventType::Transformation
        } else {
            TraceEventType::Object
        },
        action: if transformation {
            None
        } else {
            Some(input.action.unwrap_or(EventAction::Observe))
        },
        biz_step: input.biz_step,
        disposition: input.disposition,
        event_time,
        time_zone_offset: "+07:00".to_owned(),
        facility: here,
        source: input
            .source_id
            .as_ref()
            .map(|id| facility(id, "sourceId"))
            .transpose()?,
        destination: input
            .destination_id
            .as_ref()
            .map(|id| facility(id, "destinationId"))
            .transpose()?,
        items: named,
    };
    // The store checks the event's rules once the lots it makes are its
    // outputs.
    Ok(NewEvent {
        data,
        made,
        event_id: None,
    })
}

/// An item of an event, named `field`.
fn item_of(field: &str, role: ItemRole, item: TraceItemInput) -> Result<Item, AppError> {
    let epc = match (item.lot_code.as_deref(), item.epc.as_deref()) {
        (Some(code), None) => {
            check(&format!("{field}.lotCode"), LotCode::parse(code)).map(Epc::Lot)?
        }
        (None, Some(uri)) => check(&format!("{field}.epc"), Epc::parse(uri))?,
        _ => {
            return Err(AppError::invalid(
                field,
                "names a lot by `lotCode` or an EPC by `epc`, one of the two",
            ));
        }
    };
    Ok(Item {
        role,
        epc,
        quantity: item.quantity,
        unit: item.unit,
    })
}

/// A store's refusal of a field of an event (`events.2.facility_id`) as
/// the caller named it under `root` (`input.2.facilityId`).
fn named_under(root: &str, error: AppError) -> AppError {
    match error {
        AppError::InvalidInput { field, message } if field.starts_with("events.") => {
            let field = super::api_name(&field["events.".len()..]);
            AppError::invalid(format!("{root}.{field}"), message)
        }
        other => other,
    }
}
