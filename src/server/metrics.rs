//! Prometheus metrics, with bounded labels, rendered by the ops listener.
//!
//! - `caunoi_requests_total{caller, operation, outcome}`: `caller` is `partner`,
//!   `dashboard`, `operator`, `sync` or `unknown`; `operation` is `query`,
//!   `mutation`, `subscription` or `none`; `outcome` is `ok`, `error`,
//!   `refused`, `timeout`, `shed` (the line full, 503 `OVERLOADED`) or
//!   `rate_limited` (429).
//! - `caunoi_request_duration_seconds{caller, outcome}`: a histogram of the
//!   time from a request's arrival to its answer.
//! - `caunoi_requests_in_flight{caller}`: requests between arrival and answer.
//! - `caunoi_tls_handshakes_total{result}`: `ok` or `failed`.
//! - `caunoi_audit_writes_total{result}`: `ok` or `failed`.
//! - `caunoi_storage_busy_total`: answers the database was too busy to give
//!   (`STORAGE_BUSY`: locked by other writers past `store::BUSY_WAIT`).
//! - `caunoi_sync_passes_total{province, result}`, `caunoi_sync_rows_applied_total{province}`
//!   and `caunoi_sync_last_success_timestamp_seconds{province}`: the replica's sync,
//!   one series per configured partner.
//!
//! The recorder is process-wide (the `metrics` crate has one), installed once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;

use axum_server::accept::Accept;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "caunoi_request_duration_seconds".to_owned(),
                ),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
        }
        handle
    })
}

/// Counts one request, and how long it took to answer.
pub fn request(
    caller: &'static str,
    operation: &'static str,
    outcome: &'static str,
    took: std::time::Duration,
) {
    metrics::counter!(
        "caunoi_requests_total",
        "caller" => caller,
        "operation" => operation,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "caunoi_request_duration_seconds",
        "caller" => caller,
        "outcome" => outcome
    )
    .record(took.as_secs_f64());
}

/// One request at work, counted in `caunoi_requests_in_flight` until dropped.
pub struct InFlight(&'static str);

impl InFlight {
    pub fn start(caller: &'static str) -> Self {
        metrics::gauge!("caunoi_requests_in_flight", "caller" => caller).increment(1.0);
        Self(caller)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("caunoi_requests_in_flight", "caller" => self.0).decrement(1.0);
    }
}

/// Counts one answer that the database was too busy to give.
pub fn storage_busy() {
    metrics::counter!("caunoi_storage_busy_total").increment(1);
}

/// Counts one audit write.
pub fn audit_write(ok: bool) {
    metrics::counter!("caunoi_audit_writes_total", "result" => if ok { "ok" } else { "failed" })
        .increment(1);
}

/// Counts one sync pass of `province`'s feed.
pub fn sync_pass(province: &str, applied: Option<u64>) {
    let province = province.to_owned();
    match applied {
        Some(rows) => {
            metrics::counter!("caunoi_sync_passes_total", "province" => province.clone(), "result" => "ok")
                .increment(1);
            metrics::counter!("caunoi_sync_rows_applied_total", "province" => province.clone())
                .increment(rows);
            metrics::gauge!("caunoi_sync_last_success_timestamp_seconds", "province" => province)
                .set(chrono::Utc::now().timestamp() as f64);
        }
        None => {
            metrics::counter!("caunoi_sync_passes_total", "province" => province, "result" => "failed")
                .increment(1);
        }
    }
}

/// Wraps a TLS acceptor to count handshakes by result.
#[derive(Clone, Debug)]
pub struct CountHandshakes<A>(pub A);

impl<A, I, S> Accept<I, S> for CountHandshakes<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let handshake = self.0.accept(stream, service);
        Box::pin(async move {
            let result = handshake.await;
            let label = if result.is_ok() { "ok" } else { "failed" };
            metrics::counter!("caunoi_tls_handshakes_total", "result" => label).increment(1);
            result
        })
    }
}
