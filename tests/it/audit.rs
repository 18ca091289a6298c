//! The audit trail: what leaves evidence, the hash chain, and failing closed.

use caunoi::audit::verify;
use caunoi::domain::Role;
use caunoi::domain::audit::Head;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::helpers::{TestGateway, spawn_with_partner};

const LOG: &str = "{ auditLog(first: 100) { edges { node {
    sequence role callerProvince operationType outcome errorCodes records queryHash fingerprint } } } }";

async fn log(gw: &TestGateway) -> Vec<Value> {
    gw.data(LOG, json!({})).await["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn raw(gw: &TestGateway, sql: &str) {
    Database::connect(&gw.database_url)
        .await
        .unwrap()
        .execute_unprepared(sql)
        .await
        .unwrap();
}

/// The stored hash of entry `id`, read past the store.
async fn entry_hash(database_url: &str, id: i64) -> String {
    let db = Database::connect(database_url).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT hash FROM audit_log WHERE id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "hash").unwrap()
}

/// A fresh database and two stores on it, as two processes would hold.
async fn two_stores(dir: &std::path::Path) -> (caunoi::store::Store, caunoi::store::Store) {
    let (first, url) = crate::helpers::fresh_store(dir).await;
    let second =
        caunoi::store::Store::connect(&url, caunoi::domain::ProvinceCode::parse("19").unwrap())
            .await
            .unwrap();
    (first, second)
}

#[tokio::test]
async fn partner_requests_refusals_and_mutations_leave_evidence_dashboard_reads_do_not() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let facility = gw
        .create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["40"] }))
        .await;
    let partner_leaf = partner.leaf("40", Role::Gateway);
    let partner_client = gw.client(Some(&partner_leaf));
    let partner_query = "{ facilities { edges { node { id name } } } }";
    // Twice: the second time the certificate's verdict comes from the cache.
    for _ in 0..2 {
        gw.post_with(&partner_client, partner_query, json!({}))
            .await;
    }
    gw.post_with(
        &gw.client_as(Role::Dashboard),
        "{ province { code } }",
        json!({}),
    )
    .await;
    let refused_mutation = r#"mutation { createFacility(input: { name: "X", kind: TRADER, commune: "Vinh" }) { id } }"#;
    gw.post_with(&gw.client_as(Role::Dashboard), refused_mutation, json!({}))
        .await;
    let stranger = gw.pki.leaf_with("19", Role::Operator, |spec| {
        spec.uri = "urn:caunoi:19:admin".to_owned()
    });
    gw.post_with(
        &gw.client(Some(&stranger)),
        "{ province { code } }",
        json!({}),
    )
    .await;

    let entries = log(&gw).await;
    let summary: Vec<(Value, Value, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["role"].clone(),
                e["operationType"].clone(),
                e["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("operator"), json!("mutation"), json!("OK")),
            (json!("gateway"), json!("query"), json!("OK")),
            (json!("gateway"), json!("query"), json!("OK")),
            (json!("dashboard"), json!("mutation"), json!("REFUSED")),
            (Value::Null, json!("none"), json!("REFUSED")),
        ]
    );
    let sequences: Vec<i64> = entries
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    let partner_der = CertificateDer::from_pem_slice(partner_leaf.cert_pem.as_bytes()).unwrap();
    for partner_entry in &entries[1..3] {
        assert_eq!(partner_entry["callerProvince"], "40");
        assert_eq!(
            partner_entry["records"],
            json!([format!("{}@1", facility["id"].as_str().unwrap())])
        );
        assert_eq!(
            partner_entry["queryHash"],
            caunoi::domain::audit::sha256_hex(partner_query.as_bytes())
        );
        assert_eq!(
            partner_entry["fingerprint"],
            caunoi::server::identity::fingerprint(&partner_der)
        );
    }
    // A refused request is hashed as it came, though it never ran.
    assert_eq!(
        entries[3]["queryHash"],
        caunoi::domain::audit::sha256_hex(refused_mutation.as_bytes())
    );
    assert_eq!(entries[3]["errorCodes"], json!(["FORBIDDEN"]));
    assert_eq!(entries[4]["errorCodes"], json!(["FORBIDDEN"]));
}

