//! The split of supervision between two real gateways: an alert on a chain
//! across the border asks each province for the inspections of its stages,
//! and the inspection that answers a request closes it and writes the
//! thread.

use caunoi::domain::{Deadlines, RiskDecision, Role, today};
use serde_json::{Value, json};

use crate::alerts::{cam_vinh, change, delivered, raise, residue};
use crate::helpers::{TestGateway, assert_code, assert_invalid, spawn_pair};

const REQUEST_FIELDS: &str = "id province { code } alertId facilityId stage assignee { code }
    dueOn state overdue answerFollowUpId answerInspectionId";

fn requests_of_alert() -> String {
    format!(
        "query($id: ID!) {{ node(id: $id) {{ ... on Alert {{
           inspectionRequests {{ edges {{ node {{ {REQUEST_FIELDS} }} }} }} }} }} }}"
    )
}

fn requests() -> String {
    format!(
        "query($f: InspectionRequestFilterInput) {{
           inspectionRequests(scope: ALL, filter: $f) {{ edges {{ node {{ {REQUEST_FIELDS} }} }} }} }}"
    )
}

const RECORD: &str = "mutation($i: RecordInspectionInput!) {
    recordInspection(input: $i) { id province { code } stage result } }";

const THREAD: &str = "query($id: ID!) { node(id: $id) { ... on Alert {
    followUps(scope: ALL) { edges { node { id province { code } findings results
      answersRequestId inspectionId inspection { id result } } } } } } }";

