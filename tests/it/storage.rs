//! The store under concurrency, on whichever backend the suite runs against.

use caunoi::domain::{CertificateData, FacilityData};
use caunoi::domain::{CertificateKind, FacilityKind, GlobalId, ProvinceCode, today};
use caunoi::error::AppError;
use caunoi::store::{Audience, Store};

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::fresh_store;

fn facility(name: &str) -> FacilityData {
    FacilityData {
        name: name.to_owned(),
        kind: FacilityKind::Processor,
        business_registration_number: None,
        commune: "Nghi Diên".to_owned(),
        district: Some("Nghi Lộc".to_owned()),
        address_detail: None,
        contact_name: None,
        contact_phone: None,
        contact_id_number: None,
        supplies_to: vec![ProvinceCode::parse("40").unwrap()],
    }
}

fn certificate(facility: GlobalId) -> CertificateData {
    CertificateData {
        kind: CertificateKind::Eligibility,
        standard: None,
        facility,
        scope: vec!["Cam tươi".to_owned()],
        issuing_authority: "Chi cục".to_owned(),
        issued_on: today(),
        expires_on: caunoi::domain::default_expiry(CertificateKind::Eligibility, today()),
        grade: None,
    }
}

#[tokio::test]
async fn concurrent_issues_get_distinct_consecutive_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(dir.path()).await;
    let owner = store.create_facility(facility("Cơ sở cam")).await.unwrap();
    let issues: Vec<_> = (0..12)
        .map(|_| {
            let store: Store = store.clone();
            let data = certificate(owner.id);
            tokio::spawn(async move { store.issue_certificate(data).await })
        })
        .collect();
    let mut serials = Vec::new();
    for issue in issues {
        let issued = issue
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("issue failed: {e:?}"));
        serials.push(issued.number.serial);
    }
    serials.sort();
    assert_eq!(serials, (1..=12).collect::<Vec<u32>>());
}

#[tokio::test]
async fn of_concurrent_updates_at_one_version_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(dir.path()).await;
    let created = store.create_facility(facility("Cơ sở gốc")).await.unwrap();
    let updates: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let id = created.id;
            tokio::spawn(async move {
                store
                    .update_facility(id, 1, facility(&format!("Cơ sở {i}")))
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for update in updates {
        match update.await.unwrap() {
            Ok(record) => winners.push(record),
            Err(AppError::Conflict(_)) => {}
            Err(other) => panic!("expected CONFLICT, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = store
        .facility(created.id.local, Audience::Internal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.data.name, winners[0].data.name);
}

#[tokio::test]
async fn a_failed_write_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(dir.path()).await;
    let owner = store.create_facility(facility("Cơ sở")).await.unwrap();
    let issued = store
        .issue_certificate(certificate(owner.id))
        .await
        .unwrap();
    // Renewing with an issue date before the original is refused after the row
    // was claimed: the claim must roll back with the rest.
    let refused = store
        .renew_certificate(
            issued.id,
            1,
            caunoi::domain::Renewal {
                issued_on: Some(issued.data.issued_on - chrono::Days::new(1)),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(AppError::InvalidInput { .. })),
        "{refused:?}"
    );
    let after = store
        .certificate(issued.id.local, Audience::Internal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, 1);
    assert!(
        store
            .certificate_replacing(issued.id.local, Audience::Internal)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn migrations_are_idempotent_and_readiness_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(dir.path()).await;
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
}

/// The query plan of `sql`, as text.
async fn plan(db: &sea_orm::DatabaseConnection, sql: &str) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let backend = db.get_database_backend();
    let (statement, column) = match backend {
        DbBackend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), "detail"),
        _ => (format!("EXPLAIN {sql}"), "QUERY PLAN"),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, statement))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn lookups_and_lists_use_indexes() {
    use sea_orm::{ConnectionTrait, Database, DbBackend};
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = fresh_store(dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    if db.get_database_backend() == DbBackend::Postgres {
        // A planner may scan an empty table; steer it to what it does at scale.
        db.execute_unprepared("SET enable_seqscan = off")
            .await
            .unwrap();
    }
    for (sql, index) in [
        (
            "SELECT id FROM certificate WHERE number = '19-ATTP-2024-000001'",
            "number",
        ),
        (
            "SELECT id FROM certificate WHERE facility_id = 5 ORDER BY id",
            "certificate_facility",
        ),
        (
            "SELECT id FROM certificate WHERE status = 'active' AND expires_on BETWEEN '2026-01-01' AND '2026-03-01'",
            "certificate_status_expiry",
        ),
        (
            "SELECT id FROM product WHERE facility_id = 5",
            "product_facility",
        ),
        (
            "SELECT facility_id FROM facility_market WHERE province = 40",
            "facility_market_province",
        ),
        (
            "SELECT id FROM inspection WHERE facility_province = 19 AND facility_id = 5",
            "inspection_facility",
        ),
    ] {
        let plan = plan(&db, sql).await;
        assert!(
            plan.contains(index),
            "{sql}\nuses no index {index}:\n{plan}"
        );
    }
}

/// With another writer holding the database, a write and a partner's read
/// (whose audit entry is a write) give up after a short wait with 503
/// `STORAGE_BUSY` and `Retry-After`, rather than waiting out the request
/// timeout to say `TIMEOUT`; nothing is written, and nothing is audited as
/// answered.
#[tokio::test]
async fn a_locked_database_is_storage_busy_not_a_timeout() {
    let (gw, partner, _dir) = crate::helpers::spawn_with_partner().await;
    gw.create_facility("Hợp tác xã chè Tân Cương", json!({}))
        .await;
    let before = gw.counts().await;
    let lock = crate::helpers::lock_writes(&gw.database_url).await;
    let partner_client = gw.client(Some(&partner.leaf("40", Role::Gateway)));
    for (client, query) in [
        (&partner_client, "{ facilities { edges { node { id } } } }"),
        (
            &gw.http,
            r#"mutation { createFacility(input: { name: "Cơ sở mới", kind: TRADER, commune: "Vinh" }) { id } }"#,
        ),
    ] {
        let response = client
            .post(gw.url())
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{query}");
        assert_eq!(response.headers()["retry-after"], "1");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "STORAGE_BUSY",
            "{answer}"
        );
        assert!(!answer.to_string().contains("Facility:19"), "{answer}");
    }
    drop(lock);
    assert_eq!(gw.counts().await, before);
    let log = gw
        .data(
            "{ auditLog { edges { node { role outcome records } } } }",
            json!({}),
        )
        .await;
    let partner_entries: Vec<&Value> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|edge| edge["node"]["role"] == "gateway")
        .collect();
    assert!(partner_entries.is_empty(), "{partner_entries:?}");
    let metrics = caunoi::server::metrics::handle().render();
    assert!(
        metrics.contains("caunoi_storage_busy_total"),
        "/metrics lacks caunoi_storage_busy_total"
    );
}
