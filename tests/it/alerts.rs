//! Rapid alerts and their threads, between two real gateways.

use caunoi::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{
    TestGateway, TestPki, assert_code, assert_invalid, bind, first_error, spawn_gateway,
    spawn_pair, spawn_with_partner, start,
};

/// What the tests read of an alert.
const ALERT_FIELDS: &str = "id version status province { code } provincesConcerned { code }
    productIds facilityIds hazards { category agent result unit legalLimit }";
fn raise_query() -> String {
    format!("mutation($i: AlertInput!) {{ raiseAlert(input: $i) {{ {ALERT_FIELDS} }} }}")
}
const STATUS: &str = "mutation($id: ID!, $v: Int!, $s: AlertStatus!, $r: String) {
    changeAlertStatus(id: $id, version: $v, status: $s, reason: $r) {
      id version status statusReason notifiedAt } }";
const FOLLOW_UP: &str = "mutation($i: FollowUpInput!) { addFollowUp(input: $i) {
    id province { code } alertId findings } }";
const REGISTER: &str = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";

/// A pesticide residue in `products`, sold by `facilities`.
pub(crate) fn residue(products: &[&Value], facilities: &[&Value]) -> Value {
    json!({
        "classification": "ALERT",
        "risk": "SERIOUS",
        "basis": "OFFICIAL_CONTROL",
        "subject": "Dư lượng thuốc bảo vệ thực vật vượt mức trên cam Vinh",
        "description": "Mẫu cam Vinh lấy tại chợ Thái có dư lượng chlorpyrifos vượt giới hạn tối đa.",
        "hazards": [{ "category": "PESTICIDE_RESIDUE", "agent": "Chlorpyrifos",
                      "result": 0.52, "unit": "mg/kg", "legalLimit": 0.01 }],
        "measures": [{ "kind": "WITHDRAWAL", "detail": "Thu hồi 120 kg tại chợ Thái" }],
        "productIds": products.iter().map(|p| p["id"].clone()).collect::<Vec<_>>(),
        "facilityIds": facilities.iter().map(|f| f["id"].clone()).collect::<Vec<_>>(),
        "lots": ["CV-2026-11-03"],
    })
}

pub(crate) async fn raise(gw: &TestGateway, input: Value) -> Value {
    gw.data(&raise_query(), json!({ "i": input })).await["raiseAlert"].clone()
}

pub(crate) async fn change(
    gw: &TestGateway,
    alert: &Value,
    status: &str,
    reason: Option<&str>,
) -> Value {
    gw.data(
        STATUS,
        json!({ "id": alert["id"], "v": alert["version"], "s": status, "r": reason }),
    )
    .await["changeAlertStatus"]
        .clone()
}

/// Waits, at most ten seconds, until a gateway's deliverer has delivered
/// `count` notices in all.
pub(crate) async fn delivered(
    sent: &mut tokio::sync::watch::Receiver<caunoi::deliver::Sent>,
    count: u64,
) {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sent.wait_for(|sent| sent.delivered >= count),
    )
    .await
    .unwrap_or_else(|_| panic!("{count} notices not delivered within 10 s"))
    .expect("the gateway is serving");
}

/// A Nghệ An cooperative growing cam Vinh for Thái Nguyên, and a Thái
/// Nguyên market selling it.
pub(crate) async fn cam_vinh(
    thai_nguyen: &TestGateway,
    nghe_an: &TestGateway,
) -> (Value, Value, Value) {
    let cooperative = nghe_an
        .create_facility(
            "Hợp tác xã cam Vinh Nghi Diên",
            json!({ "commune": "Nghi Diên", "district": "Nghi Lộc", "suppliesTo": ["19"] }),
        )
        .await;
    let orange = nghe_an
        .data(
            REGISTER,
            json!({ "i": { "name": "Cam Vinh", "category": "AGRICULTURAL",
                           "facilityId": cooperative["id"] } }),
        )
        .await["registerProduct"]
        .clone();
    let market = thai_nguyen
        .create_facility(
            "Chợ Thái",
            json!({ "kind": "TRADER", "commune": "Phan Đình Phùng", "suppliesTo": [] }),
        )
        .await;
    (cooperative, orange, market)
}

