//! The live feed of alert events, over `graphql-transport-ws` on the
//! gateway's own mutual-TLS listener, with two real gateways.

use std::time::Duration;

use caunoi::domain::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::alerts::{cam_vinh, change, delivered, raise, residue};
use crate::helpers::{TestGateway, assert_invalid, spawn_pair, tls_connect};

/// Longest a test waits for the gateway to say anything.
const BOUND: Duration = Duration::from_secs(10);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

const EVENTS: &str =
    "subscription($after: String) { alertEvents(after: $after) { cursor kind alertId recordId } }";

/// A WebSocket to `gw` as `role`, offering `protocol`; the HTTP status of a
/// refused upgrade otherwise.
async fn open(gw: &TestGateway, role: Role, protocol: Option<&str>) -> Result<Socket, u16> {
    let leaf = gw.pki.leaf(&gw.province, role);
    let stream = tls_connect(gw, &leaf, b"http/1.1").await.unwrap();
    let mut request = format!("wss://127.0.0.1:{}/graphql", gw.address.port())
        .into_client_request()
        .unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("the upgrade failed: {other}"),
    }
}

async fn say(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message, a ping answered on the way; `Err` with the
/// close code when the gateway closes.
async fn hear(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        let message = tokio::time::timeout(BOUND, socket.next())
            .await
            .expect("the gateway speaks within the bound");
        match message {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                if message["type"] == "ping" {
                    say(socket, json!({ "type": "pong" })).await;
                    continue;
                }
                return Ok(message);
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("the socket failed: {error}"),
            None => return Err(1006),
        }
    }
}

