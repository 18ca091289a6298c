//! Traceability across the border: lots, EPCIS events, and a lot's trace
//! walked hop by hop, each hop answered by the province that holds it.

use serde_json::{Value, json};

use crate::helpers::{TestGateway, assert_invalid, bind, spawn_pair, spawn_pair_with};

const REGISTER: &str = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";
const CREATE_LOT: &str = "mutation($i: CreateLotInput!) { createLot(input: $i) { id code } }";
const RECORD: &str = "mutation($i: [TraceEventInput!]!) { recordTraceEvents(input: $i) {
    id eventId bizStep items { role lotCode } } }";
const TRACE: &str = "query($code: String!, $d: TraceDirection, $hops: Int) {
    trace(lotCode: $code, direction: $d, maxHops: $hops) {
      hops truncated
      lots { code province { code } product { name } }
      events { id province { code } bizStep eventType provenance { source }
               facility { name } items { role lotCode } }
      unfollowed { province { code } lotCode reason code } } }";

/// Chè Tân Cương from a Thái Nguyên garden, processed and packed there,
/// shipped to a Nghệ An shop and sold there.
pub(crate) struct TeaChain {
    pub fresh: String,
    pub packed: String,
    pub garden: Value,
    pub factory: Value,
    pub shop: Value,
}

async fn product(gw: &TestGateway, name: &str, facility: &Value) -> Value {
    gw.data(
        REGISTER,
        json!({ "i": { "name": name, "category": "AGRICULTURAL", "facilityId": facility["id"] } }),
    )
    .await["registerProduct"]
        .clone()
}

async fn record(gw: &TestGateway, events: Value) -> Vec<Value> {
    gw.data(RECORD, json!({ "i": events })).await["recordTraceEvents"]
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) async fn tea_chain(thai_nguyen: &TestGateway, nghe_an: &TestGateway) -> TeaChain {
    let garden = thai_nguyen
        .create_facility(
            "Hợp tác xã chè Tân Cương",
            json!({ "kind": "PRIMARY_PRODUCER" }),
        )
        .await;
    let factory = thai_nguyen
        .create_facility(
            "Cơ sở chế biến chè Tân Cương",
            json!({ "kind": "PROCESSOR" }),
        )
        .await;
    let shop = nghe_an
        .create_facility(
            "Cửa hàng đặc sản Vinh",
            json!({ "kind": "TRADER", "commune": "Hưng Dũng", "district": "Thành phố Vinh",
                    "suppliesTo": [] }),
        )
        .await;
    let leaves = product(thai_nguyen, "Chè búp tươi Tân Cương", &garden).await;
    let tea = product(thai_nguyen, "Chè Tân Cương đóng gói", &factory).await;
    let fresh = thai_nguyen
        .data(
            CREATE_LOT,
            json!({ "i": { "productId": leaves["id"], "facilityId": garden["id"],
                           "quantity": 500.0, "unit": "KILOGRAM", "producedOn": crate::helpers::day(-3),
                           "batch": "TC-2026-11" } }),
        )
        .await["createLot"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    record(
        thai_nguyen,
        json!([
            { "bizStep": "SHIPPING", "facilityId": garden["id"], "destinationId": factory["id"],
              "disposition": "IN_TRANSIT", "items": [{ "lotCode": fresh, "quantity": 500.0, "unit": "KILOGRAM" }] },
            { "bizStep": "RECEIVING", "facilityId": factory["id"], "sourceId": garden["id"],
              "disposition": "IN_PROGRESS", "items": [{ "lotCode": fresh }] },
        ]),
    )
    .await;
    let made = record(
        thai_nguyen,
        json!([{ "bizStep": "COMMISSIONING", "facilityId": factory["id"],
                 "inputs": [{ "lotCode": fresh, "quantity": 500.0, "unit": "KILOGRAM" }],
                 "makes": [{ "productId": tea["id"], "quantity": 100.0, "unit": "KILOGRAM",
                             "producedOn": crate::helpers::day(-2) }] }]),
    )
    .await;
    let packed = made[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "OUTPUT")
        .expect("the packed lot")["lotCode"]
        .as_str()
        .unwrap()
        .to_owned();
    record(
        thai_nguyen,
        json!([{ "bizStep": "SHIPPING", "facilityId": factory["id"], "destinationId": shop["id"],
                 "disposition": "IN_TRANSIT", "items": [{ "lotCode": packed, "quantity": 100.0, "unit": "KILOGRAM" }] }]),
    )
    .await;
    record(
        nghe_an,
        json!([
            { "bizStep": "RECEIVING", "facilityId": shop["id"], "sourceId": factory["id"],
              "disposition": "SELLABLE_ACCESSIBLE", "items": [{ "lotCode": packed }] },
            { "bizStep": "RETAIL_SELLING", "facilityId": shop["id"],
              "disposition": "RETAIL_SOLD", "items": [{ "lotCode": packed, "quantity": 2.0, "unit": "KILOGRAM" }] },
        ]),
    )
    .await;
    TeaChain {
        fresh,
        packed,
        garden,
        factory,
        shop,
    }
}

async fn trace(gw: &TestGateway, code: &str, direction: &str) -> Value {
    gw.data(TRACE, json!({ "code": code, "d": direction }))
        .await["trace"]
        .clone()
}

/// Each event's business step and owner, sorted.
fn steps(trace: &Value) -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["bizStep"].as_str().unwrap().to_owned(),
                e["province"]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    steps.sort();
    steps
}