#[tokio::test]
async fn an_alert_reaches_the_partner_when_notified_and_both_write_its_thread() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (cooperative, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let draft = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["province"]["code"], "19");
    // Ours, the product's owner; the market supplies no one else.
    assert_eq!(
        draft["provincesConcerned"],
        json!([{ "code": "19" }, { "code": "40" }])
    );
    assert_eq!(draft["hazards"][0]["legalLimit"], 0.01);
    // What the write answered is what a read finds.
    let read = thai_nguyen
        .data(
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on Alert {{ {ALERT_FIELDS} }} }} }}"),
            json!({ "id": draft["id"] }),
        )
        .await;
    assert_eq!(read["node"], draft);

    let list = "query($s: Scope) { alerts(scope: $s) { edges { node {
        id province { code } status subject products { name facility { name } }
        facilities { name } provenance { source } } } } }";
    let seen = |data: &Value| data["alerts"]["edges"].as_array().unwrap().clone();
    let partners = nghe_an.data(list, json!({ "s": "PARTNERS" })).await;
    assert!(
        seen(&partners).is_empty(),
        "a draft is not shared: {partners:#}"
    );

    let notified = change(&thai_nguyen, &draft, "NOTIFIED", None).await;
    assert_eq!(notified["status"], "NOTIFIED");
    assert!(notified["notifiedAt"].is_string());
    let partners = nghe_an.data(list, json!({ "s": "PARTNERS" })).await;
    let received = &seen(&partners)[0]["node"];
    assert_eq!(received["id"], draft["id"]);
    assert_eq!(received["province"]["code"], "19");
    assert_eq!(received["status"], "NOTIFIED");
    assert_eq!(received["provenance"]["source"], "OWNER");
    // Each record concerned is answered by its owner: Nghệ An's own orange;
    // Thái Nguyên's market, which supplies no other province, it keeps.
    assert_eq!(received["products"][0]["name"], "Cam Vinh");
    assert_eq!(
        received["products"][0]["facility"]["name"],
        cooperative["name"]
    );
    assert_eq!(received["facilities"], json!([null]));
    let ours = thai_nguyen.data(list, json!({ "s": "LOCAL" })).await;
    assert_eq!(seen(&ours)[0]["node"]["facilities"][0]["name"], "Chợ Thái");

    // Both provinces write in the one thread; each follow-up stays its writer's.
    let ours = nghe_an
        .data(
            FOLLOW_UP,
            json!({ "i": { "alertId": draft["id"],
                           "findings": "Lấy mẫu tại vườn: dư lượng 0,48 mg/kg",
                           "measures": [{ "kind": "DETENTION" }] } }),
        )
        .await["addFollowUp"]
        .clone();
    assert_eq!(ours["province"]["code"], "40");
    assert_eq!(ours["alertId"], draft["id"]);
    thai_nguyen
        .data(
            FOLLOW_UP,
            json!({ "i": { "alertId": draft["id"], "findings": "Đã thu hồi toàn bộ lô hàng" } }),
        )
        .await;
    let thread = "query($id: ID!) { node(id: $id) { ... on Alert { followUps { edges { node {
        province { code } findings measures { kind } alert { id } } } } } } }";
    for gw in [&thai_nguyen, &nghe_an] {
        let answer = gw.data(thread, json!({ "id": draft["id"] })).await;
        let mut writers: Vec<(String, String)> = answer["node"]["followUps"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["node"]["alert"]["id"], draft["id"]);
                let node = &e["node"];
                let province = node["province"]["code"].as_str().unwrap().to_owned();
                (province, node["findings"].as_str().unwrap().to_owned())
            })
            .collect();
        writers.sort();
        assert_eq!(
            writers,
            [
                ("19".to_owned(), "Đã thu hồi toàn bộ lô hàng".to_owned()),
                (
                    "40".to_owned(),
                    "Lấy mẫu tại vườn: dư lượng 0,48 mg/kg".to_owned()
                ),
            ],
            "as {} reads it",
            gw.province
        );
    }

    // A withdrawn alert says why, to the partner too, and takes no more follow-ups.
    let current = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { id version } } }",
            json!({ "id": draft["id"] }),
        )
        .await["node"]
        .clone();
    change(
        &thai_nguyen,
        &current,
        "WITHDRAWN",
        Some("Mẫu bị nhầm với lô khác"),
    )
    .await;
    let seen_there = nghe_an
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { status statusReason } } }",
            json!({ "id": draft["id"] }),
        )
        .await;
    assert_eq!(seen_there["node"]["status"], "WITHDRAWN");
    assert_eq!(
        seen_there["node"]["statusReason"],
        "Mẫu bị nhầm với lô khác"
    );
    let late = nghe_an
        .post(
            FOLLOW_UP,
            json!({ "i": { "alertId": draft["id"], "findings": "Muộn" } }),
        )
        .await;
    assert_invalid(&late, "input.alertId");
}

#[tokio::test]
async fn only_the_owner_changes_an_alert_and_a_partner_calls_no_mutation() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    let foreign = nghe_an
        .post(
            STATUS,
            json!({ "id": alert["id"], "v": alert["version"], "s": "CLOSED" }),
        )
        .await;
    assert_code(&foreign, "NOT_OWNER");
    // Nghệ An's gateway certificate, calling Thái Nguyên directly.
    let gateway = thai_nguyen.client(Some(&nghe_an.pki.leaf("40", Role::Gateway)));
    for (query, variables) in [
        (
            STATUS,
            json!({ "id": alert["id"], "v": alert["version"], "s": "CLOSED" }),
        ),
        (
            FOLLOW_UP,
            json!({ "i": { "alertId": alert["id"], "findings": "x" } }),
        ),
    ] {
        let (_, answer) = thai_nguyen.post_with(&gateway, query, variables).await;
        assert_eq!(first_error(&answer)["code"], "FORBIDDEN", "{answer:#}");
    }
    let unchanged = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { version status } } }",
            json!({ "id": alert["id"] }),
        )
        .await;
    assert_eq!(unchanged["node"]["version"], alert["version"]);
    assert_eq!(unchanged["node"]["status"], "NOTIFIED");
}

