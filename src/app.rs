//! The gateway as a value: built from configuration, run on listeners it is given.
//!
//! [`App::build`] opens and migrates the database, loads the TLS material and
//! builds the schema; [`App::run`] serves the exchange (mutual TLS) on a bound
//! listener and [`App::run_ops`] the ops endpoints, each until its `shutdown`
//! completes. Tests bind `127.0.0.1:0` and never fight over ports.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    Extension, Router,
    extract::{
        Request, State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderName, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use axum_server::tls::TlsInfo;

use async_graphql::parser::types::OperationType;

use crate::config::Config;
use crate::domain::Caller;
use crate::domain::ProvinceCode;
use crate::domain::audit::{self, Event, Outcome};
use crate::graphql::Returned;
use crate::graphql::{self, Schemas};
use crate::server::Tls;
use crate::server::http::{self, Media};
use crate::server::identity::Identity;
use crate::server::metrics::{self, CountHandshakes};
use crate::store::Store;
use crate::subscriptions;
use crate::turn::{Turn, Turns};

/// A built gateway.
#[derive(Clone)]
pub struct App {
    schemas: Schemas,
    partners: crate::federation::Partners,
    store: Store,
    tls: Arc<Tls>,
    limits: Arc<crate::config::Limits>,
    turns: Arc<Turns>,
    rates: Arc<crate::rate::Rates>,
    connections: crate::server::connections::Settings,
    /// Partners whose feeds `run` syncs, and how often.
    sync_schedule: Arc<Vec<(ProvinceCode, Duration)>>,
    /// Counts scheduled sync passes, for whoever waits on one.
    sync_passes: Arc<tokio::sync::watch::Sender<u64>>,
    /// How long the deliverer holds the notices it claims.
    notice_hold: Duration,
    /// Counts the notices tried and delivered, for whoever waits on one.
    notices_sent: Arc<tokio::sync::watch::Sender<crate::deliver::Sent>>,
}

impl App {
    /// Opens the database, applies migrations, loads TLS and builds the schema.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url()?, config.province_code()?).await?;
        store.migrate().await?;
        Self::with_store(config, store)
    }

    /// Builds the gateway over an open, migrated store.
    pub fn with_store(config: &Config, store: Store) -> anyhow::Result<Self> {
        metrics::handle();
        let names = config.province_names()?;
        let partners = crate::federation::Partners::build(config)?;
        let schemas = Schemas::build(config.limits, |builder| {
            builder
                .data(store.clone())
                .data(names.clone())
                .data(partners.clone())
                .data(config.supervision.deadlines())
        });
        let sync_schedule = config
            .partners
            .iter()
            .filter_map(|p| Some((p.province_code(), p.sync_every?)))
            .map(|(province, every)| Ok((province?, every)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            schemas,
            partners,
            store,
            tls: Arc::new(Tls::load(config)?),
            limits: Arc::new(config.limits),
            turns: Arc::new(Turns::new(
                config.limits.concurrent_requests,
                config.limits.queued_requests,
            )),
            rates: Arc::new(crate::rate::Rates::new(
                config.limits.rate_per_certificate,
                config.limits.partner_rate,
            )),
            connections: crate::server::connections::Settings::from_config(config),
            sync_schedule: Arc::new(sync_schedule),
            sync_passes: Arc::new(tokio::sync::watch::Sender::new(0)),
            notice_hold: crate::deliver::hold(config.federation.timeout),
            notices_sent: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The partners this gateway can ask.
    pub fn partners(&self) -> &crate::federation::Partners {
        &self.partners
    }

    /// Counts the scheduled sync passes finished (whatever their outcome).
    pub fn sync_passes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sync_passes.subscribe()
    }

    /// Counts the notices to partners tried and delivered while serving.
    pub fn notices_sent(&self) -> tokio::sync::watch::Receiver<crate::deliver::Sent> {
        self.notices_sent.subscribe()
    }

    /// The TLS material in force, for reloading.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// Runs one GraphQL request for `identity` in this process, at once and
    /// with no deadline (the demo's examples, the tests), as the HTTP handler
    /// does otherwise.
    pub async fn execute(
        &self,
        identity: &Identity,
        request: impl Into<async_graphql::Request>,
    ) -> async_graphql::Response {
        let trace = crate::federation::Trace::from_headers(None, None);
        let answer = self
            .execute_hop(identity, request.into(), false, trace, Pace::Unlined)
            .await;
        serde_json::from_slice(&answer.body).expect("an answer we wrote reads back")
    }

    /// Runs one GraphQL request for `identity` and writes the audit record when
    /// the request is one that must leave evidence: a partner's, a refused one,
    /// or a mutation. The record says what the caller got: a request that ran
    /// out of time is audited as `timeout`, with nothing returned. A partner
    /// whose request cannot be recorded gets no data. `hop` says the request
    /// came from another gateway, so it is answered from our own records only.
    /// The request's turn is given back once the answer's data is written out:
    /// the wait for the audit flush holds bytes, not values.
    pub async fn execute_hop(
        &self,
        identity: &Identity,
        request: async_graphql::Request,
        hop: bool,
        trace: crate::federation::Trace,
        pace: Pace,
    ) -> Answer {
        let started = std::time::Instant::now();
        let caller = identity.caller;
        let _in_flight = metrics::InFlight::start(caller.label());
        // The variables (as the text, kept in `executed`) are hashed only if the
        // request is audited, which is known once it has run; the copy (at most
        // the body limit) costs less than the hashing it spares.
        let variables = request.variables.clone();
        let operation_name = request.operation_name.clone();
        let returned = Arc::new(Returned::default());
        let (mut executed, outcome, turn) = match graphql::prepare(
            &self.schemas,
            caller,
            request,
            hop,
            graphql::Transport::Post,
        ) {
            Err(refused) => (*refused, Outcome::Refused, None),
            Ok(prepared) => {
                let operation = prepared.operation();
                let text = prepared.text().clone();
                let cheap = prepared.cheap();
                let run = async {
                    let turn = match pace {
                        Pace::Lined { .. } => self.turns.take(caller, cheap).await?,
                        Pace::Unlined => Turn::none(),
                    };
                    let executed = graphql::run(
                        &self.schemas,
                        prepared,
                        returned.clone(),
                        trace,
                        turn.clone(),
                    )
                    .await;
                    Ok((executed, turn))
                };
                let ran = match pace {
                    Pace::Lined { deadline } => tokio::time::timeout_at(deadline, run).await.ok(),
                    Pace::Unlined => Some(run.await),
                };
                match ran {
                    Some(Err(crate::turn::Shed)) => {
                        tracing::warn!("request shed: every turn at work, the line full");
                        metrics::request(
                            caller.label(),
                            operation_label(operation),
                            "shed",
                            started.elapsed(),
                        );
                        return Written::new(
                            async_graphql::Response::from_errors(vec![graphql::coded_error(
                                "the gateway is overloaded: every turn is at work and the \
                                     line is full; try again in a moment",
                                "OVERLOADED",
                            )]),
                            false,
                        )
                        .finish();
                    }
                    Some(Ok((executed, turn))) => {
                        let outcome = if executed.response.errors.is_empty() {
                            Outcome::Ok
                        } else {
                            Outcome::Error
                        };
                        (executed, outcome, Some(turn))
                    }
                    None => {
                        let timeout = self.limits.request_timeout;
                        tracing::warn!(?timeout, "request timed out");
                        let error = graphql::coded_error(
                            &format!("the request took longer than {timeout:?}"),
                            "TIMEOUT",
                        );
                        let executed = graphql::Executed {
                            response: async_graphql::Response::from_errors(vec![error]),
                            operation,
                            refused: false,
                            began: false,
                            text,
                        };
                        (executed, Outcome::Timeout, None)
                    }
                }
            }
        };
        let operation = operation_label(executed.operation);
        metrics::request(caller.label(), operation, outcome.code(), started.elapsed());
        let mut answer = Written::new(std::mem::take(&mut executed.response), executed.began);
        drop(turn);
        let partner = matches!(caller, Caller::Partner(_));
        let mutation = executed.operation == Some(OperationType::Mutation);
        if !(partner || mutation || executed.refused) {
            return answer.finish();
        }
        let records = if outcome == Outcome::Timeout {
            Vec::new()
        } else {
            returned
                .records()
                .into_iter()
                .map(|(id, version)| format!("{id}@{version}"))
                .collect()
        };
        let event = Event {
            at: Event::now(),
            fingerprint: identity.fingerprint.clone(),
            subject: identity.subject.clone(),
            role: Some(identity.principal.role.code().to_owned()),
            province: Some(identity.principal.province.number()),
            operation_name,
            operation_type: operation.to_owned(),
            query_hash: executed.text.query_hash(),
            variables_hash: audit::sha256_hex(
                serde_json::to_string(&variables)
                    .unwrap_or_default()
                    .as_bytes(),
            ),
            records,
            outcome: outcome.code().to_owned(),
            error_codes: answer.error_codes(),
            latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        };
        if let Err(error) = self.record(&event).await {
            tracing::error!(error = ?error, "the audit record could not be written");
            if partner {
                let busy = matches!(error, crate::error::AppError::StorageBusy);
                let error = if busy {
                    graphql::coded_error(
                        "the database is busy, so the request could not be recorded in the \
                         audit trail and no data is returned; try again in a moment",
                        "STORAGE_BUSY",
                    )
                } else {
                    graphql::coded_error(
                        "the request could not be recorded in the audit trail, so no data is returned",
                        "INTERNAL",
                    )
                };
                return Written::new(async_graphql::Response::from_errors(vec![error]), false)
                    .finish();
            }
            if mutation && outcome == Outcome::Ok {
                answer.errors.push(graphql::coded_error(
                    "the change was made but could not be recorded in the audit trail; tell the administrator",
                    "INTERNAL",
                ));
            }
        }
        answer.finish()
    }

    /// Appends an audit event, counting the write.
    async fn record(&self, event: &Event) -> Result<i64, crate::error::AppError> {
        let written = self.store.append_audit(event).await;
        metrics::audit_write(written.is_ok());
        written
    }

    /// The exchange routes: every request is identified by its client certificate.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/graphql", get(graphql_get).post(graphql_post))
            .layer(middleware::from_fn_with_state(self.clone(), identify))
            .with_state(self.clone())
    }

    /// The ops routes: health and readiness, nothing else.
    pub fn ops_router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(|| async { metrics::handle().render() }))
            .with_state(self.clone())
    }

    /// Serves the exchange over mutual TLS on `listener` until `shutdown`
    /// completes, then lets requests in flight finish.
    pub async fn run(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut schedules: Vec<_> = self
            .sync_schedule
            .iter()
            .map(|&(province, every)| tokio::spawn(self.clone().sync_every(province, every)))
            .collect();
        schedules.push(tokio::spawn(crate::deliver::run(
            self.store.clone(),
            self.partners.clone(),
            self.notice_hold,
            self.notices_sent.clone(),
        )));
        let served = serve_tls(
            &self.tls,
            &self.connections,
            listener,
            self.router(),
            shutdown,
        )
        .await;
        schedules.iter().for_each(tokio::task::JoinHandle::abort);
        served
    }

    /// Syncs one partner's feed every `every` while the gateway serves. A failed
    /// pass is recorded in the sync state (and logged); the next retries from the
    /// same cursor.
    async fn sync_every(self, province: ProvinceCode, every: Duration) {
        let holder = crate::sync::worker("caunoi-serve");
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match crate::sync::sync_once(&self.store, &self.partners, province, &holder).await {
                Ok(report) => tracing::info!(%report, "sync pass"),
                Err(error) => tracing::warn!(%error, "sync pass failed"),
            }
            self.sync_passes.send_modify(|passes| *passes += 1);
        }
    }

    /// Serves the ops endpoints over plain HTTP until `shutdown` completes.
    pub async fn run_ops(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(listener, self.ops_router())
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

/// Serves `router` over mutual TLS with `tls` on `listener` — TCP_NODELAY, a
/// handshake deadline, handshakes counted, the connection limits of
/// `connections` — until `shutdown` completes, then lets requests in flight
/// finish. The benchmark's reference server uses it too, so that both measure
/// the same listener.
pub async fn serve_tls(
    tls: &Tls,
    connections: &crate::server::connections::Settings,
    listener: std::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let acceptor = crate::server::connections::Guarded::new(
        CountHandshakes(
            axum_server::tls_rustls::RustlsAcceptor::new(tls.rustls())
                .handshake_timeout(connections.handshake_timeout)
                .acceptor(axum_server::accept::NoDelayAcceptor::new()),
        ),
        connections,
    );
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle)
        .first_request_timeout(connections.read_timeout);
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(connections.read_timeout);
    server.serve(router.into_make_service()).await?;
    Ok(())
}