fn whole_chain() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = [
        ("COMMISSIONING", "19"),
        ("SHIPPING", "19"),
        ("RECEIVING", "19"),
        ("COMMISSIONING", "19"),
        ("SHIPPING", "19"),
        ("RECEIVING", "40"),
        ("RETAIL_SELLING", "40"),
    ]
    .iter()
    .map(|(s, p)| ((*s).to_owned(), (*p).to_owned()))
    .collect();
    all.sort();
    all
}

#[tokio::test]
async fn a_lot_traces_across_the_border_from_either_end_and_either_gateway() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    assert!(chain.fresh.starts_with("19-LO-"), "{}", chain.fresh);
    let made_here: Vec<_> = whole_chain()
        .into_iter()
        .filter(|(_, province)| province == "19")
        .collect();
    for (gw, holds) in [(&thai_nguyen, made_here), (&nghe_an, whole_chain())] {
        // Back from the tea to the garden: Nghệ An's shop starts from its
        // own receipt and sale, Thái Nguyên from its factory.
        let back = trace(gw, &chain.packed, "BACKWARD").await;
        assert_eq!(steps(&back), holds, "asked of {}: {back:#}", gw.province);
        assert_eq!(back["unfollowed"], json!([]), "{back:#}");
        let lots: Vec<&str> = back["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap())
            .collect();
        assert_eq!(lots, [chain.fresh.as_str(), chain.packed.as_str()]);
        assert_eq!(back["lots"][1]["product"]["name"], "Chè Tân Cương đóng gói");
        // Forward from the garden's harvest to the shop's sale.
        let forward = trace(gw, &chain.fresh, "FORWARD").await;
        assert_eq!(
            steps(&forward),
            whole_chain(),
            "asked of {}: {forward:#}",
            gw.province
        );
        assert!(forward["hops"].as_i64().unwrap() >= 2, "{forward:#}");
        // Each event is answered by its owner.
        for event in forward["events"].as_array().unwrap() {
            assert_eq!(event["provenance"]["source"], "OWNER");
        }
    }
    // One step back only, from the shop: the tea came from the factory.
    let one = thai_nguyen
        .data(
            TRACE,
            json!({ "code": chain.packed, "d": "BACKWARD", "hops": 0 }),
        )
        .await["trace"]
        .clone();
    let unfollowed = one["unfollowed"].as_array().unwrap();
    assert!(
        unfollowed
            .iter()
            .any(|u| u["reason"] == "BEYOND_MAX_HOPS" && u["lotCode"] == chain.fresh.as_str()),
        "{one:#}"
    );
    assert!(steps(&one).len() < whole_chain().len());
    let _ = (&chain.garden, &chain.factory, &chain.shop);
}

#[tokio::test]
async fn with_the_partner_down_the_trace_stops_at_the_border_and_says_why() {
    // Thái Nguyên's address for Nghệ An has nobody listening.
    let dead = bind();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let (thai_nguyen, nghe_an) = spawn_pair_with(
        |config| {
            config.partners[0].endpoint = Some(format!("https://127.0.0.1:{dead_port}/graphql"));
        },
        |_| {},
    )
    .await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    let forward = trace(&thai_nguyen, &chain.fresh, "FORWARD").await;
    // Everything Thái Nguyên holds stands.
    let ours: Vec<_> = whole_chain()
        .into_iter()
        .filter(|(_, province)| province == "19")
        .collect();
    assert_eq!(steps(&forward), ours, "{forward:#}");
    let unfollowed = forward["unfollowed"].as_array().unwrap();
    assert_eq!(unfollowed.len(), 1, "{forward:#}");
    assert_eq!(unfollowed[0]["province"]["code"], "40");
    assert_eq!(unfollowed[0]["lotCode"], chain.packed.as_str());
    assert_eq!(unfollowed[0]["reason"], "PARTNER_UNAVAILABLE");
    assert_eq!(unfollowed[0]["code"], "PARTNER_UNAVAILABLE");
}

