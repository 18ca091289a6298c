//! A misbehaving partner, faked in-process over real TLS: whatever it does, the
//! answer is HTTP 200 with our own data, and one error naming the province and
//! the kind of failure — never the partner's own words.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{Router, http::StatusCode, response::IntoResponse, routing::post};
use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, bind, gateway_with_partner_tuned, serve_fake_partner};

#[derive(Clone)]
enum Fault {
    Status(u16),
    Garbage,
    Oversized,
    NeverAnswers,
    Answers(Value),
}

/// Starts a fake Nghệ An gateway; returns its endpoint and its CA file. With
/// `trusting_nobody`, it demands a client certificate from a CA we do not have.
async fn fake_partner(
    fault: Fault,
    trusting_nobody: bool,
) -> (String, std::path::PathBuf, tempfile::TempDir) {
    let (endpoint, ca, dir, _, _) = scripted_partner(move |_| fault.clone(), trusting_nobody).await;
    (endpoint, ca, dir)
}

/// The headers of every request a fake partner received.
type Seen = Arc<std::sync::Mutex<Vec<axum::http::HeaderMap>>>;

/// A fake partner whose `n`-th answer (from 0) is `script(n)`; also returns how
/// many requests it has had, and their headers.
async fn scripted_partner(
    script: impl Fn(usize) -> Fault + Send + Sync + 'static,
    trusting_nobody: bool,
) -> (
    String,
    std::path::PathBuf,
    tempfile::TempDir,
    Arc<AtomicUsize>,
    Seen,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let script = Arc::new(script);
    let router = Router::new().route(
        "/graphql",
        post(move |headers: axum::http::HeaderMap| {
            recorder.lock().unwrap().push(headers);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let fault = script(n);
            async move {
                match fault {
                    Fault::Status(code) => (
                        StatusCode::from_u16(code).unwrap(),
                        "SECRET partner stack trace",
                    )
                        .into_response(),
                    Fault::Garbage => {
                        (StatusCode::OK, "<html>SECRET partner page</html>").into_response()
                    }
                    Fault::Oversized => (
                        StatusCode::OK,
                        format!("{{\"data\":\"{}\"}}", "x".repeat(200_000)),
                    )
                        .into_response(),
                    Fault::NeverAnswers => std::future::pending().await,
                    Fault::Answers(body) => axum::Json(body).into_response(),
                }
            }
        }),
    );
    let (endpoint, ca, dir) = serve_fake_partner(router, trusting_nobody);
    (endpoint, ca, dir, calls, seen)
}

async fn gateway_with_partner(endpoint: String, ca: std::path::PathBuf) -> TestGateway {
    gateway_with_partner_tuned(endpoint, ca, |_| {}).await
}

/// Asks for local data and a partner's certificate at once; checks the local
/// data stands, and returns the one error's extensions.
async fn ask(gw: &TestGateway) -> Value {
    let (status, answer) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            r#"{ province { code } verifyCertificate(number: "40-ATTP-2024-000001") { valid } }"#,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["province"]["code"], "19", "{answer:#}");
    assert_eq!(
        answer["data"]["verifyCertificate"],
        Value::Null,
        "{answer:#}"
    );
    let errors = answer["errors"].as_array().expect("an error entry");
    assert_eq!(errors.len(), 1, "{answer:#}");
    assert!(
        !answer.to_string().contains("SECRET"),
        "the partner's words leaked: {answer}"
    );
    assert_eq!(errors[0]["extensions"]["province"], "40");
    errors[0]["extensions"].clone()
}

#[tokio::test]
async fn each_partner_failure_has_its_code() {
    let cases = [
        (Fault::Status(500), "PARTNER_UNAVAILABLE"),
        (Fault::Status(503), "PARTNER_UNAVAILABLE"),
        (Fault::Status(403), "PARTNER_REJECTED"),
        (Fault::Garbage, "PARTNER_BAD_RESPONSE"),
        (Fault::Oversized, "PARTNER_BAD_RESPONSE"),
        (Fault::NeverAnswers, "PARTNER_TIMEOUT"),
        (
            Fault::Answers(
                json!({ "data": null, "errors": [{ "message": "SECRET: relation does not exist" }] }),
            ),
            "PARTNER_BAD_RESPONSE",
        ),
        (
            // A partner speaking for a third province is not believed.
            Fault::Answers(json!({ "data": { "verifyCertificate": {
                "number": "40-ATTP-2024-000001", "on": "2026-01-01", "valid": true, "reason": null,
                "certificate": { "id": "Certificate:01:1" } } } })),
            "PARTNER_BAD_RESPONSE",
        ),
    ];
    for (fault, code) in cases {
        let (endpoint, ca, _dir) = fake_partner(fault, false).await;
        let gw = gateway_with_partner(endpoint, ca).await;
        assert_eq!(ask(&gw).await["code"], code);
    }
}