#[tokio::test]
async fn an_alert_names_earlier_alerts_on_the_same_risk_in_either_province() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (cooperative, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    // Nghệ An found the same residue in its orange first, and told Thái Nguyên.
    let mut first = residue(&[&orange], &[&cooperative]);
    first["hazards"][0]["agent"] = json!("CHLORPYRIFOS");
    let first = raise(&nghe_an, first).await;
    change(&nghe_an, &first, "NOTIFIED", None).await;
    // An earlier alert of Thái Nguyên's on the market, another hazard.
    let mut other = residue(&[], &[&market]);
    other["hazards"][0]["agent"] = json!("Cypermethrin");
    let other = raise(&thai_nguyen, other).await;
    change(&thai_nguyen, &other, "NOTIFIED", None).await;
    // Unrelated: another product, another facility.
    let elsewhere = thai_nguyen
        .create_facility("Chợ Đồng Quang", json!({ "suppliesTo": [] }))
        .await;
    let unrelated = raise(&thai_nguyen, residue(&[], &[&elsewhere])).await;
    change(&thai_nguyen, &unrelated, "NOTIFIED", None).await;

    let now = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let earlier = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { earlierAlerts { id province { code } } } } }",
            json!({ "id": now["id"] }),
        )
        .await;
    let mut found: Vec<Value> = earlier["node"]["earlierAlerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    found.sort_by_key(|id| id.to_string());
    let mut expected = vec![first["id"].clone(), other["id"].clone()];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(found, expected, "{earlier:#}");
}

#[tokio::test]
async fn a_bad_alert_is_refused_naming_its_field_and_stores_nothing() {
    let gw = spawn_gateway().await;
    let facility = gw.create_facility("Chợ Thái", json!({})).await;
    let good = residue(&[], &[&facility]);
    let alerts = "{ alerts(first: 100) { edges { node { id version } } }
                    followUps(first: 100) { edges { node { id } } } }";
    let before = gw.data(alerts, json!({})).await;
    // The field refused, and what spoils a good alert: values at JSON pointers.
    let cases: &[(&str, &[(&str, Value)])] = &[
        ("input.hazards", &[("/hazards", json!([]))]),
        ("input.hazards.0.unit", &[("/hazards/0/unit", Value::Null)]),
        (
            "input.hazards.0.legalLimit",
            &[("/hazards/0/legalLimit", json!(-1))],
        ),
        (
            "input.hazards.0.agent",
            &[("/hazards/0/agent", json!("Chlor\u{202e}pyrifos"))],
        ),
        ("input.subject", &[("/subject", json!("  "))]),
        (
            "input.productIds",
            &[("/facilityIds", json!([])), ("/lots", json!([]))],
        ),
        (
            "input.facilityIds.0",
            &[("/facilityIds", json!(["Facility:19:999"]))],
        ),
        (
            "input.productIds.0",
            &[("/productIds", json!(["Facility:19:1"]))],
        ),
        (
            "input.productIds.0",
            &[("/productIds", json!(["Product:01:1"]))],
        ),
        (
            "input.provincesConcerned.1",
            &[("/provincesConcerned", json!(["19", "01"]))],
        ),
        (
            "input.measures.0.detail",
            &[("/measures/0/detail", json!("\u{ffff}"))],
        ),
    ];
    for (field, spoils) in cases {
        let mut input = good.clone();
        for (pointer, value) in *spoils {
            match input.pointer_mut(pointer) {
                Some(slot) => *slot = value.clone(),
                None => {
                    let key = pointer.trim_start_matches('/');
                    input[key] = value.clone();
                }
            }
        }
        let answer = gw.post(&raise_query(), json!({ "i": input })).await;
        assert_invalid(&answer, field);
    }
    assert_eq!(gw.data(alerts, json!({})).await, before);

    let draft = raise(&gw, good.clone()).await;
    let on_draft = gw
        .post(
            FOLLOW_UP,
            json!({ "i": { "alertId": draft["id"], "findings": "Sớm quá" } }),
        )
        .await;
    assert_invalid(&on_draft, "input.alertId");
    let closed_draft = gw
        .post(
            STATUS,
            json!({ "id": draft["id"], "v": draft["version"], "s": "CLOSED" }),
        )
        .await;
    assert_invalid(&closed_draft, "status");
    let no_reason = gw
        .post(
            STATUS,
            json!({ "id": draft["id"], "v": draft["version"], "s": "WITHDRAWN" }),
        )
        .await;
    assert_invalid(&no_reason, "reason");
    let stale = gw
        .post(
            STATUS,
            json!({ "id": draft["id"], "v": draft["version"].as_i64().unwrap() + 1, "s": "NOTIFIED" }),
        )
        .await;
    assert_code(&stale, "CONFLICT");

    // A draft is rewritten; a notified alert is not.
    let mut rewritten = good.clone();
    rewritten["risk"] = json!("POTENTIALLY_SERIOUS");
    let update = "mutation($id: ID!, $v: Int!, $i: AlertInput!) {
        updateAlert(id: $id, version: $v, input: $i) { id version status } }";
    let updated = gw
        .data(
            update,
            json!({ "id": draft["id"], "v": draft["version"], "i": rewritten }),
        )
        .await["updateAlert"]
        .clone();
    assert_eq!(updated["version"], 2);
    let notified = change(&gw, &updated, "NOTIFIED", None).await;
    let too_late = gw
        .post(
            update,
            json!({ "id": draft["id"], "v": notified["version"], "i": good }),
        )
        .await;
    assert_code(&too_late, "CONFLICT");
    let finally = gw
        .data(
            "query($id: ID!) { node(id: $id) { ... on Alert { version risk status } } }",
            json!({ "id": draft["id"] }),
        )
        .await;
    assert_eq!(
        finally["node"],
        json!({ "version": notified["version"], "risk": "POTENTIALLY_SERIOUS", "status": "NOTIFIED" })
    );
}

