//! The change feed: every committed write once, in commit order.

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, assert_invalid, day, spawn_gateway, spawn_with_partner};

const FEED: &str = "query($after: String, $first: Int, $types: [RecordType!]) {
    changes(after: $after, first: $first, types: $types) {
      edges { cursor node { id version operation } } pageInfo { hasNextPage endCursor } epoch } }";

/// Every change after `after`, read a page of `first` at a time by `client`.
async fn drain(
    gw: &TestGateway,
    client: &reqwest::Client,
    after: Value,
    first: i64,
) -> (Vec<Value>, Value) {
    let mut seen = Vec::new();
    let mut after = after;
    for _ in 0..1000 {
        let (status, answer) = gw
            .post_with(client, FEED, json!({ "after": after, "first": first }))
            .await;
        assert_eq!(status, 200);
        assert!(answer.get("errors").is_none(), "{answer:#}");
        let page = &answer["data"]["changes"];
        seen.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if !page["pageInfo"]["endCursor"].is_null() {
            after = page["pageInfo"]["endCursor"].clone();
        }
        if page["pageInfo"]["hasNextPage"] == false {
            return (seen, after);
        }
    }
    panic!("the feed does not end");
}

fn change(id: &Value, version: i64, operation: &str) -> Value {
    json!({ "id": id, "version": version, "operation": operation })
}

#[tokio::test]
async fn every_write_appends_its_changes_in_commit_order() {
    let gw = spawn_gateway().await;
    let sync = gw.client_as(Role::Sync);
    let facility = gw.create_facility("Hợp tác xã chè", json!({})).await;
    let certificate = gw
        .issue_certificate(
            facility["id"].as_str().unwrap(),
            json!({ "issuedOn": day(-1100) }),
        )
        .await;
    let renewed = gw
        .data(
            "mutation($id: ID!) { renewCertificate(id: $id, version: 1) { id } }",
            json!({ "id": certificate["id"] }),
        )
        .await["renewCertificate"]["id"]
        .clone();
    gw.data(
        r#"mutation($id: ID!) { suspendCertificate(id: $id, version: 1, reason: "Kiểm tra lại") { id } }"#,
        json!({ "id": renewed }),
    )
    .await;
    let product = gw
        .data(
            "mutation($f: ID!) { registerProduct(input: { name: \"Chè búp\", category: AGRICULTURAL, facilityId: $f }) { id } }",
            json!({ "f": facility["id"] }),
        )
        .await["registerProduct"]["id"]
        .clone();
    // A refused write leaves no change.
    let stale = gw
        .post(
            r#"mutation($id: ID!) { updateFacility(id: $id, version: 7, input: { name: "X" }) { id } }"#,
            json!({ "id": facility["id"] }),
        )
        .await;
    assert_eq!(stale["errors"][0]["extensions"]["code"], "CONFLICT");

    let (changes, _) = drain(&gw, &sync, Value::Null, 2).await;
    assert_eq!(
        changes,
        [
            change(&facility["id"], 1, "CREATE"),
            change(&certificate["id"], 1, "CREATE"),
            change(&certificate["id"], 2, "UPDATE"),
            change(&renewed, 1, "CREATE"),
            change(&renewed, 2, "UPDATE"),
            // The suspension tells the partner the facility supplies.
            change(&json!("Alert:19:1"), 1, "CREATE"),
            change(&product, 1, "CREATE"),
        ]
    );
    let (only_products, _) = {
        let (_, answer) = gw
            .post_with(&sync, FEED, json!({ "types": ["PRODUCT"] }))
            .await;
        let edges: Vec<Value> = answer["data"]["changes"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect();
        (edges, ())
    };
    assert_eq!(only_products, [change(&product, 1, "CREATE")]);
}

#[tokio::test]
async fn a_reader_picks_up_after_its_cursor_and_refuses_a_foreign_epoch() {
    let gw = spawn_gateway().await;
    let sync = gw.client_as(Role::Sync);
    let first = gw.create_facility("Cơ sở một", json!({})).await;
    let (seen, cursor) = drain(&gw, &sync, Value::Null, 10).await;
    assert_eq!(seen, [change(&first["id"], 1, "CREATE")]);
    let second = gw.create_facility("Cơ sở hai", json!({})).await;
    let (seen, _) = drain(&gw, &sync, cursor.clone(), 10).await;
    assert_eq!(seen, [change(&second["id"], 1, "CREATE")]);

    // The same cursor from a feed of another epoch (another database) is refused.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(engine.decode(cursor.as_str().unwrap()).unwrap()).unwrap();
    let foreign = text.replacen(text.split(':').nth(1).unwrap(), "khac", 1);
    let (_, answer) = gw
        .post_with(&sync, FEED, json!({ "after": engine.encode(foreign) }))
        .await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "after");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("epoch")
    );
}

