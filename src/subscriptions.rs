//! Subscriptions over a WebSocket, by the `graphql-transport-ws` protocol
//! (the GraphQL over WebSocket protocol of the `graphql-ws` project): the
//! client says `connection_init` and is acknowledged, then `subscribe`s by
//! an id of its choosing; each event is a `next`, the end a `complete`; a
//! refused operation is an `error`. Each subscription is judged as a posted
//! request is — cost, policy — before anything runs.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::graphql::{self, Executed, Schemas, Transport};
use crate::server::identity::Identity;

/// The subprotocol, as the client must offer it.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// What one connection may do.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A client that has not said `connection_init` by then is closed.
    pub init_timeout: Duration,
    /// How often a quiet connection is pinged, so that neither side nor a
    /// proxy takes it for idle.
    pub keep_alive: Duration,
    /// Most subscriptions running at once on one connection.
    pub most_subscriptions: usize,
}

/// Called with each refused subscription and its variables, to audit it.
pub type Refused = Box<dyn Fn(&Identity, Executed, &async_graphql::Variables) + Send + Sync>;

/// Most subscriptions one connection runs at once.
pub const MOST_AT_ONCE: usize = 16;

/// What the subscriptions of a connection send it.
enum Out {
    /// An answer, as JSON.
    Next(String, Value),
    Complete(String),
}

/// Serves one connection until either side closes it.
pub async fn serve(
    mut socket: WebSocket,
    protocol_agreed: bool,
    schemas: Schemas,
    identity: Identity,
    settings: Settings,
    refused: Refused,
) {
    if !protocol_agreed {
        close(&mut socket, 4406, "Subprotocol not acceptable").await;
        return;
    }
    let (out, mut outgoing) = mpsc::channel::<Out>(64);
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut acknowledged = false;
    let init = tokio::time::sleep(settings.init_timeout);
    tokio::pin!(init);
    let mut keep_alive = tokio::time::interval(settings.keep_alive);
    keep_alive.tick().await;
    loop {
        tokio::select! {
            received = socket.recv() => {
                let text = match received {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        close(&mut socket, 4400, "messages are JSON text").await;
                        break;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                    close(&mut socket, 4400, "not a JSON message").await;
                    break;
                };
                let id = message["id"].as_str().map(str::to_owned);
                match (message["type"].as_str(), id) {
                    (Some("connection_init"), _) if acknowledged => {
                        close(&mut socket, 4429, "Too many initialisation requests").await;
                        break;
                    }
                    (Some("connection_init"), _) => {
                        acknowledged = true;
                        if send(&mut socket, json!({ "type": "connection_ack" })).await.is_err() {
                            break;
                        }
                    }
                    (Some("ping"), _) => {
                        if send(&mut socket, json!({ "type": "pong" })).await.is_err() {
                            break;
                        }
                    }
                    (Some("pong"), _) => {}
                    (Some("subscribe"), Some(_)) if !acknowledged => {
                        close(&mut socket, 4401, "Unauthorized").await;
                        break;
                    }
                    (Some("subscribe"), Some(id)) => {
                        running.retain(|_, task| !task.is_finished());
                        if running.contains_key(&id) {
                            close(&mut socket, 4409, &format!("Subscriber for {id} already exists")).await;
                            break;
                        }
                        let started = start(&id, &message["payload"], &schemas, &identity, &settings, running.len(), &refused, out.clone());
                        let answered = match started {
                            Ok(task) => {
                                running.insert(id, task);
                                Ok(())
                            }
                            Err(errors) => send(&mut socket, json!({ "id": id, "type": "error", "payload": errors })).await,
                        };
                        if answered.is_err() {
                            break;
                        }
                    }
                    (Some("complete"), Some(id)) => {
                        if let Some(task) = running.remove(&id) {
                            task.abort();
                        }
                    }
                    _ => {
                        close(&mut socket, 4400, "not a message of graphql-transport-ws").await;
                        break;
                    }
                }
            }
            Some(sent) = outgoing.recv() => {
                let message = match sent {
                    Out::Next(id, response) => json!({ "id": id, "type": "next", "payload": response }),
                    Out::Complete(id) => {
                        running.remove(&id);
                        json!({ "id": id, "type": "complete" })
                    }
                };
                if send(&mut socket, message).await.is_err() {
                    break;
                }
            }
            () = &mut init, if !acknowledged => {
                close(&mut socket, 4408, "Connection initialisation timeout").await;
                break;
            }
            _ = keep_alive.tick(), if acknowledged => {
                if send(&mut socket, json!({ "type": "ping" })).await.is_err() {
                    break;
                }
            }
        }
    }
    for task in running.into_values() {
        task.abort();
    }
}

/// Judges the subscription `id` asks for and starts it, sending what it
/// yields to `out`; or says, as GraphQL errors, why it does not run.
#[allow(clippy::too_many_arguments)]
fn start(
    id: &str,
    payload: &Value,
    schemas: &Schemas,
    identity: &Identity,
    settings: &Settings,
    running: usize,
    refused: &Refused,
    out: mpsc::Sender<Out>,
) -> Result<tokio::task::JoinHandle<()>, Value> {
    let error = |message: &str, code: &str, field: Option<&str>| {
        let mut error = json!({ "message": message, "extensions": { "code": code } });
        if let Some(field) = field {
            error["extensions"]["field"] = json!(field);
        }
        json!([error])
    };
    if running >= settings.most_subscriptions {
        let mut errors = error(
            &format!(
                "a connection runs at most {} subscriptions at once",
                settings.most_subscriptions
            ),
            "QUERY_TOO_COMPLEX",
            None,
        );
        errors[0]["extensions"]["limit"] = json!("subscriptions");
        return Err(errors);
    }
    let request: async_graphql::Request = serde_json::from_value(payload.clone()).map_err(|e| {
        error(
            &format!("not a GraphQL request: {e}"),
            "INVALID_INPUT",
            Some("payload"),
        )
    })?;
    let variables = request.variables.clone();
    let prepared =
        match graphql::prepare(schemas, identity.caller, request, false, Transport::Stream) {
            Ok(prepared) => prepared,
            Err(executed) => {
                let errors = serde_json::to_value(&executed.response.errors).unwrap_or_default();
                refused(identity, *executed, &variables);
                return Err(errors);
            }
        };
    let mut answers = graphql::subscribe(schemas, prepared);
    let id = id.to_owned();
    Ok(tokio::spawn(async move {
        while let Some(response) = answers.next().await {
            let payload = serde_json::to_value(&response).unwrap_or_default();
            if out.send(Out::Next(id.clone(), payload)).await.is_err() {
                return;
            }
        }
        let _ = out.send(Out::Complete(id)).await;
    }))
}

async fn send(socket: &mut WebSocket, message: Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(message.to_string().into())).await
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
