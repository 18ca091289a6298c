//! Spawning gateways and talking to them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use std::sync::Arc;

use caunoi::app::App;
use caunoi::config::Config;
use caunoi::domain::{Principal, ProvinceCode, Role};
use caunoi::pki::{Authority, LeafSpec};
use caunoi::store::Store;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A gateway running in this test's runtime.
pub struct TestGateway {
    pub province: String,
    pub address: SocketAddr,
    /// The gateway's database, for tests that must reach behind the API.
    pub database_url: String,
    /// Its CA, to mint more client certificates.
    pub pki: TestPki,
    /// A client holding an operator's certificate.
    pub http: reqwest::Client,
    /// The running app, for reloading its TLS material.
    pub app: App,
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
    fresh_store_of(dir, "19").await
}

/// A migrated store of `province` on a fresh database, and its URL.
pub async fn fresh_store_of(dir: &std::path::Path, province: &str) -> (Store, String) {
    install_crypto();
    let url = fresh_database_url(dir).await;
    let store = Store::connect(&url, ProvinceCode::parse(province).unwrap())
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

/// A province's PKI minted for one test: its CA on disk where the gateway's
/// configuration expects it, and in memory to sign more.
pub struct TestPki {
    pub authority: Authority,
}

impl TestPki {
    /// Creates the CA and gateway certificate of `province` under `dir/pki`.
    pub fn create(dir: &std::path::Path, province: &str) -> Self {
        let province = ProvinceCode::parse(province).unwrap();
        let pki = dir.join("pki");
        caunoi::pki::init(
            &pki,
            province,
            &["localhost".to_owned(), "127.0.0.1".to_owned()],
        )
        .expect("a test PKI");
        Self {
            authority: Authority::load(&pki).unwrap(),
        }
    }

    /// A leaf of this CA for `urn:caunoi:<province>:<role>` (any province).
    pub fn leaf(&self, province: &str, role: Role) -> caunoi::pki::Leaf {
        self.leaf_with(province, role, |_| {})
    }

    /// A leaf of this CA, its specification changed by `adjust`.
    pub fn leaf_with(
        &self,
        province: &str,
        role: Role,
        adjust: impl FnOnce(&mut LeafSpec),
    ) -> caunoi::pki::Leaf {
        let principal = Principal::new(ProvinceCode::parse(province).unwrap(), role);
        let mut spec = LeafSpec::client(principal, &format!("test {principal}"));
        adjust(&mut spec);
        self.authority.leaf(&spec).unwrap()
    }
}

/// An HTTPS client that trusts `server_ca` and presents `leaf`, if any.
pub fn https_client(server_ca: &str, leaf: Option<&caunoi::pki::Leaf>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server_ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .tls_info(true)
        .build()
        .unwrap()
}

/// Starts a gateway of province 19 on an empty database.
pub async fn spawn_gateway() -> TestGateway {
    spawn_gateway_with(|_| {}).await
}

/// Starts a gateway of province 19, its configuration changed by `adjust`.
pub async fn spawn_gateway_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pki = TestPki::create(dir.path(), "19");
    start("19", dir, pki, bind(), adjust).await
}

/// A loopback listener on a free port.
pub fn bind() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port")
}

/// Starts a gateway of `province` whose state lives in `dir`, on `listener`.
pub async fn start(
    province: &str,
    dir: tempfile::TempDir,
    pki: TestPki,
    listener: std::net::TcpListener,
    adjust: impl FnOnce(&mut Config),
) -> TestGateway {
    let (store, database_url) = fresh_store_of(dir.path(), province).await;
    let mut config = config(dir.path());
    config.province.code = province.to_owned();
    adjust(&mut config);
    let app = App::with_store(&config, store).expect("the app builds");
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.clone().run(listener, async {
        let _ = stopped.await;
    }));
    let operator = pki.leaf(province, Role::Operator);
    TestGateway {
        province: province.to_owned(),
        address,
        database_url,
        http: https_client(pki.authority.cert_pem(), Some(&operator)),
        app,
        pki,
        _state: dir,
        _stop: stop,
    }
}

impl TestGateway {
    /// Where the gateway's certificate, key and CA are.
    pub fn pki_dir(&self) -> std::path::PathBuf {
        self._state.path().join("pki")
    }

    pub fn url(&self) -> String {
        format!("https://{}/graphql", self.address)
    }

    /// A client trusting this gateway and presenting `leaf`, if any.
    pub fn client(&self, leaf: Option<&caunoi::pki::Leaf>) -> reqwest::Client {
        https_client(self.pki.authority.cert_pem(), leaf)
    }

    /// A client of ours in `role`.
    pub fn client_as(&self, role: Role) -> reqwest::Client {
        self.client(Some(&self.pki.leaf(&self.province, role)))
    }

