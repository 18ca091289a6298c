//! Mutual TLS and caller identity, over real TLS on 127.0.0.1.

use caunoi::config::Partner;
use caunoi::domain::Role;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::helpers::{TestGateway, TestPki, spawn_gateway, spawn_gateway_with};

const PROVINCE: &str = "{ province { code } }";
const CREATE: &str = r#"mutation { createFacility(input: { name: "Cơ sở", kind: TRADER, commune: "Vinh" }) { id } }"#;

/// Whether a request with `client` gets through the TLS handshake at all.
async fn handshake_refused(gw: &TestGateway, client: &reqwest::Client) -> bool {
    client
        .post(gw.url())
        .json(&json!({ "query": PROVINCE }))
        .send()
        .await
        .is_err()
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused_in_the_handshake() {
    let gw = spawn_gateway().await;
    assert!(handshake_refused(&gw, &gw.client(None)).await);
}

#[tokio::test]
async fn untrusted_expired_early_and_server_only_certificates_are_refused() {
    let gw = spawn_gateway().await;
    let stranger = TestPki::create(tempfile::tempdir().unwrap().path(), "19");
    let cases = [
        ("another CA's", stranger.leaf("19", Role::Operator)),
        (
            "expired",
            gw.pki.leaf_with("19", Role::Operator, |spec| {
                spec.not_before = OffsetDateTime::now_utc() - Duration::days(30);
                spec.not_after = OffsetDateTime::now_utc() - Duration::days(1);
            }),
        ),
        (
            "not yet valid",
            gw.pki.leaf_with("19", Role::Operator, |spec| {
                spec.not_before = OffsetDateTime::now_utc() + Duration::days(1);
            }),
        ),
        (
            "server-only",
            gw.pki.leaf_with("19", Role::Operator, |spec| {
                spec.server = true;
                spec.client = false;
            }),
        ),
    ];
    for (what, leaf) in cases {
        assert!(
            handshake_refused(&gw, &gw.client(Some(&leaf))).await,
            "{what} certificate got in"
        );
    }
    // The real operator still gets in.
    assert!(!handshake_refused(&gw, &gw.http).await);
}

#[tokio::test]
async fn a_certificate_revoked_by_a_loaded_crl_is_refused_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let crl_path = dir.path().join("ca.crl");
    let crl_path_for_config = crl_path.clone();
    // Start with an empty CRL from the gateway's CA, written once the CA exists.
    let gw = spawn_gateway_with(move |config| {
        let authority = caunoi::pki::Authority::load(&config.pki_dir()).unwrap();
        let now = OffsetDateTime::now_utc();
        let crl = authority
            .crl(&[], now - Duration::minutes(1), now + Duration::days(7))
            .unwrap();
        std::fs::write(&crl_path_for_config, crl).unwrap();
        config.tls.crls = vec![crl_path_for_config.clone()];
    })
    .await;
    let dashboard = gw.pki.leaf("19", Role::Dashboard);
    assert!(!handshake_refused(&gw, &gw.client(Some(&dashboard))).await);

    let now = OffsetDateTime::now_utc();
    let crl = gw
        .pki
        .authority
        .crl(
            std::slice::from_ref(&dashboard.serial),
            now - Duration::minutes(1),
            now + Duration::days(7),
        )
        .unwrap();
    std::fs::write(&crl_path, crl).unwrap();
    gw.app.tls().reload().unwrap();
    assert!(handshake_refused(&gw, &gw.client(Some(&dashboard))).await);
    assert!(!handshake_refused(&gw, &gw.client_as(Role::Operator)).await);

    // An expired CRL is refused, and the material in force stays.
    let stale = gw
        .pki
        .authority
        .crl(&[], now - Duration::days(10), now - Duration::days(1))
        .unwrap();
    std::fs::write(&crl_path, stale).unwrap();
    let error = gw.app.tls().reload().unwrap_err();
    assert!(format!("{error:#}").contains("expired"), "{error:#}");
    assert!(handshake_refused(&gw, &gw.client(Some(&dashboard))).await);
    assert!(!handshake_refused(&gw, &gw.client_as(Role::Operator)).await);
}

