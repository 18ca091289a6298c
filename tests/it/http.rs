//! The HTTP edge: body limits, malformed bodies, methods.

use serde_json::{Value, json};

use crate::helpers::spawn_gateway;

#[tokio::test]
async fn a_ten_megabyte_string_is_refused_before_parsing_and_stores_nothing() {
    let gw = spawn_gateway().await;
    let before = gw.counts().await;
    let response = gw
        .http
        .post(gw.url())
        .json(&json!({
            "query": "mutation($n: String!) { createFacility(input: { name: $n, kind: TRADER, commune: \"Vinh\" }) { id } }",
            "variables": { "n": "a".repeat(10 * 1024 * 1024) },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "body");
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_a_bad_request() {
    let gw = spawn_gateway().await;
    for body in ["{not json", "[]", r#"{"variables": {}}"#] {
        let response = gw
            .http
            .post(gw.url())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{body}"
        );
    }
}

#[tokio::test]
async fn get_serves_graphiql_and_never_runs_a_mutation() {
    let gw = spawn_gateway().await;
    let mutation = r#"mutation { createFacility(input: { name: "X", kind: TRADER, commune: "Vinh" }) { id } }"#;
    let response = gw
        .http
        .get(gw.url())
        .query(&[("query", mutation)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("graphiql"),
        "GET /graphql serves the GraphiQL page"
    );
    let facilities = gw
        .data("{ facilities { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(facilities["facilities"]["edges"], json!([]));
}

#[tokio::test]
async fn internal_errors_never_leak_their_cause() {
    use sea_orm::{ConnectionTrait, Database};
    let gw = spawn_gateway().await;
    gw.create_facility("Cơ sở", json!({})).await;
    // Corrupt a stored enumeration behind the API's back.
    let db = Database::connect(&gw.database_url).await.unwrap();
    db.execute_unprepared("UPDATE facility SET kind = 'spaceship'")
        .await
        .unwrap();
    let answer = gw
        .post("{ facilities { edges { node { kind } } } }", json!({}))
        .await;
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "INTERNAL");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("internal error (incident "),
        "{message}"
    );
    assert!(!message.contains("spaceship"), "{message}");
}

#[tokio::test]
async fn the_ops_listener_serves_health_and_nothing_else() {
    let gw = spawn_gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(gw.app.clone().run_ops(listener, std::future::pending()));
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{address}{path}"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(get("/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(get("/graphql").await.0, 404);
    gw.counts().await;
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    for line in [
        r#"caunoi_requests_total{caller="operator",operation="query",outcome="ok"}"#,
        r#"caunoi_tls_handshakes_total{result="ok"}"#,
    ] {
        assert!(metrics.contains(line), "/metrics lacks {line}:\n{metrics}");
    }
    let posted = http
        .post(format!("http://{address}/graphql"))
        .json(&json!({ "query": "{ facilities { edges { cursor } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
}