#[tokio::test]
async fn a_correction_replaces_what_it_corrects_and_the_mistake_is_kept() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    // The factory recorded a second shipment to the shop by mistake: it
    // went to another shop.
    let other_shop = nghe_an
        .create_facility(
            "Siêu thị Vinh Centre",
            json!({ "kind": "TRADER", "suppliesTo": [] }),
        )
        .await;
    let wrong = record(
        &thai_nguyen,
        json!([{ "bizStep": "SHIPPING", "facilityId": chain.factory["id"],
                 "destinationId": chain.shop["id"], "items": [{ "lotCode": chain.packed }] }]),
    )
    .await[0]
        .clone();
    let correct = "mutation($id: ID!, $c: [TraceEventInput!]!) {
        correctTraceEvent(eventId: $id, reason: INCORRECT_DATA, corrections: $c) {
          declared { id errorDeclaration { reason correctiveEventIds } }
          corrections { id eventId destinationId } } }";
    let corrected = thai_nguyen
        .data(
            correct,
            json!({ "id": wrong["id"], "c": [{ "bizStep": "SHIPPING",
                "facilityId": chain.factory["id"], "destinationId": other_shop["id"],
                "items": [{ "lotCode": chain.packed }] }] }),
        )
        .await["correctTraceEvent"]
        .clone();
    let declared = &corrected["declared"]["errorDeclaration"];
    assert_eq!(declared["reason"], "INCORRECT_DATA");
    assert_eq!(
        declared["correctiveEventIds"],
        json!([corrected["corrections"][0]["eventId"]])
    );
    // The trace holds the correction, not the mistake.
    let forward = trace(&thai_nguyen, &chain.packed, "FORWARD").await;
    let ids: Vec<&Value> = forward["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert!(!ids.contains(&&wrong["id"]), "{forward:#}");
    assert!(
        ids.contains(&&corrected["corrections"][0]["id"]),
        "{forward:#}"
    );
    // The mistake is kept, declared, for whoever asks for it.
    let kept = thai_nguyen
        .data(
            "query($e: [String!]) { traceEvents(filter: { epcs: $e, declaredInError: true }, first: 100) {
               edges { node { id errorDeclaration { reason } } } } }",
            json!({ "e": [chain.packed] }),
        )
        .await;
    let declared: Vec<&Value> = kept["traceEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["node"]["errorDeclaration"].is_null())
        .map(|e| &e["node"]["id"])
        .collect();
    assert_eq!(declared, [&wrong["id"]]);
    // An event is declared once.
    let again = thai_nguyen
        .post(correct, json!({ "id": wrong["id"], "c": [] }))
        .await;
    assert!(again.get("errors").is_some(), "{again:#}");
}

#[tokio::test]
async fn a_cycle_ends_and_each_event_is_told_once() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    // The shop sends the tea back to the factory, which receives it: the
    // lot goes round, 19 → 40 → 19.
    record(
        &nghe_an,
        json!([{ "bizStep": "SHIPPING", "facilityId": chain.shop["id"],
                 "destinationId": chain.factory["id"], "items": [{ "lotCode": chain.packed }] }]),
    )
    .await;
    record(
        &thai_nguyen,
        json!([{ "bizStep": "RECEIVING", "facilityId": chain.factory["id"],
                 "sourceId": chain.shop["id"], "items": [{ "lotCode": chain.packed }] }]),
    )
    .await;
    let both = trace(&thai_nguyen, &chain.packed, "BOTH").await;
    let events = both["events"].as_array().unwrap();
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "an event told twice: {both:#}");
    assert_eq!(count, whole_chain().len() + 2, "{:?}", steps(&both));
    assert_eq!(both["truncated"], false);
}

