//! Drives one scenario: a fixed number of requests from C concurrent clients,
//! each answer checked, latencies kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;

/// What a scenario sends and how its answers are checked.
pub struct Scenario {
    pub name: &'static str,
    /// Where requests go: request `i` to the `i mod n`th, as a round-robin
    /// balancer in front of several processes would send them.
    pub urls: Vec<String>,
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
    let started = Instant::now();
    let shared = scenario.clone();
    let mut latencies = share(requests, concurrency, move |worker, i| {
        let scenario = shared.clone();
        async move {
            let client = &scenario.clients[worker % scenario.clients.len()];
            let sent = Instant::now();
            let answer: Value = client
                .post(&scenario.urls[i % scenario.urls.len()])
                .json(&(scenario.body)(i))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let latency = sent.elapsed();
            (scenario.check)(i, &answer)
                .map_err(|why| anyhow::anyhow!("{}: answer {i} is wrong: {why}", scenario.name))?;
            Ok(latency)
        }
    })
    .await?;
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

/// Does jobs `0..jobs` with `workers` tasks at once, each taking the next job
/// as soon as it is done with one; `work(worker, job)` does one. The results,
/// in no particular order; the first error, if any.
pub async fn share<T, F, Fut>(jobs: usize, workers: usize, work: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let next = next.clone();
            let work = work.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= jobs {
                        return Ok::<_, anyhow::Error>(done);
                    }
                    done.push(work(worker, job).await?);
                }
            })
        })
        .collect();
    let mut done = Vec::with_capacity(jobs);
    for task in tasks {
        done.extend(task.await??);
    }
    Ok(done)
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
