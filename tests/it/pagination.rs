//! Cursor pagination: every record once, in order, with bounded pages.

use serde_json::{Value, json};

use crate::helpers::{assert_invalid, spawn_gateway};

#[tokio::test]
async fn paging_visits_every_facility_once_in_order() {
    let gw = spawn_gateway().await;
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(
            gw.create_facility(&format!("Cơ sở số {i}"), json!({}))
                .await["id"]
                .clone(),
        );
    }
    let query = "query($after: String) { facilities(first: 5, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = gw.data(query, json!({ "after": after })).await["facilities"].clone();
        pages += 1;
        let edges = page["edges"].as_array().unwrap();
        seen.extend(edges.iter().map(|e| e["node"]["id"].clone()));
        assert_eq!(
            page["pageInfo"]["endCursor"],
            edges.last().map_or(Value::Null, |e| e["cursor"].clone())
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn page_edges_behave() {
    let gw = spawn_gateway().await;
    let empty = gw
        .data(
            "{ facilities { edges { cursor } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        empty["facilities"],
        json!({ "edges": [], "pageInfo": { "hasNextPage": false, "endCursor": null } })
    );
    for i in 0..3 {
        gw.create_facility(&format!("Cơ sở {i}"), json!({})).await;
    }
    let exact = gw
        .data(
            "{ facilities(first: 3) { edges { cursor } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(exact["facilities"]["pageInfo"]["hasNextPage"], false);
    let zero = gw
        .data(
            "{ facilities(first: 0) { edges { cursor } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        zero["facilities"],
        json!({ "edges": [], "pageInfo": { "hasNextPage": true } })
    );
    let last = exact["facilities"]["edges"][2]["cursor"].clone();
    let past_end = gw
        .data(
            "query($a: String) { facilities(after: $a) { edges { cursor } } }",
            json!({ "a": last }),
        )
        .await;
    assert_eq!(past_end["facilities"]["edges"], json!([]));
}

#[tokio::test]
async fn page_size_defaults_to_twenty_and_is_bounded() {
    let gw = spawn_gateway().await;
    for i in 0..21 {
        gw.create_facility(&format!("Cơ sở {i}"), json!({})).await;
    }
    let default = gw
        .data("{ facilities { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(default["facilities"]["edges"].as_array().unwrap().len(), 20);
    let query =
        "query($n: Int, $a: String) { facilities(first: $n, after: $a) { edges { cursor } } }";
    assert_invalid(&gw.post(query, json!({ "n": 101 })).await, "first");
    assert_invalid(&gw.post(query, json!({ "n": -1 })).await, "first");
    assert_invalid(
        &gw.post(query, json!({ "a": "not-a-cursor" })).await,
        "after",
    );
}