#[tokio::test]
async fn a_notice_delivered_twice_is_stored_once_and_an_operator_acknowledges_it() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut sent = thai_nguyen.app.notices_sent();
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    delivered(&mut sent, 2).await;
    let receive = "mutation($id: ID!, $v: Int!) {
        receiveAlertNotice(alertId: $id, version: $v) { recordId receivedAt duplicate } }";
    // Thái Nguyên's deliverer told Nghệ An; a deliverer that sends it
    // again (it crashed before recording the first) changes nothing.
    let gateway = nghe_an.client(Some(&thai_nguyen.pki.leaf("19", Role::Gateway)));
    let deliver = |version: &Value| {
        nghe_an.post_with(
            &gateway,
            receive,
            json!({ "id": alert["id"], "v": version }),
        )
    };
    let (status, first) = deliver(&alert["version"]).await;
    assert_eq!(status, 200, "{first:#}");
    let first = &first["data"]["receiveAlertNotice"];
    assert_eq!(first["duplicate"], true, "{first:#}");
    let (_, again) = deliver(&alert["version"]).await;
    let again = &again["data"]["receiveAlertNotice"];
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["receivedAt"], first["receivedAt"]);

    // A province notifies its own alerts only; operators deliver nothing.
    let (_, foreign) = nghe_an
        .post_with(&gateway, receive, json!({ "id": "Alert:40:1", "v": 1 }))
        .await;
    assert_eq!(first_error(&foreign)["code"], "NOT_OWNER", "{foreign:#}");
    let by_operator = nghe_an
        .post(receive, json!({ "id": alert["id"], "v": 1 }))
        .await;
    assert_code(&by_operator, "FORBIDDEN");

    let notices = "query($a: Boolean) { alertNotices(acknowledged: $a) { edges { node {
        alertId version acknowledgedAt alert { subject province { code } } } } } }";
    let listed = nghe_an.data(notices, json!({ "a": false })).await;
    let edges = listed["alertNotices"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{listed:#}");
    let node = &edges[0]["node"];
    assert_eq!(node["alertId"], alert["id"]);
    assert_eq!(node["version"], alert["version"]);
    assert_eq!(node["acknowledgedAt"], Value::Null);
    assert_eq!(node["alert"]["province"]["code"], "19");
    assert!(
        node["alert"]["subject"]
            .as_str()
            .unwrap()
            .contains("cam Vinh")
    );

    let acknowledge =
        "mutation($id: ID!) { acknowledgeAlert(alertId: $id) { alertId acknowledgedAt } }";
    let acknowledged = nghe_an
        .data(acknowledge, json!({ "id": alert["id"] }))
        .await;
    assert!(acknowledged["acknowledgeAlert"]["acknowledgedAt"].is_string());
    let again = nghe_an
        .data(acknowledge, json!({ "id": alert["id"] }))
        .await;
    assert_eq!(
        again["acknowledgeAlert"]["acknowledgedAt"],
        acknowledged["acknowledgeAlert"]["acknowledgedAt"],
        "the first acknowledgement stands"
    );
    let open = nghe_an.data(notices, json!({ "a": false })).await;
    assert_eq!(open["alertNotices"]["edges"], json!([]));
    let never_sent = nghe_an
        .post(acknowledge, json!({ "id": "Alert:19:999" }))
        .await;
    assert_code(&never_sent, "NOT_FOUND");
}

#[tokio::test]
async fn a_follow_up_on_an_alert_whose_owner_cannot_answer_says_so_and_stores_nothing() {
    let (gw, _partner, _dir) = spawn_with_partner().await;
    let answer = gw
        .post(
            FOLLOW_UP,
            json!({ "i": { "alertId": "Alert:40:1", "findings": "Đã kiểm tra" } }),
        )
        .await;
    assert_code(&answer, "PARTNER_UNAVAILABLE");
    // Told once, as the owner's failure, not as an alert missing.
    assert_eq!(answer["errors"].as_array().unwrap().len(), 1, "{answer:#}");
    let stored = gw
        .data(
            "{ followUps(scope: LOCAL) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(stored["followUps"]["edges"], json!([]));
}

#[tokio::test]
async fn an_alert_on_a_partners_ocop_product_counts_its_owner_though_its_facility_is_hidden() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    // Every OCOP product is shared; this one's facility supplies no one.
    let facility = nghe_an
        .create_facility(
            "Hộ Trần Văn Nam",
            json!({ "kind": "HOUSEHOLD", "suppliesTo": [] }),
        )
        .await;
    let honey = nghe_an
        .data(
            REGISTER,
            json!({ "i": { "name": "Mật ong Con Cuông", "category": "LIVESTOCK",
                           "facilityId": facility["id"],
                           "ocop": { "stars": 3, "ratedOn": crate::helpers::day(-30) } } }),
        )
        .await["registerProduct"]
        .clone();
    let alert = raise(&thai_nguyen, residue(&[&honey], &[])).await;
    assert_eq!(
        alert["provincesConcerned"],
        json!([{ "code": "19" }, { "code": "40" }])
    );
}

const DELIVERIES: &str = "query($id: ID!) { node(id: $id) { ... on Alert {
    deliveries { province { code } state version attempts lastError nextAttemptAt deliveredAt
                 acknowledgedAt } } } }";

