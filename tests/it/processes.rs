//! Several `caunoi serve` processes of one province on one database: one
//! audit chain, one change feed in commit order, each notice sent once, and
//! nothing half-written by a process killed mid-write.

use std::time::Duration;

use caunoi::domain::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{TestGateway, bind, spawn_pair};
use crate::market::{OFFER, grower, offer_input};

/// Another process of `tn`'s province: `caunoi serve` on its database and
/// PKI, with `na` as its partner.
struct Process {
    child: tokio::process::Child,
    url: String,
    config: std::path::PathBuf,
}

/// Starts a process of Thái Nguyên beside `tn` and waits, at most a
/// minute, until it serves. Its ports are picked free, then let go for it
/// to listen on; should another test's connection take one meanwhile, the
/// process stops before serving and is started again on others, at most
/// three times.
async fn serve(tn: &TestGateway, na: &TestGateway, name: &str) -> Process {
    let state = tn.pki_dir().parent().unwrap().to_path_buf();
    let config = state.join(format!("{name}.toml"));
    let port = |listener: std::net::TcpListener| listener.local_addr().unwrap().port();
    for _ in 0..3 {
        let (listen, ops) = (port(bind()), port(bind()));
        std::fs::write(
            &config,
            format!(
                "state_dir = {state:?}\ndatabase_url = {url:?}\nlisten = \"127.0.0.1:{listen}\"\n\
                 ops_listen = \"127.0.0.1:{ops}\"\n[province]\ncode = \"19\"\n[log]\nfilter = \"error\"\n\
                 [limits]\nrate_per_certificate = 0\n\
                 [[partners]]\nprovince = \"40\"\nca = {ca:?}\nendpoint = {endpoint:?}\n",
                url = tn.database_url,
                ca = na.pki_dir().join(caunoi::pki::CA_CERT),
                endpoint = na.url(),
            ),
        )
        .unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_caunoi"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the caunoi binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let serving = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("serves GraphQL") {
                    return true;
                }
            }
            false
        };
        let served = tokio::time::timeout(Duration::from_secs(60), serving)
            .await
            .unwrap_or_else(|_| panic!("process {name} neither served nor stopped in a minute"));
        if !served {
            continue;
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        return Process {
            child,
            url: format!("https://127.0.0.1:{listen}/graphql"),
            config,
        };
    }
    panic!("process {name} stopped before serving three times")
}

