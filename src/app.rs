//! The gateway as a value: built from configuration, run on a listener it is given.
//!
//! [`App::build`] opens and migrates the database and builds the schema;
//! [`App::run`] serves on a bound listener until `shutdown` completes, so tests
//! bind `127.0.0.1:0` and never fight over ports.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::graphql::{self, CauNoiSchema};
use crate::store::Store;

/// A built gateway.
#[derive(Clone)]
pub struct App {
    schema: CauNoiSchema,
    store: Store,
    limits: Arc<crate::config::Limits>,
}

impl App {
    /// Opens the database, applies migrations and builds the schema.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url()?, config.province_code()?).await?;
        store.migrate().await?;
        Self::with_store(config, store)
    }

    /// Builds the gateway over an open, migrated store.
    pub fn with_store(config: &Config, store: Store) -> anyhow::Result<Self> {
        let schema = graphql::schema(config.query_limits())
            .data(store.clone())
            .data(config.province_names()?)
            .finish();
        Ok(Self {
            schema,
            store,
            limits: Arc::new(config.limits.clone()),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one GraphQL request in-process, as the HTTP handler does.
    pub async fn execute(
        &self,
        request: impl Into<async_graphql::Request>,
    ) -> async_graphql::Response {
        graphql::execute(&self.schema, request.into()).await
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/graphql", get(graphiql).post(graphql_post))
            .layer(DefaultBodyLimit::max(self.limits.body_bytes))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests
    /// in flight.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .finish(),
    )
}

/// `POST /graphql`. Mutations are never accepted over GET: GET serves GraphiQL.
async fn graphql_post(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return request_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {} bytes",
                    app.limits.body_bytes
                ),
            );
        }
        Err(rejection) => return request_error(rejection.status(), rejection.body_text()),
    };
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(message) => return request_error(StatusCode::BAD_REQUEST, message),
    };
    let timeout: Duration = app.limits.request_timeout;
    match tokio::time::timeout(timeout, app.execute(request)).await {
        Ok(response) => Json(response).into_response(),
        Err(_) => {
            tracing::warn!(?timeout, "request timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "errors": [{
                    "message": format!("the request took longer than {timeout:?}"),
                    "extensions": { "code": "TIMEOUT" }
                }]})),
            )
                .into_response()
        }
    }
}

/// Reads one GraphQL request: a JSON object with a `query` string. Batches (JSON
/// arrays) are refused.
fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    match &value {
        serde_json::Value::Object(fields) if fields.get("query").is_some_and(|q| q.is_string()) => {
        }
        serde_json::Value::Array(_) => return Err("batched requests are not accepted".to_owned()),
        _ => {
            return Err(
                "the body is not a GraphQL request: expected an object with a `query` string"
                    .to_owned(),
            );
        }
    }
    serde_json::from_value(value)
        .map_err(|error| format!("the body is not a GraphQL request: {error}"))
}

/// An error about the HTTP request itself, in the GraphQL error shape.
fn request_error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({ "errors": [{
            "message": message,
            "extensions": { "code": "INVALID_INPUT", "field": "body" }
        }]})),
    )
        .into_response()
}
