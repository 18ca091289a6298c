//! Whatever a caller sends — arbitrary bytes, or text shaped like GraphQL —
//! the gateway answers with JSON, never a 5xx, and writes nothing.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, spawn_gateway};

/// One gateway for every case, on a runtime of its own (proptest's cases are
/// not async), and its records before any case ran.
struct Shared {
    runtime: tokio::runtime::Runtime,
    gw: TestGateway,
    before: Value,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (gw, before) = runtime.block_on(async {
            let gw = spawn_gateway().await;
            let facility = gw
                .create_facility("Hợp tác xã chè Tân Cương", json!({}))
                .await;
            gw.issue_certificate(facility["id"].as_str().unwrap(), json!({}))
                .await;
            let before = gw.counts().await;
            (gw, before)
        });
        Shared {
            runtime,
            gw,
            before,
        }
    })
}

/// Posts `body` as JSON, or GETs with `query` in the URL; checks the answer
/// is JSON and no 5xx, and that nothing was written.
fn holds(body: Option<Vec<u8>>, query: Option<String>) -> Result<(), TestCaseError> {
    let Shared {
        runtime,
        gw,
        before,
    } = shared();
    runtime.block_on(async {
        let request = match (body, query) {
            (Some(body), _) => gw
                .http
                .post(gw.url())
                .header("content-type", "application/json")
                .body(body),
            (None, query) => gw
                .http
                .get(gw.url())
                .query(&[("query", query.unwrap_or_default())]),
        };
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        prop_assert!(status < 500 || status == 503, "{status}: {text}");
        prop_assert!(
            serde_json::from_str::<Value>(&text).is_ok() || text.contains("graphiql"),
            "{text}"
        );
        prop_assert_eq!(&gw.counts().await, before);
        Ok(())
    })
}

/// Text shaped like GraphQL: its punctuation, operations, our fields and
/// arguments, variables and scalars, in any order. No field a facility
/// needs is among them, so no mutation of these can be complete.
fn graphql_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{"),
        Just("}"),
        Just("("),
        Just(")"),
        Just(":"),
        Just(","),
        Just("$v"),
        Just("..."),
        Just("@skip(if: true)"),
        Just("mutation"),
        Just("query"),
        Just("fragment F on Query"),
        Just("...F"),
        Just("createFacility"),
        Just("revokeCertificate"),
        Just("certificates"),
        Just("facilities"),
        Just("node"),
        Just("nodes"),
        Just("province"),
        Just("code"),
        Just("id"),
        Just("first:"),
        Just("after:"),
        Just("scope: ALL"),
        Just("ids:"),
        Just("\"Certificate:19:1\""),
        Just("\"\\u202e\""),
        Just("100"),
        Just("-1"),
        Just("1e400"),
        Just("null"),
        Just("["),
        Just("]"),
        Just("__schema"),
        Just("__typename"),
        Just("\"\u{0}\""),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.join(" "))
}

/// Variables of any JSON shape.
fn variables() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_fail_the_gateway_nor_write(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        holds(Some(body), None)?;
    }

    #[test]
    fn graphql_shaped_requests_never_fail_the_gateway_nor_write(
        query in graphql_like(),
        variables in variables(),
        name in proptest::option::of("[A-Za-z]{1,3}"),
    ) {
        let body = json!({ "query": query, "variables": variables, "operationName": name });
        holds(Some(serde_json::to_vec(&body).unwrap()), None)?;
        holds(None, Some(query))?;
    }
}
