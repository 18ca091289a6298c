//! The Cầu Nối benchmark: Thái Nguyên's and Nghệ An's gateways, each its own
//! process on loopback with a seeded SQLite register, and a bare reference
//! server on the same mTLS listener setup, driven by pooled mTLS clients. Every
//! answer is checked; figures are medians of interleaved rounds, reported as
//! ratios taken in one run so that they hold on a noisy machine.
//!
//! `cargo run --release -p caunoi-bench` for the full run, `-- --quick` for the
//! short one CI runs (it checks the answers, not the speed).

// The schema's merged roots nest deeper than the compiler's default
// query depth when a binary lays out their resolvers' futures.
#![recursion_limit = "256"]

mod alerts;
mod load;
mod provinces;
mod setup;
mod trace;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caunoi::domain::{ProvinceCode, RecordKind};
use caunoi::store::{Audience, FeedPosition, Store};
use clap::Parser;
use serde_json::{Value, json};

use load::{Run, Scenario, drive, median, share};
use setup::{Databases, Gateway, Province, Usage, seed};

#[derive(Parser)]
#[command(
    name = "caunoi-bench",
    about = "Measures Cầu Nối against its machine's limits"
)]
struct Args {
    /// A short run that checks every answer (CI runs it); figures are rough.
    #[arg(long)]
    quick: bool,
    /// Certificates per province (default 100000; quick 1000).
    #[arg(long)]
    certificates: Option<usize>,
    /// Requests per scenario, concurrency and round (default 3000; quick 100).
    #[arg(long)]
    requests: Option<usize>,
    /// Rounds, each running every scenario once (default 5; quick 1).
    #[arg(long)]
    rounds: Option<usize>,
    /// Concurrent clients of the loaded runs (default 50; quick 4, as a debug
    /// build cannot carry fifty within the partner timeout).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Certificates of the small and large registers compared for lookup cost
    /// (default 10000 and 1000000; quick 200 and 2000).
    #[arg(long, num_args = 2)]
    scale: Option<Vec<usize>>,
    /// Changes of the short and long feeds compared for page cost (default
    /// 1000 and 10000000; quick 1000 and 20000).
    #[arg(long, num_args = 2)]
    feed: Option<Vec<usize>>,
    /// Drives only the scenario of this name (`local lookup`, `federated page`…)
    /// at the loaded concurrency, `--requests` times, and prints its figures
    /// and each gateway's CPU time (user, kernel) and page faults per request:
    /// a steady load to profile under, not a report. `sync` runs only the
    /// sync rounds (the same per record, after the first round), `flush` only
    /// the reference flush, `feed` only the feed pages, `provinces` only the
    /// many-provinces comparison.
    #[arg(long)]
    only: Option<String>,
    /// With `--only`: count the instructions each gateway spends instead of
    /// timing them. Both gateways run under valgrind's callgrind, which counts
    /// only while `--requests` requests go one at a time after a warm-up (for
    /// `sync`, while one sync round runs, after one that warms up). Counts do
    /// not follow how busy the machine is, so two builds compare where their
    /// timings cannot. Needs valgrind; keep `--certificates` small.
    #[arg(long, requires = "only")]
    instructions: bool,
    /// Provinces of the many-provinces comparison, each a gateway process
    /// with every other as its partner, against two (default 34; quick 3).
    #[arg(long)]
    provinces: Option<usize>,
    /// A PostgreSQL server (`postgres://…`, a role that may create
    /// databases) on which the harness creates every database of the run,
    /// dropping them at its end, instead of SQLite files.
    #[arg(long)]
    database: Option<String>,
    /// Where the JSON report is written.
    #[arg(long, default_value = "target/bench/report.json")]
    json: PathBuf,
}

/// The gateways the harness runs are this binary, so it declares the
/// gateway's allocator (see `caunoi::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    caunoi::allocator::configure();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    // The gateways are this binary run as `caunoi`.
    if argv.get(1).is_some_and(|a| a == "gateway") {
        argv.remove(1);
        return caunoi::cli::main_from(argv);
    }
    let args = Args::parse_from(argv);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("caunoi-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct Sizes {
    certificates: usize,
    requests: usize,
    rounds: usize,
    many: usize,
    scale: (usize, usize),
    feed: (usize, usize),
    /// Events in the small and large registers of the trace scenario.
    events: (usize, usize),
    /// Provinces of the many-provinces comparison, and certificates of each.
    provinces: (usize, usize),
}

impl Sizes {
    fn of(args: &Args) -> Self {
        let pair = |given: &Option<Vec<usize>>, full: (usize, usize), quick: (usize, usize)| {
            given
                .as_ref()
                .map(|v| (v[0], v[1]))
                .unwrap_or(if args.quick { quick } else { full })
        };
        let pick = |given: Option<usize>, full: usize, quick: usize| {
            given.unwrap_or(if args.quick { quick } else { full })
        };
        Self {
            certificates: pick(args.certificates, 100_000, 1_000),
            requests: pick(args.requests, 3_000, 100),
            rounds: pick(args.rounds, 5, 1),
            many: pick(args.concurrency, 50, 4),
            scale: pair(&args.scale, (10_000, 1_000_000), (200, 2_000)),
            feed: pair(&args.feed, (1_000, 10_000_000), (1_000, 20_000)),
            events: (
                if args.quick { 1_000 } else { 10_000 },
                if args.quick { 10_000 } else { 1_000_000 },
            ),
            provinces: (
                pick(args.provinces, 34, 3),
                if args.quick { 200 } else { 1_000 },
            ),
        }
    }
}

