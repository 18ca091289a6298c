//! Many provinces: N gateways as processes on loopback, each seeded small,
//! every pair partners, against a mesh of two. Thái Nguyên's gateway is
//! measured in both meshes in interleaved rounds, so that the ratios hold on
//! a noisy machine.

use std::path::Path;
use std::sync::Arc;

use caunoi::domain::ProvinceCode;
use serde::Serialize;

use crate::load::{Run, Scenario, drive};
use crate::setup::{Databases, Gateway, Province, seed};
use crate::{Figures, clients, lookup, medians, page};

/// The codes of Vietnam's 34 provincial-level units since the 2025
/// reorganisation, Thái Nguyên and Nghệ An first.
pub const CODES: [&str; 34] = [
    "19", "40", "01", "04", "08", "11", "12", "14", "15", "20", "22", "24", "25", "31", "33", "37",
    "38", "42", "44", "46", "48", "51", "52", "56", "66", "68", "75", "79", "80", "82", "86", "91",
    "92", "96",
];

/// The first `count` provinces' gateways, every pair partners, and what is
/// driven against Thái Nguyên's.
struct Mesh {
    gateways: Vec<Gateway>,
    /// A `scope: ALL` page of 100 certificates with their facilities.
    page: Arc<Scenario>,
    /// Nghệ An's certificates, looked up by number at Thái Nguyên's gateway.
    lookup: Arc<Scenario>,
}

impl Mesh {
    async fn start(
        root: &Path,
        databases: &Databases,
        count: usize,
        certificates: usize,
    ) -> anyhow::Result<Self> {
        let dir = root.join(format!("mesh-{count}"));
        // Named after the mesh: on PostgreSQL, each province's databases of
        // every mesh are on one server.
        let database = format!("mesh-{count}.sqlite");
        let provinces = CODES[..count]
            .iter()
            .map(|code| Province::create(&dir, code, databases))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let codes: Vec<ProvinceCode> = provinces.iter().map(|p| p.code).collect();
        let mut partner_numbers = Vec::new();
        for province in &provinces {
            let others: Vec<ProvinceCode> = codes
                .iter()
                .copied()
                .filter(|code| *code != province.code)
                .collect();
            let store = province.store(&database).await?;
            let numbers = seed(&store, &others, certificates).await?;
            if province.code == codes[1] {
                partner_numbers = numbers;
            }
        }
        let mut gateways = Vec::with_capacity(count);
        for province in &provinces {
            let others: Vec<&Province> = provinces
                .iter()
                .filter(|p| p.code != province.code)
                .collect();
            let config = province.config(&database, &others);
            gateways.push(Gateway::start(province, &config, "main", None).await?);
        }
        let home = &provinces[0];
        let asking = clients(home, 1)?;
        Ok(Self {
            gateways,
            page: page(
                "page over all provinces",
                home.url(),
                &asking,
                "ALL",
                &codes[..count.min(100)],
            ),
            lookup: lookup(
                "lookup routed to its owner",
                vec![home.url()],
                &asking,
                Arc::new(partner_numbers),
            ),
        })
    }

    /// CPU seconds Thái Nguyên's gateway and all its partners have used so far.
    fn cpu(&self) -> anyhow::Result<[f64; 2]> {
        let mut used = [0.0; 2];
        for (g, gateway) in self.gateways.iter().enumerate() {
            let usage = gateway.usage()?;
            used[usize::from(g > 0)] += usage.user + usage.system;
        }
        Ok(used)
    }

    /// TLS handshakes the partners have taken so far.
    async fn handshakes(&self) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for partner in &self.gateways[1..] {
            total += partner.counter("caunoi_tls_handshakes_total", "ok").await?;
        }
        Ok(total)
    }
}

