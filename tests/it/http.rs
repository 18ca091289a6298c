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

const CREATE: &str =
    r#"mutation { createFacility(input: { name: "X", kind: TRADER, commune: "Vinh" }) { id } }"#;

/// A browser sends a form or plain text from any page without a preflight,
/// with the officer's certificate: such a body runs nothing, mutation or not.
#[tokio::test]
async fn a_post_that_is_not_json_runs_nothing() {
    let gw = spawn_gateway().await;
    let body = json!({ "query": CREATE }).to_string();
    let before = gw.counts().await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=iso-8859-1"),
        None,
    ] {
        let mut request = gw
            .http
            .post(gw.url())
            .header("origin", "https://example.net")
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "content-type");
    }
    assert_eq!(gw.counts().await, before, "a refused body wrote");
    let response = gw
        .http
        .post(gw.url())
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_ne!(gw.counts().await, before, "JSON runs");
}

#[tokio::test]
async fn get_runs_queries_never_mutations_and_serves_graphiql_to_our_own() {
    let (gw, partner, _dir) = crate::helpers::spawn_with_partner().await;
    let before = gw.counts().await;
    let response = gw
        .http
        .get(gw.url())
        .query(&[("query", CREATE)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "method");
    // Named among several, it is refused all the same.
    let response = gw
        .http
        .get(gw.url())
        .query(&[(
            "query",
            format!(
                "query Q {{ province {{ code }} }} {}",
                CREATE.replacen("mutation", "mutation M", 1)
            ),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(gw.counts().await, before);

    let response = gw
        .http
        .get(gw.url())
        .query(&[
            ("query", "query($first: Int) { facilities(first: $first) { edges { cursor } } province { code } }"),
            ("variables", r#"{"first": 5}"#),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"]["province"]["code"], "19", "{answer}");
    let response = gw
        .http
        .get(gw.url())
        .query(&[("query", "{ province { code } }"), ("variables", "[1]")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["field"], "variables");

    let page = gw.http.get(gw.url()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    let refused = gw
        .client(Some(&partner.leaf("40", caunoi::domain::Role::Gateway)))
        .get(gw.url())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

/// Posts `query` accepting `accept`: the status, the content type and the answer.
async fn accepting(
    gw: &crate::helpers::TestGateway,
    client: &reqwest::Client,
    accept: &str,
    query: &str,
    variables: Value,
) -> (u16, String, Value) {
    let response = client
        .post(gw.url())
        .header("accept", accept)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, media, response.json().await.unwrap())
}

#[tokio::test]
async fn graphql_response_json_answers_with_the_specifications_status_codes() {
    const GRAPHQL: &str = "application/graphql-response+json";
    let gw = spawn_gateway().await;
    let operator = gw.http.clone();
    let dashboard = gw.client_as(caunoi::domain::Role::Dashboard);
    let lookup = "query($first: Int) { facilities(first: $first) { edges { cursor } } }";
    for (client, query, variables, status) in [
        (&operator, "{ province { code } }", json!({}), 200),
        // A field's error leaves the rest: execution began.
        (&operator, lookup, json!({ "first": 1000 }), 200),
        (&operator, "{ province { code }", json!({}), 400),
        (&operator, "{ province { colour } }", json!({}), 400),
        (&operator, lookup, json!({ "first": "many" }), 400),
        (&dashboard, CREATE, json!({}), 403),
    ] {
        let (got, media, answer) = accepting(&gw, client, GRAPHQL, query, variables).await;
        assert_eq!(got, status, "{query}: {answer}");
        assert_eq!(media, GRAPHQL);
        let object = answer.as_object().unwrap();
        assert_eq!(object.contains_key("data"), status == 200, "{answer}");
        if status != 200 {
            assert!(answer["errors"][0]["extensions"]["code"].is_string());
        }
    }
    // The older type: 200 for every well-formed request, no data when it did
    // not run.
    let (status, media, answer) = accepting(
        &gw,
        &operator,
        "application/json",
        "{ province {",
        json!({}),
    )
    .await;
    assert_eq!((status, media.as_str()), (200, "application/json"));
    assert!(
        !answer.as_object().unwrap().contains_key("data"),
        "{answer}"
    );
    let response = operator
        .post(gw.url())
        .header("accept", "text/html")
        .json(&json!({ "query": "{ province { code } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
}

/// The store answers `facilities` after `province`, whose value is at hand:
/// resolved side by side, they came back in the order they finished.
#[tokio::test]
async fn an_answer_follows_the_order_of_the_query() {
    let gw = spawn_gateway().await;
    gw.create_facility("Cơ sở", json!({})).await;
    let query = "{ facilities { edges { node { name province { code name } id } } }
                   province { name code } z: province { code } a: facilities(first: 1) { edges { cursor } } }";
    let answer = gw.post(query, json!({})).await;
    let keys =
        |value: &Value| -> Vec<String> { value.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&answer["data"]), ["facilities", "province", "z", "a"]);
    assert_eq!(keys(&answer["data"]["province"]), ["name", "code"]);
    let node = &answer["data"]["facilities"]["edges"][0]["node"];
    assert_eq!(keys(node), ["name", "province", "id"]);
}

#[tokio::test]
async fn an_answer_carries_at_most_fifty_errors_and_counts_the_rest() {
    let gw = spawn_gateway().await;
    let fields: String = (0..200).map(|i| format!(" f{i}")).collect();
    let answer = gw
        .post(&format!("{{ province {{{fields} }} }}"), json!({}))
        .await;
    assert_eq!(answer["errors"].as_array().unwrap().len(), 50, "{answer}");
    assert_eq!(answer["extensions"]["errorsLeftOut"], 150);
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