const LOOKUP: &str = "query($n: String!) { certificate(number: $n) { number status expiresOn } }";

/// A page of 100 certificates with each one's facility.
fn page_query(scope: &str) -> String {
    format!(
        "{{ certificates(scope: {scope}, first: 100) {{ edges {{ node {{ number facility {{ name }} }} }} }} }}"
    )
}

/// A lookup scenario: request `i` asks for `numbers[i·k mod n]`.
fn lookup(
    name: &'static str,
    urls: Vec<String>,
    clients: &Arc<Vec<reqwest::Client>>,
    numbers: Arc<Vec<String>>,
) -> Arc<Scenario> {
    let pick = {
        let numbers = numbers.clone();
        move |i: usize| numbers[(i * 7919) % numbers.len()].clone()
    };
    let expected = pick.clone();
    Arc::new(Scenario {
        name,
        urls,
        clients: clients.clone(),
        body: Box::new(move |i| json!({ "query": LOOKUP, "variables": { "n": pick(i) } })),
        check: Box::new(move |i, answer| {
            no_errors(answer)?;
            let number = &answer["data"]["certificate"]["number"];
            (number == &Value::from(expected(i)))
                .then_some(())
                .ok_or_else(|| format!("asked {}, got {number}", expected(i)))
        }),
        share: 1.0,
    })
}

/// A page scenario: 100 certificates, each with its facility's name, of
/// `owners`, every one of which has some.
fn page(
    name: &'static str,
    url: String,
    clients: &Arc<Vec<reqwest::Client>>,
    scope: &str,
    owners: &[ProvinceCode],
) -> Arc<Scenario> {
    let query = page_query(scope);
    let prefixes: Vec<String> = owners.iter().map(|owner| format!("{owner}-")).collect();
    Arc::new(Scenario {
        name,
        urls: vec![url],
        clients: clients.clone(),
        body: Box::new(move |_| json!({ "query": query })),
        check: Box::new(move |_, answer| {
            no_errors(answer)?;
            let edges = answer["data"]["certificates"]["edges"]
                .as_array()
                .ok_or("no edges")?;
            if edges.len() != 100 {
                return Err(format!("{} edges, not 100", edges.len()));
            }
            let mut owned = vec![false; prefixes.len()];
            for edge in edges {
                let node = &edge["node"];
                let owner = node["number"]
                    .as_str()
                    .and_then(|n| prefixes.iter().position(|p| n.starts_with(p.as_str())));
                match owner {
                    Some(owner) if node["facility"]["name"].is_string() => owned[owner] = true,
                    _ => return Err(format!("unexpected {node}")),
                }
            }
            match owned.iter().position(|o| !o) {
                Some(missing) => Err(format!("nothing of {} in the page", prefixes[missing])),
                None => Ok(()),
            }
        }),
        share: 0.2,
    })
}

fn no_errors(answer: &Value) -> Result<(), String> {
    match answer.get("errors") {
        None => Ok(()),
        Some(errors) => Err(format!("errors: {errors}")),
    }
}

/// The reference: a bare handler answering a fixed certificate over the same
/// mTLS listener setup as the gateways (Thái Nguyên's TLS material).
async fn reference(province: &Province) -> anyhow::Result<String> {
    let config = caunoi::config::Config {
        state_dir: province.dir.clone(),
        province: caunoi::config::ProvinceConfig {
            code: province.code.to_string(),
            name: None,
        },
        ..caunoi::config::Config::default()
    };
    let tls = caunoi::server::Tls::load(&config)?;
    let fixed = json!({ "data": { "certificate": {
        "number": "19-ATTP-2024-000001", "status": "ACTIVE", "expiresOn": "2027-10-28" } } });
    let router = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move || {
            let fixed = fixed.clone();
            async move { axum::Json(fixed) }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("https://{}/graphql", listener.local_addr()?);
    tokio::spawn(async move {
        let served = caunoi::app::serve_tls(
            &tls,
            &caunoi::server::connections::Settings::from_config(&config),
            listener,
            router,
            std::future::pending(),
        )
        .await;
        if let Err(error) = served {
            eprintln!("reference server: {error:#}");
        }
    });
    Ok(url)
}

/// The reference flush, in ms (p50 of `writes`): what the disk under the
/// partner's state takes to make a small write durable, as its audit append
/// must before it answers a partner (DESIGN: no audit record, no data). Each
/// write is three of SQLite's log frames, written in place (the write-ahead log
/// does not grow once in use) and `fsync`ed as SQLite does, after a
/// millisecond's pause, the quiet a request at C = 1 leaves the disk.
async fn reference_flush(dir: &Path, writes: usize) -> anyhow::Result<f64> {
    use std::os::unix::fs::FileExt;
    const FRAMES: usize = 3 * (24 + 4096);
    const SLOTS: usize = 300;
    let path = dir.join("reference-flush");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path)?;
        file.write_all_at(&vec![0; FRAMES * SLOTS], 0)?;
        file.sync_all()?;
        let mut frames = vec![0u8; FRAMES];
        let mut times = Vec::with_capacity(writes);
        for i in 0..writes {
            std::thread::sleep(Duration::from_millis(1));
            frames[0] = i as u8;
            let started = Instant::now();
            file.write_all_at(&frames, ((i % SLOTS) * FRAMES) as u64)?;
            file.sync_all()?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        std::fs::remove_file(&path)?;
        Ok(median(&mut times))
    })
    .await?
}

fn clients(province: &Province, count: usize) -> anyhow::Result<Arc<Vec<reqwest::Client>>> {
    Ok(Arc::new(
        (0..count)
            .map(|_| province.client())
            .collect::<anyhow::Result<_>>()?,
    ))
}