#[tokio::test]
async fn the_chain_verifies_and_a_tampered_entry_is_found() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let partner_client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    for _ in 0..3 {
        gw.post_with(&partner_client, "{ province { code } }", json!({}))
            .await;
    }
    let store = gw.app.store();
    let verdict = verify(store, None).await.unwrap();
    assert_eq!(verdict.broken, None, "{verdict}");
    assert_eq!(verdict.entries, 3);
    let head = store.audit_head().await.unwrap();
    assert_eq!(verdict.head, head);

    raw(
        &gw,
        "UPDATE audit_log SET subject = 'CN=someone else' WHERE id = 2",
    )
    .await;
    let verdict = verify(store, None).await.unwrap();
    assert_eq!(
        verdict.broken.as_ref().map(|(id, _)| *id),
        Some(2),
        "{verdict}"
    );
}

#[tokio::test]
async fn cutting_the_tail_is_found_even_when_the_head_row_is_rewritten() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    let partner_client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    for _ in 0..3 {
        gw.post_with(&partner_client, "{ province { code } }", json!({}))
            .await;
    }
    let store = gw.app.store();
    let exported: Head = store.audit_head().await.unwrap();
    raw(&gw, "DELETE FROM audit_log WHERE id = 3").await;
    let verdict = verify(store, None).await.unwrap();
    assert!(
        verdict.broken.is_some(),
        "the stored head still names entry 3: {verdict}"
    );
    // A careful intruder rewrites the head too; the exported head still catches it.
    let entry_two = entry_hash(&gw.database_url, 2).await;
    raw(
        &gw,
        &format!("UPDATE audit_head SET last_id = 2, last_hash = '{entry_two}'"),
    )
    .await;
    assert_eq!(verify(store, None).await.unwrap().broken, None);
    let verdict = verify(store, Some(&exported)).await.unwrap();
    assert_eq!(
        verdict.broken.as_ref().map(|(id, _)| *id),
        Some(3),
        "{verdict}"
    );
}

#[tokio::test]
async fn concurrent_audited_requests_keep_one_unbroken_chain() {
    let (gw, _partner, _dir) = spawn_with_partner().await;
    let mut writes = Vec::new();
    for i in 0..16 {
        let client = gw.http.clone();
        let url = gw.url();
        writes.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({ "query": format!(
                    r#"mutation {{ createFacility(input: {{ name: "Cơ sở {i}", kind: TRADER, commune: "Vinh" }}) {{ id }} }}"#
                ) }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for write in writes {
        assert_eq!(write.await.unwrap(), 200);
    }
    let verdict = verify(gw.app.store(), None).await.unwrap();
    assert_eq!(verdict.broken, None, "{verdict}");
    assert_eq!(verdict.entries, 16);
}

#[tokio::test]
async fn a_partner_gets_no_data_when_the_audit_cannot_be_written() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    gw.create_facility("Hợp tác xã cam Vinh", json!({ "suppliesTo": ["40"] }))
        .await;
    raw(&gw, "DROP TABLE audit_head").await;
    let partner_client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    let (status, answer) = gw
        .post_with(
            &partner_client,
            "{ facilities { edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"], Value::Null, "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INTERNAL");
    assert!(!answer.to_string().contains("cam Vinh"));
    // An operator's change is made, and the failure to record it is said.
    let (_, answer) = gw
        .post_with(
            &gw.http,
            r#"mutation { createFacility(input: { name: "Cơ sở mới", kind: TRADER, commune: "Vinh" }) { name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(answer["data"]["createFacility"]["name"], "Cơ sở mới");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "INTERNAL");
}

#[tokio::test]
async fn only_operators_read_the_audit_log() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    for client in [
        gw.client_as(Role::Dashboard),
        gw.client(Some(&partner.leaf("40", Role::Gateway))),
    ] {
        for query in [
            LOG,
            "{ auditHead { sequence hash } }",
            "query { ...on Query { auditLog { edges { cursor } } } }",
        ] {
            let (_, answer) = gw.post_with(&client, query, json!({})).await;
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{query}: {answer}"
            );
        }
    }
    let head = gw.data("{ auditHead { sequence hash } }", json!({})).await;
    assert_eq!(
        head["auditHead"]["sequence"], 6,
        "six refusals were recorded"
    );
}