#[tokio::test]
async fn a_partner_sees_only_the_hops_shared_with_it() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    // A household garden that sells only in Thái Nguyên.
    let private = thai_nguyen
        .create_facility(
            "Vườn chè hộ gia đình",
            json!({ "kind": "PRIMARY_PRODUCER", "suppliesTo": [] }),
        )
        .await;
    let leaves = product(&thai_nguyen, "Chè búp tươi", &private).await;
    let own = thai_nguyen
        .data(
            CREATE_LOT,
            json!({ "i": { "productId": leaves["id"], "facilityId": private["id"],
                           "quantity": 40.0, "unit": "KILOGRAM", "producedOn": crate::helpers::day(0) } }),
        )
        .await["createLot"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = "query($e: [String!], $s: Scope) { traceEvents(filter: { epcs: $e }, scope: $s, first: 100) {
        edges { node { id } } } }";
    let count = |data: Value| data["traceEvents"]["edges"].as_array().unwrap().len();
    assert_eq!(
        count(
            thai_nguyen
                .data(list, json!({ "e": [own], "s": "LOCAL" }))
                .await
        ),
        1
    );
    assert_eq!(
        count(
            nghe_an
                .data(list, json!({ "e": [own], "s": "PARTNERS" }))
                .await
        ),
        0,
        "a lot of a garden that supplies no one in Nghệ An"
    );
    let there = trace(&nghe_an, &own, "BOTH").await;
    assert_eq!(there["events"], json!([]));
    assert_eq!(there["lots"], json!([]));
    assert_eq!(there["unfollowed"][0]["reason"], "NOT_SHARED", "{there:#}");
    // What was shipped to Nghệ An it sees, from the garden on.
    assert_eq!(
        steps(&trace(&nghe_an, &chain.packed, "BACKWARD").await),
        whole_chain()
    );
}

#[tokio::test]
async fn a_bad_event_stores_nothing_and_is_named() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    let before = thai_nguyen
        .data(
            "{ traceEvents(first: 100) { edges { node { id } } } lots(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let good = json!({ "bizStep": "STORING", "facilityId": chain.factory["id"],
                       "items": [{ "lotCode": chain.packed }] });
    let cases = [
        (
            json!({ "bizStep": "SHIPPING", "facilityId": chain.factory["id"],
                    "items": [{ "lotCode": chain.packed }] }),
            "input.1.destinationId",
        ),
        (
            json!({ "bizStep": "STORING", "facilityId": chain.factory["id"],
                    "items": [{ "lotCode": "19-LOT-1" }] }),
            "input.1.items.0.lotCode",
        ),
        (
            json!({ "bizStep": "STORING", "facilityId": chain.shop["id"],
                    "items": [{ "lotCode": chain.packed }] }),
            "input.1.facilityId",
        ),
        (
            json!({ "bizStep": "STORING", "facilityId": chain.factory["id"], "items": [] }),
            "input.1.items",
        ),
        (
            json!({ "bizStep": "COMMISSIONING", "facilityId": chain.factory["id"],
                    "inputs": [{ "lotCode": chain.fresh }],
                    "makes": [{ "productId": "Product:19:999", "quantity": 1.0, "unit": "KILOGRAM",
                                "producedOn": crate::helpers::day(0) }] }),
            "input.1.makes.0.productId",
        ),
        (
            json!({ "bizStep": "STORING", "facilityId": chain.factory["id"],
                    "items": [{ "lotCode": chain.packed, "quantity": -1.0, "unit": "KILOGRAM" }] }),
            "input.1.quantity",
        ),
    ];
    for (bad, field) in cases {
        let answer = thai_nguyen
            .post(RECORD, json!({ "i": [good.clone(), bad] }))
            .await;
        assert_invalid(&answer, field);
    }
    let after = thai_nguyen
        .data(
            "{ traceEvents(first: 100) { edges { node { id } } } lots(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(before, after, "a refused batch stores nothing");
    // Only operators write, and only their own province's events.
    let dashboard = thai_nguyen.client_as(caunoi::domain::Role::Dashboard);
    let (_, refused) = thai_nguyen
        .post_with(&dashboard, RECORD, json!({ "i": [good] }))
        .await;
    assert_eq!(crate::helpers::first_error(&refused)["code"], "FORBIDDEN");
}

/// GS1's EPCIS 2.0 JSON schema, compiled once per test.
fn gs1_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let url = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json";
    let schema: Value = serde_json::from_str(include_str!("epcis/EPCIS-JSON-Schema.json")).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource(url, schema).unwrap();
    let index = compiler.compile(url, &mut schemas).unwrap();
    (schemas, index)
}

const GS1_OBJECT_EVENTS: &str = include_str!("epcis/Example_9.6.1-ObjectEvent.jsonld");
const GS1_TRANSFORMATION: &str = include_str!("epcis/Example_9.6.4-TransformationEvent.jsonld");
const CAPTURE: &str = "mutation($f: ID!, $d: JSON!) { captureEpcis(facilityId: $f, document: $d) {
    id eventId eventType bizStep disposition items { role epc quantity unit } } }";

