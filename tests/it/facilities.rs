//! Facilities: create, read, update, list, search.

use serde_json::json;

use crate::helpers::{assert_code, assert_invalid, spawn_gateway};

#[tokio::test]
async fn a_created_facility_reads_back_with_its_owner_and_version() {
    let gw = spawn_gateway().await;
    let created = gw
        .create_facility(
            "Hợp tác xã chè Tân Cương",
            json!({
                "businessRegistrationNumber": "4600123456",
                "contactName": "Nguyễn Thị Hoa",
                "contactPhone": "+84 912 345 678",
                "addressDetail": "Xóm Hích",
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("Facility:19:"), "{id}");
    assert_eq!(created["version"], 1);

    let data = gw
        .data(
            "query($id: ID!) { facility(id: $id) {
                name kind businessRegistrationNumber contactName contactPhone
                province { code name } suppliesTo { code name }
                address { commune district detail } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data["facility"],
        json!({
            "name": "Hợp tác xã chè Tân Cương",
            "kind": "COOPERATIVE",
            "businessRegistrationNumber": "4600123456",
            "contactName": "Nguyễn Thị Hoa",
            "contactPhone": "0912345678",
            "province": { "code": "19", "name": "Thái Nguyên" },
            "suppliesTo": [{ "code": "40", "name": "Nghệ An" }],
            "address": { "commune": "Tân Cương", "district": "Thành phố Thái Nguyên", "detail": "Xóm Hích" },
        })
    );
}

#[tokio::test]
async fn an_update_changes_only_what_it_names_and_bumps_the_version() {
    let gw = spawn_gateway().await;
    let created = gw
        .create_facility("Cơ sở chè Hảo", json!({ "contactPhone": "0912345678" }))
        .await;
    let updated = gw
        .data(
            r#"mutation($id: ID!) { updateFacility(id: $id, version: 1, input: {
                 name: "Cơ sở chè Hảo Đạt", contactPhone: null, suppliesTo: ["40", "19", "40"] }) {
                 version name contactPhone commune: address { commune } suppliesTo { code } } }"#,
            json!({ "id": created["id"] }),
        )
        .await;
    assert_eq!(
        updated["updateFacility"],
        json!({
            "version": 2,
            "name": "Cơ sở chè Hảo Đạt",
            "contactPhone": null,
            "commune": { "commune": "Tân Cương" },
            "suppliesTo": [{ "code": "19" }, { "code": "40" }],
        })
    );
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_writes_nothing() {
    let gw = spawn_gateway().await;
    let created = gw.create_facility("Cơ sở A", json!({})).await;
    let rename = r#"mutation($id: ID!, $v: Int!, $name: String!) {
        updateFacility(id: $id, version: $v, input: { name: $name }) { version name } }"#;
    gw.data(
        rename,
        json!({ "id": created["id"], "v": 1, "name": "Cơ sở B" }),
    )
    .await;
    let stale = gw
        .post(
            rename,
            json!({ "id": created["id"], "v": 1, "name": "Cơ sở C" }),
        )
        .await;
    assert_code(&stale, "CONFLICT");
    let now = gw
        .data(
            "query($id: ID!) { facility(id: $id) { version name } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert_eq!(now["facility"], json!({ "version": 2, "name": "Cơ sở B" }));
}

#[tokio::test]
async fn updating_a_missing_or_foreign_facility_is_refused() {
    let gw = spawn_gateway().await;
    let update = r#"mutation($id: ID!) { updateFacility(id: $id, version: 1, input: { name: "X" }) { id } }"#;
    assert_code(
        &gw.post(update, json!({ "id": "Facility:19:999" })).await,
        "NOT_FOUND",
    );
    let foreign = gw.post(update, json!({ "id": "Facility:40:1" })).await;
    assert_code(&foreign, "NOT_OWNER");
    assert_eq!(foreign["errors"][0]["extensions"]["province"], "40");
    assert_invalid(
        &gw.post(update, json!({ "id": "Certificate:19:1" })).await,
        "id",
    );
}