/// The requests an alert's owner made for it, by stage.
async fn alert_requests(owner: &TestGateway, alert: &Value) -> Vec<Value> {
    let data = owner
        .data(&requests_of_alert(), json!({ "id": alert["id"] }))
        .await;
    let mut found: Vec<Value> = data["node"]["inspectionRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    found.sort_by_key(|r| r["stage"].as_str().unwrap_or_default().to_owned());
    found
}

/// How many inspections a gateway recorded.
async fn count(gw: &TestGateway) -> usize {
    gw.data("{ inspections { edges { node { id } } } }", json!({}))
        .await["inspections"]["edges"]
        .as_array()
        .unwrap()
        .len()
}

/// An inspection of `facility` at `stage`, answering `request` if any.
fn inspection(facility: &Value, stage: &str, request: Option<&Value>) -> Value {
    json!({
        "facilityId": facility["id"],
        "stage": stage,
        "inspectedOn": today().to_string(),
        "result": "FAIL",
        "findings": "Phát hiện sử dụng chlorpyrifos quá liều trên vườn cam",
        "answersRequestId": request.map(|r| r["id"].clone()),
    })
}

#[tokio::test]
async fn an_alert_across_the_border_asks_each_province_for_its_stage_and_answers_close_them() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (cooperative, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut sent_19 = thai_nguyen.app.notices_sent();
    let mut sent_40 = nghe_an.app.notices_sent();
    let draft = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    assert!(alert_requests(&thai_nguyen, &draft).await.is_empty());
    let alert = change(&thai_nguyen, &draft, "NOTIFIED", None).await;

    // Nghệ An grows the oranges; Thái Nguyên's market sells them. The
    // market trades at home only: its chain does not cross the border.
    let due = Deadlines::default()
        .due_on(RiskDecision::Serious, today())
        .to_string();
    let asked = alert_requests(&thai_nguyen, &alert).await;
    let summary: Vec<(Value, Value, Value, Value)> = asked
        .iter()
        .map(|r| {
            (
                r["facilityId"].clone(),
                r["stage"].clone(),
                r["assignee"]["code"].clone(),
                r["dueOn"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                cooperative["id"].clone(),
                json!("PRIMARY_PRODUCTION"),
                json!("40"),
                json!(due)
            ),
            (
                cooperative["id"].clone(),
                json!("TRADING"),
                json!("19"),
                json!(due)
            ),
        ]
    );
    assert!(
        asked
            .iter()
            .all(|r| r["state"] == "OPEN" && r["overdue"] == false)
    );
    let (production, trading) = (&asked[0], &asked[1]);

    // Nghệ An, told of the alert and of its request, lists its work.
    delivered(&mut sent_19, 2).await;
    let work = nghe_an
        .data(
            &requests(),
            json!({ "f": { "assignee": "40", "state": "OPEN" } }),
        )
        .await;
    let work = &work["inspectionRequests"]["edges"];
    assert_eq!(work.as_array().unwrap().len(), 1, "{work:#}");
    assert_eq!(work[0]["node"]["id"], production["id"]);
    assert_eq!(work[0]["node"]["province"]["code"], "19");

    // Thái Nguyên inspects the trading of the oranges on its market: its
    // own request closes in the same write.
    let theirs = thai_nguyen
        .data(
            RECORD,
            json!({ "i": inspection(&cooperative, "TRADING", Some(trading)) }),
        )
        .await["recordInspection"]
        .clone();
    let now = alert_requests(&thai_nguyen, &alert).await;
    assert_eq!(now[1]["state"], "ANSWERED");
    assert_eq!(now[1]["answerInspectionId"], theirs["id"]);

    // Nghệ An inspects the orchard: its follow-up joins the thread, and
    // Thái Nguyên's request closes when the notice of it arrives.
    let ours = nghe_an
        .data(
            RECORD,
            json!({ "i": inspection(&cooperative, "PRIMARY_PRODUCTION", Some(production)) }),
        )
        .await["recordInspection"]
        .clone();
    assert_eq!(ours["province"]["code"], "40");
    delivered(&mut sent_40, 1).await;
    let now = alert_requests(&thai_nguyen, &alert).await;
    assert_eq!(now[0]["state"], "ANSWERED", "{now:#?}");
    assert_eq!(now[0]["answerInspectionId"], ours["id"]);
    let thread = thai_nguyen.data(THREAD, json!({ "id": alert["id"] })).await;
    let mut thread: Vec<Value> = thread["node"]["followUps"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    thread.sort_by_key(|f| f["province"]["code"].as_str().unwrap().to_owned());
    assert_eq!(thread.len(), 2, "{thread:#?}");
    assert_eq!(thread[0]["province"]["code"], "19");
    assert_eq!(thread[0]["answersRequestId"], trading["id"]);
    assert_eq!(thread[1]["province"]["code"], "40");
    assert_eq!(thread[1]["answersRequestId"], production["id"]);
    assert_eq!(thread[1]["inspection"]["id"], ours["id"]);
    assert_eq!(thread[1]["results"], "Kết quả kiểm tra: không đạt");
    assert!(
        thread[1]["findings"]
            .as_str()
            .unwrap()
            .contains("Kiểm tra khâu sản xuất ban đầu"),
        "{thread:#?}"
    );
    // Nothing is left for Nghệ An to do.
    let work = nghe_an
        .data(
            &requests(),
            json!({ "f": { "assignee": "40", "state": "OPEN" } }),
        )
        .await;
    assert_eq!(work["inspectionRequests"]["edges"], json!([]));
}

#[tokio::test]
async fn an_inspection_answers_only_an_open_request_of_its_facility_and_stage() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (cooperative, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut sent = thai_nguyen.app.notices_sent();
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    delivered(&mut sent, 2).await;
    let asked = alert_requests(&thai_nguyen, &alert).await;
    let (production, trading) = (&asked[0], &asked[1]);
    let before = (count(&thai_nguyen).await, count(&nghe_an).await);
    let field = "input.answersRequestId";
    // Another province's request.
    let answer = thai_nguyen
        .post(
            RECORD,
            json!({ "i": inspection(&cooperative, "TRADING", Some(production)) }),
        )
        .await;
    assert_invalid(&answer, field);
    // The wrong stage.
    let answer = nghe_an
        .post(
            RECORD,
            json!({ "i": inspection(&cooperative, "PROCESSING", Some(production)) }),
        )
        .await;
    assert_invalid(&answer, field);
    // No such request.
    let mut missing = production.clone();
    missing["id"] = json!("InspectionRequest:19:999");
    let answer = nghe_an
        .post(
            RECORD,
            json!({ "i": inspection(&cooperative, "PRIMARY_PRODUCTION", Some(&missing)) }),
        )
        .await;
    assert_invalid(&answer, field);
    // Not a request at all.
    let answer = nghe_an
        .post(
            RECORD,
            json!({ "i": inspection(&cooperative, "PRIMARY_PRODUCTION", Some(&alert)) }),
        )
        .await;
    assert_invalid(&answer, field);
    assert_eq!(
        (count(&thai_nguyen).await, count(&nghe_an).await),
        before,
        "a refused answer stores nothing"
    );
    // Answered once, a request takes no second answer.
    thai_nguyen
        .data(
            RECORD,
            json!({ "i": inspection(&cooperative, "TRADING", Some(trading)) }),
        )
        .await;
    let again = thai_nguyen
        .post(
            RECORD,
            json!({ "i": inspection(&cooperative, "TRADING", Some(trading)) }),
        )
        .await;
    assert_invalid(&again, field);
    assert_eq!(count(&thai_nguyen).await, before.0 + 1);
}

#[tokio::test]
async fn closing_an_alert_cancels_its_open_requests_and_late_ones_are_overdue() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    // Past their last day (set behind the API: no test waits two days).
    {
        use sea_orm::{ConnectionTrait, Database, sea_query::Alias, sea_query::Query};
        let db = Database::connect(&thai_nguyen.database_url).await.unwrap();
        let yesterday = today().pred_opt().unwrap();
        let late = Query::update()
            .table(Alias::new("inspection_request"))
            .value(Alias::new("due_on"), yesterday)
            .to_owned();
        db.execute(&late).await.unwrap();
    }
    let overdue = thai_nguyen
        .data(&requests(), json!({ "f": { "overdue": true } }))
        .await;
    assert_eq!(
        overdue["inspectionRequests"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{overdue:#}"
    );
    let on_time = thai_nguyen
        .data(&requests(), json!({ "f": { "overdue": false } }))
        .await;
    assert_eq!(on_time["inspectionRequests"]["edges"], json!([]));

    change(
        &thai_nguyen,
        &alert,
        "CLOSED",
        Some("Đã thu hồi toàn bộ lô cam"),
    )
    .await;
    let asked = alert_requests(&thai_nguyen, &alert).await;
    assert!(
        asked
            .iter()
            .all(|r| r["state"] == "CANCELLED" && r["overdue"] == false),
        "{asked:#?}"
    );
    let overdue = thai_nguyen
        .data(&requests(), json!({ "f": { "overdue": true } }))
        .await;
    assert_eq!(overdue["inspectionRequests"]["edges"], json!([]));
}

#[tokio::test]
async fn a_partner_tells_only_of_its_own_records_and_operators_tell_nothing() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let gateway = nghe_an.client(Some(&thai_nguyen.pki.leaf("19", Role::Gateway)));
    let request = "mutation($id: ID!) {
        receiveInspectionRequestNotice(requestId: $id, version: 1, alertId: \"Alert:40:1\") { recordId } }";
    let (_, foreign) = nghe_an
        .post_with(&gateway, request, json!({ "id": "InspectionRequest:40:1" }))
        .await;
    assert_code(&foreign, "NOT_OWNER");
    // A request belongs to an alert of the province that made it.
    let (_, astray) = nghe_an
        .post_with(&gateway, request, json!({ "id": "InspectionRequest:19:1" }))
        .await;
    assert_invalid(&astray, "alertId");
    let follow_up = "mutation($id: ID!, $r: ID, $i: ID) {
        receiveFollowUpNotice(followUpId: $id, version: 1, alertId: \"Alert:40:1\",
                              answersRequestId: $r, inspectionId: $i) { recordId } }";
    // An answer names its request and its writer's inspection together.
    let (_, half) = nghe_an
        .post_with(
            &gateway,
            follow_up,
            json!({ "id": "FollowUp:19:1", "r": "InspectionRequest:40:1" }),
        )
        .await;
    assert_invalid(&half, "inspectionId");
    let (_, borrowed) = nghe_an
        .post_with(
            &gateway,
            follow_up,
            json!({ "id": "FollowUp:19:1", "r": "InspectionRequest:40:1",
                    "i": "Inspection:40:1" }),
        )
        .await;
    assert_invalid(&borrowed, "inspectionId");
    // Our operators do not deliver notices.
    let own = nghe_an
        .post(request, json!({ "id": "InspectionRequest:19:1" }))
        .await;
    assert_code(&own, "FORBIDDEN");
}
