//! `caunoi demo`: Thái Nguyên and Nghệ An on loopback, each the other's partner,
//! with a development PKI and SQLite under the state directory, seeded with
//! realistic data. It asks cross-province questions of the configured province
//! (19 by default) through the same execution path as HTTP requests, checks each
//! answer, prints the endpoints and a ready `curl` command, and serves until
//! Ctrl-C. A second run reuses the state.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use async_graphql::Variables;
use serde_json::{Value, json};

use crate::app::App;
use crate::config::{Config, Partner};
use crate::domain::{ProvinceCode, Role};
use crate::seed::{province_name, search_example};
use crate::server::identity::Identity;

/// The two provinces of the cooperation agreement.
const PROVINCES: [&str; 2] = ["19", "40"];

/// Says whether an answer's `data` is right, and if not, why.
type Check = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One example: a question, its query, and what a right answer satisfies.
struct Example {
    question: String,
    query: &'static str,
    variables: Value,
    check: Check,
}

/// One province of the demo.
struct Side {
    config: Config,
    listener: std::net::TcpListener,
}

/// Runs the demo; with `check`, exits after the examples and says whether every
/// answer was right.
pub async fn run(base: Config, check: bool) -> anyhow::Result<bool> {
    let here = base.province_code()?;
    anyhow::ensure!(
        PROVINCES.contains(&here.to_string().as_str()),
        "the demo knows provinces 19 and 40, not {here}"
    );
    let mut sides = Vec::new();
    for (offset, code) in PROVINCES.iter().enumerate() {
        let listen = shifted(base.listen, offset as u16);
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        let mut config = base.clone();
        config.province.code = (*code).to_owned();
        config.province.name = province_name(ProvinceCode::parse(code)?).map(str::to_owned);
        config.state_dir = base.state_dir.join(code);
        config.listen = listener.local_addr()?;
        config.ops_listen = shifted(base.ops_listen, offset as u16);
        dev_pki(&config)?;
        sides.push(Side { config, listener });
    }
    // Each province trusts the other's CA and knows its endpoint.
    let partners: Vec<Partner> = sides
        .iter()
        .map(|side| Partner {
            province: side.config.province.code.clone(),
            name: side.config.province.name.clone(),
            ca: side.config.pki_dir().join(crate::pki::CA_CERT),
            endpoint: Some(format!("https://{}/graphql", side.config.listen)),
            sync_every: None,
        })
        .collect();
    for side in &mut sides {
        side.config.partners = partners
            .iter()
            .filter(|p| p.province != side.config.province.code)
            .cloned()
            .collect();
    }

    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut apps = Vec::new();
    let mut servers = Vec::new();
    for side in sides {
        let app = App::build(&side.config).await?;
        println!("{}", crate::seed::seed(app.store()).await?);
        let mut stopped = stop.subscribe();
        servers.push(tokio::spawn(app.clone().run(side.listener, async move {
            let _ = stopped.recv().await;
        })));
        if !check {
            let ops = tokio::net::TcpListener::bind(side.config.ops_listen)
                .await
                .with_context(|| format!("cannot listen on {}", side.config.ops_listen))?;
            let mut stopped = stop.subscribe();
            servers.push(tokio::spawn(app.clone().run_ops(ops, async move {
                let _ = stopped.recv().await;
            })));
        }
        apps.push((app, side.config));
    }
    println!();
    let (ours, theirs) = if apps[0].1.province_code()? == here {
        (&apps[0], &apps[1])
    } else {
        (&apps[1], &apps[0])
    };
    let ok = show(&ours.0, &theirs.0).await?;
    if !check {
        for (_, config) in &apps {
            println!(
                "Province {} serves GraphQL at https://localhost:{}/graphql (mutual TLS); health at http://{}/healthz",
                config.province_code()?,
                config.listen.port(),
                config.ops_listen
            );
        }
        let dir = ours.1.pki_dir();
        let query = r#"{"query":"{ provinces { province { code name } reachable circuit } certificates(first: 3) { edges { node { number province { name } } } } }"}"#;
        println!(
            "\nAsk it yourself, with the dashboard certificate of province {here}:\n  curl -s https://localhost:{}/graphql \\\n    --cacert {} --cert {} --key {} \\\n    -H 'content-type: application/json' -d '{query}'\n\nCtrl-C stops.",
            ours.1.listen.port(),
            dir.join(crate::pki::CA_CERT).display(),
            dir.join("dashboard.pem").display(),
            dir.join("dashboard.key").display(),
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(());
    for server in servers {
        server.await??;
    }
    Ok(ok)
}

/// `address` with its port moved up by `offset` (port 0 stays 0).
fn shifted(address: SocketAddr, offset: u16) -> SocketAddr {
    let port = match address.port() {
        0 => 0,
        port => port + offset,
    };
    SocketAddr::new(address.ip(), port)
}

/// The province's development PKI: its CA, its gateway's certificate and a
/// dashboard certificate; created on first run, reused after.
fn dev_pki(config: &Config) -> anyhow::Result<PathBuf> {
    let dir = config.pki_dir();
    let province = config.province_code()?;
    if !dir.join(crate::pki::CA_KEY).exists() {
        crate::pki::init(
            &dir,
            province,
            &["localhost".to_owned(), "127.0.0.1".to_owned()],
        )?;
    }
    if !dir.join("dashboard.pem").exists() {
        crate::pki::issue(&dir, province, Role::Dashboard, "dashboard")?;
    }
    Ok(dir)
}

/// Asks the examples of `here` (whose partner is `there`), prints each question
/// and answer, and says whether every answer was right.
pub async fn show(here: &App, there: &App) -> anyhow::Result<bool> {
    let us = here.store().province();
    let them = there.store().province();
    // The examples are asked as a dashboard would: read only.
    let dashboard = Identity::local(us, Role::Dashboard);
    let their_dashboard = Identity::local(them, Role::Dashboard);
    let search = search_example(us).unwrap_or("chè");
    let revoked = first(here, &dashboard, "certificates(filter: { status: REVOKED }, scope: LOCAL, first: 1) { edges { node { number } } }", "/certificates/edges/0/node/number").await?;
    let their_certificate = first(
        there,
        &their_dashboard,
        &format!("certificates(filter: {{ status: ACTIVE, suppliesTo: \"{us}\" }}, scope: LOCAL, first: 1) {{ edges {{ node {{ number }} }} }}"),
        "/certificates/edges/0/node/number",
    )
    .await?;
    let their_facility = first(
        there,
        &their_dashboard,
        &format!("facilities(filter: {{ suppliesTo: \"{us}\", kind: COOPERATIVE }}, scope: LOCAL, first: 1) {{ edges {{ node {{ id }} }} }}"),
        "/facilities/edges/0/node/id",
    )
    .await?;
    let mut all_ok = true;
    for example in examples(
        search,
        &revoked,
        &their_certificate,
        &their_facility,
        us,
        them,
    ) {
        let variables = Variables::from_json(example.variables.clone());
        let request = async_graphql::Request::new(example.query).variables(variables);
        let response = here.execute(&dashboard, request).await;
        let answer = serde_json::to_value(&response)?;
        let verdict = if response.errors.is_empty() {
            (example.check)(&answer["data"])
        } else {
            Err(format!("errors: {}", json!(response.errors)))
        };
        println!("── {}", example.question);
        println!("{}", example.query.trim());
        if example.variables != json!({}) {
            println!("variables: {}", example.variables);
        }
        println!("{}", serde_json::to_string_pretty(&answer["data"])?);
        match verdict {
            Ok(()) => println!("✓ answer checked\n"),
            Err(why) => {
                all_ok = false;
                println!("✗ WRONG ANSWER: {why}\n");
            }
        }
    }
    Ok(all_ok)
}

/// The string at `pointer` in the answer to `{ <selection> }`, or "".
async fn first(
    app: &App,
    identity: &Identity,
    selection: &str,
    pointer: &str,
) -> anyhow::Result<String> {
    let query = format!("{{ {selection} }}");
    let answer = serde_json::to_value(app.execute(identity, query.as_str()).await)?;
    Ok(answer["data"]
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

fn examples(
    search: &str,
    revoked: &str,
    their_certificate: &str,
    their_facility: &str,
    us: ProvinceCode,
    them: ProvinceCode,
) -> Vec<Example> {
    let them_code = them.to_string();
    let us_code = us.to_string();
    vec![
        Example {
            question: "Which provinces does this gateway serve and ask, and can it reach them?"
                .to_owned(),
            query: "{ provinces { province { code name } thisGateway reachable circuit } }",
            variables: json!({}),
            check: Box::new(move |data| {
                let provinces = non_empty(&data["provinces"])?;
                if provinces.len() != 2 {
                    return Err("expected this province and its partner".to_owned());
                }
                Ok(())
            }),
        },
        Example {
            question: format!(
                "Is certificate {their_certificate} of province {them} valid today? (its owner answers)"
            ),
            query: r#"
query Verify($number: String!) {
  verifyCertificate(number: $number) {
    number valid reason
    certificate { province { name } provenance { source fetchedAt } expiresOn facility { name address { commune district } } }
  }
}"#,
            variables: json!({ "number": their_certificate }),
            check: Box::new({
                let them_code = them_code.clone();
                move |data| {
                    let answer = &data["verifyCertificate"];
                    if answer["valid"] != json!(true) {
                        return Err("expected a valid certificate".to_owned());
                    }
                    let certificate = &answer["certificate"];
                    if certificate["provenance"]["source"] != json!("OWNER") {
                        return Err("not answered by its owner".to_owned());
                    }
                    match certificate["facility"]["name"].as_str() {
                        Some(name) if !name.is_empty() => {}
                        _ => {
                            return Err(format!(
                                "the facility of a province {them_code} certificate is missing"
                            ));
                        }
                    }
                    Ok(())
                }
            }),
        },
        Example {
            question:
                "Which OCOP products of 4 stars or more, from both provinces, hold a valid rating?"
                    .to_owned(),
            query: r#"
{
  products(filter: { minStars: 4 }, scope: ALL, first: 100) {
    edges { node { name province { code name } ocop { stars expiresOn valid } facility { name certificates(first: 1) { edges { node { number status } } } } } }
  }
}"#,
            variables: json!({}),
            check: Box::new({
                let (us_code, them_code) = (us_code.clone(), them_code.clone());
                move |data| {
                    let edges = non_empty(&data["products"]["edges"])?;
                    let mut provinces = std::collections::BTreeSet::new();
                    for edge in edges {
                        let node = &edge["node"];
                        if node["ocop"]["stars"].as_i64().unwrap_or(0) < 4
                            || node["ocop"]["valid"] != json!(true)
                        {
                            return Err(format!("{} is not a valid 4-star product", node["name"]));
                        }
                        provinces.insert(
                            node["province"]["code"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                    if !provinces.contains(&us_code) || !provinces.contains(&them_code) {
                        return Err(format!(
                            "expected products of both provinces, got {provinces:?}"
                        ));
                    }
                    Ok(())
                }
            }),
        },
        Example {
            question: format!(
                "Who inspected each stage of the chain of facility {their_facility}?"
            ),
            query: r#"
query Chain($facility: ID!) {
  facility(id: $facility) { name province { name } }
  inspections(filter: { facilityId: $facility }, scope: ALL) {
    edges { node { stage inspectedOn result inspectingProvince { code name } findings } }
  }
}"#,
            variables: json!({ "facility": their_facility }),
            check: Box::new(move |data| {
                non_empty(&data["inspections"]["edges"])?;
                if data["facility"]["name"].as_str().is_none() {
                    return Err("the facility is missing".to_owned());
                }
                Ok(())
            }),
        },
        Example {
            question: format!(
                "Which of our facilities match \"{search}\", ignoring case and diacritics?"
            ),
            query: r#"
query Search($text: String!) {
  facilities(filter: { text: $text }, scope: LOCAL, first: 3) {
    edges { node { id name kind address { commune district } } }
  }
}"#,
            variables: json!({ "text": search }),
            check: Box::new({
                let search = search.to_owned();
                move |data| {
                    for edge in non_empty(&data["facilities"]["edges"])? {
                        let node = &edge["node"];
                        let text = crate::domain::text::fold(&format!(
                            "{} {} {}",
                            node["name"], node["address"]["commune"], node["address"]["district"]
                        ));
                        if !search.split(' ').all(|word| text.contains(word)) {
                            return Err(format!("{} does not match", node["name"]));
                        }
                    }
                    Ok(())
                }
            }),
        },
        Example {
            question: format!("Is our certificate {revoked} valid today, and if not, why?"),
            query: r#"
query Verify($number: String!) {
  verifyCertificate(number: $number) {
    number valid reason
    certificate { statusReason history { status effectiveOn reason } }
  }
}"#,
            variables: json!({ "number": revoked }),
            check: Box::new(|data| {
                let answer = &data["verifyCertificate"];
                if answer["valid"] != json!(false) || answer["reason"] != json!("REVOKED") {
                    return Err("expected valid = false, reason = REVOKED".to_owned());
                }
                Ok(())
            }),
        },
    ]
}

fn non_empty(value: &Value) -> Result<&Vec<Value>, String> {
    match value {
        Value::Array(items) if !items.is_empty() => Ok(items),
        other => Err(format!("expected a non-empty list, got {other}")),
    }
}