#[tokio::test]
async fn a_partner_that_is_down_or_refuses_our_certificate_has_its_code() {
    let (_, ca, _dir) = fake_partner(Fault::Status(200), false).await;
    let closed = bind();
    let endpoint = format!(
        "https://127.0.0.1:{}/graphql",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let gw = gateway_with_partner(endpoint, ca).await;
    assert_eq!(ask(&gw).await["code"], "PARTNER_UNAVAILABLE");

    let (endpoint, ca, _dir) = fake_partner(Fault::Status(200), true).await;
    let gw = gateway_with_partner(endpoint, ca).await;
    assert_eq!(ask(&gw).await["code"], "PARTNER_REJECTED");
}

#[tokio::test]
async fn a_list_over_all_provinces_keeps_our_records_when_a_partner_fails() {
    let (endpoint, ca, _dir) = fake_partner(Fault::Status(502), false).await;
    let gw = gateway_with_partner(endpoint, ca).await;
    let facility = gw.create_facility("Hợp tác xã chè", json!({})).await;
    let (status, answer) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            "{ facilities { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["facilities"]["edges"],
        json!([{ "node": { "id": facility["id"] } }])
    );
    assert_eq!(
        answer["data"]["facilities"]["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "PARTNER_UNAVAILABLE"
    );
    assert_eq!(answer["errors"][0]["extensions"]["province"], "40");
}

/// What a healthy fake partner says of an unknown certificate.
fn unknown_certificate() -> Fault {
    Fault::Answers(json!({ "data": { "verifyCertificate": {
        "number": "40-ATTP-2024-000001", "on": "2026-01-01", "valid": false,
        "reason": "UNKNOWN", "certificate": null } } }))
}

const STATUS: &str = "{ provinces { province { code } thisGateway reachable circuit lastError } }";

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_spares_the_partner() {
    let (endpoint, ca, _dir, calls, _) = scripted_partner(|_| Fault::Status(503), false).await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| {
        config.federation.retries = 0;
        config.federation.breaker_failures = 3;
        config.federation.breaker_open_for = std::time::Duration::from_secs(3600);
    })
    .await;
    for _ in 0..3 {
        assert_eq!(ask(&gw).await["code"], "PARTNER_UNAVAILABLE");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(ask(&gw).await["code"], "PARTNER_CIRCUIT_OPEN");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an open circuit does not call the partner"
    );
    let status = gw.data(STATUS, json!({})).await;
    assert_eq!(
        status["provinces"],
        json!([
            { "province": { "code": "19" }, "thisGateway": true, "reachable": true, "circuit": null, "lastError": null },
            { "province": { "code": "40" }, "thisGateway": false, "reachable": false, "circuit": "OPEN",
              "lastError": "PARTNER_UNAVAILABLE" },
        ])
    );
}

#[tokio::test]
async fn the_circuit_closes_when_a_probe_succeeds() {
    let (endpoint, ca, _dir, calls, _) = scripted_partner(
        |n| {
            if n < 2 {
                Fault::Status(503)
            } else {
                unknown_certificate()
            }
        },
        false,
    )
    .await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| {
        config.federation.retries = 0;
        config.federation.breaker_failures = 2;
        config.federation.breaker_open_for = std::time::Duration::ZERO;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(ask(&gw).await["code"], "PARTNER_UNAVAILABLE");
    }
    assert_eq!(
        gw.data(STATUS, json!({})).await["provinces"][1]["circuit"],
        "HALF_OPEN"
    );
    let answer = gw
        .data(
            r#"{ verifyCertificate(number: "40-ATTP-2024-000001") { valid reason } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        answer["verifyCertificate"],
        json!({ "valid": false, "reason": "UNKNOWN" })
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let status = gw.data(STATUS, json!({})).await;
    assert_eq!(status["provinces"][1]["circuit"], "CLOSED");
    assert_eq!(status["provinces"][1]["reachable"], true);
}

#[tokio::test]
async fn a_passing_failure_is_retried_within_the_budget() {
    let (endpoint, ca, _dir, calls, _) = scripted_partner(
        |n| {
            if n == 0 {
                Fault::Status(503)
            } else {
                unknown_certificate()
            }
        },
        false,
    )
    .await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| config.federation.retries = 2).await;
    let answer = gw
        .data(
            r#"{ verifyCertificate(number: "40-ATTP-2024-000001") { reason } }"#,
            json!({}),
        )
        .await;
    assert_eq!(answer["verifyCertificate"]["reason"], "UNKNOWN");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A refusal is not retried.
    let (endpoint, ca, _dir, calls, _) = scripted_partner(|_| Fault::Status(403), false).await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| config.federation.retries = 2).await;
    assert_eq!(ask(&gw).await["code"], "PARTNER_REJECTED");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn provinces_report_the_partner_certificate_expiry() {
    let (endpoint, ca, _dir, _, _) = scripted_partner(|_| unknown_certificate(), false).await;
    let gw = gateway_with_partner(endpoint, ca).await;
    gw.data(
        r#"{ verifyCertificate(number: "40-ATTP-2024-000001") { reason } }"#,
        json!({}),
    )
    .await;
    let status = gw
        .data(
            "{ provinces { reachable lastLatencyMs certificateExpiresAt } }",
            json!({}),
        )
        .await;
    let partner = &status["provinces"][1];
    assert_eq!(partner["reachable"], true);
    assert!(partner["lastLatencyMs"].as_f64().unwrap() > 0.0);
    let expires = partner["certificateExpiresAt"].as_str().expect("an expiry");
    assert!(expires > "2027", "{expires}");
}