#[tokio::test]
async fn a_page_holds_up_to_a_thousand_changes_and_nodes_as_many_ids() {
    let gw = spawn_gateway().await;
    let sync = gw.client_as(Role::Sync);
    let facility = gw.create_facility("Cơ sở chè Tân Cương", json!({})).await;
    let certificate = gw
        .issue_certificate(facility["id"].as_str().unwrap(), json!({}))
        .await;
    let (_, answer) = gw.post_with(&sync, FEED, json!({ "first": 1000 })).await;
    assert!(answer.get("errors").is_none(), "{answer:#}");
    let (_, answer) = gw.post_with(&sync, FEED, json!({ "first": 1001 })).await;
    assert_invalid(&answer, "first");

    // A thousand IDs of mixed kinds, ours and not, answered in the order asked.
    let nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let asked = [
        certificate["id"].clone(),
        json!("Facility:19:999999"),
        facility["id"].clone(),
        json!("Product:19:5"),
    ];
    let ids: Vec<Value> = asked.iter().cycle().take(1000).cloned().collect();
    let answer = gw.data(nodes, json!({ "ids": ids })).await;
    let found = answer["nodes"].as_array().unwrap();
    assert_eq!(found.len(), 1000);
    for (node, id) in found.iter().zip(&ids) {
        let expected = if id == &certificate["id"] || id == &facility["id"] {
            json!({ "id": id })
        } else {
            Value::Null
        };
        assert_eq!(node, &expected);
    }
    let mut too_many = ids;
    too_many.push(facility["id"].clone());
    assert_invalid(&gw.post(nodes, json!({ "ids": too_many })).await, "ids");
}

#[tokio::test]
async fn a_partner_sees_only_changes_to_what_is_shared_with_it() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let shared = gw
        .create_facility("Hợp tác xã cam", json!({ "suppliesTo": ["40"] }))
        .await;
    let hidden = gw
        .create_facility(
            "Hộ sản xuất",
            json!({ "kind": "HOUSEHOLD", "suppliesTo": [] }),
        )
        .await;
    let shared_certificate = gw
        .issue_certificate(shared["id"].as_str().unwrap(), json!({}))
        .await;
    gw.issue_certificate(
        hidden["id"].as_str().unwrap(),
        json!({ "kind": "COMMITMENT" }),
    )
    .await;
    let ocop = gw
        .data(
            "mutation($f: ID!, $d: Date!) { registerProduct(input: { name: \"Mật ong\", category: LIVESTOCK, facilityId: $f, ocop: { stars: 3, ratedOn: $d } }) { id } }",
            json!({ "f": hidden["id"], "d": day(-5) }),
        )
        .await["registerProduct"]["id"]
        .clone();
    let client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (seen, _) = drain(&gw, &client, Value::Null, 100).await;
    assert_eq!(
        seen,
        [
            change(&shared["id"], 1, "CREATE"),
            change(&shared_certificate["id"], 1, "CREATE"),
            change(&ocop, 1, "CREATE"),
        ]
    );
}

#[tokio::test]
async fn concurrent_writers_never_make_a_reader_skip_a_change() {
    let gw = spawn_gateway().await;
    let sync = gw.client_as(Role::Sync);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let client = gw.http.clone();
            let url = gw.url();
            tokio::spawn(async move {
                for i in 0..10 {
                    let query = format!(
                        r#"mutation {{ createFacility(input: {{ name: "Cơ sở {w}-{i}", kind: TRADER, commune: "Vinh" }}) {{ id }} }}"#
                    );
                    let response = client.post(&url).json(&json!({ "query": query })).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    // Poll while the writers write: every change must arrive once, in order.
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor = Value::Null;
    let mut polls = 0;
    while seen.len() < 40 {
        polls += 1;
        assert!(polls < 10_000, "the feed stalled at {} changes", seen.len());
        let (more, next) = drain(&gw, &sync, cursor.clone(), 3).await;
        seen.extend(more);
        cursor = next;
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let (rest, _) = drain(&gw, &sync, cursor, 100).await;
    assert!(rest.is_empty(), "changes arrived twice or late: {rest:?}");
    let mut ids: Vec<&str> = seen.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every facility's creation exactly once");
}