/// A socket past `connection_init`, acknowledged.
async fn ready(gw: &TestGateway, role: Role) -> Socket {
    let mut socket = open(gw, role, Some("graphql-transport-ws")).await.unwrap();
    say(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(hear(&mut socket).await.unwrap()["type"], "connection_ack");
    socket
}

/// The next `count` events of subscription `id`.
async fn events(socket: &mut Socket, id: &str, count: usize) -> Vec<Value> {
    let mut found = Vec::new();
    while found.len() < count {
        let message = hear(socket).await.unwrap();
        assert_eq!(message["id"], id, "{message:#}");
        assert_eq!(message["type"], "next", "{message:#}");
        assert!(message["payload"].get("errors").is_none(), "{message:#}");
        found.push(message["payload"]["data"]["alertEvents"].clone());
    }
    found
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_dashboard_follows_alert_events_live_and_picks_up_after_its_cursor() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (_, orange, market) = cam_vinh(&thai_nguyen, &nghe_an).await;
    let mut socket = ready(&nghe_an, Role::Dashboard).await;
    say(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;

    // Thái Nguyên notifies: Nghệ An's dashboard sees the alert arrive, and
    // the inspection asked of Nghệ An.
    let mut sent = thai_nguyen.app.notices_sent();
    let alert = raise(&thai_nguyen, residue(&[&orange], &[&market])).await;
    let alert = change(&thai_nguyen, &alert, "NOTIFIED", None).await;
    delivered(&mut sent, 2).await;
    let live = events(&mut socket, "1", 2).await;
    let mut seen = kinds(&live);
    seen.sort();
    assert_eq!(seen, ["RECEIVED", "REQUEST_ASSIGNED"]);
    assert!(live.iter().all(|e| e["alertId"] == alert["id"]));
    // The client ends its subscription; the gateway runs it no more.
    say(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    drop(socket);

    // Meanwhile an operator acknowledges it.
    nghe_an
        .data(
            "mutation($id: ID!) { acknowledgeAlert(alertId: $id) { acknowledgedAt } }",
            json!({ "id": alert["id"] }),
        )
        .await;

    // Back with its last cursor, the dashboard gets what it missed, once.
    let mut socket = ready(&nghe_an, Role::Dashboard).await;
    let last = &live[1]["cursor"];
    say(
        &mut socket,
        json!({ "id": "again", "type": "subscribe",
                "payload": { "query": EVENTS, "variables": { "after": last } } }),
    )
    .await;
    let missed = events(&mut socket, "again", 1).await;
    assert_eq!(kinds(&missed), ["ACKNOWLEDGED"]);
    assert_eq!(missed[0]["alertId"], alert["id"]);
    // The same from the query, for a client without a socket.
    let page = nghe_an
        .data(
            "query($after: String) { alertEvents(after: $after) { edges { node { kind } } } }",
            json!({ "after": last }),
        )
        .await;
    assert_eq!(
        page["alertEvents"]["edges"],
        json!([{ "node": { "kind": "ACKNOWLEDGED" } }])
    );
    // The owner's own dashboard saw it raised and the two requests made.
    let own = thai_nguyen
        .data(
            "{ alertEvents { edges { node { kind alertId recordId } } } }",
            json!({}),
        )
        .await;
    let own: Vec<&str> = own["alertEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(own, ["RAISED", "REQUEST_ASSIGNED", "REQUEST_ASSIGNED"]);
}

#[tokio::test]
async fn only_our_dashboards_and_operators_subscribe_and_by_the_protocol_only() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    // A partner's gateway and a sync job are refused before any upgrade.
    let leaf = nghe_an.pki.leaf("40", Role::Gateway);
    let stream = tls_connect(&thai_nguyen, &leaf, b"http/1.1").await.unwrap();
    let request = format!("wss://127.0.0.1:{}/graphql", thai_nguyen.address.port())
        .into_client_request()
        .unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a partner's upgrade was not refused: {other:?}"),
    }
    assert_eq!(
        open(&thai_nguyen, Role::Sync, Some("graphql-transport-ws"))
            .await
            .err(),
        Some(403)
    );
    // Without the protocol, the socket is closed at once.
    let mut bare = open(&thai_nguyen, Role::Dashboard, None).await.unwrap();
    assert_eq!(hear(&mut bare).await, Err(4406));
    // A subscription before the connection is acknowledged.
    let mut early = open(&thai_nguyen, Role::Dashboard, Some("graphql-transport-ws"))
        .await
        .unwrap();
    say(
        &mut early,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    assert_eq!(hear(&mut early).await, Err(4401));
    // A query is posted, not subscribed to; a bad cursor is named.
    let mut socket = ready(&thai_nguyen, Role::Operator).await;
    say(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ provinces { code } }" } }),
    )
    .await;
    let refused = hear(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused:#}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "INVALID_INPUT");
    say(
        &mut socket,
        json!({ "id": "c", "type": "subscribe",
                "payload": { "query": EVENTS, "variables": { "after": "nonsense" } } }),
    )
    .await;
    let bad = hear(&mut socket).await.unwrap();
    assert_eq!(bad["id"], "c");
    assert_invalid(&bad["payload"], "after");
    // One id, one subscription at a time.
    for _ in 0..2 {
        say(
            &mut socket,
            json!({ "id": "same", "type": "subscribe", "payload": { "query": EVENTS } }),
        )
        .await;
    }
    loop {
        match hear(&mut socket).await {
            Ok(message) => assert_ne!(message["type"], "error", "{message:#}"),
            Err(code) => {
                assert_eq!(code, 4409);
                break;
            }
        }
    }
    // A subscription posted is told where subscriptions are served.
    let posted = thai_nguyen.post(EVENTS, json!({})).await;
    assert_invalid(&posted, "query");
}

#[tokio::test]
async fn a_quiet_subscription_outlives_the_idle_timeout_by_its_pings() {
    let gw = crate::helpers::spawn_gateway_with(|config| {
        config.limits.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let mut socket = ready(&gw, Role::Dashboard).await;
    say(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    // Pinged every 300 ms and answering, it is not idle: four pings span
    // twice the idle timeout.
    let mut pings = 0;
    while pings < 4 {
        match tokio::time::timeout(BOUND, socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) if text.as_str().contains("\"ping\"") => {
                pings += 1;
                say(&mut socket, json!({ "type": "pong" })).await;
            }
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    // Still serving: an event arrives.
    let facility = gw
        .create_facility("Hợp tác xã chè Tân Cương", json!({ "suppliesTo": ["40"] }))
        .await;
    let alert = raise(&gw, residue(&[], &[&facility])).await;
    change(&gw, &alert, "NOTIFIED", None).await;
    let live = events(&mut socket, "1", 1).await;
    assert_eq!(kinds(&live), ["RAISED"]);
}
