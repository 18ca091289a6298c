//! Lots and the EPCIS events that make and move them. An event is written
//! once; a mistaken one gets an error declaration, in its own row, written
//! with the events that correct it.

use std::collections::HashMap;

use chrono::Utc;
use entity::{lot, product, trace_error, trace_event, trace_event_item};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder,
    sea_query::{Expr, ExprTrait, Query},
};

use super::stored;
use super::{Admits, Audience, Page, PageRequest, Store, facility::of_visible_facilities, page};
use crate::domain::{
    BizStep, Disposition, Epc, ErrorDeclaration, ErrorReason, EventAction, FacilityRecord,
    GlobalId, Item, ItemRole, LOT_URI, LotCode, LotData, LotRecord, ProvinceCode, QuantityUnit,
    RecordKind, TraceEventData, TraceEventRecord, TraceEventType,
};
use crate::error::AppError;

/// Which lots a list holds.
#[derive(Debug, Clone, Default)]
pub struct LotFilter {
    /// Lots with these codes (at most a page of them).
    pub codes: Vec<LotCode>,
    pub facility: Option<GlobalId>,
    pub product: Option<GlobalId>,
    pub audience: Audience,
}

impl Admits<LotRecord> for LotFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Lot
    }

    fn facility_of(&self, _: &LotRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &LotRecord, _: Option<&FacilityRecord>) -> bool {
        (self.codes.is_empty() || self.codes.contains(&r.code))
            && self.facility.is_none_or(|f| r.data.facility == f)
            && self.product.is_none_or(|p| r.data.product == p)
    }
}

/// Which events a list holds.
#[derive(Debug, Clone, Default)]
pub struct TraceEventFilter {
    /// Events that name any of these EPCs (at most a page of them).
    pub epcs: Vec<Epc>,
    pub facility: Option<GlobalId>,
    /// Events declared in error too (by default, only those that stand).
    pub declared_in_error: bool,
    pub audience: Audience,
}

impl Admits<TraceEventRecord> for TraceEventFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::TraceEvent
    }

    fn facility_of(&self, _: &TraceEventRecord) -> Option<GlobalId> {
        None
    }

    fn admits(&self, r: &TraceEventRecord, _: Option<&FacilityRecord>) -> bool {
        (self.epcs.is_empty() || r.data.items.iter().any(|i| self.epcs.contains(&i.epc)))
            && self.facility.is_none_or(|f| r.data.facility == f)
            && (self.declared_in_error || r.error.is_none())
    }
}

/// An event to record, and the lots a transformation makes (its outputs).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub data: TraceEventData,
    pub made: Vec<LotData>,
    /// The EPCIS `eventID` it came with; a new one otherwise.
    pub event_id: Option<String>,
}

/// An event recorded, and the lots it made.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event: TraceEventRecord,
    pub made: Vec<LotRecord>,
}

