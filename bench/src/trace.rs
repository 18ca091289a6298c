//! Traceability: a lot's trace walked across the border hop by hop, timed
//! against the federated lookup each hop is made of; and a trace's latency
//! as the register of events grows.

use std::sync::Arc;

use anyhow::Context;
use caunoi::domain::{
    BizStep, Epc, EventAction, FacilityData, FacilityKind, GlobalId, Item, ItemRole, LotCode,
    LotData, ProductCategory, ProductData, QuantityUnit, TraceEventData, TraceEventType, today,
};
use caunoi::store::{NewEvent, Store};
use serde::Serialize;
use serde_json::{Value, json};

use crate::alerts::{ask, operator};
use crate::load::Scenario;
use crate::setup::Province;

/// Hops of the trace that crosses the border at each.
pub const HOPS: usize = 8;

/// What the trace scenarios measured.
#[derive(Debug, Clone, Serialize)]
pub struct Traced {
    pub hops: usize,
    /// The border-crossing trace at C = 1.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Events in the small and large registers, and a local trace's p50 on each.
    pub small: usize,
    pub large: usize,
    pub small_p50_ms: f64,
    pub large_p50_ms: f64,
}

const CREATE_FACILITY: &str =
    "mutation($i: CreateFacilityInput!) { createFacility(input: $i) { id } }";
const REGISTER: &str = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";
const CREATE_LOT: &str = "mutation($i: CreateLotInput!) { createLot(input: $i) { code } }";
const RECORD: &str = "mutation($i: [TraceEventInput!]!) { recordTraceEvents(input: $i) {
    items { role lotCode } } }";
const TRACE: &str = "query($c: String!) { trace(lotCode: $c, direction: BACKWARD, maxHops: 32) {
    events { id } unfollowed { reason } } }";

/// A facility of `province` supplying `partner`, and a product of it.
async fn producer(
    client: &reqwest::Client,
    province: &Province,
    partner: &Province,
) -> anyhow::Result<(Value, Value)> {
    let facility = ask(
        client,
        &province.url(),
        CREATE_FACILITY,
        json!({ "i": { "name": format!("Cơ sở chế biến chè {}", province.code), "kind": "PROCESSOR",
                       "commune": "Tân Cương", "suppliesTo": [partner.code.to_string()] } }),
    )
    .await?["createFacility"]["id"]
        .clone();
    let product = ask(
        client,
        &province.url(),
        REGISTER,
        json!({ "i": { "name": "Chè đóng gói", "category": "AGRICULTURAL", "facilityId": facility } }),
    )
    .await?["registerProduct"]["id"]
        .clone();
    Ok((facility, product))
}