/// Median figures of one scenario at one concurrency.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn medians(runs: &[Run]) -> Figures {
    let of = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    Figures {
        rps: of(|r| r.rps),
        p50_ms: of(|r| r.p50_ms),
        p99_ms: of(|r| r.p99_ms),
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let sizes = Sizes::of(&args);
    let root = tempfile::Builder::new().prefix("caunoi-bench").tempdir()?;
    let databases = Databases::new(args.database.as_deref())?;
    let ran = measure(&args, &sizes, root.path(), &databases).await;
    databases.drop_all().await?;
    ran
}

async fn measure(
    args: &Args,
    sizes: &Sizes,
    root: &Path,
    databases: &Databases,
) -> anyhow::Result<bool> {
    let tn = Province::create(root, "19", databases)?;
    let na = Province::create(root, "40", databases)?;
    // What needs no gateway runs before any is seeded.
    match args.only.as_deref() {
        Some("feed") => {
            let feed = feed_pages(&tn, &na, sizes).await?;
            println!("{}", feed.line(sizes));
            return Ok(true);
        }
        Some("flush") => {
            let p50 = reference_flush(&na.dir, sizes.requests).await?;
            println!("reference flush: p50 {p50:.3} ms");
            return Ok(true);
        }
        Some("provinces") => {
            let (n, certificates) = sizes.provinces;
            let compared = provinces::measure(
                root,
                databases,
                n,
                certificates,
                sizes.requests,
                sizes.rounds,
            )
            .await?;
            println!("{}", compared.line());
            return Ok(true);
        }
        _ => {}
    }

    let started = Instant::now();
    let tn_numbers = Arc::new(
        seed(
            &tn.store("main.sqlite").await?,
            &[na.code],
            sizes.certificates,
        )
        .await?,
    );
    let na_numbers = Arc::new(
        seed(
            &na.store("main.sqlite").await?,
            &[tn.code],
            sizes.certificates,
        )
        .await?,
    );
    println!(
        "seeded {} certificates per province ({}) in {:.1} s",
        sizes.certificates,
        databases.name(),
        started.elapsed().as_secs_f64()
    );
    let counted = args.instructions;
    let config = |province: &Province, partner: &Province| {
        let config = province.config("main.sqlite", &[partner]);
        if !counted {
            return config;
        }
        let timeout = COUNTED_TIMEOUT.as_secs();
        config + &format!("[federation]\ntimeout = \"{timeout}s\"\n")
    };
    // Counts are kept beside the report, one file per gateway.
    let callgrind = |province: &Province| {
        counted.then(|| {
            args.json
                .with_file_name(format!("{}.callgrind", province.code))
        })
    };
    if counted && let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let gw19 = Gateway::start(&tn, &config(&tn, &na), "main", callgrind(&tn)).await?;
    let gw40 = Gateway::start(&na, &config(&na, &tn), "main", callgrind(&na)).await?;
    // A second process of Thái Nguyên on the same database, for the
    // lookups that go to both in turn.
    let tn_b = tn.sibling()?;
    let gw19_b = Gateway::start(&tn_b, &config(&tn_b, &na), "second", None).await?;
    let reference_url = reference(&tn).await?;
    let (c19, c40) = (clients(&tn, sizes.many)?, clients(&na, sizes.many)?);

    let scenarios = [
        Arc::new(Scenario {
            name: "reference",
            urls: vec![reference_url],
            clients: c19.clone(),
            body: Box::new(|i| json!({ "query": LOOKUP, "variables": { "n": i.to_string() } })),
            check: Box::new(|_, answer| {
                answer["data"]["certificate"]["number"]
                    .is_string()
                    .then_some(())
                    .ok_or_else(|| format!("unexpected {answer}"))
            }),
            share: 1.0,
        }),
        lookup("local lookup", vec![tn.url()], &c19, tn_numbers.clone()),
        lookup("federated lookup", vec![tn.url()], &c19, na_numbers.clone()),
        page("local page", tn.url(), &c19, "LOCAL", &[tn.code]),
        page("federated page", na.url(), &c40, "ALL", &[tn.code, na.code]),
        lookup(
            "local lookup, 2 processes",
            vec![tn.url(), tn_b.url()],
            &c19,
            tn_numbers.clone(),
        ),
    ];
    let [
        reference_s,
        local_s,
        federated_s,
        local_page_s,
        federated_page_s,
        two_s,
    ] = &scenarios;

    match args.only.as_deref() {
        None => {}
        Some("sync") if counted => {
            count_sync(&tn, &na, sizes, [&gw19, &gw40]).await?;
            return Ok(true);
        }
        Some("sync") => {
            sync_usage(&tn, &na, sizes, &gw40).await?;
            return Ok(true);
        }
        Some("trace") => {
            let traced = measure_trace(&tn, &na, &c19, sizes).await?;
            println!("{}", trace_line(&traced));
            return Ok(true);
        }
        Some("alerts") => {
            let (live, queued) = alert_sizes(args);
            let (figures, _) =
                alerts::measure(&tn, &na, gw40, &config(&na, &tn), live, queued).await?;
            println!("{}", alerts_line(&figures));
            return Ok(true);
        }
        Some(name) => {
            let scenario = scenarios
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| anyhow::anyhow!("no scenario is named {name:?}"))?;
            if counted {
                anyhow::ensure!(
                    !Arc::ptr_eq(scenario, reference_s),
                    "the reference handler runs in the harness itself: --instructions counts the gateways"
                );
                count(scenario, [&gw19, &gw40], sizes.requests).await?;
                return Ok(true);
            }
            let before = [gw19.usage()?, gw40.usage()?];
            let run = drive(scenario, sizes.requests, sizes.many).await?;
            let used = [
                gw19.usage()?.since(before[0]),
                gw40.usage()?.since(before[1]),
            ];
            println!(
                "{name} at C={}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                sizes.many, run.rps, run.p50_ms, run.p99_ms
            );
            println!(
                "per request: Thái Nguyên {}; Nghệ An {}",
                used[0].per(run.requests as u64),
                used[1].per(run.requests as u64)
            );
            return Ok(true);
        }
    }
    // Warm-up: connections, caches, the partner pools.
    for scenario in &scenarios {
        drive(scenario, sizes.requests / 5, sizes.many).await?;
    }
    let mut runs: Vec<[Vec<Run>; 2]> = vec![Default::default(); scenarios.len()];
    // Handshakes on Nghệ An while only federated lookups reach it, and partner
    // requests on Thái Nguyên while Nghệ An pages through its certificates.
    let (mut handshakes, mut federated_requests) = (0.0, 0usize);
    let (mut partner_requests, mut pages) = (0.0, 0usize);
    let mut flushes = Vec::new();
    for round in 0..sizes.rounds {
        for (s, scenario) in scenarios.iter().enumerate() {
            for (c, concurrency) in [1, sizes.many].into_iter().enumerate() {
                let handshakes_before = gw40.counter("caunoi_tls_handshakes_total", "ok").await?;
                let partner_before = gw19
                    .counter("caunoi_requests_total", "caller=\"partner\"")
                    .await?;
                let run = drive(scenario, sizes.requests, concurrency).await?;
                if Arc::ptr_eq(scenario, federated_s) {
                    handshakes += gw40.counter("caunoi_tls_handshakes_total", "ok").await?
                        - handshakes_before;
                    federated_requests += run.requests;
                }
                if Arc::ptr_eq(scenario, federated_page_s) {
                    partner_requests += gw19
                        .counter("caunoi_requests_total", "caller=\"partner\"")
                        .await?
                        - partner_before;
                    pages += run.requests;
                }
                runs[s][c].push(run);
            }
        }
        flushes.push(reference_flush(&na.dir, sizes.requests).await?);
        println!("round {} of {} done", round + 1, sizes.rounds);
    }
    let figures: Vec<[Figures; 2]> = runs
        .iter()
        .map(|[one, many]| [medians(one), medians(many)])
        .collect();
    let rss = [gw19.peak_rss(), gw40.peak_rss()];
    let at = |scenario: &Arc<Scenario>| {
        let s = scenarios
            .iter()
            .position(|x| Arc::ptr_eq(x, scenario))
            .unwrap();
        figures[s]
    };

    let syncs = sync_rounds(&tn, &na, sizes).await?;
    let (report, sync_seconds) = syncs[syncs.len() / 2].clone();
    // After the sync rounds, which count the seeded records: the trace's
    // chain adds a facility and a product to each province's feed.
    let traced = measure_trace(&tn, &na, &c19, sizes).await?;
    let (live, queued) = alert_sizes(args);
    let (alerted, gw40) = alerts::measure(&tn, &na, gw40, &config(&na, &tn), live, queued).await?;
    drop(gw19);
    drop(gw19_b);
    drop(gw40);

    // Lookup cost against register size: two registers of Thái Nguyên, one
    // gateway each, asked in turn at C = 1.
    let mut scaled = Vec::new();
    for (name, count) in [("small", sizes.scale.0), ("large", sizes.scale.1)] {
        let province = tn.sibling()?;
        let file = format!("{name}.sqlite");
        let started = Instant::now();
        let numbers = seed(&province.store(&file).await?, &[na.code], count).await?;
        println!(
            "seeded the {name} register ({count} certificates) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let gateway = Gateway::start(&province, &province.config(&file, &[]), name, None).await?;
        let scenario = lookup("lookup", vec![province.url()], &c19, Arc::new(numbers));
        drive(&scenario, sizes.requests / 5, 1).await?;
        scaled.push((gateway, scenario));
    }
    let scale = interleaved(&scaled, sizes.requests, sizes.rounds).await?;
    drop(scaled);

    let feed = feed_pages(&tn, &na, sizes).await?;
    let (n, certificates) = sizes.provinces;
    let many = provinces::measure(
        root,
        databases,
        n,
        certificates,
        sizes.requests,
        sizes.rounds,
    )
    .await?;

    let local = at(local_s);
    let federated = at(federated_s);
    let hop = federated[0].p50_ms - local[0].p50_ms;
    let flush = median(&mut flushes);
    let goals = vec![
        Goal::at_least(
            &format!("local lookup RPS ÷ reference RPS (C={})", sizes.many),
            local[1].rps / at(reference_s)[1].rps,
            0.25,
        ),
        Goal::at_least(
            &format!("federated lookup RPS ÷ local RPS (C={})", sizes.many),
            federated[1].rps / local[1].rps,
            0.45,
        ),
        Goal::at_most("federated hop p50 − local p50 at C=1 (ms)", hop, 0.5),
        Goal::at_most(
            "the same hop less the reference flush (ms)",
            hop - flush,
            0.5,
        ),
        Goal::at_most(
            &format!("federated p99 ÷ local p99 at C={}", sizes.many),
            federated[1].p99_ms / local[1].p99_ms,
            3.0,
        ),
        Goal::exactly(
            "partner requests per federated page",
            partner_requests / pages as f64,
            1.0,
        ),
        Goal::at_least(
            &format!("federated page RPS ÷ local page RPS (C={})", sizes.many),
            at(federated_page_s)[1].rps / at(local_page_s)[1].rps,
            0.4,
        ),
        Goal::at_most(
            "TLS handshakes on the partner ÷ federated requests",
            handshakes / federated_requests as f64,
            0.01,
        ),
        Goal::at_most(
            &format!(
                "lookup p50 at {} ÷ at {} certificates (C=1)",
                sizes.scale.1, sizes.scale.0
            ),
            scale[1].p50_ms / scale[0].p50_ms,
            1.5,
        ),
        Goal::at_most(
            &format!(
                "{}-hop trace across the border p50 ÷ ({} × federated lookup p50), C=1",
                traced.hops, traced.hops
            ),
            traced.p50_ms / (traced.hops as f64 * federated[0].p50_ms),
            1.2,
        ),
        Goal::at_most(
            &format!(
                "trace p50 at {} ÷ at {} events (C=1)",
                traced.large, traced.small
            ),
            traced.large_p50_ms / traced.small_p50_ms,
            1.5,
        ),
        Goal::at_least(
            "sync of the partner's feed (changes/s)",
            report.applied as f64 / sync_seconds,
            20_000.0,
        ),
        Goal::at_most(
            &format!("alert to partner dashboard p99, {}/s (ms)", alerted.rate),
            alerted.p99_ms,
            250.0,
        ),
        Goal::at_most(
            &format!("{} alerts queued: all in after return (s)", alerted.queued),
            alerted.catch_up_s,
            10.0,
        ),
        Goal::exactly(
            "notices sent after the return ÷ notices owed",
            alerted.pushes / alerted.queued as f64,
            1.0,
        ),
        Goal::at_most(
            &format!("peak RSS per gateway at C={} (MB)", sizes.many),
            rss.iter().flatten().copied().max().unwrap_or(0) as f64 / 1e6,
            100.0,
        ),
        Goal::at_most(
            &format!(
                "feed page cost at {} ÷ at {} changes (C={})",
                sizes.feed.1, sizes.feed.0, sizes.many
            ),
            feed.pages_per_s[0] / feed.pages_per_s[1],
            1.5,
        ),
        Goal::at_most(
            &format!("scope ALL page p50 at {n} ÷ at 2 provinces (C=1)"),
            many.page[1].p50_ms / many.page[0].p50_ms,
            3.0,
        ),
        Goal::at_most(
            &format!("peak RSS of a gateway at {n} ÷ at 2 provinces"),
            many.rss_mb[1] / many.rss_mb[0],
            1.5,
        ),
        Goal::at_most(
            &format!("TLS handshakes ÷ federated requests at {n} provinces"),
            many.handshakes / many.federated as f64,
            0.01,
        ),
        Goal::at_most(
            &format!("lookup routed to its owner p50 at {n} ÷ at 2 provinces (C=1)"),
            many.lookup[1].p50_ms / many.lookup[0].p50_ms,
            1.1,
        ),
    ];

    println!();
    println!(
        "{:<18} {:>3} {:>9} {:>8} {:>8}",
        "scenario", "C", "req/s", "p50 ms", "p99 ms"
    );
    for (scenario, pair) in scenarios.iter().zip(&figures) {
        for (c, f) in [1, sizes.many].iter().zip(pair) {
            println!(
                "{:<18} {:>3} {:>9.0} {:>8.2} {:>8.2}",
                scenario.name, c, f.rps, f.p50_ms, f.p99_ms
            );
        }
    }
    for ((name, count), f) in [
        ("lookup, small", sizes.scale.0),
        ("lookup, large", sizes.scale.1),
    ]
    .iter()
    .zip(&scale)
    {
        println!(
            "{:<18} {:>3} {:>9.0} {:>8.2} {:>8.2}   ({count} certificates)",
            name, 1, f.rps, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "sync: {} pages, {} rows in {:.2} s (median of {:?})",
        report.pages,
        report.applied,
        sync_seconds,
        syncs
            .iter()
            .map(|(_, s)| (s * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
    );
    println!("{}", feed.line(sizes));
    println!("{}", alerts_line(&alerted));
    println!("{}", trace_line(&traced));
    println!("{}", many.line());
    println!(
        "two processes of Thái Nguyên on one {} database, lookups sent to each in turn: \
         {:.0} req/s at C={}, {:.2} × one process",
        databases.name(),
        at(two_s)[1].rps,
        sizes.many,
        at(two_s)[1].rps / local[1].rps
    );
    println!("reference flush (the disk under the partner's audit append): p50 {flush:.3} ms");
    println!(
        "peak RSS: Thái Nguyên {:.1} MB, Nghệ An {:.1} MB; partner handshakes {handshakes} for {federated_requests} federated requests",
        rss[0].unwrap_or(0) as f64 / 1e6,
        rss[1].unwrap_or(0) as f64 / 1e6,
    );
    println!();
    println!("{:<52} {:>10} {:>12}  met", "ratio", "measured", "goal");
    for goal in &goals {
        println!(
            "{:<52} {:>10.3} {:>12}  {}",
            goal.name,
            goal.measured,
            goal.target(),
            if goal.met() { "yes" } else { "NO" }
        );
    }

    let report_json = json!({
        "machine": machine(),
        "database": databases.name(),
        "quick": args.quick,
        "sizes": {
            "certificates_per_province": sizes.certificates,
            "requests": sizes.requests,
            "rounds": sizes.rounds,
            "scale": [sizes.scale.0, sizes.scale.1],
            "feed": [sizes.feed.0, sizes.feed.1],
        },
        "scenarios": scenarios.iter().zip(&figures).map(|(s, [one, many])| json!({
            "name": s.name, "c1": one, "c_many": many,
        })).collect::<Vec<_>>(),
        "lookup_at_scale": { "small": scale[0], "large": scale[1] },
        "sync": { "pages": report.pages, "rows": report.applied, "seconds": sync_seconds },
        "feed": feed,
        "alerts": alerted,
        "trace": traced,
        "provinces": many,
        "reference_flush_p50_ms": flush,
        "peak_rss_bytes": { "19": rss[0], "40": rss[1] },
        "partner_handshakes": handshakes,
        "federated_requests": federated_requests,
        "goals": goals.iter().map(|g| json!({
            "name": g.name, "measured": g.measured, "goal": g.target(), "met": g.met(),
        })).collect::<Vec<_>>(),
    });
    if let Some(parent) = args.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report_json)?)?;
    println!("\nwrote {}", args.json.display());
    // Every answer was checked as it came; speed is judged by people, not here.
    Ok(true)
}

/// Syncs Nghệ An's whole feed into a fresh replica store of Thái Nguyên once
/// per round, checking that every shared record arrived; the rounds sorted by
/// time.
async fn sync_rounds(
    tn: &Province,
    na: &Province,
    sizes: &Sizes,
) -> anyhow::Result<Vec<(caunoi::sync::Report, f64)>> {
    let partners = sync_partners(tn, na, caunoi::config::Federation::default())?;
    let mut syncs = Vec::new();
    for round in 0..sizes.rounds {
        syncs.push(sync_round(tn, na, sizes, &partners, round).await?);
    }
    syncs.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(syncs)
}

/// The sync rounds of `--only sync`, and what a synced record cost the sync
/// client (the harness itself) and the partner over all rounds but the first,
/// which warms up.
async fn sync_usage(
    tn: &Province,
    na: &Province,
    sizes: &Sizes,
    partner: &Gateway,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        sizes.rounds >= 2,
        "--only sync needs two rounds or more: the first warms up"
    );
    let partners = sync_partners(tn, na, caunoi::config::Federation::default())?;
    sync_round(tn, na, sizes, &partners, 0).await?;
    let before = [Usage::of("self")?, partner.usage()?];
    let mut rows = 0;
    for round in 1..sizes.rounds {
        rows += sync_round(tn, na, sizes, &partners, round).await?.0.applied;
    }
    let client = Usage::of("self")?.since(before[0]);
    let partner = partner.usage()?.since(before[1]);
    println!(
        "per record: the sync client {}; Nghệ An, the partner, {}",
        client.per(rows),
        partner.per(rows)
    );
    Ok(())
}