#[tokio::test]
async fn a_trace_exports_as_epcis_that_gs1s_schema_accepts_and_as_csv() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    let (schemas, index) = gs1_schema();
    // The schema is GS1's own: its examples pass, and a broken one fails.
    for example in [GS1_OBJECT_EVENTS, GS1_TRANSFORMATION] {
        let document: Value = serde_json::from_str(example).unwrap();
        schemas.validate(&document, index).unwrap();
    }
    let mut broken: Value = serde_json::from_str(GS1_OBJECT_EVENTS).unwrap();
    broken["epcisBody"]["eventList"][0]["action"] = json!("MAYBE");
    assert!(schemas.validate(&broken, index).is_err());

    let exported = nghe_an
        .data(
            "query($c: String!) { trace(lotCode: $c, direction: BACKWARD) { epcis csv } }",
            json!({ "c": chain.packed }),
        )
        .await["trace"]
        .clone();
    let document = &exported["epcis"];
    if let Err(error) = schemas.validate(document, index) {
        panic!("{error:#}\n{document:#}");
    }
    let events = document["epcisBody"]["eventList"].as_array().unwrap();
    assert_eq!(events.len(), whole_chain().len());
    let across = events.iter().filter(|e| {
        e["bizStep"] == "shipping"
            && e["destinationList"][0]["destination"]
                .as_str()
                .is_some_and(|to| to.starts_with("urn:caunoi:facility:40:"))
    });
    assert_eq!(across.count(), 1, "the shipment across the border");
    let transformed = events
        .iter()
        .find(|e| e["type"] == "TransformationEvent")
        .expect("the packing");
    assert_eq!(
        transformed["outputQuantityList"][0]["epcClass"],
        format!("urn:caunoi:lot:{}", chain.packed)
    );
    assert_eq!(transformed["outputQuantityList"][0]["uom"], "KGM");

    // One CSV row per event under its header, oldest first.
    let csv = exported["csv"].as_str().unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("event_time,province,facility_id,biz_step"));
    assert_eq!(rows.len(), whole_chain().len() + 1, "{csv}");
    let times: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "{csv}");
    assert!(
        rows.iter()
            .any(|r| r.contains("retail_selling") && r.contains(",40,"))
    );
}