    /// Posts a query with `client`; returns the HTTP status and the JSON answer.
    pub async fn post_with(
        &self,
        client: &reqwest::Client,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let response = client
            .post(self.url())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the gateway answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("the answer is JSON"))
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

/// A gateway of province 19 that trusts partner 40's CA, and that partner's PKI.
pub async fn spawn_with_partner() -> (TestGateway, TestPki, tempfile::TempDir) {
    let partner_dir = tempfile::tempdir().unwrap();
    let partner = TestPki::create(partner_dir.path(), "40");
    let partner_ca = partner_dir.path().join("pki").join(caunoi::pki::CA_CERT);
    let gw = spawn_gateway_with(|config| {
        config.partners = vec![caunoi::config::Partner {
            province: "40".to_owned(),
            name: Some("Nghệ An".to_owned()),
            ca: partner_ca,
            endpoint: None,
            sync_every: None,
        }]
    })
    .await;
    (gw, partner, partner_dir)
}

/// Thái Nguyên (19) and Nghệ An (40), each the other's partner, over real mTLS.
pub async fn spawn_pair() -> (TestGateway, TestGateway) {
    spawn_pair_with(|_| {}, |_| {}).await
}

/// A pair whose configurations are changed by `adjust_19` and `adjust_40`.
pub async fn spawn_pair_with(
    adjust_19: impl FnOnce(&mut Config),
    adjust_40: impl FnOnce(&mut Config),
) -> (TestGateway, TestGateway) {
    let (mut adjust_19, mut adjust_40) = (Some(adjust_19), Some(adjust_40));
    let mut gateways = spawn_provinces(&["19", "40"], |province, config| {
        let adjust: Box<dyn FnOnce(&mut Config)> = match province {
            "19" => Box::new(adjust_19.take().expect("one gateway of 19")),
            _ => Box::new(adjust_40.take().expect("one gateway of 40")),
        };
        adjust(config);
    })
    .await;
    let nghe_an = gateways.pop().expect("two gateways");
    let thai_nguyen = gateways.pop().expect("two gateways");
    (thai_nguyen, nghe_an)
}

/// A gateway of each of `provinces`, each every other's partner, over real
/// mTLS; `adjust` changes each one's configuration, its partners set.
pub async fn spawn_provinces(
    provinces: &[&str],
    mut adjust: impl FnMut(&str, &mut Config),
) -> Vec<TestGateway> {
    let sites: Vec<_> = provinces
        .iter()
        .map(|province| {
            let dir = tempfile::tempdir().unwrap();
            let pki = TestPki::create(dir.path(), province);
            (*province, dir, pki, bind())
        })
        .collect();
    let partners: Vec<caunoi::config::Partner> = sites
        .iter()
        .map(|(province, dir, _, listener)| caunoi::config::Partner {
            province: (*province).to_owned(),
            name: None,
            ca: dir.path().join("pki").join(caunoi::pki::CA_CERT),
            endpoint: Some(format!(
                "https://127.0.0.1:{}/graphql",
                listener.local_addr().unwrap().port()
            )),
            sync_every: None,
        })
        .collect();
    let mut gateways = Vec::new();
    for (province, dir, pki, listener) in sites {
        let others = partners
            .iter()
            .filter(|p| p.province != province)
            .cloned()
            .collect();
        gateways.push(
            start(province, dir, pki, listener, |config| {
                config.partners = others;
                adjust(province, config);
            })
            .await,
        );
    }
    gateways
}

/// Serves `router` over TLS on loopback as a fake Nghệ An gateway, with a
/// certificate from a fresh Nghệ An CA; returns its endpoint, that CA's file
/// and the directory holding them. With `trusting_nobody`, it demands a client
/// certificate from a CA we do not have.
pub fn serve_fake_partner(
    router: axum::Router,
    trusting_nobody: bool,
) -> (String, std::path::PathBuf, tempfile::TempDir) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().unwrap();
    TestPki::create(dir.path(), "40");
    let pki = dir.path().join("pki");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(pki.join("gateway.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(pki.join("gateway.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = if trusting_nobody {
        let stranger = TestPki::create(tempfile::tempdir().unwrap().path(), "01");
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(stranger.authority.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap()
    } else {
        builder
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = bind();
    let endpoint = format!(
        "https://127.0.0.1:{}/graphql",
        listener.local_addr().unwrap().port()
    );
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
    tokio::spawn(
        axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .serve(router.into_make_service()),
    );
    (endpoint, pki.join("ca.pem"), dir)
}

/// A gateway of Thái Nguyên whose partner Nghệ An is at `endpoint`, vouched
/// for by the CA in `ca`; 500 ms partner timeout, 64 KiB answers at most, and
/// whatever else `tune` sets.
pub async fn gateway_with_partner_tuned(
    endpoint: String,
    ca: std::path::PathBuf,
    tune: impl FnOnce(&mut caunoi::config::Config),
) -> TestGateway {
    spawn_gateway_with(move |config| {
        config.partners = vec![caunoi::config::Partner {
            province: "40".to_owned(),
            name: Some("Nghệ An".to_owned()),
            ca,
            endpoint: Some(endpoint),
            sync_every: None,
        }];
        config.federation.timeout = std::time::Duration::from_millis(500);
        config.federation.max_response_bytes = 64 * 1024;
        tune(config);
    })
    .await
}

/// Holds the database's write lock from another connection until dropped:
/// SQLite's, with an immediate transaction; PostgreSQL's heads of the audit
/// chain and the change feed, which every write moves.
pub async fn lock_writes(url: &str) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let db = Database::connect(url).await.unwrap();
    if url.starts_with("sqlite:") {
        let options = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        db.begin_with_options(options).await.unwrap()
    } else {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE audit_head, change_head IN EXCLUSIVE MODE")
            .await
            .unwrap();
        txn
    }
}

/// A TLS connection to `gw` presenting `leaf`, speaking `alpn`.
pub async fn tls_connect(
    gw: &TestGateway,
    leaf: &caunoi::pki::Leaf,
    alpn: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(gw.pki.authority.cert_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .map(Result::unwrap)
            .collect(),
        PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(gw.address).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
}
