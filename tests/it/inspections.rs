//! Inspections of chain stages.

use serde_json::{Value, json};

use crate::helpers::{assert_invalid, day, spawn_gateway};

const RECORD: &str = "mutation($i: RecordInspectionInput!) {
    recordInspection(input: $i) { id province { code } inspectingProvince { code } stage inspectedOn
      result findings internalNotes facility { name } facilityId } }";

#[tokio::test]
async fn an_inspection_is_recorded_and_listed_by_stage_and_facility() {
    let gw = spawn_gateway().await;
    let f = gw
        .create_facility("Cơ sở chế biến chè", json!({ "kind": "PROCESSOR" }))
        .await;
    let g = gw
        .create_facility("Cửa hàng đặc sản", json!({ "kind": "TRADER" }))
        .await;
    let recorded = gw
        .data(
            RECORD,
            json!({ "i": { "facilityId": f["id"], "stage": "PROCESSING", "inspectedOn": day(-2),
                           "result": "FAIL", "findings": "Kho chứa ẩm mốc", "internalNotes": "Tái kiểm tra" } }),
        )
        .await["recordInspection"]
        .clone();
    assert_eq!(recorded["province"]["code"], "19");
    assert_eq!(recorded["inspectingProvince"]["code"], "19");
    assert_eq!(recorded["facility"]["name"], "Cơ sở chế biến chè");
    assert_eq!(recorded["facilityId"], f["id"]);
    assert_eq!(recorded["internalNotes"], "Tái kiểm tra");
    gw.data(
        RECORD,
        json!({ "i": { "facilityId": g["id"], "stage": "TRADING", "inspectedOn": day(-1), "result": "PASS" } }),
    )
    .await;
    let list = "query($f: InspectionFilterInput) { inspections(filter: $f) { edges { node { stage result } } } }";
    let count = |data: Value| data["inspections"]["edges"].as_array().unwrap().len();
    assert_eq!(count(gw.data(list, json!({ "f": null })).await), 2);
    assert_eq!(
        count(gw.data(list, json!({ "f": { "stage": "TRADING" } })).await),
        1
    );
    assert_eq!(
        count(gw.data(list, json!({ "f": { "result": "FAIL" } })).await),
        1
    );
    assert_eq!(
        count(
            gw.data(list, json!({ "f": { "facilityId": g["id"] } }))
                .await
        ),
        1
    );
    assert_eq!(
        count(
            gw.data(list, json!({ "f": { "facilityId": "Facility:40:1" } }))
                .await
        ),
        0
    );
    let nested = gw
        .data(
            "query($id: ID!) { facility(id: $id) { inspections { edges { node { result } } } } }",
            json!({ "id": f["id"] }),
        )
        .await;
    assert_eq!(
        nested["facility"]["inspections"]["edges"][0]["node"]["result"],
        "FAIL"
    );
}

#[tokio::test]
async fn a_failed_inspection_states_findings_and_dates_are_not_in_the_future() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Cơ sở", json!({})).await;
    let before = gw.counts().await;
    let no_findings = gw
        .post(
            RECORD,
            json!({ "i": { "facilityId": f["id"], "stage": "PRIMARY_PRODUCTION", "inspectedOn": day(-1), "result": "FAIL" } }),
        )
        .await;
    assert_invalid(&no_findings, "input.findings");
    let future = gw
        .post(
            RECORD,
            json!({ "i": { "facilityId": f["id"], "stage": "PRIMARY_PRODUCTION", "inspectedOn": day(1), "result": "PASS" } }),
        )
        .await;
    assert_invalid(&future, "input.inspectedOn");
    let unknown_stage = gw
        .post(
            RECORD,
            json!({ "i": { "facilityId": f["id"], "stage": "SHIPPING", "inspectedOn": day(-1), "result": "PASS" } }),
        )
        .await;
    assert_invalid(&unknown_stage, "input.stage");
    let foreign = gw
        .post(
            RECORD,
            json!({ "i": { "facilityId": "Facility:40:3", "stage": "TRADING", "inspectedOn": day(-1), "result": "PASS" } }),
        )
        .await;
    // This gateway has no partner 40 to confirm the facility with.
    assert_eq!(
        foreign["errors"][0]["extensions"]["code"],
        "PARTNER_UNAVAILABLE"
    );
    assert_eq!(gw.counts().await, before);
}
