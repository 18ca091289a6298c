//! Certificates: issue, the status actions, renewal, verification, filters.

use serde_json::{Value, json};

use crate::helpers::{TestGateway, assert_code, assert_invalid, day, spawn_gateway};

const VERIFY: &str = "query($n: String!, $on: Date) {
    verifyCertificate(number: $n, on: $on) { number on valid reason certificate { id } } }";

async fn facility(gw: &TestGateway) -> String {
    gw.create_facility("Hợp tác xã chè La Bằng", json!({ "commune": "La Bằng" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn verify(gw: &TestGateway, number: &Value, on: Option<String>) -> Value {
    gw.data(VERIFY, json!({ "n": number, "on": on })).await["verifyCertificate"].clone()
}

async fn act(gw: &TestGateway, mutation: &str, id: &Value, version: i64, extra: &str) -> Value {
    gw.post(
        &format!(
            "mutation($id: ID!, $v: Int!) {{ {mutation}(id: $id, version: $v{extra}) {{ id version status statusReason }} }}"
        ),
        json!({ "id": id, "v": version }),
    )
    .await
}

#[tokio::test]
async fn an_eligibility_certificate_gets_a_number_and_runs_three_years() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let first = gw
        .issue_certificate(&f, json!({ "issuedOn": "2024-04-19" }))
        .await;
    let second = gw
        .issue_certificate(&f, json!({ "issuedOn": "2024-05-02" }))
        .await;
    assert_eq!(first["number"], "19-ATTP-2024-000001");
    assert_eq!(second["number"], "19-ATTP-2024-000002");
    assert_eq!(first["expiresOn"], "2027-04-19");
    assert_eq!(first["status"], "ACTIVE");
    let commitment = gw
        .issue_certificate(
            &f,
            json!({ "kind": "COMMITMENT", "issuedOn": "2024-06-01" }),
        )
        .await;
    assert_eq!(commitment["number"], "19-CK-2024-000001");
    assert_eq!(commitment["expiresOn"], Value::Null);
}

#[tokio::test]
async fn an_exemption_names_its_standard_and_expiry() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let issue = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { number standard expiresOn } }";
    let base = json!({ "facilityId": f, "kind": "EXEMPTION", "scope": ["Chè"],
                       "issuingAuthority": "Chi cục", "issuedOn": "2025-01-10" });
    let mut without_standard = base.clone();
    without_standard["expiresOn"] = json!("2028-01-09");
    assert_invalid(
        &gw.post(issue, json!({ "i": without_standard })).await,
        "input.standard",
    );
    let mut without_expiry = base.clone();
    without_expiry["standard"] = json!("HACCP");
    assert_invalid(
        &gw.post(issue, json!({ "i": without_expiry })).await,
        "input.expiresOn",
    );
    let mut good = without_expiry.clone();
    good["expiresOn"] = json!("2028-01-09");
    good["standard"] = json!("ISO_22000");
    let issued = gw.data(issue, json!({ "i": good })).await;
    assert_eq!(
        issued["issueCertificate"],
        json!({ "number": "19-MT-2025-000001", "standard": "ISO_22000", "expiresOn": "2028-01-09" })
    );
    let mut eligibility_with_standard = good;
    eligibility_with_standard["kind"] = json!("ELIGIBILITY");
    assert_invalid(
        &gw.post(issue, json!({ "i": eligibility_with_standard }))
            .await,
        "input.standard",
    );
}

#[tokio::test]
async fn verification_follows_dates_and_the_status_history() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let c = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-100) }))
        .await;
    let suspended = act(
        &gw,
        "suspendCertificate",
        &c["id"],
        1,
        &format!(
            r#", reason: "Mẫu chè vượt dư lượng", effectiveOn: "{}""#,
            day(-50)
        ),
    )
    .await;
    assert_eq!(
        suspended["data"]["suspendCertificate"]["status"],
        "SUSPENDED"
    );
    let reinstated = act(
        &gw,
        "reinstateCertificate",
        &c["id"],
        2,
        &format!(r#", effectiveOn: "{}""#, day(-20)),
    )
    .await;
    assert_eq!(
        reinstated["data"]["reinstateCertificate"]["status"],
        "ACTIVE"
    );
    assert_eq!(reinstated["data"]["reinstateCertificate"]["version"], 3);

    let n = &c["number"];
    assert_eq!(
        verify(&gw, n, Some(day(-101))).await["reason"],
        "NOT_YET_ISSUED"
    );
    assert_eq!(verify(&gw, n, Some(day(-60))).await["valid"], true);
    let during = verify(&gw, n, Some(day(-30))).await;
    assert_eq!(
        (during["valid"].clone(), during["reason"].clone()),
        (json!(false), json!("SUSPENDED"))
    );
    assert_eq!(verify(&gw, n, None).await["valid"], true);
    assert_eq!(
        verify(&gw, n, Some(day(-100 + 365 * 3 + 2))).await["reason"],
        "EXPIRED"
    );

    let revoked = act(
        &gw,
        "revokeCertificate",
        &c["id"],
        3,
        r#", reason: "Gian lận hồ sơ""#,
    )
    .await;
    assert_eq!(revoked["data"]["revokeCertificate"]["status"], "REVOKED");
    assert_eq!(
        revoked["data"]["revokeCertificate"]["statusReason"],
        "Gian lận hồ sơ"
    );
    assert_eq!(verify(&gw, n, None).await["reason"], "REVOKED");
    assert_eq!(verify(&gw, n, Some(day(-10))).await["valid"], true);

    let history = gw
        .data(
            "query($n: String!) { certificate(number: $n) { history { status effectiveOn } } }",
            json!({ "n": n }),
        )
        .await;
    let statuses: Vec<&str> = history["certificate"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ACTIVE", "SUSPENDED", "ACTIVE", "REVOKED"]);
}

#[tokio::test]
async fn unknown_numbers_are_unknown_and_malformed_ones_invalid() {
    let gw = spawn_gateway().await;
    let unknown = verify(&gw, &json!("19-ATTP-2024-000777"), None).await;
    assert_eq!(
        unknown,
        json!({ "number": "19-ATTP-2024-000777", "on": day(0), "valid": false,
                "reason": "UNKNOWN", "certificate": null })
    );
    assert_invalid(&gw.post(VERIFY, json!({ "n": "ATTP-19" })).await, "number");
    assert_invalid(
        &gw.post(VERIFY, json!({ "n": "19-ATTP-2024-1", "on": "2024-13-01" }))
            .await,
        "on",
    );
    let lookup = gw
        .data(
            r#"{ certificate(number: "19-attp-2024-000777") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(lookup["certificate"], Value::Null);
}

#[tokio::test]
async fn status_actions_respect_the_current_status() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let c = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-10) }))
        .await;
    assert_code(
        &act(&gw, "reinstateCertificate", &c["id"], 1, "").await,
        "CONFLICT",
    );
    let revoked = act(
        &gw,
        "revokeCertificate",
        &c["id"],
        1,
        r#", reason: "Ngừng hoạt động""#,
    )
    .await;
    assert_eq!(revoked["data"]["revokeCertificate"]["version"], 2);
    assert_code(
        &act(&gw, "suspendCertificate", &c["id"], 2, r#", reason: "x""#).await,
        "CONFLICT",
    );
    assert_code(
        &act(&gw, "revokeCertificate", &c["id"], 2, r#", reason: "x""#).await,
        "CONFLICT",
    );
    // A stale version is refused before the status is even looked at.
    assert_code(
        &act(&gw, "revokeCertificate", &c["id"], 1, r#", reason: "x""#).await,
        "CONFLICT",
    );
}

#[tokio::test]
async fn status_dates_cannot_go_back_or_ahead() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let c = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-10) }))
        .await;
    let before_issue = act(
        &gw,
        "suspendCertificate",
        &c["id"],
        1,
        &format!(r#", reason: "x", effectiveOn: "{}""#, day(-11)),
    )
    .await;
    assert_invalid(&before_issue, "effectiveOn");
    let future = act(
        &gw,
        "suspendCertificate",
        &c["id"],
        1,
        &format!(r#", reason: "x", effectiveOn: "{}""#, day(1)),
    )
    .await;
    assert_invalid(&future, "effectiveOn");
    // Nothing was written by the refused actions.
    let now = gw
        .data(
            "query($n: String!) { certificate(number: $n) { version status } }",
            json!({ "n": c["number"] }),
        )
        .await;
    assert_eq!(
        now["certificate"],
        json!({ "version": 1, "status": "ACTIVE" })
    );
}

#[tokio::test]
async fn renewal_issues_a_new_certificate_that_names_the_old_one() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let old = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-1100) }))
        .await;
    let renew = r#"mutation($id: ID!, $v: Int!) { renewCertificate(id: $id, version: $v, input: { scope: ["Chè xanh"] }) {
        number issuedOn expiresOn scope replaces { number replacedBy { number } } } }"#;
    let renewed =
        gw.data(renew, json!({ "id": old["id"], "v": 1 })).await["renewCertificate"].clone();
    assert_ne!(renewed["number"], old["number"]);
    assert_eq!(renewed["issuedOn"], day(0));
    assert_eq!(renewed["scope"], json!(["Chè xanh"]));
    assert_eq!(renewed["replaces"]["number"], old["number"]);
    assert_eq!(
        renewed["replaces"]["replacedBy"]["number"],
        renewed["number"]
    );
    // The old certificate's version moved on; renewing it again is a conflict.
    assert_code(
        &gw.post(renew, json!({ "id": old["id"], "v": 1 })).await,
        "CONFLICT",
    );
    assert_code(
        &gw.post(renew, json!({ "id": old["id"], "v": 2 })).await,
        "CONFLICT",
    );

    let revoked = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-5) }))
        .await;
    act(
        &gw,
        "revokeCertificate",
        &revoked["id"],
        1,
        r#", reason: "x""#,
    )
    .await;
    assert_code(
        &gw.post(renew, json!({ "id": revoked["id"], "v": 2 })).await,
        "CONFLICT",
    );
}

