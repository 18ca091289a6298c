//! Sync passes: the replica follows what a partner shares, exactly once.

use caunoi::domain::ProvinceCode;
use caunoi::sync::{SyncError, sync_once};
use serde_json::{Value, json};

use crate::helpers::{TestGateway, spawn_pair, spawn_pair_with};

fn nghe_an() -> ProvinceCode {
    ProvinceCode::parse("40").unwrap()
}

/// `(kind, id, version)` of every replica row of Nghệ An kept in Thái Nguyên.
async fn replica(tn: &TestGateway) -> Vec<(String, i64, i32)> {
    let mut rows: Vec<_> = tn
        .app
        .store()
        .replica_rows(nghe_an())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.kind, row.record_id, row.version))
        .collect();
    rows.sort();
    rows
}

async fn pass(tn: &TestGateway) -> caunoi::sync::Report {
    sync_once(tn.app.store(), tn.app.partners(), nghe_an(), "worker-a")
        .await
        .unwrap()
}

fn row_of(id: &serde_json::Value, version: i32) -> (String, i64, i32) {
    let id = caunoi::domain::GlobalId::parse(id.as_str().unwrap()).unwrap();
    (id.kind.name().to_ascii_lowercase(), id.local, version)
}

#[tokio::test]
async fn the_replica_follows_what_the_partner_shares_and_applies_nothing_twice() {
    let (tn, na) = spawn_pair().await;
    let shared = na
        .create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["19"] }))
        .await;
    let certificate = na
        .issue_certificate(shared["id"].as_str().unwrap(), json!({}))
        .await;
    let private = na
        .create_facility("Hộ sản xuất riêng", json!({ "suppliesTo": [] }))
        .await;
    na.issue_certificate(
        private["id"].as_str().unwrap(),
        json!({ "kind": "COMMITMENT" }),
    )
    .await;

    let first = pass(&tn).await;
    assert_eq!((first.pages, first.applied), (1, 2), "{first}");
    let metrics = caunoi::server::metrics::handle().render();
    for series in [
        r#"caunoi_sync_passes_total{province="40",result="ok"}"#,
        r#"caunoi_sync_rows_applied_total{province="40"}"#,
        r#"caunoi_sync_last_success_timestamp_seconds{province="40"}"#,
    ] {
        assert!(metrics.contains(series), "/metrics lacks {series}");
    }
    assert_eq!(
        replica(&tn).await,
        [row_of(&certificate["id"], 1), row_of(&shared["id"], 1)]
    );
    // Nothing new: nothing applied, nothing read twice.
    let again = pass(&tn).await;
    assert_eq!((again.pages, again.applied), (0, 0), "{again}");

    // An update arrives as a newer version.
    na.data(
        r#"mutation($id: ID!) { updateFacility(id: $id, version: 1, input: { name: "Hợp tác xã cam Vinh Quỳ Hợp" }) { id } }"#,
        json!({ "id": shared["id"] }),
    )
    .await;
    assert_eq!(pass(&tn).await.applied, 1);
    assert!(replica(&tn).await.contains(&row_of(&shared["id"], 2)));

    // When Nghệ An stops sharing the facility, its copy and its certificate's go.
    na.data(
        r#"mutation($id: ID!) { updateFacility(id: $id, version: 2, input: { suppliesTo: [] }) { id } }"#,
        json!({ "id": shared["id"] }),
    )
    .await;
    pass(&tn).await;
    assert_eq!(replica(&tn).await, []);
    let state = tn.app.store().sync_state(nghe_an()).await.unwrap();
    assert!(state.last_error.is_none() && state.last_success.is_some());
    let status = tn
        .data("{ provinces { province { code } sync { lastSuccessAt lagSeconds lastError rowsApplied } } }", json!({}))
        .await;
    let sync = &status["provinces"][1]["sync"];
    assert_eq!(status["provinces"][1]["province"]["code"], "40");
    assert_eq!(sync["rowsApplied"], 5, "2 + 1 + 2 removed: {sync}");
    assert_eq!(sync["lastError"], Value::Null);
    assert!(sync["lastSuccessAt"].is_string() && sync["lagSeconds"].as_i64().is_some());
}