/// An event as a gateway would record it, told apart by `n`.
fn event(n: i64) -> caunoi::domain::audit::Event {
    caunoi::domain::audit::Event {
        at: caunoi::domain::audit::Event::now(),
        fingerprint: format!("{n:064x}"),
        subject: format!("CN=gateway {n}"),
        role: Some("gateway".to_owned()),
        province: Some(40),
        operation_name: None,
        operation_type: "query".to_owned(),
        query_hash: caunoi::domain::audit::sha256_hex(b"{ facilities { edges { node { id } } } }"),
        variables_hash: caunoi::domain::audit::sha256_hex(b"{}"),
        records: vec![format!("Facility:19:{n}@1")],
        outcome: "ok".to_owned(),
        error_codes: Vec::new(),
        latency_us: n,
    }
}

#[tokio::test]
async fn two_processes_appending_to_one_database_keep_one_chain() {
    // A gateway links each batch to the head it wrote last, without reading it
    // back; a second process (the CLI, another replica) appending in between
    // must not fork the chain.
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_stores(dir.path()).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let store = if n % 3 == 2 { &second } else { &first };
        ids.push(store.append_audit(&event(n)).await.unwrap());
    }
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let verdict = verify(&first, Some(&first.audit_head().await.unwrap()))
        .await
        .unwrap();
    assert_eq!(verdict.broken, None, "{verdict}");
    assert_eq!(verdict.entries, 6);
    assert_eq!(verdict.head.id, 6);
}

#[tokio::test]
async fn the_database_refuses_an_entry_that_does_not_follow_the_head() {
    // Whoever writes to the database, a gateway or a hand at the SQL prompt, an
    // entry goes in only right after the head, and moves it.
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = crate::helpers::fresh_store(dir.path()).await;
    for n in 0..2 {
        store.append_audit(&event(n)).await.unwrap();
    }
    let head = store.audit_head().await.unwrap();
    let first = entry_hash(&url, 1).await;
    let db = Database::connect(&url).await.unwrap();
    for (id, prev_hash, what) in [
        (3, first.as_str(), "linked to an earlier entry"),
        (4, head.hash.as_str(), "leaving a gap"),
        (2, first.as_str(), "in place of an entry"),
    ] {
        let insert = format!(
            "INSERT INTO audit_log (id, at, fingerprint, subject, role, province, \
             operation_name, operation_type, query_hash, variables_hash, records, outcome, \
             error_codes, latency_us, prev_hash, hash) VALUES ({id}, '2026-11-30 08:00:00+00:00', \
             'f', 'CN=forger', NULL, NULL, NULL, 'query', 'q', 'v', '[]', 'ok', '', 1, \
             '{prev_hash}', 'forged')"
        );
        assert!(
            db.execute_unprepared(&insert).await.is_err(),
            "an entry {what} was taken"
        );
    }
    assert_eq!(store.audit_head().await.unwrap(), head);
    assert_eq!(store.append_audit(&event(2)).await.unwrap(), 3);
    let verdict = verify(&store, None).await.unwrap();
    assert_eq!(verdict.broken, None, "{verdict}");
    assert_eq!(verdict.entries, 3);
}

#[tokio::test]
async fn two_processes_appending_at_once_keep_one_chain() {
    // Each process links its batches to the head it wrote last; at once, most of
    // those guesses are wrong, and each wrong one must be refused and redone.
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_stores(dir.path()).await;
    let appends = |store: caunoi::store::Store, from: i64| async move {
        let mut ids = Vec::new();
        for n in from..from + 20 {
            ids.push(store.append_audit(&event(n)).await.unwrap());
        }
        ids
    };
    let (a, b) = tokio::join!(
        tokio::spawn(appends(first.clone(), 0)),
        tokio::spawn(appends(second.clone(), 100))
    );
    let mut ids: Vec<i64> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>());
    let verdict = verify(&first, Some(&second.audit_head().await.unwrap()))
        .await
        .unwrap();
    assert_eq!(verdict.broken, None, "{verdict}");
    assert_eq!(verdict.entries, 40);
}