/// Turns the connection's client certificate into an [`Identity`], or refuses.
async fn identify(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let tls = request.extensions().get::<Arc<TlsInfo>>().cloned();
    let chain = tls
        .as_ref()
        .map_or(&[][..], |info| &info.peer_certificates[..]);
    match app.tls.authenticator().identify(chain) {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(refusal) => {
            tracing::warn!(
                fingerprint = %refusal.fingerprint,
                subject = %refusal.subject,
                reason = %refusal.reason,
                "refused a trusted certificate"
            );
            metrics::request("unknown", "none", Outcome::Refused.code(), Duration::ZERO);
            let event = Event {
                at: Event::now(),
                fingerprint: refusal.fingerprint.clone(),
                subject: refusal.subject.clone(),
                role: refusal.principal.map(|p| p.role.code().to_owned()),
                province: refusal.principal.map(|p| p.province.number()),
                operation_name: None,
                operation_type: "none".to_owned(),
                query_hash: String::new(),
                variables_hash: String::new(),
                records: Vec::new(),
                outcome: Outcome::Refused.code().to_owned(),
                error_codes: vec!["FORBIDDEN".to_owned()],
                latency_us: 0,
            };
            if let Err(error) = app.record(&event).await {
                tracing::error!(error = ?error, "the audit record of a refusal could not be written");
            }
            http::error_response(StatusCode::FORBIDDEN, "FORBIDDEN", None, refusal.reason)
        }
    }
}

