//! What a partner gateway sees: what the agreement shares, and nothing else.

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, day, spawn_with_partner};

const REGISTER: &str = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";
const RECORD: &str = "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id } }";

/// Shared: facility A (supplies 40) with its certificate, product and inspection.
/// Hidden: facility B (supplies nobody) with its certificate, plain product and
/// inspection — but B's OCOP product is shared, as all OCOP products are.
struct World {
    a: Value,
    b: Value,
    a_certificate: Value,
    b_certificate: Value,
    b_ocop: Value,
    b_plain: Value,
}

async fn world(gw: &TestGateway) -> World {
    let a = gw
        .create_facility(
            "Hợp tác xã chè Tân Cương",
            json!({ "suppliesTo": ["40"], "contactName": "Nguyễn Thị Hoa",
                    "contactPhone": "0912345678", "contactIdNumber": "019201000123" }),
        )
        .await;
    let b = gw
        .create_facility(
            "Hộ sản xuất Trần Văn Nam",
            json!({ "kind": "HOUSEHOLD", "suppliesTo": [] }),
        )
        .await;
    let a_certificate = gw
        .issue_certificate(a["id"].as_str().unwrap(), json!({}))
        .await;
    let b_certificate = gw
        .issue_certificate(b["id"].as_str().unwrap(), json!({}))
        .await;
    let product = |facility: &Value, name: &str, ocop: Value| json!({ "i": { "name": name, "category": "AGRICULTURAL", "facilityId": facility["id"], "ocop": ocop } });
    gw.data(REGISTER, product(&a, "Chè búp Tân Cương", Value::Null))
        .await;
    let b_ocop = gw
        .data(
            REGISTER,
            product(
                &b,
                "Chè móc câu",
                json!({ "stars": 4, "ratedOn": day(-30) }),
            ),
        )
        .await["registerProduct"]["id"]
        .clone();
    let b_plain =
        gw.data(REGISTER, product(&b, "Chè vụn", Value::Null)).await["registerProduct"]["id"]
            .clone();
    for facility in [&a, &b] {
        gw.data(
            RECORD,
            json!({ "i": { "facilityId": facility["id"], "stage": "PRIMARY_PRODUCTION", "inspectedOn": day(-2),
                           "result": "PASS", "findings": "Đạt", "internalNotes": "Ghi chú nội bộ" } }),
        )
        .await;
    }
    World {
        a,
        b,
        a_certificate,
        b_certificate,
        b_ocop,
        b_plain,
    }
}

fn ids(list: &Value) -> Vec<Value> {
    list["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect()
}

#[tokio::test]
async fn a_partner_lists_only_what_is_shared_with_it() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let w = world(&gw).await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (status, answer) = gw
        .post_with(
            &client,
            "{ facilities { edges { node { id } } } certificates { edges { node { id } } }
               products { edges { node { id facility { id } } } } inspections { edges { node { id facilityId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer:#}");
    let data = &answer["data"];
    assert_eq!(ids(&data["facilities"]), [w.a["id"].clone()]);
    assert_eq!(ids(&data["certificates"]), [w.a_certificate["id"].clone()]);
    let products = ids(&data["products"]);
    assert_eq!(products.len(), 2, "{products:?}");
    assert!(products.contains(&w.b_ocop) && !products.contains(&w.b_plain));
    // The OCOP product is shared; its producer, a household supplying nobody, is not.
    let ocop = data["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == w.b_ocop)
        .unwrap();
    assert_eq!(ocop["node"]["facility"], Value::Null);
    let inspected: Vec<Value> = data["inspections"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["facilityId"].clone())
        .collect();
    assert_eq!(inspected, [w.a["id"].clone()]);
}

#[tokio::test]
async fn a_partner_cannot_tell_a_hidden_record_from_a_missing_one() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let w = world(&gw).await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let lookup = "query($id: ID!) { facility(id: $id) { id } node(id: $id) { id } }";
    let (_, hidden) = gw
        .post_with(&client, lookup, json!({ "id": w.b["id"] }))
        .await;
    let (_, missing) = gw
        .post_with(&client, lookup, json!({ "id": "Facility:19:9999" }))
        .await;
    assert_eq!(hidden, missing);
    assert_eq!(
        hidden,
        json!({ "data": { "facility": null, "node": null } })
    );

    let verify = "query($n: String!) { certificate(number: $n) { id } verifyCertificate(number: $n) { valid reason certificate { id } } }";
    let (_, hidden) = gw
        .post_with(&client, verify, json!({ "n": w.b_certificate["number"] }))
        .await;
    let (_, unknown) = gw
        .post_with(&client, verify, json!({ "n": "19-ATTP-2020-999999" }))
        .await;
    assert_eq!(hidden, unknown);
    assert_eq!(hidden["data"]["verifyCertificate"]["reason"], "UNKNOWN");
    // The shared certificate verifies as usual.
    let (_, shared) = gw
        .post_with(&client, verify, json!({ "n": w.a_certificate["number"] }))
        .await;
    assert_eq!(shared["data"]["verifyCertificate"]["valid"], true);
}

#[tokio::test]
async fn a_partner_never_sees_personal_data_or_internal_notes() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let w = world(&gw).await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (status, answer) = gw
        .post_with(
            &client,
            "query($id: ID!) {
               facility(id: $id) { name contactName contactPhone contactIdNumber
                 inspections { edges { node { findings internalNotes } } } } }",
            json!({ "id": w.a["id"] }),
        )
        .await;
    assert_eq!(status, 200);
    let facility = &answer["data"]["facility"];
    assert_eq!(facility["name"], "Hợp tác xã chè Tân Cương");
    // Each refused field stands, null, where it was asked for.
    let keys =
        |object: &Value| -> Vec<String> { object.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(facility),
        [
            "name",
            "contactName",
            "contactPhone",
            "contactIdNumber",
            "inspections"
        ]
    );
    for field in ["contactName", "contactPhone", "contactIdNumber"] {
        assert_eq!(facility[field], Value::Null, "{field}");
    }
    let inspection = &facility["inspections"]["edges"][0]["node"];
    assert_eq!(inspection["findings"], "Đạt");
    assert_eq!(keys(inspection), ["findings", "internalNotes"]);
    assert_eq!(inspection["internalNotes"], Value::Null);
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "FORBIDDEN");
    }
    let text = answer.to_string();
    for secret in [
        "Nguyễn Thị Hoa",
        "0912345678",
        "019201000123",
        "Ghi chú nội bộ",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    // Our own dashboard sees them.
    let (_, own) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            "query($id: ID!) { facility(id: $id) { contactPhone } }",
            json!({ "id": w.a["id"] }),
        )
        .await;
    assert_eq!(own["data"]["facility"]["contactPhone"], "0912345678");
}