#[tokio::test]
async fn gs1s_example_documents_capture_and_a_bad_event_stores_nothing() {
    let (thai_nguyen, _nghe_an) = spawn_pair().await;
    let warehouse = thai_nguyen
        .create_facility("Kho lạnh Sông Công", json!({ "kind": "TRADER" }))
        .await;
    for (example, count) in [(GS1_OBJECT_EVENTS, 2), (GS1_TRANSFORMATION, 1)] {
        let document: Value = serde_json::from_str(example).unwrap();
        let captured = thai_nguyen
            .data(CAPTURE, json!({ "f": warehouse["id"], "d": document }))
            .await["captureEpcis"]
            .clone();
        let captured = captured.as_array().unwrap();
        assert_eq!(captured.len(), count);
        for (event, sent) in captured
            .iter()
            .zip(document["epcisBody"]["eventList"].as_array().unwrap())
        {
            assert_eq!(event["eventId"], sent["eventID"]);
        }
    }
    // GS1's GTINs are followed like our lots.
    let found = thai_nguyen
        .data(
            "{ traceEvents(filter: { epcs: [\"urn:epc:id:sgtin:0614141.107346.2018\"] }) {
                 edges { node { bizStep items { epc } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(found["traceEvents"]["edges"].as_array().unwrap().len(), 2);
    let transformed = thai_nguyen
        .data(
            "{ traceEvents(filter: { epcs: [\"urn:epc:class:lgtin:4012345.011111.4444\"] }) {
                 edges { node { eventType items { role epc quantity unit } } } } }",
            json!({}),
        )
        .await;
    let node = &transformed["traceEvents"]["edges"][0]["node"];
    assert_eq!(node["eventType"], "TRANSFORMATION");
    assert!(
        node["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["quantity"] == 10.0 && i["unit"] == "KILOGRAM")
    );

    // The same document again: its events are known, and nothing is stored.
    let before = thai_nguyen
        .data(
            "{ traceEvents(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let again: Value = serde_json::from_str(GS1_OBJECT_EVENTS).unwrap();
    let answer = thai_nguyen
        .post(CAPTURE, json!({ "f": warehouse["id"], "d": again }))
        .await;
    assert_invalid(&answer, "document.epcisBody.eventList.0.eventID");
    // One bad event among good ones: named, and nothing stored.
    let mut bad: Value = serde_json::from_str(GS1_TRANSFORMATION).unwrap();
    let mut events = vec![bad["epcisBody"]["eventList"][0].clone(); 3];
    events[0]["eventID"] = json!("urn:uuid:0b1d8a0e-8c9e-4d5f-9a0b-1c2d3e4f5a6b");
    events[1]["eventID"] = json!("urn:uuid:1b1d8a0e-8c9e-4d5f-9a0b-1c2d3e4f5a6b");
    events[2]["eventID"] = json!("urn:uuid:2b1d8a0e-8c9e-4d5f-9a0b-1c2d3e4f5a6b");
    events[2]["inputQuantityList"][0]["uom"] = json!("LBR");
    bad["epcisBody"]["eventList"] = json!(events);
    let answer = thai_nguyen
        .post(CAPTURE, json!({ "f": warehouse["id"], "d": bad }))
        .await;
    assert_invalid(
        &answer,
        "document.epcisBody.eventList.2.inputQuantityList.0.uom",
    );
    let after = thai_nguyen
        .data(
            "{ traceEvents(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(before, after);
}

const INSPECT: &str = "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id } }";
const SUPPLY_CHAIN: &str = "query($c: String!) { supplyChain(lotCode: $c) {
    facilities { facilityId facility { name } stage responsible { code }
                 latestInspection { id province { code } inspectedOn }
                 overdue overdueRequests { requestId assignee { code } } }
    unfollowed { reason } } }";

/// Records a passed inspection of `facility`'s `stage`, `days` from today.
async fn inspect(gw: &TestGateway, facility: &Value, stage: &str, days: i64) -> Value {
    let input = json!({ "i": { "facilityId": facility["id"], "stage": stage,
        "inspectedOn": crate::helpers::day(days), "result": "PASS" } });
    gw.data(INSPECT, input).await["recordInspection"]["id"].clone()
}

/// Each link of a supply chain as (facility name, stage, responsible
/// province, latest inspection's ID, overdue).
fn links(chain: &Value) -> Vec<(String, String, String, Value, bool)> {
    chain["supplyChain"]["facilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["facility"]["name"].as_str().unwrap_or("?").to_owned(),
                f["stage"].as_str().unwrap_or("?").to_owned(),
                f["responsible"]["code"].as_str().unwrap().to_owned(),
                f["latestInspection"]["id"].clone(),
                f["overdue"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_supply_chain_names_who_inspects_each_stage_and_a_recall_where_to_act() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    // Thái Nguyên inspects its garden twice; Nghệ An the shop's trading.
    inspect(&thai_nguyen, &chain.garden, "PRIMARY_PRODUCTION", -90).await;
    let garden_latest = inspect(&thai_nguyen, &chain.garden, "PRIMARY_PRODUCTION", -5).await;
    let shop_latest = inspect(&nghe_an, &chain.shop, "TRADING", -1).await;
    // Nghệ An alerts on the packed lot; the factory's processing is asked
    // of Thái Nguyên, and the request runs late.
    let mut input = crate::alerts::residue(&[], &[&chain.factory]);
    input["lots"] = json!([chain.packed]);
    let alert = crate::alerts::raise(&nghe_an, input).await;
    let alert = crate::alerts::change(&nghe_an, &alert, "NOTIFIED", None).await;
    {
        use sea_orm::{ConnectionTrait, Database, sea_query::Alias, sea_query::Query};
        let db = Database::connect(&nghe_an.database_url).await.unwrap();
        let late = Query::update()
            .table(Alias::new("inspection_request"))
            .value(
                Alias::new("due_on"),
                caunoi::domain::today().pred_opt().unwrap(),
            )
            .to_owned();
        db.execute(&late).await.unwrap();
    }
    // Thái Nguyên may not read the Nghệ An shop, which supplies no one in
    // Thái Nguyên: its stage is unknown there, its province still named.
    let hidden = (
        "?".to_owned(),
        "?".to_owned(),
        "40".to_owned(),
        Value::Null,
        false,
    );
    let shown = (
        "Cửa hàng đặc sản Vinh".to_owned(),
        "TRADING".to_owned(),
        "40".to_owned(),
        shop_latest.clone(),
        false,
    );
    for (gw, shop) in [(&thai_nguyen, hidden), (&nghe_an, shown)] {
        let answer = gw.data(SUPPLY_CHAIN, json!({ "c": chain.packed })).await;
        assert_eq!(
            links(&answer),
            [
                (
                    "Hợp tác xã chè Tân Cương".to_owned(),
                    "PRIMARY_PRODUCTION".to_owned(),
                    "19".to_owned(),
                    garden_latest.clone(),
                    false
                ),
                (
                    "Cơ sở chế biến chè Tân Cương".to_owned(),
                    "PROCESSING".to_owned(),
                    "19".to_owned(),
                    Value::Null,
                    true
                ),
                shop,
            ],
            "asked of {}: {answer:#}",
            gw.province
        );
    }
    // A trace names the same supervision for the facilities it passes.
    let traced = nghe_an
        .data(
            "query($c: String!) { trace(lotCode: $c, direction: BACKWARD) {
               facilities { facility { name } stage responsible { code }
                            latestInspection { id } overdue } } }",
            json!({ "c": chain.packed }),
        )
        .await;
    let from_trace = links(&json!({ "supplyChain": traced["trace"] }));
    let from_chain = links(
        &nghe_an
            .data(SUPPLY_CHAIN, json!({ "c": chain.packed }))
            .await,
    );
    assert_eq!(from_trace, from_chain);
    // The recall reaches the shop that received the lot, Nghệ An's to act on.
    let scope = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { recallScope {
                lots facilities { facilityId responsible { code } receivedLots } unfollowed { reason } } } } }",
            json!({ "id": alert["id"] }),
        )
        .await["node"]["recallScope"]
        .clone();
    assert_eq!(scope["lots"], json!([chain.packed]));
    assert_eq!(
        scope["facilities"],
        json!([{ "facilityId": chain.shop["id"], "responsible": { "code": "40" },
                 "receivedLots": [chain.packed] }]),
        "{scope:#}"
    );
    assert_eq!(scope["unfollowed"], json!([]));
}