#[tokio::test]
async fn of_two_workers_at_once_one_runs_and_the_other_steps_aside() {
    let (tn, na) = spawn_pair().await;
    na.create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["19"] }))
        .await;
    let store = tn.app.store();
    // Worker B holds the lease (as if mid-pass in another process).
    assert!(
        store
            .take_sync_lease(
                nghe_an(),
                "worker-b",
                chrono::Utc::now() + chrono::Duration::minutes(1),
                None,
            )
            .await
            .unwrap()
    );
    let skipped = sync_once(store, tn.app.partners(), nghe_an(), "worker-a")
        .await
        .unwrap();
    assert!(skipped.skipped, "{skipped}");
    assert_eq!(replica(&tn).await, []);
    store
        .release_sync_lease(nghe_an(), "worker-b")
        .await
        .unwrap();
    assert_eq!(pass(&tn).await.applied, 1);
}

/// Nghệ An, as Thái Nguyên reaches it through a forwarder that can fail every
/// request for records (`nodes`) after the first `allowed` of them.
struct Flaky {
    allowed: std::sync::Arc<std::sync::atomic::AtomicI64>,
    _dir: tempfile::TempDir,
}

/// Thái Nguyên and Nghệ An, Thái Nguyên reaching Nghệ An through a [`Flaky`]
/// forwarder, and reading Nghệ An's feed a change at a time.
async fn pair_through_a_forwarder() -> (TestGateway, TestGateway, Flaky) {
    use std::sync::atomic::Ordering;
    type Target = (String, reqwest::Client);
    let target: std::sync::Arc<std::sync::OnceLock<Target>> = Default::default();
    let allowed = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let forward = {
        let (target, allowed) = (target.clone(), allowed.clone());
        move |body: String| {
            let (target, allowed) = (target.clone(), allowed.clone());
            async move {
                use axum::response::IntoResponse;
                let unavailable = axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                if body.contains("nodes(") && allowed.fetch_sub(1, Ordering::SeqCst) <= 0 {
                    return unavailable;
                }
                let (url, client) = target.get().expect("set before any sync");
                let answer = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(answer) => (
                        [("content-type", "application/json")],
                        answer.text().await.unwrap_or_default(),
                    )
                        .into_response(),
                    Err(_) => unavailable,
                }
            }
        }
    };
    let router = axum::Router::new().route("/graphql", axum::routing::post(forward));
    let (endpoint, ca, dir) = crate::helpers::serve_fake_partner(router, false);
    let (tn, na) = spawn_pair_with(
        |config| {
            config.partners[0].endpoint = Some(endpoint);
            config.partners[0].ca = ca;
            config.federation.sync_page = 1;
        },
        |_| {},
    )
    .await;
    let gateway = tn.pki.leaf("19", caunoi::domain::Role::Gateway);
    let client = crate::helpers::https_client(na.pki.authority.cert_pem(), Some(&gateway));
    let _ = target.set((na.url(), client));
    (tn, na, Flaky { allowed, _dir: dir })
}

#[tokio::test]
async fn a_partner_down_mid_sync_is_retried_next_time_from_the_same_cursor() {
    use std::sync::atomic::Ordering;
    let (tn, na, flaky) = pair_through_a_forwarder().await;
    let shared = json!({ "suppliesTo": ["19"] });
    let first = na.create_facility("Cơ sở một", shared.clone()).await;
    assert_eq!(pass(&tn).await.applied, 1);
    let mut later = Vec::new();
    for name in ["Cơ sở hai", "Cơ sở ba", "Cơ sở bốn"] {
        later.push(na.create_facility(name, shared.clone()).await);
    }
    // Nghệ An answers for the first page's records, then goes down.
    flaky.allowed.store(1, Ordering::SeqCst);
    let error = sync_once(tn.app.store(), tn.app.partners(), nghe_an(), "worker-a")
        .await
        .unwrap_err();
    assert!(matches!(error, SyncError::Partner(..)), "{error}");
    let state = tn.app.store().sync_state(nghe_an()).await.unwrap();
    assert!(state.last_error.is_some());
    assert_eq!(
        replica(&tn).await,
        [row_of(&first["id"], 1), row_of(&later[0]["id"], 1)],
        "the page fetched before the failure is applied, and no other"
    );

    // Back up: the next pass starts where the last applied page left the
    // cursor, and applies each of the other two pages once.
    flaky.allowed.store(i64::MAX, Ordering::SeqCst);
    let retry = pass(&tn).await;
    assert_eq!((retry.pages, retry.applied), (2, 2), "{retry}");
    let mut all = vec![row_of(&first["id"], 1)];
    all.extend(later.iter().map(|facility| row_of(&facility["id"], 1)));
    all.sort();
    assert_eq!(replica(&tn).await, all);
    let state = tn.app.store().sync_state(nghe_an()).await.unwrap();
    assert!(state.last_error.is_none() && state.last_success.is_some());
}

