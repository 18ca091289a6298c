//! Two real gateways over real mTLS: answers come from the owner at query time.

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestGateway, spawn_pair, spawn_pair_with};

/// How many requests `from` made of `owner`, by `owner`'s audit trail.
async fn requests_from(owner: &TestGateway, from: &str) -> usize {
    let log = owner
        .data(
            "query($p: ProvinceCode) { auditLog(first: 100, filter: { callerProvince: $p }) { edges { cursor } } }",
            json!({ "p": from }),
        )
        .await;
    log["auditLog"]["edges"].as_array().unwrap().len()
}

/// A Nghệ An facility supplying Thái Nguyên, with an eligibility certificate.
async fn nghe_an_supplier(na: &TestGateway) -> (Value, Value) {
    let facility = na
        .create_facility(
            "Hợp tác xã cam Vinh Quỳ Hợp",
            json!({ "commune": "Minh Hợp", "district": "Quỳ Hợp", "suppliesTo": ["19"],
                    "contactPhone": "0987654321" }),
        )
        .await;
    let certificate = na
        .issue_certificate(facility["id"].as_str().unwrap(), json!({}))
        .await;
    (facility, certificate)
}

#[tokio::test]
async fn a_nghe_an_certificate_is_verified_from_thai_nguyen_by_its_owner() {
    let (tn, na) = spawn_pair().await;
    let (facility, certificate) = nghe_an_supplier(&na).await;
    let dashboard = tn.client_as(Role::Dashboard);
    let (status, answer) = tn
        .post_with(
            &dashboard,
            "query($n: String!) { verifyCertificate(number: $n) {
               valid reason certificate { number province { code name } provenance { source }
                 facility { name contactPhone address { commune } } } } }",
            json!({ "n": certificate["number"] }),
        )
        .await;
    assert_eq!(status, 200);
    let verification = &answer["data"]["verifyCertificate"];
    assert_eq!(verification["valid"], true, "{answer:#}");
    let found = &verification["certificate"];
    assert_eq!(found["number"], certificate["number"]);
    assert_eq!(
        found["province"],
        json!({ "code": "40", "name": "Nghệ An" })
    );
    assert_eq!(found["provenance"]["source"], "OWNER");
    assert_eq!(found["facility"]["name"], facility["name"]);
    assert_eq!(found["facility"]["address"]["commune"], "Minh Hợp");
    // Personal data does not leave Nghệ An, even for Thái Nguyên's own dashboard.
    assert_eq!(found["facility"]["contactPhone"], Value::Null);
    assert!(!answer.to_string().contains("0987654321"));

    // A revocation in Nghệ An is seen at once in Thái Nguyên: nothing was copied.
    na.data(
        r#"mutation($id: ID!) { revokeCertificate(id: $id, version: 1, reason: "Gian lận") { id } }"#,
        json!({ "id": certificate["id"] }),
    )
    .await;
    let (_, again) = tn
        .post_with(
            &dashboard,
            "query($n: String!) { verifyCertificate(number: $n) { valid reason } }",
            json!({ "n": certificate["number"] }),
        )
        .await;
    assert_eq!(
        again["data"]["verifyCertificate"],
        json!({ "valid": false, "reason": "REVOKED" })
    );
}

#[tokio::test]
async fn lookups_by_identifier_go_to_the_owner_from_either_side() {
    let (tn, na) = spawn_pair().await;
    let (na_facility, na_certificate) = nghe_an_supplier(&na).await;
    let tn_facility = tn
        .create_facility("Hợp tác xã chè Tân Cương", json!({ "suppliesTo": ["40"] }))
        .await;
    let lookup = "query($id: ID!) { node(id: $id) { id ... on Facility { name province { code } } } facility(id: $id) { name } }";
    let from_tn = tn.data(lookup, json!({ "id": na_facility["id"] })).await;
    assert_eq!(from_tn["node"]["name"], na_facility["name"]);
    assert_eq!(from_tn["node"]["province"]["code"], "40");
    assert_eq!(from_tn["facility"]["name"], na_facility["name"]);
    let from_na = na.data(lookup, json!({ "id": tn_facility["id"] })).await;
    assert_eq!(from_na["node"]["name"], "Hợp tác xã chè Tân Cương");
    let by_number = tn
        .data(
            "query($n: String!) { certificate(number: $n) { id history { status } facility { certificates { edges { node { number } } } } } }",
            json!({ "n": na_certificate["number"] }),
        )
        .await;
    assert_eq!(by_number["certificate"]["id"], na_certificate["id"]);
    assert_eq!(
        by_number["certificate"]["history"],
        json!([{ "status": "ACTIVE" }])
    );
    assert_eq!(
        by_number["certificate"]["facility"]["certificates"]["edges"][0]["node"]["number"],
        na_certificate["number"]
    );
}