#[tokio::test]
async fn a_partner_cannot_mutate_and_stores_nothing() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let w = world(&gw).await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let before = gw.counts().await;
    for (mutation, variables) in [
        (
            r#"mutation { createFacility(input: { name: "X", kind: TRADER, commune: "Vinh" }) { id } }"#,
            json!({}),
        ),
        (
            r#"mutation($id: ID!) { revokeCertificate(id: $id, version: 1, reason: "x") { id } }"#,
            json!({ "id": w.a_certificate["id"] }),
        ),
    ] {
        let (status, answer) = gw.post_with(&client, mutation, variables).await;
        assert_eq!(status, 200);
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(answer["data"], Value::Null);
    }
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn a_partner_gets_no_introspection_no_suggestions_and_a_smaller_body() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (_, schema) = gw
        .post_with(&client, "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(schema["data"]["__schema"], Value::Null, "{schema}");
    assert!(!schema.to_string().contains("Certificate"), "{schema}");
    let (_, own) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            "{ __schema { types { name } } }",
            json!({}),
        )
        .await;
    assert!(own.to_string().contains("Certificate"), "{own}");
    let (_, typo) = gw
        .post_with(&client, "{ facilitie { edges { cursor } } }", json!({}))
        .await;
    assert!(typo["errors"].is_array());
    assert!(!typo.to_string().contains("Did you mean"), "{typo}");
    // Our own dashboard gets both.
    let (_, own) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            "{ facilitie { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert!(own.to_string().contains("Did you mean"), "{own}");

    let big = format!("{{ province {{ code }} }} # {}", "x".repeat(300 * 1024));
    let (status, answer) = gw.post_with(&client, &big, json!({})).await;
    assert_eq!(status, 413);
    assert_eq!(answer["errors"][0]["extensions"]["field"], "body");
    let (status, _) = gw
        .post_with(&gw.client_as(Role::Dashboard), &big, json!({}))
        .await;
    assert_eq!(status, 200);
}

/// A partner asking us about a certificate we do not own — its own, or a
/// third province's — is told whose it is, not that it is unknown.
#[tokio::test]
async fn a_partner_asking_about_another_provinces_certificate_is_told_its_owner() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    for (number, owner) in [("01-ATTP-2024-000001", "01"), ("40-ATTP-2024-000001", "40")] {
        for query in [
            "query($n: String!) { verifyCertificate(number: $n) { valid reason } }",
            "query($n: String!) { certificate(number: $n) { id } }",
        ] {
            let (status, answer) = gw.post_with(&client, query, json!({ "n": number })).await;
            assert_eq!(status, 200);
            let error = &answer["errors"][0];
            assert_eq!(error["extensions"]["code"], "NOT_OWNER", "{answer}");
            assert_eq!(error["extensions"]["province"], owner);
            let field = if query.contains("verify") {
                "verifyCertificate"
            } else {
                "certificate"
            };
            assert_eq!(answer["data"], json!({ field: null }));
        }
    }
}