/// Posts a query to the gateway at `url`.
async fn post(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    client
        .post(url)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const CREATE: &str = "mutation($i: CreateFacilityInput!) { createFacility(input: $i) { id } }";

fn facility(name: String) -> Value {
    json!({ "i": { "name": name, "kind": "COOPERATIVE", "commune": "Tân Cương",
                   "district": "Thành phố Thái Nguyên", "suppliesTo": ["40"] } })
}

/// Every change of the feed after `after`, read a page at a time at `url`,
/// and the cursor after the last.
async fn drain(client: &reqwest::Client, url: &str, mut after: Value) -> (Vec<Value>, Value) {
    let feed = "query($after: String) { changes(after: $after, first: 7) {
        edges { node { id version } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let answer = post(client, url, feed, json!({ "after": after })).await;
        let page = &answer["data"]["changes"];
        let edges = page["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("a page of the feed: {answer:#}"));
        seen.extend(edges.iter().map(|e| e["node"].clone()));
        if !page["pageInfo"]["endCursor"].is_null() {
            after = page["pageInfo"]["endCursor"].clone();
        }
        if page["pageInfo"]["hasNextPage"] == false {
            return (seen, after);
        }
    }
    panic!("the feed does not end");
}

/// How many entries of `gw`'s audit trail match `filter`, page by page.
async fn audited(gw: &TestGateway, filter: Value) -> usize {
    let query = "query($f: AuditFilterInput, $after: String) {
        auditLog(filter: $f, first: 100, after: $after) {
          edges { node { operationType } } pageInfo { hasNextPage endCursor } } }";
    let (mut count, mut after) = (0, Value::Null);
    loop {
        let page = gw.data(query, json!({ "f": filter, "after": after })).await["auditLog"].clone();
        count += page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["operationType"] == "mutation")
            .count();
        if page["pageInfo"]["hasNextPage"] == false {
            return count;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Waits until each of `offers` (urgent, so owing Nghệ An one notice) is
/// delivered, at most `within` in all. A delivery is recorded only after
/// Nghệ An has stored the notice and audited its request; no process tells
/// this one, so its store is asked every 20 ms.
async fn all_delivered(tn: &TestGateway, offers: &[Value], within: Duration) {
    let store = tn.app.store();
    let mut every = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + within;
    for offer in offers {
        let id = caunoi::domain::GlobalId::parse(offer.as_str().unwrap()).unwrap();
        loop {
            let deliveries = store.deliveries(id).await.unwrap();
            assert_eq!(deliveries.len(), 1, "{offer} owes Nghệ An one notice");
            if deliveries[0].delivered_at.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{offer} undelivered after {within:?}"
            );
            every.tick().await;
        }
    }
}

/// Whether `caunoi audit verify` accepts the chain, with what it said.
async fn verify(config: &std::path::Path) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_caunoi"))
        .args(["--config", config.to_str().unwrap(), "audit", "verify"])
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

#[tokio::test]
async fn three_processes_of_one_province_keep_one_chain_one_feed_and_send_each_notice_once() {
    let (tn, na) = spawn_pair().await;
    let (orchard, orange, _) = grower(
        &tn,
        "Hợp tác xã chè Tân Cương",
        "COOPERATIVE",
        "Chè Tân Cương",
        None,
        true,
    )
    .await;
    let others = [
        serve(&tn, &na, "second").await,
        serve(&tn, &na, "third").await,
    ];
    let urls: Vec<String> = std::iter::once(tn.url())
        .chain(others.iter().map(|p| p.url.clone()))
        .collect();
    let mutations_before = audited(&tn, json!({ "role": "OPERATOR" })).await;
    let sync = tn.client_as(Role::Sync);
    let (_, start) = drain(&sync, &urls[0], Value::Null).await;

    // Four writers on each process at once, each creating five facilities
    // and an urgent offer, which owes Nghệ An a notice; a reader follows the
    // feed through another process meanwhile.
    let writers = urls.iter().enumerate().flat_map(|(p, url)| {
        let (client, orchard, orange) = (tn.http.clone(), &orchard, &orange);
        (0..4).map(move |w| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let mut made = Vec::new();
                for n in 0..5 {
                    let name = format!("Hợp tác xã chè {p}-{w}-{n}");
                    let answer = post(&client, &url, CREATE, facility(name)).await;
                    made.push(answer["data"]["createFacility"]["id"].clone());
                }
                let offer = offer_input(orchard, orange, true);
                let answer = post(&client, &url, OFFER, json!({ "i": offer })).await;
                let offer = answer["data"]["createHarvestOffer"]["id"].clone();
                assert!(offer.is_string(), "{answer:#}");
                (made, offer)
            }
        })
    });
    let writing = futures_util::future::join_all(writers);
    let following = async {
        let (mut seen, mut after) = (Vec::new(), start.clone());
        for _ in 0..20 {
            let (more, next) = drain(&sync, &urls[1], after).await;
            seen.extend(more);
            after = next;
        }
        (seen, after)
    };
    let (written, (mut seen, after)) = tokio::join!(writing, following);
    let (made, offers): (Vec<Vec<Value>>, Vec<Value>) = written.into_iter().unzip();
    let made: Vec<Value> = made.into_iter().flatten().collect();
    assert!(
        made.iter().all(Value::is_string),
        "every write answered: {made:?}"
    );
    seen.extend(drain(&sync, &urls[2], after).await.0);

    // The feed read while writes committed holds each facility once.
    for id in &made {
        let times = seen.iter().filter(|c| &c["id"] == id).count();
        assert_eq!(times, 1, "{id} is in the feed {times} times");
    }
    // The whole feed, read again from the start, is what was read as it grew.
    let (again, _) = drain(&sync, &urls[2], start).await;
    assert_eq!(
        again, seen,
        "the feed read later is the feed read as it grew"
    );

    // One chain, with every mutation of the three processes in it.
    let (ok, said) = verify(&others[0].config).await;
    assert!(ok, "{said}");
    assert_eq!(
        audited(&tn, json!({ "role": "OPERATOR" })).await - mutations_before,
        made.len() + 12
    );

    // Twelve urgent offers, twelve notices, each sent by one process's
    // deliverer once.
    all_delivered(&tn, &offers, Duration::from_secs(30)).await;
    let told = "{ marketEvents(first: 100) { edges { node { kind offerId } } } }";
    let events = na.data(told, json!({})).await["marketEvents"]["edges"].clone();
    let mut received: Vec<Value> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["offerId"].clone())
        .collect();
    let mut offers = offers;
    received.sort_by_key(|id| id.to_string());
    offers.sort_by_key(|id| id.to_string());
    assert_eq!(received, offers, "each offer told once");
    let sent = audited(&na, json!({ "callerProvince": "19" })).await;
    assert_eq!(sent, 12, "each notice sent once");
}