#[tokio::test]
async fn a_partner_ca_claiming_another_province_is_forbidden() {
    let partner_dir = tempfile::tempdir().unwrap();
    let partner = TestPki::create(partner_dir.path(), "40");
    let partner_ca = partner_dir.path().join("pki").join(caunoi::pki::CA_CERT);
    let gw = spawn_gateway_with(|config| {
        config.partners = vec![Partner {
            province: "40".to_owned(),
            name: Some("Nghệ An".to_owned()),
            ca: partner_ca,
            endpoint: None,
            sync_every: None,
        }]
    })
    .await;
    for (province, role) in [
        ("19", Role::Operator),
        ("19", Role::Gateway),
        ("40", Role::Operator),
        ("01", Role::Gateway),
    ] {
        let leaf = partner.leaf(province, role);
        let (status, answer) = gw
            .post_with(&gw.client(Some(&leaf)), PROVINCE, json!({}))
            .await;
        assert_eq!(status, 403, "partner CA vouching for {province}:{role:?}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
        assert_eq!(answer.get("data"), None);
    }
    // Its own gateway is authenticated, but may not write.
    let before = gw.counts().await;
    let gateway = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (status, answer) = gw.post_with(&gateway, CREATE, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn unknown_roles_and_missing_identities_are_forbidden() {
    let gw = spawn_gateway().await;
    let cases = [
        gw.pki.leaf_with("19", Role::Operator, |spec| {
            spec.uri = "urn:caunoi:19:admin".to_owned()
        }),
        gw.pki.leaf_with("19", Role::Operator, |spec| {
            spec.uri = "https://caunoi.example/19".to_owned()
        }),
        gw.pki.leaf("40", Role::Operator),
        gw.pki.leaf("19", Role::Gateway),
    ];
    for leaf in &cases {
        let (status, answer) = gw
            .post_with(&gw.client(Some(leaf)), PROVINCE, json!({}))
            .await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
    }
}

#[tokio::test]
async fn each_role_does_what_the_policy_allows() {
    let gw = spawn_gateway().await;
    let code = |answer: &serde_json::Value| answer["errors"][0]["extensions"]["code"].clone();
    let operator = gw.client_as(Role::Operator);
    let dashboard = gw.client_as(Role::Dashboard);
    let sync = gw.client_as(Role::Sync);

    let (_, created) = gw.post_with(&operator, CREATE, json!({})).await;
    assert!(
        created["data"]["createFacility"]["id"].is_string(),
        "{created}"
    );
    let (_, read) = gw.post_with(&dashboard, PROVINCE, json!({})).await;
    assert_eq!(read["data"]["province"]["code"], "19");
    let before = gw.counts().await;
    let (_, written) = gw.post_with(&dashboard, CREATE, json!({})).await;
    assert_eq!(code(&written), "FORBIDDEN");
    for query in [PROVINCE, CREATE] {
        let (_, answer) = gw.post_with(&sync, query, json!({})).await;
        assert_eq!(code(&answer), "FORBIDDEN");
    }
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn headers_never_change_the_caller() {
    let gw = spawn_gateway().await;
    let dashboard = gw.client_as(Role::Dashboard);
    let answer: serde_json::Value = dashboard
        .post(gw.url())
        .header("x-caunoi-role", "operator")
        .header("x-forwarded-client-cert", "URI=urn:caunoi:19:operator")
        .header("x-ssl-client-s-dn", "CN=operator")
        .json(&json!({ "query": CREATE }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn a_fingerprint_allow_list_admits_only_its_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().to_path_buf();
    // The allow-list is filled in after the PKI exists, so build it here.
    let pki = TestPki::create(&pki_dir, "19");
    let allowed = pki.leaf("19", Role::Dashboard);
    let other = pki.leaf("19", Role::Dashboard);
    let fingerprint = {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let der = CertificateDer::from_pem_slice(allowed.cert_pem.as_bytes()).unwrap();
        caunoi::server::identity::fingerprint(&der)
    };
    let gw = spawn_gateway_with(move |config| {
        config.tls.dir = Some(pki_dir.join("pki"));
        config.tls.allowed_fingerprints = vec![fingerprint.to_uppercase()];
    })
    .await;
    let client = |leaf| crate::helpers::https_client(pki.authority.cert_pem(), Some(leaf));
    let (status, _) = gw.post_with(&client(&allowed), PROVINCE, json!({})).await;
    assert_eq!(status, 200);
    let (status, answer) = gw.post_with(&client(&other), PROVINCE, json!({})).await;
    assert_eq!(status, 403, "{answer}");
}

#[tokio::test]
async fn five_hundred_idle_connections_do_not_stop_a_real_client() {
    let gw = spawn_gateway().await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(tokio::net::TcpStream::connect(gw.address).await.unwrap());
    }
    let (status, answer) = gw
        .post_with(&gw.client_as(Role::Dashboard), PROVINCE, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["province"]["code"], "19");
    drop(idle);
}

/// The DER of the certificate the gateway presents to a new connection.
async fn served_certificate(gw: &TestGateway) -> Vec<u8> {
    let response = gw
        .client_as(Role::Dashboard)
        .post(gw.url())
        .json(&json!({ "query": PROVINCE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the client records the server's certificate")
        .to_vec()
}

#[tokio::test]
async fn a_rotated_gateway_certificate_is_served_after_a_reload() {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let gw = spawn_gateway().await;
    let before = served_certificate(&gw).await;
    let pki_dir = gw.pki_dir();
    let rotated = gw
        .pki
        .authority
        .leaf(&caunoi::pki::LeafSpec::gateway(
            caunoi::domain::ProvinceCode::parse("19").unwrap(),
            &["127.0.0.1".to_owned()],
        ))
        .unwrap();
    std::fs::write(pki_dir.join(caunoi::pki::GATEWAY_CERT), &rotated.cert_pem).unwrap();
    caunoi::pki::write_private(&pki_dir.join(caunoi::pki::GATEWAY_KEY), &rotated.key_pem).unwrap();
    assert!(gw.app.tls().reload_if_changed().unwrap());
    let after = served_certificate(&gw).await;
    let rotated_der = CertificateDer::from_pem_slice(rotated.cert_pem.as_bytes()).unwrap();
    assert_ne!(before, after);
    assert_eq!(after, rotated_der.as_ref());

    // A certificate that does not match its key is refused; the old one stays.
    std::fs::write(
        pki_dir.join(caunoi::pki::GATEWAY_CERT),
        gw.pki.authority.cert_pem(),
    )
    .unwrap();
    assert!(gw.app.tls().reload().is_err());
    assert_eq!(served_certificate(&gw).await, after);
}

#[tokio::test]
async fn the_readme_curl_command_works() {
    let gw = spawn_gateway().await;
    let dashboard = gw.pki.leaf("19", Role::Dashboard);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca = gw.pki_dir().join(caunoi::pki::CA_CERT);
    let cert = file("dashboard.pem", &dashboard.cert_pem);
    let key = file("dashboard.key", &dashboard.key_pem);
    let url = format!("https://localhost:{}/graphql", gw.address.port());
    let curl = |with_certificate: bool| {
        let mut command = std::process::Command::new("curl");
        command.args([
            "-s",
            "--resolve",
            &format!("localhost:{}:127.0.0.1", gw.address.port()),
        ]);
        command.arg("--cacert").arg(&ca);
        if with_certificate {
            command.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        command
            .args([
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"query":"{ province { code name } }"}"#,
            ])
            .arg(&url);
        // The gateway runs on this test's runtime: wait for curl off it.
        tokio::task::spawn_blocking(move || command.output())
    };
    let output = curl(true)
        .await
        .unwrap()
        .expect("curl is installed (the README uses it)");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer,
        json!({ "data": { "province": { "code": "19", "name": "Thái Nguyên" } } })
    );
    let refused = curl(false).await.unwrap().unwrap();
    assert!(
        !refused.status.success(),
        "curl without a client certificate got in"
    );
}