#[tokio::test]
async fn what_nghe_an_does_not_share_with_thai_nguyen_stays_hidden() {
    let (tn, na) = spawn_pair().await;
    let private = na
        .create_facility(
            "Hộ sản xuất nhút Thanh Chương",
            json!({ "kind": "HOUSEHOLD", "suppliesTo": [] }),
        )
        .await;
    let certificate = na
        .issue_certificate(
            private["id"].as_str().unwrap(),
            json!({ "kind": "COMMITMENT" }),
        )
        .await;
    let answer = tn
        .data(
            "query($id: ID!, $n: String!) { node(id: $id) { id } verifyCertificate(number: $n) { valid reason certificate { id } } }",
            json!({ "id": private["id"], "n": certificate["number"] }),
        )
        .await;
    assert_eq!(answer["node"], Value::Null);
    assert_eq!(
        answer["verifyCertificate"],
        json!({ "valid": false, "reason": "UNKNOWN", "certificate": null })
    );
}

#[tokio::test]
async fn references_to_partner_records_cost_one_request_per_page() {
    let (tn, na) = spawn_pair().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let facility = na
            .create_facility(
                &format!("Cơ sở nước mắm Vạn Phần số {i}"),
                json!({ "suppliesTo": ["19"] }),
            )
            .await;
        ids.push(
            na.issue_certificate(facility["id"].as_str().unwrap(), json!({}))
                .await["id"]
                .clone(),
        );
    }
    let before = requests_from(&na, "19").await;
    let answer = tn
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Certificate { number facility { name } } } }",
            json!({ "ids": ids }),
        )
        .await;
    let nodes = answer["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5);
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(
            node["facility"]["name"],
            format!("Cơ sở nước mắm Vạn Phần số {i}")
        );
    }
    // One request for the five certificates, one for their five facilities.
    assert_eq!(requests_from(&na, "19").await - before, 2);
}

#[tokio::test]
async fn nodes_of_both_provinces_come_back_in_the_order_asked() {
    let (tn, na) = spawn_pair().await;
    let (_, theirs) = nghe_an_supplier(&na).await;
    let ours = tn
        .create_facility("Hợp tác xã chè Tân Cương", json!({}))
        .await;
    // Ours and theirs interleaved, each twice, with IDs nobody has.
    let asked = json!([
        theirs["id"],
        ours["id"],
        "Facility:19:999999",
        theirs["id"],
        ours["id"],
        "Certificate:40:999999",
    ]);
    let answer = tn
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Certificate { provenance { source } } ... on Facility { provenance { source } } } }",
            json!({ "ids": asked }),
        )
        .await;
    let owner = |id: &Value| json!({ "id": id, "provenance": { "source": "OWNER" } });
    assert_eq!(
        answer["nodes"],
        json!([
            owner(&theirs["id"]),
            owner(&ours["id"]),
            null,
            owner(&theirs["id"]),
            owner(&ours["id"]),
            null,
        ])
    );
}