/// Thái Nguyên's gateway among two provinces and among `n`.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub n: usize,
    /// The `scope: ALL` page at C = 1, with two provinces and with `n`.
    pub page: [Figures; 2],
    /// A lookup of a Nghệ An certificate at C = 1, the same.
    pub lookup: [Figures; 2],
    /// Thái Nguyên's gateway's peak RSS, in MB, the same.
    pub rss_mb: [f64; 2],
    /// CPU ms a page cost Thái Nguyên's gateway and its partners together,
    /// with two provinces and with `n`.
    pub page_cpu_ms: [[f64; 2]; 2],
    /// TLS handshakes on the `n` partners while measured, and the requests
    /// that federated meanwhile.
    pub handshakes: f64,
    pub federated: usize,
}

/// Measures Thái Nguyên's gateway among two provinces and among `n`, each
/// seeded with `certificates` certificates, in `rounds` interleaved rounds
/// of `requests` lookups (and a fifth as many pages).
pub async fn measure(
    root: &Path,
    databases: &Databases,
    n: usize,
    certificates: usize,
    requests: usize,
    rounds: usize,
) -> anyhow::Result<Compared> {
    anyhow::ensure!(
        (2..=CODES.len()).contains(&n),
        "--provinces takes 2 to {}, not {n}",
        CODES.len()
    );
    let started = std::time::Instant::now();
    let meshes = [
        Mesh::start(root, databases, 2, certificates).await?,
        Mesh::start(root, databases, n, certificates).await?,
    ];
    println!(
        "started {} gateways of {n} and 2 provinces in {:.1} s",
        n + 2,
        started.elapsed().as_secs_f64()
    );
    // Warm-up: the pools of every partner, the caches.
    for mesh in &meshes {
        drive(&mesh.page, requests / 5, 1).await?;
        drive(&mesh.lookup, requests / 5, 1).await?;
    }
    let mut runs: [[Vec<Run>; 2]; 2] = Default::default();
    let (mut handshakes, mut federated) = (0.0, 0);
    let mut cpu = [[0.0; 2]; 2];
    for round in 0..rounds {
        for (m, mesh) in meshes.iter().enumerate() {
            let before = mesh.handshakes().await?;
            let cpu_before = mesh.cpu()?;
            let paged = drive(&mesh.page, requests, 1).await?;
            let cpu_after = mesh.cpu()?;
            for side in 0..2 {
                cpu[m][side] +=
                    (cpu_after[side] - cpu_before[side]) * 1000.0 / paged.requests as f64;
            }
            let looked = drive(&mesh.lookup, requests, 1).await?;
            if m == 1 {
                handshakes += mesh.handshakes().await? - before;
                federated += paged.requests + looked.requests;
            }
            runs[m][0].push(paged);
            runs[m][1].push(looked);
        }
        println!("provinces: round {} of {rounds} done", round + 1);
    }
    let rss = |m: usize| meshes[m].gateways[0].peak_rss().unwrap_or(0) as f64 / 1e6;
    Ok(Compared {
        n,
        page: [medians(&runs[0][0]), medians(&runs[1][0])],
        lookup: [medians(&runs[0][1]), medians(&runs[1][1])],
        rss_mb: [rss(0), rss(1)],
        page_cpu_ms: cpu.map(|sides| sides.map(|ms| ms / rounds as f64)),
        handshakes,
        federated,
    })
}

impl Compared {
    pub fn line(&self) -> String {
        format!(
            "provinces 2 → {}: scope ALL page p50 {:.2} → {:.2} ms (CPU per page: Thái Nguyên \
             {:.1} → {:.1} ms, partners {:.1} → {:.1} ms); lookup p50 {:.2} → {:.2} ms; \
             Thái Nguyên peak RSS {:.1} → {:.1} MB; {} handshakes for {} federated requests",
            self.n,
            self.page[0].p50_ms,
            self.page[1].p50_ms,
            self.page_cpu_ms[0][0],
            self.page_cpu_ms[1][0],
            self.page_cpu_ms[0][1],
            self.page_cpu_ms[1][1],
            self.lookup[0].p50_ms,
            self.lookup[1].p50_ms,
            self.rss_mb[0],
            self.rss_mb[1],
            self.handshakes,
            self.federated
        )
    }
}