/// Ready when the store answers and no request was shed in the last second:
/// an overloaded gateway says so, so that a balancer sends its load elsewhere.
/// A partner's outage never makes it unready.
async fn readyz(State(app): State<App>) -> Response {
    if app.turns.shed_within(Duration::from_secs(1)) {
        return (StatusCode::SERVICE_UNAVAILABLE, "overloaded\n").into_response();
    }
    match app.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

/// `GET /graphql`: a WebSocket for subscriptions, when the client asks to
/// upgrade; a query in the URL, run as a POST would be (mutations never:
/// 405); or without one the GraphiQL page, for our own callers.
async fn graphql_get(
    State(app): State<App>,
    Extension(identity): Extension<Identity>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
    params: Result<axum::extract::Query<http::Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Ok(upgrade) = upgrade {
        return app.subscriptions(identity, upgrade);
    }
    let params = match params {
        Ok(axum::extract::Query(params)) => params,
        Err(rejection) => {
            return http::error_response(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                Some("query"),
                rejection.body_text(),
            );
        }
    };
    let Some(query) = &params.query else {
        return graphiql(&identity);
    };
    if let Some(refused) = app.admit(&identity) {
        return refused;
    }
    let Some(media) = Media::negotiate(&headers) else {
        return http::not_acceptable();
    };
    if http::is_mutation(query, params.operation_name.as_deref()) {
        return http::mutation_over_get();
    }
    let request = match params
        .into_body()
        .and_then(|body| serde_json::from_value(body).map_err(|error| ("query", error.to_string())))
    {
        Ok(request) => request,
        Err((field, message)) => {
            return http::error_response(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                Some(field),
                message,
            );
        }
    };
    app.answer(&identity, &headers, request, media).await
}

/// The GraphiQL page, for our own callers: a partner's gateway has no use for
/// it, and gets no introspection either.
fn graphiql(identity: &Identity) -> Response {
    if matches!(identity.caller, Caller::Partner(_)) {
        return http::error_response(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            None,
            "GraphiQL is for this province's own callers".to_owned(),
        );
    }
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .finish(),
    )
    .into_response()
}