#[tokio::test]
async fn certificates_filter_by_status_expiry_kind_and_text() {
    let gw = spawn_gateway().await;
    let f = facility(&gw).await;
    let other = gw
        .create_facility("Cơ sở nhút Thanh Chương", json!({ "suppliesTo": [] }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let active = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-30) }))
        .await;
    let expired = gw
        .issue_certificate(&f, json!({ "issuedOn": day(-1200) }))
        .await;
    let expiring = gw
        .issue_certificate(
            &other,
            json!({ "issuedOn": day(-1000), "scope": ["Nhút mít"] }),
        )
        .await;
    let suspended = gw
        .issue_certificate(&other, json!({ "issuedOn": day(-3) }))
        .await;
    act(
        &gw,
        "suspendCertificate",
        &suspended["id"],
        1,
        r#", reason: "x""#,
    )
    .await;
    let commitment = gw
        .issue_certificate(&f, json!({ "kind": "COMMITMENT", "issuedOn": day(-3) }))
        .await;

    let query = "query($f: CertificateFilterInput) { certificates(filter: $f) { edges { node { number status } } } }";
    let numbers = |data: Value| -> Vec<Value> {
        data["certificates"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["number"].clone())
            .collect()
    };
    assert_eq!(
        numbers(gw.data(query, json!({ "f": { "status": "ACTIVE" } })).await),
        [
            &active["number"],
            &expiring["number"],
            &commitment["number"]
        ]
        .map(Clone::clone)
    );
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "status": "EXPIRED" } }))
                .await
        ),
        [expired["number"].clone()]
    );
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "status": "SUSPENDED" } }))
                .await
        ),
        [suspended["number"].clone()]
    );
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "expiringWithinDays": 120 } }))
                .await
        ),
        [expiring["number"].clone()]
    );
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "kind": "COMMITMENT" } }))
                .await
        ),
        [commitment["number"].clone()]
    );
    assert_eq!(
        numbers(gw.data(query, json!({ "f": { "text": "nhut mit" } })).await),
        [expiring["number"].clone()]
    );
    // Text matches the facility too.
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "text": "thanh chuong" } }))
                .await
        )
        .len(),
        2
    );
    assert_eq!(
        numbers(gw.data(query, json!({ "f": { "suppliesTo": "40" } })).await).len(),
        3
    );
    assert_eq!(
        numbers(
            gw.data(query, json!({ "f": { "facilityId": other } }))
                .await
        ),
        [expiring["number"].clone(), suspended["number"].clone()]
    );
    let negative = gw
        .post(query, json!({ "f": { "expiringWithinDays": -1 } }))
        .await;
    assert_invalid(&negative, "filter.expiringWithinDays");
}

#[tokio::test]
async fn certificates_of_an_unknown_facility_are_refused() {
    let gw = spawn_gateway().await;
    let before = gw.counts().await;
    let issue = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { id } }";
    let input = |facility: &str| json!({ "i": { "facilityId": facility, "kind": "ELIGIBILITY", "scope": ["Chè"], "issuingAuthority": "Chi cục" } });
    assert_invalid(
        &gw.post(issue, input("Facility:19:404")).await,
        "input.facilityId",
    );
    assert_code(&gw.post(issue, input("Facility:40:1")).await, "NOT_OWNER");
    assert_invalid(
        &gw.post(issue, input("Product:19:1")).await,
        "input.facilityId",
    );
    assert_eq!(gw.counts().await, before);
}