#[tokio::test]
async fn a_notified_alert_is_delivered_to_each_partner_concerned_once() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut sent = thai_nguyen.app.notices_sent();
    let draft = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let deliveries = thai_nguyen
        .data(DELIVERIES, json!({ "id": draft["id"] }))
        .await;
    assert_eq!(
        deliveries["node"]["deliveries"],
        json!([]),
        "a draft owes nothing"
    );
    let notified = change(&thai_nguyen, &draft, "NOTIFIED", None).await;
    delivered(&mut sent, 2).await;
    let deliveries = thai_nguyen
        .data(DELIVERIES, json!({ "id": draft["id"] }))
        .await;
    let delivery = &deliveries["node"]["deliveries"][0];
    assert_eq!(
        deliveries["node"]["deliveries"].as_array().unwrap().len(),
        1
    );
    assert_eq!(delivery["province"]["code"], "40");
    assert_eq!(delivery["state"], "DELIVERED");
    assert_eq!(delivery["version"], notified["version"]);
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["lastError"], Value::Null);
    assert_eq!(delivery["nextAttemptAt"], Value::Null);
    assert_eq!(delivery["acknowledgedAt"], Value::Null);
    let received = nghe_an
        .data(
            "{ alertNotices { edges { node { alertId version alert { status } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        received["alertNotices"]["edges"],
        json!([{ "node": { "alertId": draft["id"], "version": notified["version"],
                           "alert": { "status": "NOTIFIED" } } }])
    );
    // Nghệ An's acknowledgement is read from Nghệ An by the alert's owner.
    let acknowledged = nghe_an
        .data(
            "mutation($id: ID!) { acknowledgeAlert(alertId: $id) { acknowledgedAt } }",
            json!({ "id": draft["id"] }),
        )
        .await["acknowledgeAlert"]["acknowledgedAt"]
        .clone();
    assert!(acknowledged.is_string());
    let seen = thai_nguyen
        .data(DELIVERIES, json!({ "id": draft["id"] }))
        .await;
    assert_eq!(
        seen["node"]["deliveries"][0]["acknowledgedAt"],
        acknowledged
    );
    // A partner reads our notices of its own alerts only.
    let gateway = nghe_an.client(Some(&thai_nguyen.pki.leaf("19", Role::Gateway)));
    let ask = "query($id: ID!) { alertNotice(alertId: $id) { acknowledgedAt } }";
    let (_, own) = nghe_an
        .post_with(&gateway, ask, json!({ "id": draft["id"] }))
        .await;
    assert_eq!(own["data"]["alertNotice"]["acknowledgedAt"], acknowledged);
    let (_, other) = nghe_an
        .post_with(&gateway, ask, json!({ "id": "Alert:40:1" }))
        .await;
    assert_eq!(other["data"]["alertNotice"], Value::Null, "{other:#}");
    // Moving the alert on tells Nghệ An again; its delivery is the latest
    // notice (the other delivered before was Nghệ An's inspection request).
    let moved = change(&thai_nguyen, &notified, "UNDER_INVESTIGATION", None).await;
    delivered(&mut sent, 3).await;
    let again = thai_nguyen
        .data(DELIVERIES, json!({ "id": draft["id"] }))
        .await;
    let deliveries = again["node"]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{again:#}");
    assert_eq!(deliveries[0]["version"], moved["version"]);
    assert_eq!(deliveries[0]["state"], "DELIVERED");
    assert_eq!(deliveries[0]["acknowledgedAt"], acknowledged);
    // Partners do not see our bookkeeping.
    let theirs = nghe_an.post(DELIVERIES, json!({ "id": draft["id"] })).await;
    assert_eq!(
        theirs["data"]["node"]["deliveries"],
        Value::Null,
        "{theirs:#}"
    );
}