/// Thái Nguyên's sync client's view of Nghệ An, with `federation`'s settings.
fn sync_partners(
    tn: &Province,
    na: &Province,
    federation: caunoi::config::Federation,
) -> anyhow::Result<caunoi::federation::Partners> {
    let sync_config = caunoi::config::Config {
        state_dir: tn.dir.clone(),
        province: caunoi::config::ProvinceConfig {
            code: "19".to_owned(),
            name: None,
        },
        partners: vec![caunoi::config::Partner {
            province: "40".to_owned(),
            name: None,
            ca: na.pki().join(caunoi::pki::CA_CERT),
            endpoint: Some(na.url()),
            sync_every: None,
        }],
        federation,
        ..caunoi::config::Config::default()
    };
    caunoi::federation::Partners::build(&sync_config)
}

/// Round `round` of the sync: Nghệ An's whole feed into a fresh replica, every
/// shared record checked to have arrived; what the pass did and its seconds.
async fn sync_round(
    tn: &Province,
    na: &Province,
    sizes: &Sizes,
    partners: &caunoi::federation::Partners,
    round: usize,
) -> anyhow::Result<(caunoi::sync::Report, f64)> {
    let replica = tn.store(&format!("replica-{round}.sqlite")).await?;
    let started = Instant::now();
    let report = caunoi::sync::sync_once(&replica, partners, na.code, "benchmark")
        .await
        .map_err(|e| anyhow::anyhow!("sync: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let copied = replica.replica_rows(na.code).await.map_err(stored)?.len();
    let expected = sizes.certificates + sizes.certificates.div_ceil(20);
    anyhow::ensure!(
        copied == expected,
        "the replica holds {copied} records, not {expected}"
    );
    println!(
        "sync round {}: {} rows in {seconds:.2} s",
        round + 1,
        report.applied
    );
    Ok((report, seconds))
}

/// Drives `scenario` one request at a time with both gateways counting, after
/// a warm-up, and prints each gateway's instructions per request. One at a
/// time, each of the partner's audit batches holds one entry, as in every run.
async fn count(
    scenario: &Arc<Scenario>,
    gateways: [&Gateway; 2],
    requests: usize,
) -> anyhow::Result<()> {
    drive(scenario, (requests / 5).max(1), 1).await?;
    let counted = counting(gateways, drive(scenario, requests, 1)).await?;
    let [tn, na] = counted
        .instructions
        .map(|n| n as f64 / counted.run.requests as f64);
    println!(
        "{}: {} requests one at a time; instructions per request: Thái Nguyên {tn:.0}, Nghệ An {na:.0}",
        scenario.name, counted.run.requests
    );
    Ok(())
}

/// Syncs the partner's feed twice, the second time with both gateways
/// counting, and prints the partner's instructions per synced record (the
/// sync client is this process, not counted; Thái Nguyên's gateway has no
/// part in it).
async fn count_sync(
    tn: &Province,
    na: &Province,
    sizes: &Sizes,
    gateways: [&Gateway; 2],
) -> anyhow::Result<()> {
    let federation = caunoi::config::Federation {
        timeout: COUNTED_TIMEOUT,
        ..caunoi::config::Federation::default()
    };
    let partners = sync_partners(tn, na, federation)?;
    sync_round(tn, na, sizes, &partners, 0).await?;
    let counted = counting(gateways, sync_round(tn, na, sizes, &partners, 1)).await?;
    let rows = counted.run.0.applied as f64;
    println!(
        "sync: {rows} rows; instructions per row on Nghệ An, the partner: {:.0}",
        counted.instructions[1] as f64 / rows,
    );
    Ok(())
}

/// How long a caller waits for a partner under callgrind, which answers tens
/// of times slower: the gateways' federation timeout and the sync client's.
const COUNTED_TIMEOUT: Duration = Duration::from_secs(120);

/// What ran while `gateways` counted, and their counts.
struct Counted<T> {
    run: T,
    instructions: [u64; 2],
}

/// Runs `work` with `gateways` counting their instructions.
async fn counting<T>(
    gateways: [&Gateway; 2],
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Counted<T>> {
    for gateway in gateways {
        gateway.count(true).await?;
    }
    let run = work.await?;
    for gateway in gateways {
        gateway.count(false).await?;
    }
    let instructions = [
        gateways[0].instructions().await?,
        gateways[1].instructions().await?,
    ];
    for gateway in gateways {
        if let Some(dump) = gateway.dump() {
            println!("counts by function: callgrind_annotate {}", dump.display());
        }
    }
    Ok(Counted { run, instructions })
}

/// Pages a sync job reads in one go, in the feed page measurement.
const FEED_RUN: usize = 10;

/// Feed page cost against feed length: pages read per second from each feed
/// by as many readers as the loaded scenarios have clients, each reading as
/// the feed endpoint does for a sync job catching up (from a cursor at a random
/// place, [`FEED_RUN`] pages of 100 in a row, each after the last one's end).
/// Read one at a time, a page's time on this kind of machine says more about
/// whether the processors went idle meanwhile than about the page, and that
/// depended on which feed was read beside it (measured on a past machine); under
/// load they do not idle, and a page costs what it costs. The feeds take turns
/// round by round; the median of each.
async fn feed_pages(tn: &Province, na: &Province, sizes: &Sizes) -> anyhow::Result<FeedFigures> {
    let mut feeds = Vec::new();
    for (name, count) in [("short", sizes.feed.0), ("long", sizes.feed.1)] {
        let store = na.store(&format!("feed-{name}.sqlite")).await?;
        let started = Instant::now();
        store
            .pad_feed(count as u64, tn.code)
            .await
            .map_err(stored)?;
        println!(
            "wrote the {name} feed ({count} changes) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let epoch = store.feed_epoch().await.map_err(stored)?;
        feeds.push(Arc::new(Feed {
            store,
            epoch,
            count,
            partner: tn.code,
        }));
    }
    let runs = sizes.requests.div_ceil(FEED_RUN);
    // A warm-up round, not counted.
    for feed in &feeds {
        feed.read(runs / 5, sizes.many).await?;
    }
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..sizes.rounds {
        for (rate, feed) in rates.iter_mut().zip(&feeds) {
            rate.push(feed.read(runs, sizes.many).await?);
        }
    }
    Ok(FeedFigures {
        pages_per_s: [median(&mut rates[0]), median(&mut rates[1])],
    })
}

/// Feed pages read per second, from the short feed and from the long one.
#[derive(serde::Serialize)]
struct FeedFigures {
    pages_per_s: [f64; 2],
}

impl FeedFigures {
    fn line(&self, sizes: &Sizes) -> String {
        format!(
            "feed pages/s, {} readers, {FEED_RUN} pages a run: {:.0} ({} changes), {:.0} ({} changes)",
            sizes.many, self.pages_per_s[0], sizes.feed.0, self.pages_per_s[1], sizes.feed.1
        )
    }
}

/// One feed of the feed page measurement.
struct Feed {
    store: Store,
    epoch: String,
    count: usize,
    partner: ProvinceCode,
}

impl Feed {
    /// Reads `runs` runs of pages with `readers` readers at once, every other
    /// run as the partner, and returns the pages read per second.
    async fn read(self: &Arc<Self>, runs: usize, readers: usize) -> anyhow::Result<f64> {
        let started = Instant::now();
        let feed = self.clone();
        share(runs, readers, move |_, run| {
            let feed = feed.clone();
            let audience = if run.is_multiple_of(2) {
                Audience::Partner(feed.partner)
            } else {
                Audience::Internal
            };
            async move { feed.read_run(audience).await }
        })
        .await?;
        Ok((runs * FEED_RUN) as f64 / started.elapsed().as_secs_f64())
    }

    /// Reads a run of [`FEED_RUN`] pages from a random place, as `audience`,
    /// checking each page's length.
    async fn read_run(&self, audience: Audience) -> anyhow::Result<()> {
        // The padding wrote a thousand changes per transaction from seq 1 on:
        // change k is (k / 1000 + 1, k % 1000).
        let k = fastrand::usize(0..self.count.saturating_sub(FEED_RUN * 100).max(1));
        let mut after = FeedPosition {
            epoch: self.epoch.clone(),
            seq: (k / 1000 + 1) as i64,
            idx: (k % 1000) as i32,
        };
        let mut left = self.count - k - 1;
        for _ in 0..FEED_RUN {
            let read = self
                .store
                .changes(Some(&after), 100, &[] as &[RecordKind], audience)
                .await
                .map_err(stored)?;
            anyhow::ensure!(
                read.items.len() == left.min(100),
                "a page of {} changes with {left} left of {}",
                read.items.len(),
                self.count
            );
            left -= read.items.len();
            if let Some(last) = read.items.last() {
                after = last.position.clone();
            }
        }
        Ok(())
    }
}

/// The store's errors carry their code, not a message; show both.
fn stored(error: caunoi::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{error:?}")
}

/// A ratio and its goal.
struct Goal {
    name: String,
    measured: f64,
    bound: f64,
    kind: Bound,
}

enum Bound {
    AtLeast,
    AtMost,
    Exactly,
}

impl Goal {
    fn at_least(name: &str, measured: f64, bound: f64) -> Self {
        Self::new(name, measured, bound, Bound::AtLeast)
    }
    fn at_most(name: &str, measured: f64, bound: f64) -> Self {
        Self::new(name, measured, bound, Bound::AtMost)
    }
    fn exactly(name: &str, measured: f64, bound: f64) -> Self {
        Self::new(name, measured, bound, Bound::Exactly)
    }
    fn new(name: &str, measured: f64, bound: f64, kind: Bound) -> Self {
        Self {
            name: name.to_owned(),
            measured,
            bound,
            kind,
        }
    }
    fn met(&self) -> bool {
        match self.kind {
            Bound::AtLeast => self.measured >= self.bound,
            Bound::AtMost => self.measured <= self.bound,
            Bound::Exactly => (self.measured - self.bound).abs() < 1e-9,
        }
    }
    fn target(&self) -> String {
        match self.kind {
            Bound::AtLeast => format!("≥ {}", self.bound),
            Bound::AtMost => format!("≤ {}", self.bound),
            Bound::Exactly => format!("= {}", self.bound),
        }
    }
}

/// What the run ran on.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        });
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

/// The trace scenarios: a lot that crosses the border at each of
/// [`trace::HOPS`] hops, traced back from Thái Nguyên at C = 1; then a local
/// trace of as many hops over a small and a large register of events, one
/// gateway each.
async fn measure_trace(
    tn: &Province,
    na: &Province,
    c19: &Arc<Vec<reqwest::Client>>,
    sizes: &Sizes,
) -> anyhow::Result<trace::Traced> {
    let events = 1 + 3 * trace::HOPS;
    let lot = trace::crossing_chain(tn, na, trace::HOPS).await?;
    let crossing = trace::scenario("trace", tn.url(), c19, lot, events);
    let requests = (sizes.requests / 5).max(20);
    drive(&crossing, requests / 4, 1).await?;
    let mut runs = Vec::new();
    for _ in 0..sizes.rounds {
        runs.push(drive(&crossing, requests, 1).await?);
    }
    let crossed = medians(&runs);
    let mut scaled = Vec::new();
    for (name, noise) in [
        ("trace-small", sizes.events.0),
        ("trace-large", sizes.events.1),
    ] {
        let province = tn.sibling()?;
        let file = format!("{name}.sqlite");
        let started = Instant::now();
        let lot = trace::seed_register(&province.store(&file).await?, trace::HOPS, noise).await?;
        println!(
            "seeded the {name} register ({noise} events) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let gateway = Gateway::start(&province, &province.config(&file, &[]), name, None).await?;
        let scenario = trace::scenario("local trace", province.url(), c19, lot, events);
        drive(&scenario, requests / 4, 1).await?;
        scaled.push((gateway, scenario));
    }
    let scale = interleaved(&scaled, requests, sizes.rounds).await?;
    Ok(trace::Traced {
        hops: trace::HOPS,
        p50_ms: crossed.p50_ms,
        p99_ms: crossed.p99_ms,
        small: sizes.events.0,
        large: sizes.events.1,
        small_p50_ms: scale[0].p50_ms,
        large_p50_ms: scale[1].p50_ms,
    })
}

/// The small and the large register's scenario, each on its own gateway,
/// driven in turn at C = 1 for `rounds` rounds of `requests`: their medians.
async fn interleaved(
    scaled: &[(Gateway, Arc<Scenario>)],
    requests: usize,
    rounds: usize,
) -> anyhow::Result<[Figures; 2]> {
    let mut runs: [Vec<Run>; 2] = Default::default();
    for _ in 0..rounds {
        for (i, (_, scenario)) in scaled.iter().enumerate() {
            runs[i].push(drive(scenario, requests, 1).await?);
        }
    }
    Ok([medians(&runs[0]), medians(&runs[1])])
}

fn trace_line(t: &trace::Traced) -> String {
    format!(
        "trace: {} hops across the border at C=1 p50 {:.1} ms, p99 {:.1} ms; a local trace of as many \
         hops p50 {:.2} ms among {} events, {:.2} ms among {}",
        t.hops, t.p50_ms, t.p99_ms, t.small_p50_ms, t.small, t.large_p50_ms, t.large
    )
}

/// Alerts notified at 20 a second, and alerts queued for a partner down.
fn alert_sizes(args: &Args) -> (usize, usize) {
    if args.quick { (40, 100) } else { (600, 1000) }
}

fn alerts_line(a: &alerts::Alerts) -> String {
    format!(
        "alerts: {} at {}/s, notify to the partner's dashboard p50 {:.1} ms, p99 {:.1} ms; \
         {} queued for a partner down, all stored {:.2} s after its return ({} stored, {} sent)",
        a.live, a.rate, a.p50_ms, a.p99_ms, a.queued, a.catch_up_s, a.stored, a.pushes
    )
}