#[tokio::test]
async fn a_changed_epoch_stops_the_sync_instead_of_guessing() {
    let (tn, na) = spawn_pair().await;
    na.create_facility("Cơ sở", json!({ "suppliesTo": ["19"] }))
        .await;
    pass(&tn).await;
    // Nghệ An's database is re-created: its feed starts again with a new epoch.
    use sea_orm::{ConnectionTrait, Database};
    Database::connect(&na.database_url)
        .await
        .unwrap()
        .execute_unprepared("UPDATE change_head SET epoch = 'taodungmoi'")
        .await
        .unwrap();
    na.create_facility("Cơ sở mới", json!({ "suppliesTo": ["19"] }))
        .await;
    let error = sync_once(tn.app.store(), tn.app.partners(), nghe_an(), "worker-a")
        .await
        .unwrap_err();
    assert!(matches!(error, SyncError::EpochChanged { .. }), "{error}");
}

#[tokio::test]
async fn a_replayed_or_stale_page_changes_nothing() {
    use caunoi::store::{ReplicaRow, SyncPage};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = crate::helpers::fresh_store(dir.path()).await;
    let partner = nghe_an();
    assert!(
        store
            .take_sync_lease(
                partner,
                "w",
                chrono::Utc::now() + chrono::Duration::minutes(1),
                None,
            )
            .await
            .unwrap()
    );
    let row = |version: i32| ReplicaRow {
        kind: "facility".to_owned(),
        record_id: 7,
        version,
        body: format!("{{\"version\":{version}}}"),
        number: None,
    };
    let first = SyncPage {
        epoch: "e1".to_owned(),
        after: None,
        until: "c1".to_owned(),
        rows: vec![row(2)],
        removed: Vec::new(),
        notices: Vec::new(),
    };
    let lease_until = chrono::Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(
        store
            .apply_sync_page(partner, &first, "w", lease_until)
            .await
            .unwrap(),
        1
    );
    // The same page again: the cursor has moved on, so it is refused whole.
    assert!(matches!(
        store
            .apply_sync_page(partner, &first, "w", lease_until)
            .await,
        Err(caunoi::error::AppError::Conflict(_))
    ));
    // A later page carrying an older version changes no row, but moves the cursor.
    let stale = SyncPage {
        after: Some("c1".to_owned()),
        until: "c2".to_owned(),
        rows: vec![row(1)],
        ..first.clone()
    };
    assert_eq!(
        store
            .apply_sync_page(partner, &stale, "w", lease_until)
            .await
            .unwrap(),
        0
    );
    let rows = store.replica_rows(partner).await.unwrap();
    assert_eq!(rows, [row(2)]);
    let state = store.sync_state(partner).await.unwrap();
    assert_eq!(
        (state.cursor.as_deref(), state.rows_applied),
        (Some("c2"), 1)
    );
}

#[tokio::test]
async fn when_the_owner_cannot_answer_the_replica_does_and_says_so() {
    let (tn, na) = spawn_pair().await;
    let shared = na
        .create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["19"] }))
        .await;
    pass(&tn).await;
    let lookup = "query($id: ID!, $c: Consistency) { node(id: $id, consistency: $c) { ... on Facility { name provenance { source } } } }";
    // While the owner answers, the replica is never used.
    let live = tn.post(lookup, json!({ "id": shared["id"] })).await;
    assert_eq!(
        live["data"]["node"]["provenance"]["source"], "OWNER",
        "{live:#}"
    );
    assert!(live.get("errors").is_none());

    drop(na); // Nghệ An goes away.
    let copy = tn.post(lookup, json!({ "id": shared["id"] })).await;
    assert_eq!(
        copy["data"]["node"],
        json!({ "name": "Hợp tác xã cam Vinh", "provenance": { "source": "REPLICA" } })
    );
    let note = &copy["errors"][0]["extensions"];
    assert_eq!(note["code"], "SERVED_FROM_REPLICA", "{copy:#}");
    assert_eq!(note["province"], "40");
    assert_eq!(note["cause"], "PARTNER_UNAVAILABLE");
    assert!(note["ageSeconds"].as_i64().is_some());

    // A caller who wants the owner's answer only gets none, and is told why.
    let refused = tn
        .post(lookup, json!({ "id": shared["id"], "c": "LIVE" }))
        .await;
    assert_eq!(refused["data"]["node"], Value::Null);
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "PARTNER_UNAVAILABLE"
    );
}

