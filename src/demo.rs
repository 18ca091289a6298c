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
use crate::seed::{flagship_product, province_name, search_example};
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
        let (ok, _) = ask(here, &dashboard, &example).await?;
        all_ok &= ok;
    }
    let alerted = alert_story(here, there).await?;
    let attended = attention_story(here, there).await?;
    let traced = trace_story(here, there).await?;
    let marketed = market_story(here, there).await?;
    Ok(fair_story(here, there).await? && marketed && traced && attended && alerted && all_ok)
}

/// A trade fair across the border, as in 2024: `here` hosts "Kết nối cùng
/// phát triển – Link to grow" (on Võ Nguyên Giáp square, when `here` is
/// Thái Nguyên); `there` registers 4 booths for 6 of its businesses that
/// supply `here`, with their 3- and 4-star products. The host checks each
/// product with `there`, its owner, keeps the eligible ones and says why
/// it refused the rest; then it lists the booths, each product judged now.
async fn fair_story(here: &App, there: &App) -> anyhow::Result<bool> {
    let (us, them) = (here.store().province(), there.store().province());
    let operator = Identity::local(us, Role::Operator);
    let their_operator = Identity::local(them, Role::Operator);
    let place = match us.to_string().as_str() {
        "19" => "Quảng trường Võ Nguyên Giáp, thành phố Thái Nguyên".to_owned(),
        _ => format!(
            "Trung tâm hội chợ tỉnh {}",
            province_name(us).unwrap_or_default()
        ),
    };
    let day = |days| (crate::domain::today() + chrono::Duration::days(days)).to_string();
    let host = Example {
        question: format!("Province {us} hosts a trade fair of OCOP products"),
        query: r#"
mutation Fair($input: CreateTradeFairInput!) {
  createTradeFair(input: $input) { id name place startsOn endsOn booths minStars registrationDeadline open }
}"#,
        variables: json!({ "input": {
            "name": "Kết nối cùng phát triển – Link to grow", "place": place,
            "startsOn": day(30), "endsOn": day(34), "booths": 120, "registrationDeadline": day(20),
        } }),
        check: Box::new(|data| match data["createTradeFair"]["minStars"].as_i64() {
            Some(3) => Ok(()),
            other => Err(format!("expected three stars at least, got {other:?}")),
        }),
    };
    let (mut ok, hosted) = ask(here, &operator, &host).await?;
    let fair = hosted["createTradeFair"]["id"].clone();
    // Six businesses of `there` supplying `us`, each with a 3- or 4-star
    // product.
    let rated = first_json(
        there,
        &their_operator,
        &format!("products(filter: {{ minStars: 3, suppliesTo: \"{us}\" }}, scope: LOCAL, first: 100) {{ edges {{ node {{ id facilityId ocop {{ stars }} }} }} }}"),
        "/products/edges",
    )
    .await?;
    let mut exhibitors: Vec<Value> = Vec::new();
    for edge in rated.as_array().into_iter().flatten() {
        let node = &edge["node"];
        let stars = node["ocop"]["stars"].as_i64().unwrap_or_default();
        if exhibitors.len() == 6
            || !(3..=4).contains(&stars)
            || exhibitors
                .iter()
                .any(|e| e["facilityId"] == node["facilityId"])
        {
            continue;
        }
        exhibitors.push(json!({ "facilityId": node["facilityId"], "productIds": [node["id"]] }));
    }
    let register = Example {
        question: format!(
            "Province {them} registers 4 booths for {} of its businesses; province {us} checks each product with its owner",
            exhibitors.len()
        ),
        query: r#"
mutation Booths($input: RegisterBoothsInput!) {
  registerBooths(input: $input) {
    registration { id province { code } exhibiting { code } booths exhibitors { facilityId productIds } }
    refused { productId code reason }
  }
}"#,
        variables: json!({ "input": { "fairId": fair, "booths": 4, "exhibitors": exhibitors } }),
        check: Box::new(move |data| {
            let answered = &data["registerBooths"];
            if answered["registration"]["province"]["code"] != json!(us.to_string()) {
                return Err(format!("province {us} kept no registration"));
            }
            let told = answered["refused"].as_array().is_some_and(|refused| {
                refused
                    .iter()
                    .all(|r| r["code"].is_string() && r["reason"].is_string())
            });
            if !told {
                return Err("a refused product has no code or no reason".to_owned());
            }
            Ok(())
        }),
    };
    ok &= ask(there, &their_operator, &register).await?.0;
    let listed = Example {
        question: format!(
            "Province {us} lists the fair's booths, each product judged now by its owner"
        ),
        query: r#"
query Booths($id: ID!) {
  node(id: $id) {
    ... on TradeFair {
      name boothsTaken boothsLeft
      registrations { edges { node { exhibiting { code } booths
        products { facility { name } product { name ocop { stars } } eligible code reason } } } }
    }
  }
}"#,
        variables: json!({ "id": fair }),
        check: Box::new(|data| {
            let registrations = non_empty(&data["node"]["registrations"]["edges"])?;
            let products = non_empty(&registrations[0]["node"]["products"])?;
            if data["node"]["boothsTaken"] != json!(4) {
                return Err("4 booths should be taken".to_owned());
            }
            if !products.iter().any(|p| p["eligible"] == json!(true)) {
                return Err("no product may be shown".to_owned());
            }
            Ok(())
        }),
    };
    ok &= ask(here, &Identity::local(us, Role::Dashboard), &listed)
        .await?
        .0;
    Ok(ok)
}