/// `POST /graphql`: one request, as JSON. Its body must arrive within the
/// read timeout and fit the caller's body limit; a partner's lower limit is
/// kept as it is read, not after.
async fn graphql_post(
    State(app): State<App>,
    Extension(identity): Extension<Identity>,
    request: Request,
) -> Response {
    if let Some(refused) = app.admit(&identity) {
        return refused;
    }
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Some(media) = Media::negotiate(&headers) else {
        return http::not_acceptable();
    };
    if let Some(refused) = http::unless_json(&headers) {
        return refused;
    }
    let (limit, whose) = match identity.caller {
        Caller::Partner(_) => (app.limits.partner_body_bytes, "a partner's request body"),
        Caller::Internal(_) => (app.limits.body_bytes, "the request body"),
    };
    let read = http_body_util::Limited::new(body, limit);
    let body = match tokio::time::timeout(
        app.limits.read_timeout,
        http_body_util::BodyExt::collect(read),
    )
    .await
    {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return http::invalid_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{whose} may not exceed {limit} bytes"),
            );
        }
        Ok(Err(error)) => {
            return http::invalid_body(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {error}"),
            );
        }
        Err(_) => {
            return http::invalid_body(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {:?}",
                    app.limits.read_timeout
                ),
            );
        }
    };
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(message) => return http::invalid_body(StatusCode::BAD_REQUEST, message),
    };
    app.answer(&identity, &headers, request, media).await
}