/// How many requests `gw`'s audit log holds from province `by`.
async fn asked(gw: &TestGateway, by: &str) -> usize {
    gw.data(
        "query($p: String!) { auditLog(filter: { callerProvince: $p }, first: 100) { edges { node { sequence } } } }",
        json!({ "p": by }),
    )
    .await["auditLog"]["edges"]
    .as_array()
    .unwrap()
    .len()
}

#[tokio::test]
async fn each_level_of_the_walk_asks_a_partner_once_however_many_events_it_holds() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let garden = thai_nguyen
        .create_facility(
            "Hợp tác xã chè La Bằng",
            json!({ "kind": "PRIMARY_PRODUCER" }),
        )
        .await;
    let tea = product(&thai_nguyen, "Chè La Bằng", &garden).await;
    let lot = thai_nguyen
        .data(
            CREATE_LOT,
            json!({ "i": { "productId": tea["id"], "facilityId": garden["id"],
                           "quantity": 300.0, "unit": "KILOGRAM", "producedOn": crate::helpers::day(-1) } }),
        )
        .await["createLot"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Three Nghệ An shops each receive the lot and sell from it.
    for name in [
        "Cửa hàng chè Cửa Lò",
        "Cửa hàng chè Diễn Châu",
        "Cửa hàng chè Đô Lương",
    ] {
        let shop = nghe_an
            .create_facility(name, json!({ "kind": "TRADER", "suppliesTo": [] }))
            .await;
        record(
            &thai_nguyen,
            json!([{ "bizStep": "SHIPPING", "facilityId": garden["id"], "destinationId": shop["id"],
                     "items": [{ "lotCode": lot, "quantity": 100.0, "unit": "KILOGRAM" }] }]),
        )
        .await;
        record(
            &nghe_an,
            json!([
                { "bizStep": "RECEIVING", "facilityId": shop["id"], "sourceId": garden["id"],
                  "items": [{ "lotCode": lot }] },
                { "bizStep": "RETAIL_SELLING", "facilityId": shop["id"], "items": [{ "lotCode": lot }] },
            ]),
        )
        .await;
    }
    const FORWARD: &str = "query($c: String!) { trace(lotCode: $c, direction: FORWARD) { \
        hops events { id } unfollowed { reason } lots { code quantity } } }";
    for (tracer, partner, by) in [
        (&thai_nguyen, &nghe_an, "19"),
        (&nghe_an, &thai_nguyen, "40"),
    ] {
        let before = asked(partner, by).await;
        let forward = tracer.data(FORWARD, json!({ "c": lot })).await["trace"].clone();
        assert_eq!(forward["events"].as_array().unwrap().len(), 1 + 3 + 6);
        assert_eq!(forward["unfollowed"], json!([]));
        assert_eq!(
            forward["lots"],
            json!([{ "code": lot, "quantity": 300.0 }]),
            "the lot, from its owner"
        );
        assert_eq!(
            asked(partner, by).await - before,
            1,
            "{by}'s walk: six Nghệ An events at one level, or Thái Nguyên's events \
             with its lot, one request"
        );
    }
}