/// A lot made in Thái Nguyên that crosses the border `hops` times: at each
/// hop it is shipped, received on the other side and made into a lot
/// there. The last lot's code.
pub async fn crossing_chain(tn: &Province, na: &Province, hops: usize) -> anyhow::Result<String> {
    let sides = [(operator(tn)?, tn, na), (operator(na)?, na, tn)];
    let mut made = Vec::new();
    for (client, province, partner) in &sides {
        made.push(producer(client, province, partner).await?);
    }
    let day = today().to_string();
    let (client, province, _) = &sides[0];
    let mut lot = ask(
        client,
        &province.url(),
        CREATE_LOT,
        json!({ "i": { "productId": made[0].1, "facilityId": made[0].0, "quantity": 1000.0,
                       "unit": "KILOGRAM", "producedOn": day } }),
    )
    .await?["createLot"]["code"]
        .as_str()
        .context("a lot code")?
        .to_owned();
    for hop in 0..hops {
        let (from, to) = (hop % 2, (hop + 1) % 2);
        let (client, province, _) = &sides[from];
        ask(
            client,
            &province.url(),
            RECORD,
            json!({ "i": [{ "bizStep": "SHIPPING", "facilityId": made[from].0,
                            "destinationId": made[to].0, "items": [{ "lotCode": lot }] }] }),
        )
        .await?;
        let (client, province, _) = &sides[to];
        let recorded = ask(
            client,
            &province.url(),
            RECORD,
            json!({ "i": [
                { "bizStep": "RECEIVING", "facilityId": made[to].0, "sourceId": made[from].0,
                  "items": [{ "lotCode": lot }] },
                { "bizStep": "COMMISSIONING", "facilityId": made[to].0, "inputs": [{ "lotCode": lot }],
                  "makes": [{ "productId": made[to].1, "quantity": 900.0, "unit": "KILOGRAM",
                              "producedOn": day }] },
            ] }),
        )
        .await?;
        lot = recorded["recordTraceEvents"][1]["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["role"] == "OUTPUT"))
            .and_then(|item| item["lotCode"].as_str())
            .context("the lot the hop made")?
            .to_owned();
    }
    Ok(lot)
}

/// The trace of `lot` back to its first lot, asked of `url`: `events`
/// events, none left unfollowed.
pub fn scenario(
    name: &'static str,
    url: String,
    clients: &Arc<Vec<reqwest::Client>>,
    lot: String,
    events: usize,
) -> Arc<Scenario> {
    Arc::new(Scenario {
        name,
        urls: vec![url],
        clients: clients.clone(),
        body: Box::new(move |_| json!({ "query": TRACE, "variables": { "c": lot } })),
        check: Box::new(move |_, answer| {
            let trace = &answer["data"]["trace"];
            let found = trace["events"].as_array().map_or(0, Vec::len);
            if found == events && trace["unfollowed"] == json!([]) {
                Ok(())
            } else {
                Err(format!("expected {events} events, got {answer}"))
            }
        }),
        share: 0.2,
    })
}

/// Seeds `store` with a chain of `hops` hops between two facilities of its
/// own, and `noise` events about other lots; the last lot's code.
pub async fn seed_register(store: &Store, hops: usize, noise: usize) -> anyhow::Result<String> {
    let fail = |e| anyhow::anyhow!("seeding the trace register: {e:?}");
    let province = store.province();
    let mut facilities: Vec<GlobalId> = Vec::new();
    let mut products: Vec<GlobalId> = Vec::new();
    for i in 0..2 {
        let facility = store
            .create_facility(FacilityData {
                name: format!("Cơ sở chè số {i}"),
                kind: FacilityKind::Processor,
                business_registration_number: None,
                commune: "Tân Cương".to_owned(),
                district: None,
                address_detail: None,
                contact_name: None,
                contact_phone: None,
                contact_id_number: None,
                supplies_to: vec![],
            })
            .await
            .map_err(fail)?;
        let product = store
            .register_product(ProductData {
                name: "Chè Tân Cương".to_owned(),
                category: ProductCategory::Agricultural,
                facility: facility.id,
                description: None,
                ocop: None,
                specialty: false,
                key_product: false,
            })
            .await
            .map_err(fail)?;
        facilities.push(facility.id);
        products.push(product.id);
    }
    let lot_data = |at: usize| LotData {
        product: products[at],
        facility: facilities[at],
        quantity: 1000.0,
        unit: QuantityUnit::Kilogram,
        produced_on: today(),
        batch: None,
    };
    let (mut lot, _) = store
        .create_lot(lot_data(0), chrono::Utc::now())
        .await
        .map_err(fail)?;
    let event = |biz_step, at: GlobalId, items: Vec<Item>| TraceEventData {
        event_type: TraceEventType::Object,
        action: Some(EventAction::Observe),
        biz_step,
        disposition: None,
        event_time: chrono::Utc::now(),
        time_zone_offset: "+07:00".to_owned(),
        facility: at,
        source: None,
        destination: None,
        items,
    };
    let what = |code: LotCode| Item {
        role: ItemRole::What,
        epc: Epc::Lot(code),
        quantity: None,
        unit: None,
    };
    for hop in 0..hops {
        let (from, to) = (hop % 2, (hop + 1) % 2);
        let shipped = TraceEventData {
            destination: Some(facilities[to]),
            ..event(BizStep::Shipping, facilities[from], vec![what(lot.code)])
        };
        let received = TraceEventData {
            source: Some(facilities[from]),
            ..event(BizStep::Receiving, facilities[to], vec![what(lot.code)])
        };
        let transformed = TraceEventData {
            event_type: TraceEventType::Transformation,
            action: None,
            items: vec![Item {
                role: ItemRole::Input,
                ..what(lot.code)
            }],
            ..event(BizStep::Commissioning, facilities[to], vec![])
        };
        let recorded = store
            .record_trace_events(vec![
                NewEvent {
                    data: shipped,
                    made: vec![],
                    event_id: None,
                },
                NewEvent {
                    data: received,
                    made: vec![],
                    event_id: None,
                },
                NewEvent {
                    data: transformed,
                    made: vec![lot_data(to)],
                    event_id: None,
                },
            ])
            .await
            .map_err(fail)?;
        lot = recorded[2].made[0].clone();
    }
    // Noise: storage observations of other lots, a batch per transaction.
    for start in (0..noise).step_by(500) {
        let batch = (start..noise.min(start + 500))
            .map(|n| NewEvent {
                data: event(
                    BizStep::Storing,
                    facilities[n % 2],
                    vec![what(LotCode::new(province, 2025, (n % 999_999) as u32 + 1))],
                ),
                made: vec![],
                event_id: None,
            })
            .collect();
        store.record_trace_events(batch).await.map_err(fail)?;
    }
    Ok(lot.code.to_string())
}