#[tokio::test]
async fn a_notice_waits_for_a_partner_that_is_down_and_arrives_once_when_it_returns() {
    // Nghệ An's address is known, but nothing listens there yet.
    let (dir_19, dir_40) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki_19, pki_40) = (
        TestPki::create(dir_19.path(), "19"),
        TestPki::create(dir_40.path(), "40"),
    );
    let (listener_19, listener_40) = (bind(), bind());
    let address_40 = listener_40.local_addr().unwrap();
    drop(listener_40);
    let partner = |province: &str, dir: &tempfile::TempDir, port: u16| caunoi::config::Partner {
        province: province.to_owned(),
        name: None,
        ca: dir.path().join("pki").join(caunoi::pki::CA_CERT),
        endpoint: Some(format!("https://127.0.0.1:{port}/graphql")),
        sync_every: None,
    };
    let to_40 = partner("40", &dir_40, address_40.port());
    let to_19 = partner("19", &dir_19, listener_19.local_addr().unwrap().port());
    let thai_nguyen = start("19", dir_19, pki_19, listener_19, |config| {
        config.partners = vec![to_40];
    })
    .await;
    let facility = thai_nguyen
        .create_facility("Hợp tác xã chè Tân Cương", json!({ "suppliesTo": ["40"] }))
        .await;
    let mut sent = thai_nguyen.app.notices_sent();
    let alert = raise(&thai_nguyen, residue(&[], &[&facility])).await;
    assert_eq!(
        alert["provincesConcerned"],
        json!([{ "code": "19" }, { "code": "40" }])
    );
    change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sent.wait_for(|sent| sent.attempts >= 1),
    )
    .await
    .expect("an attempt within 10 s")
    .unwrap();
    let pending = thai_nguyen
        .data(DELIVERIES, json!({ "id": alert["id"] }))
        .await;
    let delivery = &pending["node"]["deliveries"][0];
    assert_eq!(delivery["state"], "PENDING", "{pending:#}");
    assert_eq!(delivery["lastError"], "PARTNER_UNAVAILABLE");
    assert!(delivery["nextAttemptAt"].is_string());

    // Nghệ An comes up where it was expected.
    let listener_40 = std::net::TcpListener::bind(address_40).expect("the port is free again");
    let nghe_an = start("40", dir_40, pki_40, listener_40, |config| {
        config.partners = vec![to_19];
    })
    .await;
    delivered(&mut sent, 2).await;
    let done = thai_nguyen
        .data(DELIVERIES, json!({ "id": alert["id"] }))
        .await;
    let delivery = &done["node"]["deliveries"][0];
    assert_eq!(delivery["state"], "DELIVERED", "{done:#}");
    assert!(delivery["attempts"].as_i64().unwrap() >= 2);
    let received = nghe_an
        .data("{ alertNotices { edges { node { alertId } } } }", json!({}))
        .await;
    assert_eq!(
        received["alertNotices"]["edges"],
        json!([{ "node": { "alertId": alert["id"] } }])
    );
}

/// Outbox claims, without a deliverer running: a claim holds a notice from
/// other deliverers until it lapses (its holder died), and a delivered
/// notice is never claimed again.
#[tokio::test]
async fn a_claimed_notice_is_held_until_its_claim_lapses_and_sent_until_delivered() {
    use caunoi::domain::{
        AlertData, AlertStatus, AlertStatusChange, Classification, Hazard, HazardCategory,
        NotificationBasis, ProvinceCode, RiskDecision,
    };
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = crate::helpers::fresh_store(dir.path()).await;
    let province = |code| ProvinceCode::parse(code).unwrap();
    let data = AlertData {
        classification: Classification::InformationForAttention,
        risk: RiskDecision::Undecided,
        basis: NotificationBasis::ConsumerComplaint,
        subject: "Dị vật trong chè".to_owned(),
        description: "Khách hàng phản ánh có dị vật.".to_owned(),
        hazards: vec![
            Hazard::new(
                HazardCategory::ForeignBody,
                "Mảnh kim loại",
                None,
                None,
                None,
            )
            .unwrap(),
        ],
        measures: vec![],
        products: vec![],
        facilities: vec![],
        lots: vec!["TC-2026-01".to_owned()],
        provinces: vec![province("19"), province("40")],
    };
    let alert = store.raise_alert(data).await.unwrap();
    assert!(
        store
            .claim_due_notices(Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "a draft owes nothing"
    );
    let notify = AlertStatusChange {
        to: AlertStatus::Notified,
        reason: None,
    };
    let alert = store
        .change_alert_status(alert.id, alert.version, notify, &[], &Default::default())
        .await
        .unwrap();
    let claim = |hold| store.claim_due_notices(hold);
    // A claim that lapsed at once, as a dead holder's does: free again.
    let first = claim(Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].delivery.partner, province("40"));
    assert_eq!(first[0].delivery.about, alert.id);
    assert_eq!(first[0].delivery.version, alert.version);
    let taken_over = claim(Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert!(
        claim(Duration::from_secs(60)).await.unwrap().is_empty(),
        "held"
    );
    store.record_attempt(&taken_over[0], Ok(())).await.unwrap();
    // The dead holder's late record of its attempt changes nothing more.
    store
        .record_attempt(&first[0], Err(("PARTNER_TIMEOUT", chrono::Utc::now())))
        .await
        .unwrap();
    assert!(claim(Duration::ZERO).await.unwrap().is_empty(), "delivered");
    let deliveries = store.deliveries(alert.id).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].delivered_at.is_some());
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(deliveries[0].last_error, None);
}

