//! Rapid alerts, end to end: from a notification in Thái Nguyên to the event
//! on a Nghệ An dashboard's subscription, at a steady rate; and a backlog
//! notified while Nghệ An is down, timed from its return until every notice
//! is in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::setup::{Gateway, Province, client, tls};

/// What the alert scenarios measured.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    /// Alerts notified at the steady rate, and that rate per second.
    pub live: usize,
    pub rate: f64,
    /// From sending the notification to the event on the socket.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Alerts notified while the partner was down.
    pub queued: usize,
    /// From the partner serving again to its last notice stored.
    pub catch_up_s: f64,
    /// Notices the partner stored of the backlog.
    pub stored: usize,
    /// Notices the partner took after its return: one per notice owed when
    /// none is delivered twice.
    pub pushes: f64,
}

const RAISE: &str = "mutation($i: AlertInput!) { raiseAlert(input: $i) { id version } }";
const NOTIFY: &str = "mutation($id: ID!, $v: Int!) { changeAlertStatus(id: $id, version: $v, status: NOTIFIED) { id } }";
const EVENTS: &str =
    "subscription($after: String) { alertEvents(after: $after) { cursor kind alertId } }";

/// An operator client of `province`, its certificate issued here.
pub fn operator(province: &Province) -> anyhow::Result<reqwest::Client> {
    let pki = province.pki();
    if !pki.join("operator.pem").exists() {
        caunoi::pki::issue(
            &pki,
            province.code,
            caunoi::domain::Role::Operator,
            "operator",
        )?;
    }
    client(
        &pki.join(caunoi::pki::CA_CERT),
        &pki.join("operator.pem"),
        &pki.join("operator.key"),
    )
}

/// Asks `query` of `url` as `client`; its `data`, refused if it has errors.
pub async fn ask(
    client: &reqwest::Client,
    url: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let answer: Value = client
        .post(url)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(answer.get("errors").is_none(), "unexpected {answer}");
    Ok(answer["data"].clone())
}

/// Raises and notifies an alert of `tn` that concerns `na`; its ID.
async fn notify(
    operator: &reqwest::Client,
    tn: &Province,
    n: usize,
) -> anyhow::Result<(String, Instant)> {
    let input = json!({
        "classification": "ALERT", "risk": "SERIOUS", "basis": "OFFICIAL_CONTROL",
        "subject": format!("Dư lượng chlorpyrifos trên chè, mẫu {n}"),
        "description": "Mẫu lấy tại chợ vượt giới hạn tối đa.",
        "hazards": [{ "category": "PESTICIDE_RESIDUE", "agent": "Chlorpyrifos" }],
        "lots": [format!("TN-{n}")],
        "provincesConcerned": ["19", "40"],
    });
    let raised = ask(operator, &tn.url(), RAISE, json!({ "i": input })).await?;
    let alert = &raised["raiseAlert"];
    let id = alert["id"].as_str().context("an alert ID")?.to_owned();
    let sent = Instant::now();
    ask(
        operator,
        &tn.url(),
        NOTIFY,
        json!({ "id": id, "v": alert["version"] }),
    )
    .await?;
    Ok((id, sent))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A dashboard's subscription to `province`'s alert events after `after`.
async fn subscribe(province: &Province, after: Option<&str>) -> anyhow::Result<Socket> {
    let pki = province.pki();
    let mut config = tls(
        &pki.join(caunoi::pki::CA_CERT),
        &pki.join("benchmark.pem"),
        &pki.join("benchmark.key"),
    )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", province.port)).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls::pki_types::ServerName::try_from("127.0.0.1")?, tcp)
        .await?;
    let mut request = province
        .url()
        .replace("https", "wss")
        .into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await?;
    let say = |m: Value| Message::Text(m.to_string().into());
    socket
        .send(say(json!({ "type": "connection_init" })))
        .await?;
    anyhow::ensure!(
        next(&mut socket).await?["type"] == "connection_ack",
        "no connection_ack"
    );
    let variables = json!({ "after": after });
    socket
        .send(say(json!({ "id": "1", "type": "subscribe",
                          "payload": { "query": EVENTS, "variables": variables } })))
        .await?;
    Ok(socket)
}

/// The next protocol message, pings answered.
async fn next(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("the subscription said nothing for a minute")?
            .context("the subscription ended")??;
        if let Message::Text(text) = message {
            let message: Value = serde_json::from_str(text.as_str())?;
            if message["type"] == "ping" {
                socket
                    .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                    .await?;
                continue;
            }
            return Ok(message);
        }
    }
}

/// The next event on the subscription: its kind, alert and cursor.
async fn event(socket: &mut Socket) -> anyhow::Result<(String, String, String)> {
    let message = next(socket).await?;
    anyhow::ensure!(message["type"] == "next", "unexpected {message}");
    let event = &message["payload"]["data"]["alertEvents"];
    let text = |key: &str| {
        event[key]
            .as_str()
            .map(str::to_owned)
            .context("an event field")
    };
    Ok((text("kind")?, text("alertId")?, text("cursor")?))
}

/// Runs both scenarios; `gw40` is stopped and started again with
/// `config40`, and the new one is returned with the figures.
pub async fn measure(
    tn: &Province,
    na: &Province,
    gw40: Gateway,
    config40: &str,
    live: usize,
    queued: usize,
) -> anyhow::Result<(Alerts, Gateway)> {
    let operator = operator(tn)?;
    let rate = 20.0;
    // The live feed: a notification every 50 ms, each timed to its event,
    // which a reader of its own takes off the socket as it arrives.
    let mut socket = subscribe(na, None).await?;
    let reader = tokio::spawn(async move {
        let (mut arrived, mut cursor) = (Vec::with_capacity(live), String::new());
        while arrived.len() < live {
            let (kind, alert, at) = event(&mut socket).await?;
            cursor = at;
            if kind == "RECEIVED" {
                arrived.push((alert, Instant::now()));
            }
        }
        anyhow::Ok((arrived, cursor))
    });
    let mut sent: HashMap<String, Instant> = HashMap::with_capacity(live);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    for n in 0..live {
        ticks.tick().await;
        let (id, at) = notify(&operator, tn, n).await?;
        sent.insert(id, at);
    }
    let (arrived, cursor) = reader.await??;
    let mut latencies: Vec<f64> = arrived
        .iter()
        .map(|(alert, at)| {
            let sent = sent.get(alert).context("an event of an alert not sent")?;
            Ok(at.duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect::<anyhow::Result<_>>()?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];

    // The backlog: Nghệ An down while Thái Nguyên notifies.
    drop(gw40);
    let mut backlog = std::collections::HashSet::new();
    for n in 0..queued {
        backlog.insert(notify(&operator, tn, live + n).await?.0);
    }
    let gw40 = Gateway::start(na, config40, "main", None).await?;
    let back = Instant::now();
    let mut socket = subscribe(na, Some(&cursor)).await?;
    let mut stored = 0;
    while !backlog.is_empty() {
        let (kind, alert, _) = event(&mut socket).await?;
        if kind == "RECEIVED" {
            stored += 1;
            backlog.remove(&alert);
        }
    }
    let catch_up_s = back.elapsed().as_secs_f64();
    // Notices the partner took (a shed or refused attempt stored nothing).
    let pushes = gw40
        .counter(
            "caunoi_requests_total",
            "caller=\"partner\",operation=\"mutation\",outcome=\"ok\"",
        )
        .await?;
    Ok((
        Alerts {
            live,
            rate,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            queued,
            catch_up_s,
            stored,
            pushes,
        },
        gw40,
    ))
}