#[tokio::test]
async fn a_certificate_number_is_answered_and_verified_from_the_replica_when_the_owner_is_down() {
    let (tn, na) = spawn_pair().await;
    let facility = na
        .create_facility("Cơ sở chế biến cam Vinh", json!({ "suppliesTo": ["19"] }))
        .await;
    let issued = na
        .issue_certificate(
            facility["id"].as_str().unwrap(),
            json!({ "issuedOn": crate::helpers::day(-30) }),
        )
        .await;
    let number = issued["number"].as_str().unwrap();
    na.post(
        "mutation($id: ID!) { suspendCertificate(id: $id, version: 1, reason: \"Dư lượng vượt ngưỡng\") { status } }",
        json!({ "id": issued["id"] }),
    )
    .await;
    pass(&tn).await;
    let ask = "query($n: String!, $on: Date, $c: Consistency) {
        certificate(number: $n, consistency: $c) { number status provenance { source } }
        verifyCertificate(number: $n, on: $on, consistency: $c) { valid reason certificate { provenance { source } } } }";
    let live = tn.post(ask, json!({ "n": number })).await;
    assert!(live.get("errors").is_none(), "{live:#}");
    assert_eq!(live["data"]["verifyCertificate"]["reason"], "SUSPENDED");

    drop(na);
    let copy = tn.post(ask, json!({ "n": number })).await;
    assert_eq!(
        copy["data"],
        json!({
            "certificate": { "number": number, "status": "SUSPENDED", "provenance": { "source": "REPLICA" } },
            "verifyCertificate": { "valid": false, "reason": "SUSPENDED", "certificate": { "provenance": { "source": "REPLICA" } } },
        }),
        "{copy:#}"
    );
    let codes: Vec<_> = copy["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SERVED_FROM_REPLICA", "SERVED_FROM_REPLICA"]);

    // A day before the copy was taken needs the owner's history: no answer.
    let earlier = tn
        .post(ask, json!({ "n": number, "on": crate::helpers::day(-10) }))
        .await;
    assert_eq!(
        earlier["data"]["verifyCertificate"],
        Value::Null,
        "{earlier:#}"
    );
    // Nor for a caller who wants the owner's word only.
    let refused = tn.post(ask, json!({ "n": number, "c": "LIVE" })).await;
    assert_eq!(
        refused["data"],
        json!({ "certificate": null, "verifyCertificate": null })
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "PARTNER_UNAVAILABLE"
    );
}