#[tokio::test]
async fn a_notice_whose_push_never_came_is_caught_up_from_the_partners_feed() {
    // Nghệ An cannot reach Thái Nguyên to push; Thái Nguyên reads Nghệ An's feed.
    let (thai_nguyen, nghe_an) =
        crate::helpers::spawn_pair_with(|_| {}, |config| config.partners[0].endpoint = None).await;
    let facility = nghe_an
        .create_facility(
            "Hợp tác xã cam Vinh Nghi Diên",
            json!({ "commune": "Nghi Diên", "suppliesTo": ["19"] }),
        )
        .await;
    let alert = raise(&nghe_an, residue(&[], &[&facility])).await;
    let alert = change(&nghe_an, &alert, "NOTIFIED", None).await;
    let notices = "{ alertNotices { edges { node { alertId version } } } }";
    let before = thai_nguyen.data(notices, json!({})).await;
    assert_eq!(
        before["alertNotices"]["edges"],
        json!([]),
        "nothing was pushed"
    );
    let province = caunoi::domain::ProvinceCode::parse("40").unwrap();
    caunoi::sync::sync_once(
        thai_nguyen.app.store(),
        thai_nguyen.app.partners(),
        province,
        "w",
    )
    .await
    .unwrap();
    let after = thai_nguyen.data(notices, json!({})).await;
    assert_eq!(
        after["alertNotices"]["edges"],
        json!([{ "node": { "alertId": alert["id"], "version": alert["version"] } }])
    );
    // A push that comes late is the same notice.
    let gateway = thai_nguyen.client(Some(&nghe_an.pki.leaf("40", Role::Gateway)));
    let (_, pushed) = thai_nguyen
        .post_with(
            &gateway,
            "mutation($id: ID!, $v: Int!) { receiveAlertNotice(alertId: $id, version: $v) { duplicate } }",
            json!({ "id": alert["id"], "v": alert["version"] }),
        )
        .await;
    assert_eq!(
        pushed["data"]["receiveAlertNotice"]["duplicate"], true,
        "{pushed:#}"
    );

    // Withdrawn, the alert is found so in the feed too, and said so once.
    change(&nghe_an, &alert, "WITHDRAWN", Some("Nhầm mẫu")).await;
    for _ in 0..2 {
        caunoi::sync::sync_once(
            thai_nguyen.app.store(),
            thai_nguyen.app.partners(),
            province,
            "w",
        )
        .await
        .unwrap();
    }
    let after = thai_nguyen
        .data("{ alertNotices { edges { node { status } } } }", json!({}))
        .await;
    assert_eq!(
        after["alertNotices"]["edges"][0]["node"]["status"],
        "WITHDRAWN"
    );
    assert_eq!(
        event_kinds(&thai_nguyen).await,
        ["RECEIVED", "REQUEST_ASSIGNED", "WITHDRAWN"]
    );
}