impl Store {
    /// Lots by row id, in no particular order, for batched lookups.
    pub async fn lots_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<LotRecord>, AppError> {
        lot::Entity::find()
            .filter(lot::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_lots(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.lot_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    pub async fn lots(
        &self,
        filter: &LotFilter,
        request: PageRequest,
    ) -> Result<Page<LotRecord>, AppError> {
        use lot::Column as L;
        let mut select = lot::Entity::find().filter(self.visible_lots(filter.audience));
        if !filter.codes.is_empty() {
            select = select.filter(L::Code.is_in(filter.codes.iter().map(ToString::to_string)));
        }
        if let Some(facility) = filter.facility {
            if facility.province != self.province {
                return Ok(Page::empty());
            }
            select = select.filter(L::FacilityId.eq(facility.local));
        }
        if let Some(product) = filter.product {
            if product.province != self.province {
                return Ok(Page::empty());
            }
            select = select.filter(L::ProductId.eq(product.local));
        }
        let rows = page(&self.db, select, L::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.lot_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// Events by row id, in no particular order, for batched lookups.
    pub async fn trace_events_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<TraceEventRecord>, AppError> {
        let rows = trace_event::Entity::find()
            .filter(trace_event::Column::Id.is_in(ids.iter().copied()))
            .filter(self.visible_events(audience))
            .all(&self.db)
            .await?;
        self.event_records(&self.db, rows).await
    }

    #[tracing::instrument(skip(self))]
    pub async fn trace_events(
        &self,
        filter: &TraceEventFilter,
        request: PageRequest,
    ) -> Result<Page<TraceEventRecord>, AppError> {
        use trace_event::Column as E;
        let mut select = trace_event::Entity::find().filter(self.visible_events(filter.audience));
        if !filter.epcs.is_empty() {
            select = select.filter(
                E::Id.in_subquery(
                    Query::select()
                        .column(trace_event_item::Column::EventId)
                        .from(trace_event_item::Entity)
                        .and_where(
                            trace_event_item::Column::Epc.is_in(filter.epcs.iter().map(Epc::uri)),
                        )
                        .to_owned(),
                ),
            );
        }
        if let Some(facility) = filter.facility {
            if facility.province != self.province {
                return Ok(Page::empty());
            }
            select = select.filter(E::FacilityId.eq(facility.local));
        }
        if !filter.declared_in_error {
            select = select.filter(
                E::Id.not_in_subquery(
                    Query::select()
                        .column(trace_error::Column::EventId)
                        .from(trace_error::Entity)
                        .to_owned(),
                ),
            );
        }
        let rows = page(&self.db, select, E::Id, request).await?;
        Ok(Page {
            items: self.event_records(&self.db, rows.items).await?,
            has_next: rows.has_next,
        })
    }

    /// Records a lot made or harvested by one of our facilities, and the
    /// event that commissions it, in one transaction.
    #[tracing::instrument(skip(self, data))]
    pub async fn create_lot(
        &self,
        data: LotData,
        at: chrono::DateTime<Utc>,
    ) -> Result<(LotRecord, TraceEventRecord), AppError> {
        let txn = self.write().await?;
        let lot = self.insert_lot(&txn, data).await?;
        let commissioning = TraceEventData {
            event_type: TraceEventType::Object,
            action: Some(EventAction::Add),
            biz_step: BizStep::Commissioning,
            disposition: Some(Disposition::Active),
            event_time: at,
            time_zone_offset: "+07:00".to_owned(),
            facility: lot.data.facility,
            source: None,
            destination: None,
            items: vec![Item {
                role: ItemRole::What,
                epc: Epc::Lot(lot.code),
                quantity: Some(lot.data.quantity),
                unit: Some(lot.data.unit),
            }],
        };
        let event = self.insert_event(&txn, commissioning, None).await?;
        txn.commit().await?;
        Ok((lot, event))
    }

    /// Records events of our facilities, all or none: each transformation's
    /// `made` lots are created and named as its outputs. A bad event is
    /// named by its place (`events.2`).
    #[tracing::instrument(skip(self, events), fields(count = events.len()))]
    pub async fn record_trace_events(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Recorded>, AppError> {
        let txn = self.write().await?;
        let recorded = self.insert_events(&txn, events).await?;
        txn.commit().await?;
        Ok(recorded)
    }

    /// Declares our event `id` in error, with the events that correct it,
    /// in one transaction; the event itself is kept as it was.
    #[tracing::instrument(skip(self, corrections))]
    pub async fn declare_trace_error(
        &self,
        id: GlobalId,
        reason: ErrorReason,
        corrections: Vec<NewEvent>,
    ) -> Result<(TraceEventRecord, Vec<Recorded>), AppError> {
        let local = self.owned(id, "eventId")?;
        let txn = self.write().await?;
        let row = trace_event::Entity::find_by_id(local)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::invalid("eventId", format!("no event has the ID {id}")))?;
        let declared = trace_error::Entity::find()
            .filter(trace_error::Column::EventId.eq(local))
            .one(&txn)
            .await?;
        if declared.is_some() {
            return Err(AppError::Conflict(format!(
                "{id} is already declared in error; correct its corrective events instead"
            )));
        }
        let corrected = self.insert_events(&txn, corrections).await?;
        let uris: Vec<&str> = corrected
            .iter()
            .map(|recorded| recorded.event.event_id.as_str())
            .collect();
        trace_error::ActiveModel {
            event_id: Set(local),
            declared_at: Set(Utc::now()),
            reason: Set(reason.code().to_owned()),
            corrective_event_uris: Set(serde_json::to_string(&uris).expect("strings serialise")),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let event = self
            .event_records(&txn, vec![row])
            .await?
            .pop()
            .expect("one row, one record");
        txn.commit().await?;
        Ok((event, corrected))
    }

    async fn insert_events(
        &self,
        txn: &DatabaseTransaction,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Recorded>, AppError> {
        let mut recorded = Vec::with_capacity(events.len());
        for (at, event) in events.into_iter().enumerate() {
            let NewEvent {
                mut data,
                made,
                event_id,
            } = event;
            let place = |e: AppError| within(&format!("events.{at}"), e);
            let mut lots = Vec::with_capacity(made.len());
            for (i, lot) in made.into_iter().enumerate() {
                let lot = self
                    .insert_lot(txn, lot)
                    .await
                    .map_err(|e| place(within(&format!("makes.{i}"), e)))?;
                data.items.push(Item {
                    role: ItemRole::Output,
                    epc: Epc::Lot(lot.code),
                    quantity: Some(lot.data.quantity),
                    unit: Some(lot.data.unit),
                });
                lots.push(lot);
            }
            let event = self
                .insert_event(txn, data, event_id)
                .await
                .map_err(place)?;
            recorded.push(Recorded { event, made: lots });
        }
        Ok(recorded)
    }

    async fn insert_lot(
        &self,
        txn: &DatabaseTransaction,
        data: LotData,
    ) -> Result<LotRecord, AppError> {
        data.check()
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let facility = self
            .existing_facility(txn, data.facility)
            .await
            .map_err(|e| renamed(e, "facility_id"))?;
        let product = self.owned(data.product, "product_id")?;
        if product::Entity::find_by_id(product)
            .one(txn)
            .await?
            .is_none()
        {
            return Err(AppError::invalid(
                "product_id",
                format!("no product has the ID {}", data.product),
            ));
        }
        use chrono::Datelike;
        let year = data.produced_on.year();
        let serial = super::next_serial(txn, "lot", year).await?;
        let code = LotCode::new(self.province, year, serial);
        let now = Utc::now();
        let row = lot::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            code: Set(code.to_string()),
            product_id: Set(product),
            facility_id: Set(facility),
            quantity: Set(data.quantity),
            unit: Set(data.unit.code().to_owned()),
            produced_on: Set(data.produced_on),
            batch: Set(data.batch),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        self.lot_record(row)
    }

    async fn insert_event(
        &self,
        txn: &DatabaseTransaction,
        data: TraceEventData,
        event_uri: Option<String>,
    ) -> Result<TraceEventRecord, AppError> {
        data.check(self.province)
            .map_err(|e| AppError::invalid(e.field, e.reason))?;
        let facility = self
            .existing_facility(txn, data.facility)
            .await
            .map_err(|e| renamed(e, "facility_id"))?;
        for (at, field) in [
            (data.source, "source_id"),
            (data.destination, "destination_id"),
        ] {
            if let Some(at) = at.filter(|f| f.province == self.province) {
                self.existing_facility(txn, at)
                    .await
                    .map_err(|e| renamed(e, field))?;
            }
        }
        if let Some(uri) = &event_uri {
            let known = trace_event::Entity::find()
                .filter(trace_event::Column::EventUri.eq(uri.as_str()))
                .one(txn)
                .await?;
            if known.is_some() {
                return Err(AppError::invalid(
                    "eventID",
                    format!("the event {uri} is recorded already"),
                ));
            }
        }
        let event_uri = event_uri.unwrap_or_else(new_event_uri);
        let row = trace_event::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            event_uri: Set(event_uri),
            event_type: Set(data.event_type.code().to_owned()),
            action: Set(data.action.map(|a| a.code().to_owned())),
            biz_step: Set(data.biz_step.code().to_owned()),
            disposition: Set(data.disposition.map(|d| d.code().to_owned())),
            event_time: Set(data.event_time),
            time_zone_offset: Set(data.time_zone_offset.clone()),
            facility_id: Set(facility),
            source_province: Set(data.source.map(|f| f.province.number())),
            source_id: Set(data.source.map(|f| f.local)),
            destination_province: Set(data.destination.map(|f| f.province.number())),
            destination_id: Set(data.destination.map(|f| f.local)),
            recorded_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        if !data.items.is_empty() {
            trace_event_item::Entity::insert_many(data.items.iter().map(|item| {
                trace_event_item::ActiveModel {
                    event_id: Set(row.id),
                    role: Set(item.role.code().to_owned()),
                    epc: Set(item.epc.uri()),
                    lot_province: Set(item.epc.lot().map(|lot| lot.province().number())),
                    quantity: Set(item.quantity),
                    unit: Set(item.unit.map(|u| u.code().to_owned())),
                    ..Default::default()
                }
            }))
            .exec(txn)
            .await?;
        }
        Ok(TraceEventRecord {
            id: self.id(RecordKind::TraceEvent, row.id),
            version: row.version,
            event_id: row.event_uri,
            data,
            error: None,
            recorded_at: row.recorded_at,
        })
    }

    /// The lots `audience` may see: a partner, those of our facilities that
    /// supply it, and those we shipped to it or received from it.
    fn visible_lots(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(partner) => Condition::any()
                .add(of_visible_facilities(lot::Column::FacilityId, audience))
                .add(Expr::exists(
                    Query::select()
                        .expr(Expr::val(1))
                        .from(trace_event_item::Entity)
                        .inner_join(
                            trace_event::Entity,
                            Expr::col((trace_event::Entity, trace_event::Column::Id)).equals((
                                trace_event_item::Entity,
                                trace_event_item::Column::EventId,
                            )),
                        )
                        .and_where(
                            Expr::col((trace_event_item::Entity, trace_event_item::Column::Epc))
                                // `||` concatenates on SQLite and PostgreSQL alike.
                                .eq(Expr::cust(format!("'{LOT_URI}' || \"lot\".\"code\""))),
                        )
                        .cond_where(counterpart_is(partner))
                        .to_owned(),
                )),
        }
    }

    /// The events `audience` may see: a partner, those at our facilities
    /// that supply it, those that ship to it or receive from it, and those
    /// that name its lots.
    fn visible_events(&self, audience: Audience) -> Condition {
        match audience {
            Audience::Internal => Condition::all(),
            Audience::Partner(partner) => Condition::any()
                .add(of_visible_facilities(
                    trace_event::Column::FacilityId,
                    audience,
                ))
                .add(counterpart_is(partner))
                .add(Expr::exists(
                    Query::select()
                        .expr(Expr::val(1))
                        .from(trace_event_item::Entity)
                        .and_where(
                            Expr::col((
                                trace_event_item::Entity,
                                trace_event_item::Column::EventId,
                            ))
                            .equals((trace_event::Entity, trace_event::Column::Id)),
                        )
                        .and_where(
                            Expr::col((
                                trace_event_item::Entity,
                                trace_event_item::Column::LotProvince,
                            ))
                            .eq(partner.number()),
                        )
                        .to_owned(),
                )),
        }
    }

    fn lot_record(&self, row: lot::Model) -> Result<LotRecord, AppError> {
        let what = "lot";
        Ok(LotRecord {
            id: self.id(RecordKind::Lot, row.id),
            version: row.version,
            code: stored(LotCode::parse(&row.code), what)?,
            data: LotData {
                product: self.id(RecordKind::Product, row.product_id),
                facility: self.id(RecordKind::Facility, row.facility_id),
                quantity: row.quantity,
                unit: stored(QuantityUnit::from_code(&row.unit), what)?,
                produced_on: row.produced_on,
                batch: row.batch,
            },
            created_at: row.created_at,
        })
    }

    /// Events of `rows`, with their items and any error declaration, in
    /// the order of the rows.
    async fn event_records(
        &self,
        db: &impl ConnectionTrait,
        rows: Vec<trace_event::Model>,
    ) -> Result<Vec<TraceEventRecord>, AppError> {
        let what = "trace event";
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut items: HashMap<i64, Vec<Item>> = HashMap::new();
        for item in trace_event_item::Entity::find()
            .filter(trace_event_item::Column::EventId.is_in(ids.iter().copied()))
            .order_by_asc(trace_event_item::Column::Id)
            .all(db)
            .await?
        {
            items.entry(item.event_id).or_default().push(Item {
                role: stored(ItemRole::from_code(&item.role), what)?,
                epc: stored(Epc::parse(&item.epc), what)?,
                quantity: item.quantity,
                unit: item
                    .unit
                    .map(|u| stored(QuantityUnit::from_code(&u), what))
                    .transpose()?,
            });
        }
        let mut errors: HashMap<i64, ErrorDeclaration> = HashMap::new();
        for error in trace_error::Entity::find()
            .filter(trace_error::Column::EventId.is_in(ids.iter().copied()))
            .all(db)
            .await?
        {
            let corrective_event_ids = serde_json::from_str(&error.corrective_event_uris)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored {what}: {e}")))?;
            errors.insert(
                error.event_id,
                ErrorDeclaration {
                    declared_at: error.declared_at,
                    reason: stored(ErrorReason::from_code(&error.reason), what)?,
                    corrective_event_ids,
                },
            );
        }
        let facility = |province: Option<i32>, id: Option<i64>| -> Result<_, AppError> {
            Ok(match (province, id) {
                (Some(province), Some(id)) => Some(GlobalId::new(
                    RecordKind::Facility,
                    stored(ProvinceCode::from_number(province.into()), what)?,
                    id,
                )),
                _ => None,
            })
        };
        rows.into_iter()
            .map(|row| {
                Ok(TraceEventRecord {
                    id: self.id(RecordKind::TraceEvent, row.id),
                    version: row.version,
                    data: TraceEventData {
                        event_type: stored(TraceEventType::from_code(&row.event_type), what)?,
                        action: row
                            .action
                            .map(|a| stored(EventAction::from_code(&a), what))
                            .transpose()?,
                        biz_step: stored(BizStep::from_code(&row.biz_step), what)?,
                        disposition: row
                            .disposition
                            .map(|d| stored(Disposition::from_code(&d), what))
                            .transpose()?,
                        event_time: row.event_time,
                        time_zone_offset: row.time_zone_offset,
                        facility: self.id(RecordKind::Facility, row.facility_id),
                        source: facility(row.source_province, row.source_id)?,
                        destination: facility(row.destination_province, row.destination_id)?,
                        items: items.remove(&row.id).unwrap_or_default(),
                    },
                    event_id: row.event_uri,
                    error: errors.remove(&row.id),
                    recorded_at: row.recorded_at,
                })
            })
            .collect()
    }
}

/// `error` under `at` (`events.2.facility_id`).
fn within(at: &str, error: AppError) -> AppError {
    match error {
        AppError::InvalidInput { field, message } => {
            AppError::invalid(format!("{at}.{field}"), message)
        }
        other => other,
    }
}

/// `error` of an input as the field `field`.
fn renamed(error: AppError, field: &str) -> AppError {
    match error {
        AppError::InvalidInput { message, .. } => AppError::invalid(field, message),
        other => other,
    }
}

/// Events whose source or destination is a facility of `province`.
fn counterpart_is(province: ProvinceCode) -> Condition {
    Condition::any()
        .add(
            Expr::col((trace_event::Entity, trace_event::Column::SourceProvince))
                .eq(province.number()),
        )
        .add(
            Expr::col((
                trace_event::Entity,
                trace_event::Column::DestinationProvince,
            ))
            .eq(province.number()),
        )
}

/// A new EPCIS `eventID`: a random (version 4) UUID URN.
fn new_event_uri() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source answers");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