/// Every page of `list(scope: PARTNERS, filter: …)`, walked `first` at a time:
/// each node's ID, version and where it came from, and the codes of the
/// answer's errors.
async fn walk(
    tn: &TestGateway,
    list: &str,
    filter: &Value,
    first: i32,
    consistency: &str,
) -> (Vec<(String, i64, String)>, Vec<String>) {
    let query = format!(
        "query($f: {input}, $after: String, $first: Int, $c: Consistency) {{
           {list}(scope: PARTNERS, filter: $f, first: $first, after: $after, consistency: $c) {{
             edges {{ node {{ id version provenance {{ source }} }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
        input = match list {
            "facilities" => "FacilityFilterInput",
            "certificates" => "CertificateFilterInput",
            "products" => "ProductFilterInput",
            _ => "InspectionFilterInput",
        }
    );
    let (mut nodes, mut codes, mut after) = (Vec::new(), Vec::new(), Value::Null);
    for _ in 0..1000 {
        let answer = tn
            .post(
                &query,
                json!({ "f": filter, "after": after, "first": first, "c": consistency }),
            )
            .await;
        for error in answer["errors"].as_array().into_iter().flatten() {
            codes.push(error["extensions"]["code"].as_str().unwrap().to_owned());
        }
        let page = &answer["data"][list];
        for edge in page["edges"].as_array().unwrap() {
            let node = &edge["node"];
            nodes.push((
                node["id"].as_str().unwrap().to_owned(),
                node["version"].as_i64().unwrap(),
                node["provenance"]["source"].as_str().unwrap().to_owned(),
            ));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return (nodes, codes);
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    panic!("{list} did not end within a thousand pages");
}

#[tokio::test]
async fn lists_answer_from_the_replica_as_the_owner_would_when_it_is_down() {
    let (tn, na) = spawn_pair().await;
    caunoi::seed::seed(na.app.store()).await.unwrap();
    pass(&tn).await;
    let cases: Vec<(&str, Value)> = vec![
        ("facilities", json!({})),
        ("facilities", json!({ "kind": "PROCESSOR" })),
        ("facilities", json!({ "text": "nhut thanh chuong" })),
        ("certificates", json!({})),
        ("certificates", json!({ "status": "ACTIVE" })),
        ("certificates", json!({ "status": "EXPIRED" })),
        ("certificates", json!({ "status": "SUSPENDED" })),
        ("certificates", json!({ "status": "REVOKED" })),
        ("certificates", json!({ "kind": "COMMITMENT" })),
        ("certificates", json!({ "expiringWithinDays": 120 })),
        ("certificates", json!({ "suppliesTo": "19" })),
        ("certificates", json!({ "text": "nhut thanh chuong" })),
        ("products", json!({})),
        ("products", json!({ "minStars": 4 })),
        (
            "products",
            json!({ "specialty": true, "category": "AGRICULTURAL" }),
        ),
        ("products", json!({ "text": "cam" })),
        ("inspections", json!({ "result": "FAIL" })),
        ("inspections", json!({ "stage": "PROCESSING" })),
    ];
    let mut live = Vec::new();
    for (list, filter) in &cases {
        let (nodes, codes) = walk(&tn, list, filter, 100, "BEST_EFFORT").await;
        assert!(codes.is_empty(), "{list} {filter}: {codes:?}");
        assert!(nodes.iter().all(|(_, _, source)| source == "OWNER"));
        live.push(nodes);
    }
    assert!(
        live.iter().filter(|nodes| !nodes.is_empty()).count() >= cases.len() - 2,
        "the seed should give most filters something to find"
    );

    drop(na);
    for ((list, filter), live) in cases.iter().zip(&live) {
        // Smaller pages than the owner's, so that paging crosses replica chunks.
        let (nodes, codes) = walk(&tn, list, filter, 37, "BEST_EFFORT").await;
        let records = |nodes: &[(String, i64, String)]| {
            nodes
                .iter()
                .map(|(id, version, _)| (id.clone(), *version))
                .collect::<Vec<_>>()
        };
        assert_eq!(records(&nodes), records(live), "{list} {filter}");
        assert!(nodes.iter().all(|(_, _, source)| source == "REPLICA"));
        assert!(
            codes.iter().all(|code| code == "SERVED_FROM_REPLICA") && !codes.is_empty(),
            "{list} {filter}: {codes:?}"
        );
    }
    let (nodes, codes) = walk(&tn, "certificates", &json!({}), 100, "LIVE").await;
    assert!(nodes.is_empty());
    // By now the partner's circuit has opened on all those failures.
    assert_eq!(codes, ["PARTNER_CIRCUIT_OPEN"]);
}

/// A configuration file for `caunoi sync` as Thái Nguyên, syncing from `na`,
/// with `federation` settings added.
fn sync_config(tn: &TestGateway, na: &TestGateway, federation: &str) -> std::path::PathBuf {
    let state = tn.pki_dir().parent().unwrap().to_path_buf();
    let config = state.join("sync.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\ndatabase_url = {url:?}\n[province]\ncode = \"19\"\n\
             [federation]\n{federation}\
             [[partners]]\nprovince = \"40\"\nca = {ca:?}\nendpoint = {endpoint:?}\n",
            url = tn.database_url,
            ca = na.pki_dir().join(caunoi::pki::CA_CERT),
            endpoint = na.url(),
        ),
    )
    .unwrap();
    config
}

/// A skipped pass is not a success to a scheduler: another worker's lease
/// makes `caunoi sync --once` exit 75. A lease whose holder was a process of
/// this host that is gone (killed mid-pass) is taken over at once instead of
/// blocking every pass for the lease's two minutes.
#[tokio::test]
async fn a_skipped_pass_exits_75_and_a_dead_workers_lease_is_taken_over() {
    let (tn, na) = spawn_pair().await;
    na.create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["19"] }))
        .await;
    let config = sync_config(&tn, &na, "");
    let store = tn.app.store();
    let until = chrono::Utc::now() + chrono::Duration::minutes(2);
    let elsewhere = "caunoi-sync@another-host/1/1";
    assert!(
        store
            .take_sync_lease(nghe_an(), elsewhere, until, None)
            .await
            .unwrap()
    );
    let output = finished(sync_process(&config)).await;
    assert_eq!(output.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&output.stdout).contains("skipped"));
    assert_eq!(replica(&tn).await, []);
    store
        .release_sync_lease(nghe_an(), elsewhere)
        .await
        .unwrap();

    // A worker of this host, killed mid-pass: its process is gone.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let dead = format!("caunoi-sync@{}/{pid}/1", host.trim());
    assert!(
        store
            .take_sync_lease(nghe_an(), &dead, until, None)
            .await
            .unwrap()
    );
    let output = finished(sync_process(&config)).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(replica(&tn).await.len(), 1);
}

/// `caunoi sync --once --partner 40` as its own process, configured as `tn`.
fn sync_process(config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_caunoi"))
        .args(["--config", config.to_str().unwrap()])
        .args(["sync", "--once", "--partner", "40"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the caunoi binary starts")
}

/// What a sync process printed once it ended, which must be within a minute.
async fn finished(child: tokio::process::Child) -> std::process::Output {
    tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("a sync run ends within a minute")
        .unwrap()
}

/// An order-independent checksum of `(kind, id, version)` triples.
fn checksum<'a>(rows: impl IntoIterator<Item = &'a (String, i64, i32)>) -> u64 {
    rows.into_iter()
        .map(|row| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            row.hash(&mut hasher);
            hasher.finish()
        })
        .fold(0u64, u64::wrapping_add)
}

#[tokio::test]
async fn a_sync_killed_at_random_points_loses_nothing_and_applies_nothing_twice() {
    let (tn, na) = spawn_pair().await;
    caunoi::seed::seed(na.app.store()).await.unwrap();
    let shared = walk(&tn, "facilities", &json!({}), 1, "LIVE").await.0[0]
        .0
        .clone();
    // Pages of 50: the first sync spans many pages, so deaths fall between
    // pages and inside them, as they would in a long sync of pages of 1000.
    let config = sync_config(&tn, &na, "sync_lease = \"50ms\"\nsync_page = 50\n");

    let position = || async {
        tn.app
            .store()
            .sync_state(nghe_an())
            .await
            .unwrap()
            .cursor
            .map(|c| caunoi::store::FeedPosition::from_cursor(&c).unwrap())
    };
    // Each run dies at a random instant in a window that follows how long a run
    // lasts on this machine: wider after a death that let no page through,
    // narrower after a run that finished first. The owner writes after every
    // death, so there is always something left to sync.
    let (mut kills, mut runs, mut positions) = (0, 0, Vec::new());
    let mut window = 300u64;
    while kills < 20 {
        runs += 1;
        assert!(runs < 400, "{kills} kills in {runs} runs");
        let before = position().await;
        let mut child = sync_process(&config);
        let deadline = std::time::Duration::from_millis(fastrand::u64(0..=window));
        match tokio::time::timeout(deadline, child.wait()).await {
            Err(_) => {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                kills += 1;
                if position().await == before {
                    window = (window * 3 / 2).min(10_000);
                }
                na.issue_certificate(&shared, json!({})).await;
            }
            Ok(status) => {
                assert!(status.unwrap().success());
                window = (window * 2 / 3).max(20);
            }
        }
        positions.push(position().await);
    }
    // Then it runs undisturbed until a pass finds nothing left. The dead
    // worker's lease is taken over at once, so two runs do it; a few more are
    // allowed.
    let mut caught_up = false;
    for _ in 0..5 {
        let out = String::from_utf8(finished(sync_process(&config)).await.stdout).unwrap();
        positions.push(position().await);
        if !out.contains("skipped") && out.contains(" 0 rows applied") {
            caught_up = true;
            break;
        }
    }
    assert!(caught_up, "five undisturbed runs did not catch up");
    // The cursor only ever moved forward, and the deaths fell mid-sync.
    let seen: Vec<_> = positions.iter().flatten().collect();
    assert!(
        seen.windows(2)
            .all(|w| (w[0].seq, w[0].idx) <= (w[1].seq, w[1].idx)),
        "{seen:?}"
    );
    let mut distinct: Vec<_> = seen.iter().map(|p| (p.seq, p.idx)).collect();
    distinct.dedup();
    assert!(distinct.len() >= 5, "the sync hardly moved: {distinct:?}");

    // The replica holds exactly what Nghệ An shares, once each.
    let copied = tn.app.store().replica_rows(nghe_an()).await.unwrap();
    let replica: Vec<(String, i64, i32)> = copied
        .iter()
        .map(|row| (row.kind.clone(), row.record_id, row.version))
        .collect();
    let mut keys: Vec<_> = replica.iter().map(|(k, id, _)| (k.clone(), *id)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), replica.len(), "duplicate keys in the replica");
    let mut source = Vec::new();
    for list in ["facilities", "certificates", "products", "inspections"] {
        let (nodes, codes) = walk(&tn, list, &json!({}), 100, "LIVE").await;
        assert!(codes.is_empty(), "{codes:?}");
        for (id, version, _) in nodes {
            let id = caunoi::domain::GlobalId::parse(&id).unwrap();
            source.push((id.kind.code().to_owned(), id.local, version as i32));
        }
    }
    let count =
        |rows: &[(String, i64, i32)], kind: &str| rows.iter().filter(|r| r.0 == kind).count();
    for kind in ["facility", "certificate", "product", "inspection"] {
        assert_eq!(count(&replica, kind), count(&source, kind), "{kind}");
    }
    assert_eq!(checksum(&replica), checksum(&source));
    assert!(
        kills >= 20 && source.len() > 500,
        "{kills} kills, {} records",
        source.len()
    );
}

#[tokio::test]
async fn a_served_gateway_syncs_each_partner_on_its_schedule() {
    let (tn, na) = spawn_pair_with(
        |config| config.partners[0].sync_every = Some(std::time::Duration::from_millis(50)),
        |_| {},
    )
    .await;
    let mut passes = tn.app.sync_passes();
    let facility = na
        .create_facility(
            "Hợp tác xã chè Thanh Chương",
            json!({ "suppliesTo": ["19"] }),
        )
        .await;
    let copied = row_of(&facility["id"], 1);
    // Each finished pass wakes us; bounded, so that a schedule that never runs
    // fails the test instead of hanging it.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            passes.changed().await.unwrap();
            if replica(&tn).await.contains(&copied) {
                break;
            }
        }
    })
    .await
    .expect("a scheduled pass copied the new facility");
    let status = tn
        .data(
            "{ provinces { province { code } sync { lastSuccessAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(status["provinces"][1]["province"]["code"], "40");
    assert!(
        status["provinces"][1]["sync"]["lastSuccessAt"].is_string(),
        "{status:#}"
    );
}