#[tokio::test]
async fn lookups_of_unknown_ids_answer_null() {
    let gw = spawn_gateway().await;
    let data = gw
        .data(
            r#"{ a: facility(id: "Facility:19:42") { id } b: node(id: "Product:19:7") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data, json!({ "a": null, "b": null }));
    // A province this gateway has no partnership with cannot be asked.
    let answer = gw
        .post(r#"{ c: node(id: "Facility:01:1") { id } }"#, json!({}))
        .await;
    assert_eq!(answer["data"], json!({ "c": null }), "{answer:#}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "PARTNER_UNAVAILABLE"
    );
    assert_eq!(answer["errors"][0]["extensions"]["province"], "01");
}

#[tokio::test]
async fn node_finds_every_kind_of_record() {
    let gw = spawn_gateway().await;
    let facility = gw.create_facility("Hợp tác xã cam Vinh", json!({})).await;
    let certificate = gw
        .issue_certificate(facility["id"].as_str().unwrap(), json!({}))
        .await;
    let data = gw
        .data(
            "query($f: ID!, $c: ID!) {
               f: node(id: $f) { __typename id ... on Facility { name provenance { source fetchedAt } } }
               c: node(id: $c) { __typename id ... on Certificate { number } } }",
            json!({ "f": facility["id"], "c": certificate["id"] }),
        )
        .await;
    assert_eq!(data["f"]["__typename"], "Facility");
    assert_eq!(data["f"]["name"], "Hợp tác xã cam Vinh");
    assert_eq!(data["f"]["provenance"]["source"], "OWNER");
    assert!(data["f"]["provenance"]["fetchedAt"].is_string());
    assert_eq!(data["c"]["__typename"], "Certificate");
    assert_eq!(data["c"]["number"], certificate["number"]);
}

#[tokio::test]
async fn search_ignores_case_and_vietnamese_diacritics() {
    let gw = spawn_gateway().await;
    gw.create_facility("Hợp tác xã Chè Tân Cương", json!({}))
        .await;
    gw.create_facility(
        "Hợp tác xã cam Vinh",
        json!({ "commune": "Minh Hợp", "district": "Quỳ Hợp" }),
    )
    .await;
    gw.create_facility("Đặc sản Đồng Hỷ", json!({ "commune": "Hóa Thượng" }))
        .await;
    let names = |data: serde_json::Value| -> Vec<String> {
        data["facilities"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let search =
        "query($t: String!) { facilities(filter: { text: $t }) { edges { node { name } } } }";
    assert_eq!(
        names(gw.data(search, json!({ "t": "che tan cuong" })).await),
        ["Hợp tác xã Chè Tân Cương"]
    );
    assert_eq!(
        names(gw.data(search, json!({ "t": "CHÈ TÂN CƯƠNG" })).await),
        ["Hợp tác xã Chè Tân Cương"]
    );
    assert_eq!(
        names(gw.data(search, json!({ "t": "dong hy" })).await),
        ["Đặc sản Đồng Hỷ"]
    );
    // Words may match the address as well as the name.
    assert_eq!(
        names(gw.data(search, json!({ "t": "vinh quy hop" })).await),
        ["Hợp tác xã cam Vinh"]
    );
    assert!(names(gw.data(search, json!({ "t": "cam tan cuong" })).await).is_empty());
    // Wildcards are only text.
    assert!(names(gw.data(search, json!({ "t": "%" })).await).len() == 3);
}

#[tokio::test]
async fn facilities_filter_by_kind_and_market() {
    let gw = spawn_gateway().await;
    gw.create_facility("A", json!({ "kind": "TRADER", "suppliesTo": [] }))
        .await;
    gw.create_facility("B", json!({ "kind": "TRADER", "suppliesTo": ["40"] }))
        .await;
    gw.create_facility(
        "C",
        json!({ "kind": "PROCESSOR", "suppliesTo": ["40", "01"] }),
    )
    .await;
    let query =
        "query($f: FacilityFilterInput) { facilities(filter: $f) { edges { node { name } } } }";
    let count = |data: serde_json::Value| data["facilities"]["edges"].as_array().unwrap().len();
    assert_eq!(
        count(gw.data(query, json!({ "f": { "kind": "TRADER" } })).await),
        2
    );
    assert_eq!(
        count(gw.data(query, json!({ "f": { "suppliesTo": "40" } })).await),
        2
    );
    assert_eq!(
        count(
            gw.data(
                query,
                json!({ "f": { "suppliesTo": "01", "kind": "PROCESSOR" } })
            )
            .await
        ),
        1
    );
    assert_eq!(
        count(gw.data(query, json!({ "f": { "suppliesTo": "79" } })).await),
        0
    );
}