impl App {
    /// A WebSocket of subscriptions (`graphql-transport-ws`), for our
    /// dashboards and operators.
    fn subscriptions(&self, identity: Identity, upgrade: WebSocketUpgrade) -> Response {
        if let Err(reason) =
            crate::policy::authorize(identity.caller, OperationType::Subscription, &[])
        {
            return http::error_response(StatusCode::FORBIDDEN, "FORBIDDEN", None, reason);
        }
        if let Some(refused) = self.admit(&identity) {
            return refused;
        }
        let upgrade = upgrade
            .protocols([subscriptions::PROTOCOL])
            .max_message_size(self.limits.body_bytes);
        let agreed = upgrade.selected_protocol().is_some();
        let settings = subscriptions::Settings {
            init_timeout: self.limits.read_timeout,
            keep_alive: self.limits.idle_timeout / 2,
            most_subscriptions: subscriptions::MOST_AT_ONCE,
        };
        let (schemas, app) = (self.schemas.clone(), self.clone());
        // A refused subscription leaves evidence, as a refused request does.
        let refused: subscriptions::Refused = Box::new(move |identity, executed, variables| {
            let event = Event {
                at: Event::now(),
                fingerprint: identity.fingerprint.clone(),
                subject: identity.subject.clone(),
                role: Some(identity.principal.role.code().to_owned()),
                province: Some(identity.principal.province.number()),
                operation_name: None,
                operation_type: operation_label(executed.operation).to_owned(),
                query_hash: executed.text.query_hash(),
                variables_hash: audit::sha256_hex(
                    serde_json::to_string(variables)
                        .unwrap_or_default()
                        .as_bytes(),
                ),
                records: Vec::new(),
                outcome: Outcome::Refused.code().to_owned(),
                error_codes: Written::new(executed.response, false).error_codes(),
                latency_us: 0,
            };
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(error) = app.record(&event).await {
                    tracing::error!(
                        ?error,
                        "the audit record of a refused subscription could not be written"
                    );
                }
            });
        });
        upgrade.on_upgrade(move |socket| {
            subscriptions::serve(socket, agreed, schemas, identity, settings, refused)
        })
    }

    /// The 429 answer to a caller over its rate, before its body is read.
    fn admit(&self, identity: &Identity) -> Option<Response> {
        let wait = self.rates.admit(identity).err()?;
        metrics::request(
            identity.caller.label(),
            "none",
            "rate_limited",
            Duration::ZERO,
        );
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = http::error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            None,
            format!("too many requests from this caller; try again in {seconds} s"),
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds.max(1)),
        );
        Some(response)
    }

    /// Runs `request` for `identity` within the request timeout, its wait for
    /// a turn included, and writes the answer as `media`.
    async fn answer(
        &self,
        identity: &Identity,
        headers: &axum::http::HeaderMap,
        request: async_graphql::Request,
        media: Media,
    ) -> Response {
        let hop = headers.contains_key(crate::federation::HOP_HEADER);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let trace = crate::federation::Trace::from_headers(
            header(crate::federation::REQUEST_ID_HEADER),
            header("traceparent"),
        );
        let request_id = trace.request_id_header();
        let span = tracing::info_span!(
            "graphql",
            request_id = %trace.request_id,
            trace_id = %trace.trace_id,
            caller = %identity.principal
        );
        let deadline = tokio::time::Instant::now() + self.limits.request_timeout;
        let answer = self.execute_hop(identity, request, hop, trace, Pace::Lined { deadline });
        let answer = tracing::Instrument::instrument(answer, span).await;
        let mut response = (
            media.status(answer.status),
            [
                (
                    HeaderName::from_static(crate::federation::REQUEST_ID_HEADER),
                    request_id,
                ),
                (axum::http::header::CONTENT_TYPE, media.content_type()),
            ],
            answer.body,
        )
            .into_response();
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, http::RETRY_AFTER);
        }
        response
    }
}