/// A harvest that needs buyers: a cooperative of `there` offers its
/// flagship product (cam Vinh, when `there` is Nghệ An) as urgent; `here`
/// is told at once, finds the offer among both provinces', and one of its
/// traders registers interest through its own gateway; `there` accepts,
/// and `here` follows the answer, live from the offer's owner.
async fn market_story(here: &App, there: &App) -> anyhow::Result<bool> {
    let (us, them) = (here.store().province(), there.store().province());
    let (operator, dashboard) = (
        Identity::local(us, Role::Operator),
        Identity::local(us, Role::Dashboard),
    );
    let their_operator = Identity::local(them, Role::Operator);
    let product_name = flagship_product(them).unwrap_or("");
    let folded = crate::domain::text::fold(product_name);
    let product = first_json(
        there,
        &their_operator,
        &format!("products(filter: {{ text: \"{folded}\" }}, scope: LOCAL, first: 1) {{ edges {{ node {{ id facilityId }} }} }}"),
        "/products/edges/0/node",
    )
    .await?;
    let trader = first(
        here,
        &operator,
        "facilities(filter: { kind: TRADER }, scope: LOCAL, first: 1) { edges { node { id } } }",
        "/facilities/edges/0/node/id",
    )
    .await?;
    let day = |days| (crate::domain::today() + chrono::Duration::days(days)).to_string();
    let sent = there.notices_sent();
    let before = sent.borrow().delivered;
    let offer = Example {
        question: format!(
            "A cooperative of province {them} cannot sell its {product_name} harvest: an urgent offer"
        ),
        query: r#"
mutation Offer($input: CreateHarvestOfferInput!) {
  createHarvestOffer(input: $input) { id productName category certified urgent status quantity unit minPriceVnd maxPriceVnd }
}"#,
        variables: json!({ "input": {
            "facilityId": product["facilityId"], "productId": product["id"],
            "quantity": 20000.0, "unit": "KILOGRAM", "harvestFrom": day(2), "harvestUntil": day(20),
            "minPriceVnd": 15000, "maxPriceVnd": 22000, "collectionPoint": "Kho hợp tác xã, xã Minh Hợp",
            "urgent": true, "contact": { "name": "Nguyễn Văn Minh", "phone": "0912345678" },
            "contactShared": true,
        } }),
        check: Box::new(|data| {
            match (
                &data["createHarvestOffer"]["urgent"],
                &data["createHarvestOffer"]["status"],
            ) {
                (Value::Bool(true), Value::String(status)) if status == "OPEN" => Ok(()),
                other => Err(format!("expected an open urgent offer, got {other:?}")),
            }
        }),
    };
    let (mut ok, offered) = ask(there, &their_operator, &offer).await?;
    let offer_id = offered["createHarvestOffer"]["id"].clone();
    ok &= delivered(sent, before, "the urgent offer", us).await;
    let told = Example {
        question: format!(
            "Province {us}'s dashboards see it on the market's live feed, and among both provinces' offers"
        ),
        query: r#"
query Market($text: String) {
  marketEvents(first: 100) { edges { node { kind offerId offer { productName province { code } } } } }
  harvestOffers(scope: ALL, filter: { urgent: true, text: $text }) {
    edges { node { id productName facilityName province { code } certified harvestFrom harvestUntil contact { name phone } } }
  }
}"#,
        variables: json!({ "text": folded }),
        check: Box::new({
            let offer_id = offer_id.clone();
            move |data| {
                let events = non_empty(&data["marketEvents"]["edges"])?;
                if !events.iter().any(|e| {
                    e["node"]["kind"] == json!("OFFER_RECEIVED") && e["node"]["offerId"] == offer_id
                }) {
                    return Err("the feed does not tell of the offer".to_owned());
                }
                let offers = non_empty(&data["harvestOffers"]["edges"])?;
                match offers.iter().find(|e| e["node"]["id"] == offer_id) {
                    Some(e) if e["node"]["province"]["code"] == json!(them.to_string()) => Ok(()),
                    _ => Err(format!("the offer of province {them} is not listed")),
                }
            }
        }),
    };
    ok &= ask(here, &dashboard, &told).await?.0;
    let interest = Example {
        question: format!(
            "A trader of province {us} registers interest through its own gateway; province {them} keeps it"
        ),
        query: r#"
mutation Interest($input: RegisterInterestInput!) {
  registerInterest(input: $input) { id province { code } buyerProvince { code } state quantity }
}"#,
        variables: json!({ "input": {
            "offerId": offer_id, "facilityId": trader, "quantity": 5000.0,
            "message": "Lấy 5 tấn, tự vận chuyển", "contact": { "name": "Trần Thị Hoa", "phone": "0988111222" },
        } }),
        check: Box::new(
            move |data| match data["registerInterest"]["province"]["code"].as_str() {
                Some(code) if code == them.to_string() => Ok(()),
                other => Err(format!(
                    "expected province {them} to keep it, got {other:?}"
                )),
            },
        ),
    };
    let (registered, kept) = ask(here, &operator, &interest).await?;
    ok &= registered;
    let accept = Example {
        question: format!("The cooperative of province {them} accepts"),
        query: r#"
mutation Accept($id: ID!) {
  answerInterest(id: $id, version: 1, state: ACCEPTED, answer: "Mời anh chị đến kho ngày mai") { state buyerFacility { name } contact { name } }
}"#,
        variables: json!({ "id": kept["registerInterest"]["id"] }),
        check: Box::new(|data| match data["answerInterest"]["state"].as_str() {
            Some("ACCEPTED") => Ok(()),
            other => Err(format!("expected ACCEPTED, got {other:?}")),
        }),
    };
    ok &= ask(there, &their_operator, &accept).await?.0;
    let followed = Example {
        question: format!("Province {us} follows its interest, as province {them} answers it now"),
        query: r#"
query Followed {
  interests(scope: PARTNERS) { edges { node { state answer offer { productName } } } }
}"#,
        variables: json!({}),
        check: Box::new(|data| {
            let interests = non_empty(&data["interests"]["edges"])?;
            match interests[0]["node"]["state"].as_str() {
                Some("ACCEPTED") => Ok(()),
                other => Err(format!("expected ACCEPTED, got {other:?}")),
            }
        }),
    };
    ok &= ask(here, &dashboard, &followed).await?.0;
    Ok(ok)
}