#[tokio::test]
async fn a_trace_says_whether_each_facility_was_certified_on_the_day_of_its_event() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let chain = tea_chain(&thai_nguyen, &nghe_an).await;
    let garden = chain.garden["id"].as_str().unwrap();
    let factory = chain.factory["id"].as_str().unwrap();
    let valid = thai_nguyen
        .issue_certificate(garden, json!({ "issuedOn": crate::helpers::day(-30) }))
        .await;
    let suspended = thai_nguyen
        .issue_certificate(factory, json!({ "issuedOn": crate::helpers::day(-30) }))
        .await;
    // Suspended from yesterday: the factory's events of today fall in it.
    thai_nguyen
        .data(
            "mutation($id: ID!, $v: Int!, $on: Date!) { suspendCertificate(id: $id, version: $v,
               effectiveOn: $on, reason: \"Vi phạm điều kiện bảo quản\") { status } }",
            json!({ "id": suspended["id"], "v": suspended["version"], "on": crate::helpers::day(-1) }),
        )
        .await;
    let query = "query($c: String!) { trace(lotCode: $c, direction: BACKWARD) {
        events { id facilityId }
        certification { eventId facilityId valid certificateNumber reason } } }";
    for gw in [&thai_nguyen, &nghe_an] {
        let trace = gw.data(query, json!({ "c": chain.packed })).await["trace"].clone();
        let certification = trace["certification"].as_array().unwrap();
        assert_eq!(
            certification.len(),
            trace["events"].as_array().unwrap().len()
        );
        for verdict in certification {
            let facility = verdict["facilityId"].as_str().unwrap();
            let expected = if facility == garden {
                json!([true, valid["number"], null])
            } else if facility == factory {
                json!([false, suspended["number"], "SUSPENDED"])
            } else {
                // The shop holds no certificate at all.
                json!([false, null, null])
            };
            assert_eq!(
                json!([
                    verdict["valid"],
                    verdict["certificateNumber"],
                    verdict["reason"]
                ]),
                expected,
                "asked of {}: {verdict:#}",
                gw.province
            );
        }
    }
}

#[tokio::test]
async fn fan_out_is_bounded_and_the_bound_reported() {
    let (thai_nguyen, _nghe_an) = spawn_pair().await;
    let factory = thai_nguyen
        .create_facility("Nhà máy chè Sông Cầu", json!({ "kind": "PROCESSOR" }))
        .await;
    let tea = product(&thai_nguyen, "Chè Sông Cầu túi lọc", &factory).await;
    let fresh = thai_nguyen
        .data(
            CREATE_LOT,
            json!({ "i": { "productId": tea["id"], "facilityId": factory["id"],
                           "quantity": 3000.0, "unit": "KILOGRAM", "producedOn": crate::helpers::day(-1) } }),
        )
        .await["createLot"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Three packings of the lot, 99 small lots each (an event names at
    // most a hundred): 297 lots out.
    let made = json!({ "productId": tea["id"], "quantity": 1.0, "unit": "KILOGRAM",
                       "producedOn": crate::helpers::day(0) });
    let packing = json!({ "bizStep": "PACKING", "facilityId": factory["id"],
                          "inputs": [{ "lotCode": fresh }], "makes": vec![made; 99] });
    record(
        &thai_nguyen,
        json!([packing.clone(), packing.clone(), packing]),
    )
    .await;
    let forward = thai_nguyen
        .data(
            "query($c: String!) { trace(lotCode: $c, direction: FORWARD) {
               maxLots truncated lots { code } unfollowed { reason lotCode } } }",
            json!({ "c": fresh }),
        )
        .await["trace"]
        .clone();
    assert_eq!(forward["truncated"], true);
    let max = forward["maxLots"].as_u64().unwrap() as usize;
    assert_eq!(forward["lots"].as_array().unwrap().len(), max);
    let cut = forward["unfollowed"].as_array().unwrap();
    assert_eq!(cut.len(), 1 + 297 - max, "each lot past the bound is named");
    assert!(cut.iter().all(|u| u["reason"] == "FAN_OUT_LIMIT"));
}