/// An operation's type, as metrics and the audit trail name it.
fn operation_label(operation: Option<OperationType>) -> &'static str {
    match operation {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "none",
    }
}

/// How a request waits for its turn, and by when it must be answered.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// In its caller's line (`turn`), answered by `deadline` (the request
    /// timeout, the wait for a turn included) or with `TIMEOUT`.
    Lined { deadline: tokio::time::Instant },
    /// At once, with no deadline: a request made in this process.
    Unlined,
}

/// An answer written out: its JSON body, and its status under the
/// GraphQL-over-HTTP specification (see `server::http`).
pub struct Answer {
    pub body: Vec<u8>,
    pub status: StatusCode,
}

/// An answer whose data is already JSON text. The tree of values a request
/// builds is the bulk of what it holds; written out, it is a fraction of that,
/// and it is what waits for the audit flush without a turn.
#[derive(serde::Serialize)]
struct Written {
    /// None when execution did not begin: the answer then has no `data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Box<serde_json::value::RawValue>>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: std::collections::BTreeMap<String, async_graphql::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<async_graphql::ServerError>,
}

impl Written {
    /// `response`, whose execution `began` or not.
    fn new(response: async_graphql::Response, began: bool) -> Self {
        Self {
            data: began.then(|| {
                serde_json::value::to_raw_value(&response.data).expect("GraphQL values are JSON")
            }),
            extensions: response.extensions,
            errors: response.errors,
        }
    }

    /// The JSON body, and its status: 503 when the database was too busy to
    /// serve it; 200 once execution began; otherwise 403 for a refusal, 503
    /// for a request out of time, 500 for our own failure, 400 for anything
    /// else.
    fn finish(&self) -> Answer {
        let codes = self.error_codes();
        if codes.iter().any(|code| code == "STORAGE_BUSY") {
            metrics::storage_busy();
        }
        let status = if codes.iter().any(|code| code == "STORAGE_BUSY") {
            // Nothing was written: the same request may go again.
            StatusCode::SERVICE_UNAVAILABLE
        } else if self.data.is_some() {
            StatusCode::OK
        } else {
            match codes.first().map(String::as_str) {
                Some("FORBIDDEN") => StatusCode::FORBIDDEN,
                Some("TIMEOUT" | "OVERLOADED") => StatusCode::SERVICE_UNAVAILABLE,
                Some("INTERNAL") => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            }
        };
        Answer {
            body: serde_json::to_vec(self).expect("GraphQL values are JSON"),
            status,
        }
    }

    /// The distinct error codes, in order.
    fn error_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = Vec::new();
        for error in &self.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|c| match c {
                    async_graphql::Value::String(code) => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "INTERNAL".to_owned());
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
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
        serde_json::Value::Array(_) => {
            return Err("batched requests are not accepted".to_owned());
        }
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
