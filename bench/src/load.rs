//! Drives one scenario: a fixed number of requests from C concurrent clients,
//! each answer checked, latencies kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a scenario sends and how its answers are checked.
pub struct Scenario {
    pub name: &'static str,
    pub url: String,
    /// Whose connections: the clients of the gateway (or server) asked.
    pub clients: Arc<Vec<reqwest::Client>>,
    /// The body of request `i`.
    pub body: Box<dyn Fn(usize) -> Value + Send + Sync>,
    /// Whether the answer to request `i` is right; the reason if not.
    pub check: Check,
    /// Requests per run, relative to the harness's setting (pages are costlier).
    pub share: f64,
}

/// Checks the answer to request `i`: the reason it is wrong, if it is.
pub type Check = Box<dyn Fn(usize, &Value) -> Result<(), String> + Send + Sync>;

/// One run's figures.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Run {
    pub requests: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Sends `requests` requests of `scenario` from `concurrency` clients at once.
pub async fn drive(
    scenario: &Arc<Scenario>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Run> {
    let requests = ((requests as f64 * scenario.share).ceil() as usize).max(concurrency);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let scenario = scenario.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let client = &scenario.clients[worker % scenario.clients.len()];
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let sent = Instant::now();
                    let answer: Value = client
                        .post(&scenario.url)
                        .json(&(scenario.body)(i))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    latencies.push(sent.elapsed());
                    (scenario.check)(i, &answer).map_err(|why| {
                        anyhow::anyhow!("{}: answer {i} is wrong: {why}", scenario.name)
                    })?;
                }
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Run {
        requests,
        rps: requests as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.50).as_secs_f64() * 1000.0,
        p99_ms: at(0.99).as_secs_f64() * 1000.0,
    })
}

/// The median of `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
