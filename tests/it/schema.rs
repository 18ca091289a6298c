//! The committed contract matches the code.

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed at the project root");
    let current = caunoi::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_schema_speaks_the_domain() {
    let sdl = caunoi::graphql::sdl();
    for needle in [
        "verifyCertificate(number: String!, on: Date, consistency: Consistency): CertificateVerification",
        "interface Node",
        "scalar ProvinceCode",
        "enum InvalidReason",
        "NOT_YET_ISSUED",
        "ISO_22000",
    ] {
        assert!(sdl.contains(needle), "the schema lacks `{needle}`");
    }
}

#[tokio::test]
async fn every_notice_sent_to_partners_runs_on_our_own_schema() {
    let (thai_nguyen, nghe_an) = crate::helpers::spawn_pair().await;
    let gateway = thai_nguyen.client(Some(&nghe_an.pki.leaf("40", caunoi::domain::Role::Gateway)));
    let variables = [
        serde_json::json!({ "id": "Alert:40:1", "version": 1 }),
        serde_json::json!({ "id": "FollowUp:40:1", "version": 1, "alert": "Alert:19:1",
                            "request": "InspectionRequest:19:1", "inspection": "Inspection:40:1" }),
        serde_json::json!({ "id": "InspectionRequest:40:1", "version": 1, "alert": "Alert:40:1" }),
        serde_json::json!({ "id": "HarvestOffer:40:1", "version": 1 }),
    ];
    for (mutation, variables) in caunoi::federation::notice::ALL.iter().zip(variables) {
        let (status, answer) = thai_nguyen
            .post_with(&gateway, mutation, variables.clone())
            .await;
        assert_eq!(status, 200, "{mutation}\n{answer:#}");
        assert!(answer.get("errors").is_none(), "{mutation}\n{answer:#}");
        let receipt = answer["data"].as_object().unwrap().values().next().unwrap();
        assert_eq!(receipt["recordId"], variables["id"], "{answer:#}");
        assert_eq!(receipt["duplicate"], false, "{answer:#}");
    }
}

#[tokio::test]
async fn every_query_sent_to_partners_runs_on_our_own_schema() {
    let gw = crate::helpers::spawn_gateway().await;
    let variables = serde_json::json!({
        "ids": ["Facility:19:1"],
        "number": "19-ATTP-2024-000001",
        "facility": "Facility:19:1",
        "alert": "Alert:40:1",
        "first": 1,
    });
    for query in caunoi::federation::records::all_queries() {
        let answer = gw.post(&query, variables.clone()).await;
        assert!(answer.get("errors").is_none(), "{query}\n{answer:#}");
    }
}