/// Traceability across the border: a producer of `here`'s flagship product
/// (chè Tân Cương, when `here` is Thái Nguyên) harvests a lot, packs it and
/// ships it to a shop of `there`, which records its receipt and a sale;
/// each end traces the lot, every hop answered by the province that holds it.
async fn trace_story(here: &App, there: &App) -> anyhow::Result<bool> {
    let (us, them) = (here.store().province(), there.store().province());
    let operator = Identity::local(us, Role::Operator);
    let their_operator = Identity::local(them, Role::Operator);
    let product_name = flagship_product(us).unwrap_or("");
    let product = first_json(
        here,
        &operator,
        &format!(
            "products(filter: {{ text: \"{}\" }}, scope: LOCAL, first: 1) {{ edges {{ node {{ id facilityId }} }} }}",
            crate::domain::text::fold(product_name)
        ),
        "/products/edges/0/node",
    )
    .await?;
    let shop = first(
        there,
        &their_operator,
        "facilities(filter: { kind: TRADER }, scope: LOCAL, first: 1) { edges { node { id } } }",
        "/facilities/edges/0/node/id",
    )
    .await?;
    let yesterday = (crate::domain::today() - chrono::Duration::days(1)).to_string();
    let harvest = Example {
        question: format!("A producer of province {us} harvests a lot of {product_name}"),
        query: r#"
mutation Harvest($input: CreateLotInput!) {
  createLot(input: $input) { code epc quantity unit producedOn facility { name } }
}"#,
        variables: json!({ "input": {
            "productId": product["id"], "facilityId": product["facilityId"],
            "quantity": 500.0, "unit": "KILOGRAM", "producedOn": yesterday, "batch": "VỤ-ĐÔNG-01",
        } }),
        check: Box::new(move |data| match data["createLot"]["code"].as_str() {
            Some(code) if code.starts_with(&format!("{us}-LO-")) => Ok(()),
            other => Err(format!(
                "expected a lot code of province {us}, got {other:?}"
            )),
        }),
    };
    let (mut ok, harvested) = ask(here, &operator, &harvest).await?;
    let fresh = harvested["createLot"]["code"].clone();
    let pack = Example {
        question: format!(
            "It dries and packs the leaves into a lot for sale, and ships that to a shop of province {them}"
        ),
        query: r#"
mutation Pack($events: [TraceEventInput!]!) {
  recordTraceEvents(input: $events) { eventType bizStep items { role lotCode quantity unit } destinationId }
}"#,
        variables: json!({ "events": [
            { "bizStep": "COMMISSIONING", "facilityId": product["facilityId"],
              "inputs": [{ "lotCode": fresh, "quantity": 500.0, "unit": "KILOGRAM" }],
              "makes": [{ "productId": product["id"], "quantity": 100.0, "unit": "KILOGRAM",
                          "producedOn": crate::domain::today().to_string() }] },
        ] }),
        check: Box::new(|data| {
            let made = data["recordTraceEvents"][0]["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["role"] == json!("OUTPUT")));
            if made {
                Ok(())
            } else {
                Err("the packing made no lot".to_owned())
            }
        }),
    };
    let (packed_ok, packed) = ask(here, &operator, &pack).await?;
    ok &= packed_ok;
    let packed_code = packed["recordTraceEvents"][0]["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["role"] == json!("OUTPUT")))
        .map(|item| item["lotCode"].clone())
        .unwrap_or_default();
    let ship = Example {
        question: format!("The packed lot leaves for province {them}"),
        query: r#"
mutation Ship($events: [TraceEventInput!]!) {
  recordTraceEvents(input: $events) { bizStep disposition destinationId }
}"#,
        variables: json!({ "events": [
            { "bizStep": "SHIPPING", "disposition": "IN_TRANSIT", "facilityId": product["facilityId"],
              "destinationId": shop, "items": [{ "lotCode": packed_code, "quantity": 100.0, "unit": "KILOGRAM" }] },
        ] }),
        check: Box::new(
            |data| match data["recordTraceEvents"][0]["bizStep"].as_str() {
                Some("SHIPPING") => Ok(()),
                other => Err(format!("expected SHIPPING, got {other:?}")),
            },
        ),
    };
    ok &= ask(here, &operator, &ship).await?.0;
    let receive = Example {
        question: format!("The shop of province {them} receives the lot and sells from it"),
        query: r#"
mutation Receive($events: [TraceEventInput!]!) {
  recordTraceEvents(input: $events) { province { code } bizStep sourceId }
}"#,
        variables: json!({ "events": [
            { "bizStep": "RECEIVING", "disposition": "SELLABLE_ACCESSIBLE", "facilityId": shop,
              "sourceId": product["facilityId"], "items": [{ "lotCode": packed_code }] },
            { "bizStep": "RETAIL_SELLING", "disposition": "RETAIL_SOLD", "facilityId": shop,
              "items": [{ "lotCode": packed_code, "quantity": 2.0, "unit": "KILOGRAM" }] },
        ] }),
        check: Box::new(|data| match data["recordTraceEvents"].as_array() {
            Some(events) if events.len() == 2 => Ok(()),
            _ => Err("expected the receipt and the sale".to_owned()),
        }),
    };
    ok &= ask(there, &their_operator, &receive).await?.0;
    // Each end traces the lot; every hop is answered by its holder.
    let query = r#"
query Trace($code: String!, $direction: TraceDirection) {
  trace(lotCode: $code, direction: $direction) {
    hops truncated
    lots { code province { code } product { name } }
    events { province { code } bizStep eventTime facility { name } provenance { source } items { role lotCode } }
    unfollowed { province { code } lotCode reason }
  }
}"#;
    let whole = move |data: &Value| {
        let events = non_empty(&data["trace"]["events"])?;
        let seen: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["bizStep"].as_str().unwrap_or_default().to_owned(),
                    e["province"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        for (step, province) in [
            ("COMMISSIONING", us),
            ("SHIPPING", us),
            ("RECEIVING", them),
            ("RETAIL_SELLING", them),
        ] {
            if !seen.contains(&(step.to_owned(), province.to_string())) {
                return Err(format!("no {step} of province {province} in the trace"));
            }
        }
        if data["trace"]["unfollowed"] != json!([]) {
            return Err("a hop was not followed".to_owned());
        }
        Ok(())
    };
    let forward = Example {
        question: format!(
            "Province {us} traces its harvest forward: every hop, each from the province that holds it"
        ),
        query,
        variables: json!({ "code": fresh, "direction": "FORWARD" }),
        check: Box::new(whole),
    };
    ok &= ask(here, &Identity::local(us, Role::Dashboard), &forward)
        .await?
        .0;
    let backward = Example {
        question: format!(
            "Province {them} traces the lot on its shelf back to the harvest in province {us}"
        ),
        query,
        variables: json!({ "code": packed_code, "direction": "BACKWARD" }),
        check: Box::new(whole),
    };
    ok &= ask(there, &Identity::local(them, Role::Dashboard), &backward)
        .await?
        .0;
    let export = Example {
        question: "The same trace as a GS1 EPCIS 2.0 document, and who supervises each stage of the chain under the agreement"
            .to_owned(),
        query: r#"
query Supervision($code: String!) {
  trace(lotCode: $code, direction: BACKWARD) { epcis }
  supplyChain(lotCode: $code) {
    facilities { facility { name } stage responsible { code name } latestInspection { inspectedOn result } overdue }
  }
}"#,
        variables: json!({ "code": packed_code }),
        check: Box::new(move |data| {
            let events = non_empty(&data["trace"]["epcis"]["epcisBody"]["eventList"])?;
            if data["trace"]["epcis"]["type"] != json!("EPCISDocument") || events.len() < 4 {
                return Err("the EPCIS document does not hold the trace".to_owned());
            }
            let facilities = non_empty(&data["supplyChain"]["facilities"])?;
            let holds = |stage: &str, province: ProvinceCode| {
                facilities.iter().any(|f| {
                    f["stage"] == json!(stage)
                        && f["responsible"]["code"] == json!(province.to_string())
                })
            };
            if !holds("TRADING", them) {
                return Err(format!(
                    "province {them} does not supervise the shop's trading"
                ));
            }
            if !facilities
                .iter()
                .any(|f| f["responsible"]["code"] == json!(us.to_string()))
            {
                return Err(format!(
                    "province {us} supervises nothing of its own producer"
                ));
            }
            Ok(())
        }),
    };
    ok &= ask(there, &Identity::local(them, Role::Dashboard), &export)
        .await?
        .0;
    Ok(ok)
}

/// Asks `example` of `app` as `identity`, prints the question and the answer,
/// and says whether the answer was right; returns the answer's `data`.
async fn ask(app: &App, identity: &Identity, example: &Example) -> anyhow::Result<(bool, Value)> {
    let variables = Variables::from_json(example.variables.clone());
    let request = async_graphql::Request::new(example.query).variables(variables);
    let response = app.execute(identity, request).await;
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
    let ok = match verdict {
        Ok(()) => {
            println!("✓ answer checked\n");
            true
        }
        Err(why) => {
            println!("✗ WRONG ANSWER: {why}\n");
            false
        }
    };
    Ok((ok, answer["data"].clone()))
}

/// A rapid alert across the border: `here` finds a pesticide residue in a
/// product of `there` (cam Vinh, when `there` is Nghệ An) sold at one of its
/// markets, raises the alert and notifies it; `there` receives it, lists
/// the inspection of the source asked of it, and answers it; `here` reads
/// the thread and the requests, answered.
async fn alert_story(here: &App, there: &App) -> anyhow::Result<bool> {
    let (us, them) = (here.store().province(), there.store().province());
    let operator = Identity::local(us, Role::Operator);
    let their_operator = Identity::local(them, Role::Operator);
    let their_dashboard = Identity::local(them, Role::Dashboard);
    let product_name = flagship_product(them).unwrap_or("");
    let product = first(
        there,
        &their_dashboard,
        &format!("products(filter: {{ text: \"{}\" }}, scope: LOCAL, first: 1) {{ edges {{ node {{ id }} }} }}", crate::domain::text::fold(product_name)),
        "/products/edges/0/node/id",
    )
    .await?;
    let market = first(
        here,
        &Identity::local(us, Role::Dashboard),
        "facilities(filter: { kind: TRADER }, scope: LOCAL, first: 1) { edges { node { id } } }",
        "/facilities/edges/0/node/id",
    )
    .await?;
    let raise = Example {
        question: format!(
            "An operator of province {us} raises an alert: pesticide residue in {product_name} of province {them}, sold at one of our markets"
        ),
        query: r#"
mutation Raise($input: AlertInput!) {
  raiseAlert(input: $input) { id version status provincesConcerned { code name } }
}"#,
        variables: json!({ "input": {
            "classification": "ALERT",
            "risk": "SERIOUS",
            "basis": "OFFICIAL_CONTROL",
            "subject": format!("Dư lượng chlorpyrifos vượt mức trên {product_name}"),
            "description": "Mẫu lấy tại chợ trong đợt kiểm tra định kỳ có dư lượng chlorpyrifos vượt giới hạn tối đa cho phép.",
            "hazards": [{ "category": "PESTICIDE_RESIDUE", "agent": "Chlorpyrifos",
                          "result": 0.52, "unit": "mg/kg", "legalLimit": 0.01 }],
            "measures": [{ "kind": "WITHDRAWAL", "detail": "Thu hồi lô hàng tại chợ" }],
            "productIds": [product],
            "facilityIds": [market],
        } }),
        check: Box::new({
            let them = them.to_string();
            move |data| {
                let alert = &data["raiseAlert"];
                let concerned = non_empty(&alert["provincesConcerned"])?;
                if !concerned.iter().any(|p| p["code"] == json!(them)) {
                    return Err(format!(
                        "province {them}, the product's owner, is not concerned"
                    ));
                }
                Ok(())
            }
        }),
    };
    let sent = here.notices_sent();
    let delivered_before = sent.borrow().delivered;
    // Where the partner's live feed of alert events stands before the story.
    let since = last_event(there, &their_dashboard).await?;
    let (mut ok, raised) = ask(here, &operator, &raise).await?;
    let alert = raised["raiseAlert"].clone();
    let notify = Example {
        question: "The operator notifies it to the provinces concerned".to_owned(),
        query: r#"
mutation Notify($id: ID!, $version: Int!) {
  changeAlertStatus(id: $id, version: $version, status: NOTIFIED) { id status notifiedAt }
}"#,
        variables: json!({ "id": alert["id"], "version": alert["version"] }),
        check: Box::new(|data| match data["changeAlertStatus"]["status"].as_str() {
            Some("NOTIFIED") => Ok(()),
            other => Err(format!("expected NOTIFIED, got {other:?}")),
        }),
    };
    ok &= ask(here, &operator, &notify).await?.0;
    // The deliverer tells the partner through its outbox.
    ok &= delivered(sent, delivered_before, "the notice", them).await;
    let acknowledge = Example {
        question: format!("Province {them} received the notice; an operator acknowledges it"),
        query: r#"
mutation Acknowledge($id: ID!) {
  acknowledgeAlert(alertId: $id) { alertId receivedAt acknowledgedAt alert { subject province { name } } }
}"#,
        variables: json!({ "id": alert["id"] }),
        check: Box::new(
            |data| match data["acknowledgeAlert"]["acknowledgedAt"].as_str() {
                Some(_) => Ok(()),
                None => Err("not acknowledged".to_owned()),
            },
        ),
    };
    ok &= ask(there, &their_operator, &acknowledge).await?.0;
    let received = Example {
        question: format!("Province {them} sees the alert, read live from province {us}"),
        query: r#"
query Received($id: ID!) {
  node(id: $id) {
    ... on Alert { subject status risk province { name } provenance { source }
                   hazards { agent result unit legalLimit } products { name facility { name } } }
  }
}"#,
        variables: json!({ "id": alert["id"] }),
        check: Box::new(|data| {
            let alert = &data["node"];
            if alert["status"] != json!("NOTIFIED")
                || alert["provenance"]["source"] != json!("OWNER")
            {
                return Err("expected the notified alert from its owner".to_owned());
            }
            non_empty(&alert["products"])?;
            Ok(())
        }),
    };
    ok &= ask(there, &their_dashboard, &received).await?.0;
    let work = Example {
        question: format!(
            "Province {them} lists the inspections asked of it: the agreement gives it the stages of production"
        ),
        query: r#"
query Work($filter: InspectionRequestFilterInput) {
  inspectionRequests(scope: ALL, filter: $filter) {
    edges { node { id province { code } facilityId facility { name } stage dueOn state } }
  }
}"#,
        variables: json!({ "filter": { "alertId": alert["id"], "assignee": them.to_string(), "state": "OPEN" } }),
        check: Box::new(|data| {
            let edges = non_empty(&data["inspectionRequests"]["edges"])?;
            if edges.iter().all(|e| e["node"]["stage"] == json!("TRADING")) {
                return Err("no request for a stage of production".to_owned());
            }
            Ok(())
        }),
    };
    let (listed, work) = ask(there, &their_dashboard, &work).await?;
    ok &= listed;
    let requests = work["inspectionRequests"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let request = requests
        .iter()
        .map(|e| &e["node"])
        .find(|r| r["stage"] != json!("TRADING"))
        .cloned()
        .unwrap_or_default();
    let sent_back = there.notices_sent();
    let answered_before = sent_back.borrow().delivered;
    let inspect = Example {
        question: format!(
            "An inspector of province {them} records the inspection at the source, answering the request"
        ),
        query: r#"
mutation Inspect($input: RecordInspectionInput!) {
  recordInspection(input: $input) { id stage result findings }
}"#,
        variables: json!({ "input": {
            "facilityId": request["facilityId"],
            "stage": request["stage"],
            "inspectedOn": crate::domain::today().to_string(),
            "result": "FAIL",
            "findings": "Lấy mẫu tại vườn: dư lượng chlorpyrifos 0,48 mg/kg; cơ sở đã ngừng thu hoạch và tạm giữ 2 tấn chưa xuất bán.",
            "answersRequestId": request["id"],
        } }),
        check: Box::new(|data| match data["recordInspection"]["id"].as_str() {
            Some(_) => Ok(()),
            None => Err("no inspection".to_owned()),
        }),
    };
    ok &= ask(there, &their_operator, &inspect).await?.0;
    // Its follow-up goes back to the alert's owner through its outbox.
    ok &= delivered(sent_back, answered_before, "the answer", us).await;
    let thread = Example {
        question: format!(
            "The alert as province {us} reads it: each follow-up from the province that wrote it, and the inspections asked, answered"
        ),
        query: r#"
query Thread($id: ID!) {
  node(id: $id) {
    ... on Alert { version subject status provincesConcerned { code }
                   deliveries { province { code } state attempts deliveredAt acknowledgedAt }
                   followUps { edges { node { province { code name } findings results answersRequestId } } }
                   inspectionRequests { edges { node { stage assignee { code } dueOn state } } }
                   earlierAlerts { id subject } }
  }
}"#,
        variables: json!({ "id": alert["id"] }),
        check: Box::new({
            let them = them.to_string();
            move |data| {
                let deliveries = non_empty(&data["node"]["deliveries"])?;
                if deliveries[0]["state"] != json!("DELIVERED")
                    || !deliveries[0]["acknowledgedAt"].is_string()
                {
                    return Err(format!(
                        "the notice to province {them} was not delivered and acknowledged"
                    ));
                }
                let edges = non_empty(&data["node"]["followUps"]["edges"])?;
                if !edges
                    .iter()
                    .any(|e| e["node"]["province"]["code"] == json!(them))
                {
                    return Err(format!("province {them}'s follow-up is missing"));
                }
                let requests = non_empty(&data["node"]["inspectionRequests"]["edges"])?;
                if !requests.iter().any(|e| {
                    e["node"]["assignee"]["code"] == json!(them)
                        && e["node"]["state"] == json!("ANSWERED")
                }) {
                    return Err(format!("province {them}'s request is not answered"));
                }
                Ok(())
            }
        }),
    };
    let (read, thread) = ask(here, &Identity::local(us, Role::Dashboard), &thread).await?;
    ok &= read;
    let sent = here.notices_sent();
    let closed_before = sent.borrow().delivered;
    let close = Example {
        question: format!(
            "The source found and the lot destroyed, province {us} closes the alert; province {them} is told"
        ),
        query: r#"
mutation Close($id: ID!, $version: Int!) {
  changeAlertStatus(id: $id, version: $version, status: CLOSED,
                    reason: "Đã xác định nguồn gốc; lô hàng đã được tiêu huỷ") { status statusReason }
}"#,
        variables: json!({ "id": alert["id"], "version": thread["node"]["version"] }),
        check: Box::new(|data| match data["changeAlertStatus"]["status"].as_str() {
            Some("CLOSED") => Ok(()),
            other => Err(format!("expected CLOSED, got {other:?}")),
        }),
    };
    ok &= ask(here, &operator, &close).await?.0;
    ok &= delivered(sent, closed_before, "the closing", them).await;
    let feed = Example {
        question: format!(
            "What province {them}'s dashboards saw live of it (subscription alertEvents over graphql-transport-ws; here, the same events as a page)"
        ),
        query: r#"
query Feed($after: String) {
  alertEvents(after: $after, first: 100) { edges { node { kind alertId recordId at } } }
}"#,
        variables: json!({ "after": since }),
        check: Box::new({
            let alert = alert["id"].clone();
            move |data| {
                let edges = non_empty(&data["alertEvents"]["edges"])?;
                let seen: Vec<&Value> = edges
                    .iter()
                    .filter(|e| e["node"]["alertId"] == alert)
                    .map(|e| &e["node"]["kind"])
                    .collect();
                for kind in [
                    "RECEIVED",
                    "REQUEST_ASSIGNED",
                    "ACKNOWLEDGED",
                    "FOLLOWED_UP",
                    "CLOSED",
                ] {
                    if !seen.contains(&&json!(kind)) {
                        return Err(format!("no {kind} event for the alert"));
                    }
                }
                Ok(())
            }
        }),
    };
    ok &= ask(there, &their_dashboard, &feed).await?.0;
    Ok(ok)
}

/// The cursor of the last alert event `app` has committed, if any.
async fn last_event(app: &App, identity: &Identity) -> anyhow::Result<Value> {
    let mut after = Value::Null;
    loop {
        let query = async_graphql::Request::new(
            "query($after: String) { alertEvents(after: $after, first: 100) { pageInfo { hasNextPage endCursor } } }",
        )
        .variables(Variables::from_json(json!({ "after": after })));
        let answer = serde_json::to_value(app.execute(identity, query).await)?;
        let page = &answer["data"]["alertEvents"]["pageInfo"];
        if !page["endCursor"].is_null() {
            after = page["endCursor"].clone();
        }
        if page["hasNextPage"] != json!(true) {
            return Ok(after);
        }
    }
}

/// A certificate withdrawn across the border: `there` suspends the
/// certificate of one of its facilities that supplies `here`, which is told
/// for its attention, as it would be of an alert.
async fn attention_story(here: &App, there: &App) -> anyhow::Result<bool> {
    let (us, them) = (here.store().province(), there.store().province());
    let certificate = first_json(
        there,
        &Identity::local(them, Role::Dashboard),
        &format!(
            "certificates(filter: {{ status: ACTIVE, suppliesTo: \"{us}\" }}, scope: LOCAL, first: 1) \
             {{ edges {{ node {{ id version number }} }} }}"
        ),
        "/certificates/edges/0/node",
    )
    .await?;
    let sent = there.notices_sent();
    let before = sent.borrow().delivered;
    let suspend = Example {
        question: format!(
            "An operator of province {them} suspends the certificate of a facility that supplies province {us}"
        ),
        query: r#"
mutation Suspend($id: ID!, $version: Int!, $on: Date!) {
  suspendCertificate(id: $id, version: $version, effectiveOn: $on,
                     reason: "Vi phạm điều kiện bảo quản; chờ khắc phục") { number status }
}"#,
        variables: json!({ "id": certificate["id"], "version": certificate["version"],
                           "on": crate::domain::today().to_string() }),
        check: Box::new(|data| match data["suspendCertificate"]["status"].as_str() {
            Some("SUSPENDED") => Ok(()),
            other => Err(format!("expected SUSPENDED, got {other:?}")),
        }),
    };
    let mut ok = ask(there, &Identity::local(them, Role::Operator), &suspend)
        .await?
        .0;
    ok &= delivered(sent, before, "the notice", us).await;
    let told = Example {
        question: format!(
            "Province {us} was told, for its attention, as of an alert of province {them}"
        ),
        query: r#"
query Told {
  alertNotices(acknowledged: false, first: 100) {
    edges { node { alertId receivedAt alert { classification subject facilities { name } } } }
  }
}"#,
        variables: json!({}),
        check: Box::new({
            let number = certificate["number"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            move |data| {
                let edges = non_empty(&data["alertNotices"]["edges"])?;
                let told = edges.iter().any(|e| {
                    let alert = &e["node"]["alert"];
                    alert["classification"] == json!("INFORMATION_FOR_ATTENTION")
                        && alert["subject"]
                            .as_str()
                            .is_some_and(|s| s.contains(&number))
                });
                if !told {
                    return Err(format!("no notice of the suspension of {number}"));
                }
                Ok(())
            }
        }),
    };
    ok &= ask(here, &Identity::local(us, Role::Dashboard), &told)
        .await?
        .0;
    Ok(ok)
}

/// Whether a gateway's deliverer, `sent`, delivers more than `before`
/// notices within ten seconds; says so when it does not.
async fn delivered(
    mut sent: tokio::sync::watch::Receiver<crate::deliver::Sent>,
    before: u64,
    what: &str,
    to: ProvinceCode,
) -> bool {
    let arrived = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sent.wait_for(|sent| sent.delivered > before),
    )
    .await;
    let ok = matches!(arrived, Ok(Ok(_)));
    if !ok {
        println!("✗ WRONG ANSWER: {what} did not reach province {to} within 10 s\n");
    }
    ok
}

/// The string at `pointer` in the answer to `{ <selection> }`, or "".
async fn first(
    app: &App,
    identity: &Identity,
    selection: &str,
    pointer: &str,
) -> anyhow::Result<String> {
    let found = first_json(app, identity, selection, pointer).await?;
    Ok(found.as_str().unwrap_or_default().to_owned())
}

/// The value at `pointer` in the answer to `{ <selection> }`, or null.
async fn first_json(
    app: &App,
    identity: &Identity,
    selection: &str,
    pointer: &str,
) -> anyhow::Result<Value> {
    let query = format!("{{ {selection} }}");
    let answer = serde_json::to_value(app.execute(identity, query.as_str()).await)?;
    Ok(answer["data"].pointer(pointer).cloned().unwrap_or_default())
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