#[tokio::test]
async fn a_certificate_withdrawn_from_a_facility_supplying_a_partner_tells_it_for_attention() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let mut sent = thai_nguyen.app.notices_sent();
    let supplier = thai_nguyen
        .create_facility("Hợp tác xã chè Tân Cương", json!({ "suppliesTo": ["40"] }))
        .await;
    let at_home = thai_nguyen
        .create_facility("Hộ chè La Bằng", json!({ "suppliesTo": [] }))
        .await;
    let issue = |facility: &Value| {
        let id = facility["id"].as_str().unwrap().to_owned();
        let gw = &thai_nguyen;
        async move {
            gw.issue_certificate(&id, json!({ "issuedOn": crate::helpers::day(-100) }))
                .await
        }
    };
    let (sold, kept) = (issue(&supplier).await, issue(&at_home).await);
    let act = |mutation: &str, certificate: &Value, version: i64, reason: Option<&str>| {
        let (declared, argument) = match reason {
            Some(_) => (", $r: String!", ", reason: $r"),
            None => ("", ""),
        };
        let query = format!(
            "mutation($id: ID!, $v: Int!{declared}) {{ {mutation}(id: $id, version: $v{argument}, \
             effectiveOn: \"{}\") {{ status }} }}",
            crate::helpers::day(0)
        );
        let variables = json!({ "id": certificate["id"], "v": version, "r": reason });
        let gw = &thai_nguyen;
        async move { gw.data(&query, variables).await }
    };
    let attention = "{ alerts(filter: { classification: INFORMATION_FOR_ATTENTION }) {
        edges { node { id status subject description facilityIds provincesConcerned { code }
                       measures { kind } } } } }";
    act(
        "suspendCertificate",
        &kept,
        1,
        Some("Không duy trì điều kiện vệ sinh"),
    )
    .await;
    let none = thai_nguyen.data(attention, json!({})).await;
    assert_eq!(
        none["alerts"]["edges"],
        json!([]),
        "a facility that supplies no partner tells no one"
    );

    act(
        "suspendCertificate",
        &sold,
        1,
        Some("Mẫu chè vượt dư lượng"),
    )
    .await;
    delivered(&mut sent, 1).await;
    let raised = thai_nguyen.data(attention, json!({})).await;
    let alert = &raised["alerts"]["edges"][0]["node"];
    assert_eq!(alert["status"], "NOTIFIED");
    let number = sold["number"].as_str().unwrap();
    assert_eq!(
        alert["subject"],
        format!("Đình chỉ giấy chứng nhận {number}")
    );
    assert!(
        alert["description"]
            .as_str()
            .unwrap()
            .contains("Mẫu chè vượt dư lượng")
    );
    assert_eq!(alert["facilityIds"], json!([supplier["id"]]));
    assert_eq!(
        alert["provincesConcerned"],
        json!([{ "code": "19" }, { "code": "40" }])
    );
    assert_eq!(
        alert["measures"],
        json!([{ "kind": "CERTIFICATE_SUSPENSION" }])
    );
    let received = nghe_an
        .data(
            "{ alertNotices { edges { node { alertId alert { classification } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        received["alertNotices"]["edges"],
        json!([{ "node": { "alertId": alert["id"],
                           "alert": { "classification": "INFORMATION_FOR_ATTENTION" } } }])
    );

    // Made active again, nothing more is said; revoked, it is said again.
    act("reinstateCertificate", &sold, 2, None).await;
    act("revokeCertificate", &sold, 3, Some("Cơ sở ngừng sản xuất")).await;
    delivered(&mut sent, 2).await;
    let raised = thai_nguyen.data(attention, json!({})).await;
    let subjects: Vec<&Value> = raised["alerts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["subject"])
        .collect();
    assert_eq!(
        subjects,
        vec![
            &json!(format!("Đình chỉ giấy chứng nhận {number}")),
            &json!(format!("Thu hồi giấy chứng nhận {number}")),
        ]
    );
}

/// The kinds of the alert events a gateway has recorded, sorted (notices
/// sent at once may arrive in either order).
async fn event_kinds(gw: &TestGateway) -> Vec<String> {
    let events = gw
        .data("{ alertEvents { edges { node { kind } } } }", json!({}))
        .await;
    let mut kinds: Vec<String> = events["alertEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    kinds
}

#[tokio::test]
async fn a_partner_is_told_each_later_status_and_hears_the_alert_closed_once() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut sent = thai_nguyen.app.notices_sent();
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    // The alert's notice and the request to inspect the cooperative.
    delivered(&mut sent, 2).await;
    let notices = "{ alertNotices { edges { node { alertId version status } } } }";
    let told = |data: Value| data["alertNotices"]["edges"][0]["node"].clone();
    assert_eq!(
        told(nghe_an.data(notices, json!({})).await)["status"],
        "NOTIFIED"
    );

    let alert = change(&thai_nguyen, &alert, "UNDER_INVESTIGATION", None).await;
    delivered(&mut sent, 3).await;
    let seen = told(nghe_an.data(notices, json!({})).await);
    assert_eq!(seen["status"], "UNDER_INVESTIGATION");
    assert_eq!(seen["version"], alert["version"]);
    let closed = change(
        &thai_nguyen,
        &alert,
        "CLOSED",
        Some("Đã thu hồi và tiêu huỷ"),
    )
    .await;
    delivered(&mut sent, 4).await;
    let seen = told(nghe_an.data(notices, json!({})).await);
    assert_eq!(seen["status"], "CLOSED");
    assert_eq!(seen["version"], closed["version"]);
    let kinds = event_kinds(&nghe_an).await;
    assert_eq!(
        kinds,
        ["CLOSED", "RECEIVED", "REQUEST_ASSIGNED"],
        "Nghệ An hears of the request and the end once each"
    );

    // Told again, or told late of an older status, nothing changes.
    let gateway = nghe_an.client(Some(&thai_nguyen.pki.leaf("19", Role::Gateway)));
    let receive = "mutation($id: ID!, $v: Int!, $s: AlertStatus) {
        receiveAlertNotice(alertId: $id, version: $v, status: $s) { duplicate } }";
    for (version, status) in [
        (&closed["version"], "CLOSED"),
        (&alert["version"], "NOTIFIED"),
    ] {
        let (_, again) = nghe_an
            .post_with(
                &gateway,
                receive,
                json!({ "id": alert["id"], "v": version, "s": status }),
            )
            .await;
        assert_eq!(
            again["data"]["receiveAlertNotice"]["duplicate"], true,
            "{again:#}"
        );
    }
    let seen = told(nghe_an.data(notices, json!({})).await);
    assert_eq!(seen["status"], "CLOSED");
    assert_eq!(seen["version"], closed["version"]);
    assert_eq!(event_kinds(&nghe_an).await, kinds);
}
