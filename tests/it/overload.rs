//! Overload: a caller over its rate is refused at once (429), a line that is
//! full sheds at once (503) while cheap requests still find a turn, and
//! `/readyz` says the gateway is overloaded.

use std::time::Duration;

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, spawn_gateway_with, spawn_with_partner};

/// Posts `query` with `client`: the status, the Retry-After header and the code.
async fn ask(
    gw: &TestGateway,
    client: &reqwest::Client,
    query: &str,
) -> (u16, Option<String>, Value) {
    let response = client
        .post(gw.url())
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let answer: Value = response.json().await.unwrap();
    (
        status,
        retry,
        answer["errors"][0]["extensions"]["code"].clone(),
    )
}

#[tokio::test]
async fn a_caller_over_its_rate_is_refused_and_told_when_to_come_back() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let gw = {
        // The same gateway's settings, with small rates: one request a
        // second, two at once.
        drop(gw);
        let _ = partner;
        spawn_gateway_with(|config| {
            config.limits.rate_per_certificate = 1;
            config.limits.partner_rate = 1;
        })
        .await
    };
    let dashboard = gw.client_as(Role::Dashboard);
    let mut refused = None;
    for _ in 0..10 {
        let (status, retry, code) = ask(&gw, &dashboard, "{ province { code } }").await;
        if status == 429 {
            refused = Some((retry, code));
            break;
        }
        assert_eq!(status, 200);
    }
    let (retry, code) = refused.expect("ten requests at once passed a rate of one a second");
    assert_eq!(code, "RATE_LIMITED");
    assert_eq!(retry.as_deref(), Some("1"));
    // Another certificate has its own rate.
    let (status, _, _) = ask(&gw, &gw.client_as(Role::Operator), "{ province { code } }").await;
    assert_eq!(status, 200);
    let metrics = caunoi::server::metrics::handle().render();
    assert!(
        metrics.contains(
            r#"caunoi_requests_total{caller="dashboard",operation="none",outcome="rate_limited"}"#
        ),
        "rate-limited requests are not counted"
    );
}

#[tokio::test]
async fn a_full_line_sheds_at_once_and_cheap_requests_still_get_a_turn() {
    let gw = spawn_gateway_with(|config| {
        config.limits.concurrent_requests = 1;
        config.limits.queued_requests = 1;
    })
    .await;
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops_address = ops.local_addr().unwrap();
    tokio::spawn(gw.app.clone().run_ops(ops, std::future::pending()));
    // Writes wait on another writer's lock, each holding the only turn for
    // as long as the store waits: one at work, one waiting, the rest shed.
    let lock = crate::helpers::lock_writes(&gw.database_url).await;
    let write = r#"mutation { createFacility(input: { name: "Cơ sở", kind: TRADER, commune: "Vinh" }) { id } }"#;
    let (shed, mut shed_answers) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for _ in 0..6 {
        let (http, url, shed) = (gw.http.clone(), gw.url(), shed.clone());
        writers.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .json(&json!({ "query": write }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().contains_key("retry-after");
            let answer: Value = response.json().await.unwrap();
            let code = answer["errors"][0]["extensions"]["code"].clone();
            if code == "OVERLOADED" {
                let _ = shed.send((status, retry));
            }
            code
        }));
    }
    let (status, retry) = tokio::time::timeout(Duration::from_secs(5), shed_answers.recv())
        .await
        .expect("no request was shed")
        .unwrap();
    assert_eq!((status, retry), (503, true));
    // While the line is full, a lookup takes a turn kept for cheap requests.
    let (status, _, _) = ask(&gw, &gw.client_as(Role::Dashboard), "{ province { code } }").await;
    assert_eq!(status, 200);
    let readyz = reqwest::get(format!("http://{ops_address}/readyz"))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    assert_eq!(readyz.text().await.unwrap(), "overloaded\n");
    drop(lock);
    let mut codes = Vec::new();
    for writer in writers {
        codes.push(writer.await.unwrap());
    }
    let shed_count = codes.iter().filter(|code| **code == "OVERLOADED").count();
    assert!((1..=4).contains(&shed_count), "{codes:?}");
}