#[tokio::test]
async fn a_process_killed_mid_write_loses_nothing_committed_and_half_writes_nothing() {
    let (tn, na) = spawn_pair().await;
    let (orchard, orange, _) = grower(
        &tn,
        "Hợp tác xã chè Tân Cương",
        "COOPERATIVE",
        "Chè Tân Cương",
        None,
        true,
    )
    .await;
    let mut doomed = serve(&tn, &na, "doomed").await;
    let mutations_before = audited(&tn, json!({ "role": "OPERATOR" })).await;

    // Eight writers keep writing to the doomed process, which is killed once
    // twenty writes have been answered; each write that was answered is
    // reported.
    let (acks, mut answered) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, url, acks) = (tn.http.clone(), doomed.url.clone(), acks.clone());
            let offer = json!({ "i": offer_input(&orchard, &orange, true) });
            tokio::spawn(async move {
                for n in 0.. {
                    let (query, variables) = match n % 2 {
                        0 => (CREATE, facility(format!("Cơ sở {w}-{n}"))),
                        _ => (OFFER, offer.clone()),
                    };
                    let Ok(sent) = client
                        .post(&url)
                        .json(&json!({ "query": query, "variables": variables }))
                        .send()
                        .await
                    else {
                        return;
                    };
                    let Ok(answer) = sent.json::<Value>().await else {
                        return;
                    };
                    let id = answer["data"]
                        .as_object()
                        .and_then(|data| data.values().next())
                        .map(|record| record["id"].clone());
                    match id {
                        Some(id) if id.is_string() => acks.send(id).unwrap(),
                        _ => panic!("a write refused before the kill: {answer:#}"),
                    }
                }
            })
        })
        .collect();
    drop(acks);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 20 {
        let id = tokio::time::timeout(Duration::from_secs(30), answered.recv())
            .await
            .expect("twenty writes answered within 30 s")
            .expect("writers still writing");
        acknowledged.push(id);
    }
    doomed.child.start_kill().unwrap();
    doomed.child.wait().await.unwrap();
    for writer in writers {
        writer.await.expect("a writer ends when its process dies");
    }
    while let Some(id) = answered.recv().await {
        acknowledged.push(id);
    }

    // Every answered write is there, with its audit entry.
    let node = "query($id: ID!) { node(id: $id) { id } }";
    for id in &acknowledged {
        let found = tn.data(node, json!({ "id": id })).await;
        assert_eq!(found["node"]["id"], *id, "an answered write was lost");
    }
    let (ok, said) = verify(&doomed.config).await;
    assert!(ok, "{said}");
    let entries = audited(&tn, json!({ "role": "OPERATOR" })).await - mutations_before;
    // Whatever committed is whole: each facility with its change in the
    // feed, each urgent offer with its notice owed (and sent by this process,
    // now the only one).
    let sync = tn.client_as(Role::Sync);
    let (feed, _) = drain(&sync, &tn.url(), Value::Null).await;
    let listed = "{ facilities(scope: LOCAL, first: 100) { edges { node { id } } }
                    harvestOffers(scope: LOCAL, first: 100) { edges { node { id } } } }";
    let stored = tn.data(listed, json!({})).await;
    let ids = |list: &str| -> Vec<Value> {
        stored[list]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].clone())
            .collect()
    };
    let (facilities, offers) = (ids("facilities"), ids("harvestOffers"));
    for id in &facilities {
        let times = feed.iter().filter(|c| &c["id"] == id).count();
        assert_eq!(times, 1, "{id} is in the feed {times} times");
    }
    // The grower's facility came before the writers.
    let committed = facilities.len() - 1 + offers.len();
    assert!(
        (acknowledged.len()..=acknowledged.len() + 8).contains(&committed),
        "{committed} committed, {} answered",
        acknowledged.len()
    );
    // A write that committed as its process died, before its audit entry
    // was flushed, goes unaudited (ARCHITECTURE.md, known gaps); an
    // answered one never does.
    assert!(
        entries >= acknowledged.len() && entries <= committed,
        "{entries} audited of {committed} committed, {} answered",
        acknowledged.len()
    );
    all_delivered(&tn, &offers, Duration::from_secs(60)).await;
}