#[tokio::test]
async fn a_partner_is_always_answered_locally_so_federation_cannot_loop() {
    let (tn, na) = spawn_pair().await;
    let tn_facility = tn
        .create_facility("Hợp tác xã chè La Bằng", json!({ "suppliesTo": ["40"] }))
        .await;
    // Nghệ An's gateway asks Thái Nguyên about a Nghệ An record: Thái Nguyên does
    // not turn around and ask Nghệ An.
    let (na_facility, _) = nghe_an_supplier(&na).await;
    let as_na_gateway = tn.client(Some(&na_pki_leaf(&na)));
    let before = requests_from(&na, "19").await;
    let (status, answer) = tn
        .post_with(
            &as_na_gateway,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": na_facility["id"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["node"], Value::Null);
    assert_eq!(requests_from(&na, "19").await, before);
    // Its own records it answers.
    let (_, own) = tn
        .post_with(
            &as_na_gateway,
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": tn_facility["id"] }),
        )
        .await;
    assert_eq!(own["data"]["node"]["id"], tn_facility["id"]);
}

fn na_pki_leaf(na: &TestGateway) -> caunoi::pki::Leaf {
    na.pki.leaf("40", Role::Gateway)
}

#[tokio::test]
async fn a_gateway_misconfigured_to_call_itself_is_refused_not_looped() {
    // "Partner 40" points back at this very gateway and trusts its own CA.
    let dir = tempfile::tempdir().unwrap();
    let pki = crate::helpers::TestPki::create(dir.path(), "19");
    let listener = crate::helpers::bind();
    let own = caunoi::config::Partner {
        province: "40".to_owned(),
        name: None,
        ca: dir.path().join("pki").join(caunoi::pki::CA_CERT),
        endpoint: Some(format!(
            "https://127.0.0.1:{}/graphql",
            listener.local_addr().unwrap().port()
        )),
        sync_every: None,
    };
    let gw = crate::helpers::start("19", dir, pki, listener, |config| {
        config.partners = vec![own]
    })
    .await;
    let (status, answer) = gw
        .post_with(
            &gw.client_as(Role::Dashboard),
            r#"{ node(id: "Facility:40:1") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["node"], Value::Null);
    let error = &answer["errors"][0]["extensions"];
    // The server it reached names province 19's gateway, not 40's: nothing
    // was sent.
    assert_eq!(error["code"], "PARTNER_BAD_RESPONSE", "{answer:#}");
    assert_eq!(error["province"], "40");
    let audited = gw
        .data(r#"{ auditLog { edges { node { role } } } }"#, json!({}))
        .await;
    assert_eq!(audited["auditLog"]["edges"], json!([]));
}

#[tokio::test]
async fn nothing_fetched_from_a_partner_is_written_locally() {
    let (tn, na) = spawn_pair().await;
    let (_, certificate) = nghe_an_supplier(&na).await;
    let before = tn.counts().await;
    tn.data(
        "query($n: String!) { verifyCertificate(number: $n) { certificate { facility { name } } } }",
        json!({ "n": certificate["number"] }),
    )
    .await;
    assert_eq!(tn.counts().await, before);
    // Not even the partner's records behind the API.
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(&tn.database_url).await.unwrap();
    for table in ["facility", "certificate", "product", "inspection"] {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table} WHERE province <> 19"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table}");
    }
}

#[tokio::test]
async fn paging_through_all_provinces_visits_every_record_once() {
    let (tn, na) = spawn_pair().await;
    let tn_facility = tn
        .create_facility("Hợp tác xã chè Tân Cương", json!({}))
        .await;
    let mut expected = Vec::new();
    for _ in 0..7 {
        expected.push(
            tn.issue_certificate(tn_facility["id"].as_str().unwrap(), json!({}))
                .await["id"]
                .clone(),
        );
    }
    let (shared, _) = nghe_an_supplier(&na).await;
    expected.push(
        na.data(
            "{ certificates(scope: LOCAL) { edges { node { id } } } }",
            json!({}),
        )
        .await["certificates"]["edges"][0]["node"]["id"]
            .clone(),
    );
    for _ in 0..5 {
        expected.push(
            na.issue_certificate(shared["id"].as_str().unwrap(), json!({}))
                .await["id"]
                .clone(),
        );
    }
    let hidden = na
        .create_facility("Cơ sở riêng", json!({ "suppliesTo": [] }))
        .await;
    for _ in 0..2 {
        na.issue_certificate(hidden["id"].as_str().unwrap(), json!({}))
            .await;
    }

    let query = "query($after: String, $scope: Scope) { certificates(first: 4, after: $after, scope: $scope) {
        edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    let collect = |scope: &'static str| {
        let tn = &tn;
        async move {
            let mut seen = Vec::new();
            let mut after = Value::Null;
            for _ in 0..20 {
                let page = tn
                    .data(query, json!({ "after": after, "scope": scope }))
                    .await["certificates"]
                    .clone();
                seen.extend(
                    page["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["node"]["id"].clone()),
                );
                if page["pageInfo"]["hasNextPage"] == false {
                    return seen;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
            panic!("paging does not end");
        }
    };
    let all = collect("ALL").await;
    assert_eq!(all.len(), expected.len(), "every certificate once: {all:?}");
    for province in [&expected[..7], &expected[7..]] {
        let its: Vec<Value> = all
            .iter()
            .filter(|id| province.contains(id))
            .cloned()
            .collect();
        assert_eq!(
            its, province,
            "each province's certificates in its own order"
        );
    }
    assert_eq!(collect("LOCAL").await, expected[..7]);
    assert_eq!(collect("PARTNERS").await, expected[7..]);
}

#[tokio::test]
async fn nghe_an_records_the_trading_of_a_thai_nguyen_facility_and_thai_nguyen_sees_it() {
    let (tn, na) = spawn_pair().await;
    let tea = tn
        .create_facility("Hợp tác xã chè Tân Cương", json!({ "suppliesTo": ["40"] }))
        .await;
    let record = "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id facility { name } inspectingProvince { code } } }";
    let input = |stage: &str, facility: &Value| {
        json!({ "i": { "facilityId": facility, "stage": stage, "inspectedOn": crate::helpers::day(-1),
                       "result": "PASS", "findings": "Bao bì đúng quy định, nhãn ghi rõ nguồn gốc Tân Cương" } })
    };
    let recorded = na.data(record, input("TRADING", &tea["id"])).await["recordInspection"].clone();
    assert_eq!(recorded["facility"]["name"], "Hợp tác xã chè Tân Cương");
    assert_eq!(recorded["inspectingProvince"]["code"], "40");
    // Production stages of a Thái Nguyên facility are Thái Nguyên's to inspect.
    let refused = na.post(record, input("PROCESSING", &tea["id"])).await;
    crate::helpers::assert_invalid(&refused, "input.stage");
    // A facility Thái Nguyên does not confirm is refused, and nothing is stored.
    let before = na.counts().await;
    let unknown = na
        .post(record, input("TRADING", &json!("Facility:19:9999")))
        .await;
    crate::helpers::assert_invalid(&unknown, "input.facilityId");
    assert_eq!(na.counts().await, before);

    // Thái Nguyên sees both provinces' inspections of its facility's chain.
    tn.data(
        "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id } }",
        input("PRIMARY_PRODUCTION", &tea["id"]),
    )
    .await;
    let chain = tn
        .data(
            "query($f: ID!) { inspections(filter: { facilityId: $f }, scope: ALL) { edges { node { stage inspectingProvince { code } } } } }",
            json!({ "f": tea["id"] }),
        )
        .await;
    assert_eq!(
        chain["inspections"]["edges"],
        json!([
            { "node": { "stage": "PRIMARY_PRODUCTION", "inspectingProvince": { "code": "19" } } },
            { "node": { "stage": "TRADING", "inspectingProvince": { "code": "40" } } },
        ])
    );
}

#[tokio::test]
async fn two_gateways_with_one_turn_each_answer_each_other_without_stalling() {
    let one_turn = |config: &mut caunoi::config::Config| config.limits.concurrent_requests = 1;
    let (tn, na) = spawn_pair_with(one_turn, one_turn).await;
    let (na_facility, _) = nghe_an_supplier(&na).await;
    let tn_facility = tn
        .create_facility("Hợp tác xã chè La Bằng", json!({ "suppliesTo": ["40"] }))
        .await;
    // Each gateway's one turn for its own callers is given back while it asks
    // the other, which answers in its own line for partners: all twenty answer,
    // in turn, from their owners.
    let query =
        "query($id: ID!) { node(id: $id) { id ... on Facility { provenance { source } } } }";
    let asks = (0..10).flat_map(|_| [(&tn, &na_facility["id"]), (&na, &tn_facility["id"])]);
    let answers = futures_util::future::join_all(
        asks.map(|(gw, id)| async move { (id, gw.post(query, json!({ "id": id })).await) }),
    )
    .await;
    for (id, answer) in answers {
        assert!(answer.get("errors").is_none(), "{answer:#}");
        assert_eq!(answer["data"]["node"]["id"], *id);
        assert_eq!(answer["data"]["node"]["provenance"]["source"], "OWNER");
    }
}

/// Nghệ An's CA also issues its dashboards' certificates, and could issue
/// anything: only a server certificate naming Nghệ An's gateway answers for
/// Nghệ An.
#[tokio::test]
async fn a_partner_is_believed_only_when_its_certificate_names_its_gateway() {
    let (tn, na) = spawn_pair().await;
    let serve = |uri: &str| {
        let mut spec = caunoi::pki::LeafSpec::gateway(
            caunoi::domain::ProvinceCode::parse("40").unwrap(),
            &["127.0.0.1".to_owned()],
        );
        spec.uri = uri.to_owned();
        let leaf = na.pki.authority.leaf(&spec).unwrap();
        let dir = na.pki_dir();
        std::fs::write(dir.join(caunoi::pki::GATEWAY_CERT), &leaf.cert_pem).unwrap();
        caunoi::pki::write_private(&dir.join(caunoi::pki::GATEWAY_KEY), &leaf.key_pem).unwrap();
        na.app.tls().reload().unwrap();
    };
    let verify = "{ verifyCertificate(number: \"40-ATTP-2024-000001\") { valid reason } }";
    for uri in [
        "urn:caunoi:40:dashboard",
        "urn:caunoi:19:gateway",
        "https://nghe-an.example/gateway",
    ] {
        serve(uri);
        let answer = tn.post(verify, json!({})).await;
        assert_eq!(
            answer["data"]["verifyCertificate"],
            Value::Null,
            "{uri}: {answer}"
        );
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "PARTNER_BAD_RESPONSE", "{uri}");
        assert_eq!(error["extensions"]["province"], "40");
    }
    serve("urn:caunoi:40:gateway");
    let answer = tn.post(verify, json!({})).await;
    assert_eq!(
        answer,
        json!({ "data": { "verifyCertificate": { "valid": false, "reason": "UNKNOWN" } } })
    );
}

/// Fifty repeats of a list over every partner made fifty calls of each, and
/// five hundred opened the partner's circuit for every caller. Lists over
/// partners are counted before the request runs; what a partner's page asks
/// in turn, as it runs.
#[tokio::test]
async fn a_request_calls_each_partner_a_bounded_number_of_times() {
    let (tn, na) = spawn_pair_with(
        |config| {
            config.limits.partner_lists = 3;
            config.limits.partner_calls = 3;
        },
        |_| {},
    )
    .await;
    for i in 0..5 {
        na.create_facility(&format!("Cơ sở {i}"), json!({ "suppliesTo": ["19"] }))
            .await;
    }
    let repeated = format!(
        "{{ {} }}",
        "certificates(scope: ALL, first: 1) { edges { cursor } } ".repeat(4)
    );
    let answer = tn.post(&repeated, json!({})).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "partnerLists");
    assert_eq!(requests_from(&na, "19").await, 0, "a refused request asked");

    let nested = "{ facilities(scope: PARTNERS) { edges { node { name certificates { edges { cursor } } } } } }";
    let answer = tn.post(nested, json!({})).await;
    let edges = answer["data"]["facilities"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5, "{answer:#}");
    let answered = edges
        .iter()
        .filter(|edge| edge["node"]["certificates"].is_object())
        .count();
    assert_eq!(answered, 2, "the list and two facilities' certificates");
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX");
        assert_eq!(error["extensions"]["limit"], "partnerCalls");
        assert_eq!(error["extensions"]["province"], "40");
    }
    assert_eq!(requests_from(&na, "19").await, 3);
}