#[tokio::test]
async fn a_page_that_cannot_be_applied_stops_the_pass_while_later_pages_wait() {
    use caunoi::domain::CertificateData;
    use caunoi::domain::{CertificateKind, GlobalId};
    use caunoi::store::{FeedPosition, ReplicaRow, SyncPage};
    let (tn, na) = spawn_pair_with(|config| config.federation.sync_page = 50, |_| {}).await;
    let facility = na
        .create_facility("Cơ sở nước mắm Cửa Hội", json!({ "suppliesTo": ["19"] }))
        .await;
    let facility = GlobalId::parse(facility["id"].as_str().unwrap()).unwrap();
    // Four pages of 50 changes, fetched ahead of the first page's apply.
    let today = caunoi::domain::today();
    let issued = na
        .app
        .store()
        .issue_certificates(
            (0..175)
                .map(|_| CertificateData {
                    kind: CertificateKind::Eligibility,
                    standard: None,
                    facility,
                    scope: vec!["Nước mắm".to_owned()],
                    issuing_authority: "Chi cục Quản lý chất lượng tỉnh Nghệ An".to_owned(),
                    issued_on: today,
                    expires_on: Some(today + chrono::Duration::days(365)),
                    grade: None,
                })
                .collect(),
        )
        .await
        .unwrap();
    // Our replica already holds another record under the first certificate's
    // number, so the first page breaks the number's unique index.
    let store = tn.app.store();
    let until = chrono::Utc::now() + chrono::Duration::minutes(1);
    assert!(
        store
            .take_sync_lease(nghe_an(), "planter", until, None)
            .await
            .unwrap()
    );
    let start = FeedPosition {
        epoch: na.app.store().feed_epoch().await.unwrap(),
        seq: 0,
        idx: 0,
    };
    let planted = SyncPage {
        epoch: start.epoch.clone(),
        after: None,
        until: start.cursor(),
        rows: vec![ReplicaRow {
            kind: "certificate".to_owned(),
            record_id: 999_999,
            version: 1,
            body: "{}".to_owned(),
            number: Some(issued[0].number.to_string()),
        }],
        removed: Vec::new(),
        notices: Vec::new(),
    };
    store
        .apply_sync_page(nghe_an(), &planted, "planter", until)
        .await
        .unwrap();
    store
        .release_sync_lease(nghe_an(), "planter")
        .await
        .unwrap();

    // The pass ends with the apply's error (it does not wait forever on the
    // pages fetched ahead), and nothing of the failed page was applied.
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sync_once(store, tn.app.partners(), nghe_an(), "worker-a"),
    )
    .await
    .expect("the pass ended");
    assert!(matches!(outcome, Err(SyncError::Store(_))), "{outcome:?}");
    assert_eq!(
        store.sync_state(nghe_an()).await.unwrap().cursor,
        Some(start.cursor())
    );
    assert_eq!(replica(&tn).await, [("certificate".to_owned(), 999_999, 1)]);
}

