//! Spawning gateways and talking to them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use caunoi::app::App;
use caunoi::config::Config;
use caunoi::domain::ProvinceCode;
use caunoi::store::Store;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A gateway running in this test's runtime.
pub struct TestGateway {
    pub address: SocketAddr,
    /// The gateway's database, for tests that must reach behind the API.
    pub database_url: String,
    pub http: reqwest::Client,
    _state: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

/// The database URL for a fresh test database: SQLite under `dir`, or a new
/// database on the PostgreSQL server named by `TEST_POSTGRES_URL`.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            use sea_orm::{ConnectionTrait, Database};
            let name = format!("caunoi_test_{:016x}", fastrand::u64(..));
            let admin = Database::connect(&server)
                .await
                .expect("the PostgreSQL server in TEST_POSTGRES_URL answers");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("a test database can be created");
            let base = server
                .rsplit_once('/')
                .map_or(server.as_str(), |(base, _)| base);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.sqlite").display()),
    }
}

/// A migrated store of province 19 on a fresh database, and its URL.
pub async fn fresh_store(dir: &std::path::Path) -> (Store, String) {
    install_crypto();
    let url = fresh_database_url(dir).await;
    let store = Store::connect(&url, ProvinceCode::parse("19").unwrap())
        .await
        .expect("the test database opens");
    store.migrate().await.expect("migrations apply");
    (store, url)
}

fn install_crypto() {
    // Tests share a process; the first one to get here installs ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Test configuration: province 19, names of 19 and 40, small limits.
pub fn config(dir: &std::path::Path) -> Config {
    Config {
        state_dir: dir.to_path_buf(),
        province_names: BTreeMap::from([
            ("19".to_owned(), "Thái Nguyên".to_owned()),
            ("40".to_owned(), "Nghệ An".to_owned()),
        ]),
        ..Config::default()
    }
}

/// Starts a gateway of province 19 on an empty database.
pub async fn spawn_gateway() -> TestGateway {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, database_url) = fresh_store(dir.path()).await;
    let app = App::with_store(&config(dir.path()), store).expect("the app builds");
    spawn_app(app, database_url, dir).await
}

/// Serves `app` on `127.0.0.1:0` until the returned gateway is dropped.
pub async fn spawn_app(app: App, database_url: String, dir: tempfile::TempDir) -> TestGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run(listener, async {
        let _ = stopped.await;
    }));
    TestGateway {
        address,
        database_url,
        http: reqwest::Client::new(),
        _state: dir,
        _stop: stop,
    }
}

impl TestGateway {
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.address)
    }

    /// Posts a query with variables; returns the whole JSON answer.
    pub async fn post(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(self.url())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200, "GraphQL answers are HTTP 200");
        response.json().await.expect("the answer is JSON")
    }

    /// Posts a query that must succeed; returns its `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let answer = self.post(query, variables).await;
        assert!(
            answer.get("errors").is_none(),
            "unexpected errors: {answer:#}"
        );
        answer["data"].clone()
    }

    /// Creates a facility of province 19 with `extra` input fields; returns it.
    pub async fn create_facility(&self, name: &str, extra: Value) -> Value {
        let mut input = json!({
            "name": name,
            "kind": "COOPERATIVE",
            "commune": "Tân Cương",
            "district": "Thành phố Thái Nguyên",
            "suppliesTo": ["40"],
        });
        merge(&mut input, extra);
        self.data(
            "mutation($input: CreateFacilityInput!) { createFacility(input: $input) { id version name } }",
            json!({ "input": input }),
        )
        .await["createFacility"]
            .clone()
    }

    /// Issues a certificate to `facility` with `extra` input fields; returns it.
    pub async fn issue_certificate(&self, facility: &str, extra: Value) -> Value {
        let mut input = json!({
            "facilityId": facility,
            "kind": "ELIGIBILITY",
            "scope": ["Chè búp tươi", "Chè khô"],
            "issuingAuthority": "Chi cục Quản lý chất lượng Nông Lâm sản và Thủy sản tỉnh Thái Nguyên",
        });
        merge(&mut input, extra);
        self.data(
            "mutation($input: IssueCertificateInput!) {
               issueCertificate(input: $input) { id version number status issuedOn expiresOn }
             }",
            json!({ "input": input }),
        )
        .await["issueCertificate"]
            .clone()
    }

    /// Every record's id and version (tests hold fewer than 100 of each), to
    /// prove a refused write stored nothing.
    pub async fn counts(&self) -> Value {
        self.data(
            "{ facilities(first: 100) { edges { node { id version } } }
               certificates(first: 100) { edges { node { id version } } }
               products(first: 100) { edges { node { id version } } }
               inspections(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await
    }
}

/// The `extensions` of the first error, which must exist.
pub fn first_error(answer: &Value) -> &Value {
    let errors = answer["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors in {answer:#}"));
    &errors[0]["extensions"]
}

/// Asserts the answer failed with `code` naming `field`.
pub fn assert_invalid(answer: &Value, field: &str) {
    let extensions = first_error(answer);
    assert_eq!(extensions["code"], "INVALID_INPUT", "{answer:#}");
    assert_eq!(extensions["field"], field, "{answer:#}");
}

/// Asserts the answer failed with `code`.
pub fn assert_code(answer: &Value, code: &str) {
    assert_eq!(first_error(answer)["code"], code, "{answer:#}");
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

/// Today in Vietnam, as the gateway sees it, plus `days`.
pub fn day(days: i64) -> String {
    (caunoi::domain::today() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}