#[tokio::test]
async fn the_request_id_and_trace_travel_with_partner_calls() {
    let (endpoint, ca, _dir, _, seen) = scripted_partner(|_| unknown_certificate(), false).await;
    let gw = gateway_with_partner(endpoint, ca).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = gw
        .client_as(Role::Dashboard)
        .post(gw.url())
        .header("x-request-id", "kiem-tra-42")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({ "query": r#"{ verifyCertificate(number: "40-ATTP-2024-000001") { reason } }"# }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "kiem-tra-42");
    let headers = seen.lock().unwrap().pop().expect("the partner was called");
    assert_eq!(headers["x-request-id"], "kiem-tra-42");
    assert_eq!(headers["x-caunoi-hop"], "1");
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "a new span for our call: {traceparent}"
    );
}

#[tokio::test]
async fn a_partner_that_does_not_answer_holds_none_of_our_turns() {
    let asked = Arc::new(tokio::sync::Notify::new());
    let noticed = asked.clone();
    let (endpoint, ca, _dir, _, _) = scripted_partner(
        move |_| {
            noticed.notify_one();
            Fault::NeverAnswers
        },
        false,
    )
    .await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| {
        config.limits.concurrent_requests = 1;
        config.federation.retries = 0;
        config.federation.timeout = std::time::Duration::from_secs(30);
        config.limits.request_timeout = std::time::Duration::from_secs(60);
    })
    .await;
    let waiting = tokio::spawn({
        let client = gw.client_as(Role::Dashboard);
        let url = gw.url();
        async move {
            let query = r#"{ verifyCertificate(number: "40-ATTP-2024-000001") { valid } }"#;
            client
                .post(url)
                .json(&json!({ "query": query }))
                .send()
                .await
        }
    });
    asked.notified().await;
    // The one turn's request waits on the partner; our own data is answered
    // meanwhile, not after the partner times out.
    let answer = gw.data("{ province { code } }", json!({})).await;
    assert_eq!(answer["province"]["code"], "19");
    assert!(!waiting.is_finished(), "the federated request ended first");
    waiting.abort();
}

/// A mutation that runs out of time (here waiting on a partner that never
/// answers to confirm its facility) is answered 503 `TIMEOUT`, counted, and
/// audited as a timeout with nothing returned; before, it left no audit entry
/// and no metric.
#[tokio::test]
async fn a_request_out_of_time_is_audited_and_counted_as_a_timeout() {
    let (endpoint, ca, _dir) = fake_partner(Fault::NeverAnswers, false).await;
    let gw = gateway_with_partner_tuned(endpoint, ca, |config| {
        config.limits.request_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let response = gw
        .http
        .post(gw.url())
        .json(&json!({
            "query": "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id } }",
            "variables": { "i": { "facilityId": "Facility:40:1", "stage": "TRADING",
                                  "inspectedOn": crate::helpers::day(-1), "result": "PASS" } },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "TIMEOUT");
    assert!(answer.get("data").is_none(), "{answer}");
    let inspections = gw
        .data(
            "{ inspections(scope: LOCAL) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(inspections["inspections"]["edges"], json!([]));
    let log = gw
        .data(
            "{ auditLog(filter: { outcome: TIMEOUT }) { edges { node { operationType records errorCodes } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        log["auditLog"]["edges"],
        json!([{ "node": { "operationType": "mutation", "records": [], "errorCodes": ["TIMEOUT"] } }])
    );
    let metrics = caunoi::server::metrics::handle().render();
    for line in [
        r#"caunoi_requests_total{caller="operator",operation="mutation",outcome="timeout"}"#,
        r#"caunoi_request_duration_seconds_bucket{caller="operator",outcome="timeout",le="0.5"}"#,
        r#"caunoi_requests_in_flight{caller="operator"}"#,
    ] {
        assert!(metrics.contains(line), "/metrics lacks {line}");
    }
}