/// The records of later feed pages are asked for before earlier ones are
/// answered, and an answer arriving out of order changes nothing: pages are
/// applied in feed order. The fake Nghệ An holds its answer for the first
/// page's records until the second page's records are asked for, so a sync that
/// waited for each page in turn would time out.
#[tokio::test]
async fn pages_fetched_ahead_are_applied_in_feed_order_whatever_order_they_arrive_in() {
    use caunoi::domain::{GlobalId, RecordKind};
    use caunoi::store::FeedPosition;
    let facility = |local: i64| GlobalId::new(RecordKind::Facility, nghe_an(), local).to_string();
    let cursor = |seq: i64| {
        FeedPosition {
            epoch: "e1".to_owned(),
            seq,
            idx: 0,
        }
        .cursor()
    };
    let second_asked = std::sync::Arc::new(tokio::sync::Notify::new());
    let router = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let second_asked = second_asked.clone();
            async move {
                let variables = &body["variables"];
                let answer = if let Some(ids) = variables["ids"].as_array() {
                    let id = ids[0].as_str().unwrap().to_owned();
                    if id == facility(1) {
                        second_asked.notified().await;
                    } else {
                        second_asked.notify_one();
                    }
                    json!({ "nodes": [{
                        "__typename": "Facility", "id": id, "version": 1,
                        "name": "Hợp tác xã cam Vinh", "kind": "COOPERATIVE",
                        "businessRegistrationNumber": null,
                        "address": { "commune": "Nghi Diên", "district": null, "detail": null },
                        "suppliesTo": [{ "code": "19" }],
                        "createdAt": "2026-11-30T00:00:00Z", "updatedAt": "2026-11-30T00:00:00Z",
                    }] })
                } else {
                    // The feed: one change a page, two pages.
                    let first = variables["after"].is_null();
                    let (local, seq) = if first { (1, 1) } else { (2, 2) };
                    json!({ "changes": {
                        "edges": [{ "node": { "id": facility(local) } }],
                        "pageInfo": { "hasNextPage": first, "endCursor": cursor(seq) },
                        "epoch": "e1",
                    } })
                };
                axum::Json(json!({ "data": answer }))
            }
        }),
    );
    let (endpoint, ca, _dir) = crate::helpers::serve_fake_partner(router, false);
    // Time enough for a loaded machine; a sync that waits for each page in
    // turn never gets the first page's records.
    let tn = crate::helpers::gateway_with_partner_tuned(endpoint, ca, |config| {
        config.federation.timeout = std::time::Duration::from_secs(5)
    })
    .await;

    let report = pass(&tn).await;
    assert_eq!((report.pages, report.applied), (2, 2));
    assert_eq!(
        replica(&tn).await,
        [("facility".to_owned(), 1, 1), ("facility".to_owned(), 2, 1)]
    );
    let state = tn.app.store().sync_state(nghe_an()).await.unwrap();
    assert_eq!(state.cursor, Some(cursor(2)));
}
