//! The examples `caunoi demo` shows: questions an officer would ask, sent through
//! the same execution path as HTTP requests, with their answers checked.

use async_graphql::Variables;
use serde_json::{Value, json};

use crate::app::App;
use crate::domain::Role;
use crate::seed::search_example;
use crate::server::identity::Identity;

/// Says whether an answer's `data` is right, and if not, why.
type Check = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One example: a question, its query, and what a right answer satisfies.
struct Example {
    question: String,
    query: &'static str,
    variables: Value,
    check: Check,
}

/// Runs the examples, prints each question and answer, and says whether every
/// answer was right.
pub async fn show(app: &App) -> anyhow::Result<bool> {
    // The examples are asked as a dashboard would: read only.
    let dashboard = Identity::local(app.store().province(), Role::Dashboard);
    let search = search_example(app.store().province()).unwrap_or("chè");
    let revoked = first_number(app, &dashboard, "REVOKED").await?;
    let active = first_number(app, &dashboard, "ACTIVE").await?;
    let mut all_ok = true;
    for example in examples(search, &revoked, &active) {
        let variables = Variables::from_json(example.variables.clone());
        let request = async_graphql::Request::new(example.query).variables(variables);
        let response = app.execute(&dashboard, request).await;
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

/// The number of the first certificate with `status`, or an empty string.
async fn first_number(app: &App, dashboard: &Identity, status: &str) -> anyhow::Result<String> {
    let query = format!(
        "{{ certificates(filter: {{ status: {status} }}, first: 1) {{ edges {{ node {{ number }} }} }} }}"
    );
    let answer = serde_json::to_value(app.execute(dashboard, query.as_str()).await)?;
    Ok(answer["data"]["certificates"]["edges"][0]["node"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

fn examples(search: &str, revoked: &str, active: &str) -> Vec<Example> {
    vec![
        Example {
            question: "Which province does this gateway serve?".to_owned(),
            query: "{ province { code name } }",
            variables: json!({}),
            check: Box::new(|data| match data["province"]["name"].as_str() {
                Some(name) if !name.is_empty() => Ok(()),
                _ => Err("the province has no name".to_owned()),
            }),
        },
        Example {
            question: format!("Which facilities match \"{search}\", ignoring case and diacritics?"),
            query: r#"
query Search($text: String!) {
  facilities(filter: { text: $text }, first: 3) {
    edges { node { id name kind address { commune district } } }
    pageInfo { hasNextPage endCursor }
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
            question: "Which OCOP products of 4 stars or more hold a valid rating?".to_owned(),
            query: r#"
{
  products(filter: { minStars: 4 }, first: 5) {
    edges { node { name category ocop { stars ratedOn expiresOn valid } facility { name } } }
  }
}"#,
            variables: json!({}),
            check: Box::new(|data| {
                for edge in non_empty(&data["products"]["edges"])? {
                    let ocop = &edge["node"]["ocop"];
                    if ocop["stars"].as_i64().unwrap_or(0) < 4 || ocop["valid"] != json!(true) {
                        return Err(format!(
                            "{} is not a valid 4-star product",
                            edge["node"]["name"]
                        ));
                    }
                }
                Ok(())
            }),
        },
        Example {
            question: "Which active certificates expire within the next 180 days?".to_owned(),
            query: r#"
{
  certificates(filter: { expiringWithinDays: 180 }, first: 3) {
    edges { node { number status expiresOn facility { name } } }
  }
}"#,
            variables: json!({}),
            check: Box::new(|data| {
                for edge in non_empty(&data["certificates"]["edges"])? {
                    if edge["node"]["status"] != json!("ACTIVE") {
                        return Err(format!("{} is not active", edge["node"]["number"]));
                    }
                }
                Ok(())
            }),
        },
        Example {
            question: format!("Is certificate {active} valid today?"),
            query: r#"
query Verify($number: String!) {
  verifyCertificate(number: $number) { number on valid reason certificate { facility { name } expiresOn } }
}"#,
            variables: json!({ "number": active }),
            check: Box::new(|data| verdict(data, true, Value::Null)),
        },
        Example {
            question: format!("Is certificate {revoked} valid today, and if not, why?"),
            query: r#"
query Verify($number: String!) {
  verifyCertificate(number: $number) {
    number on valid reason
    certificate { statusReason history { status effectiveOn reason } }
  }
}"#,
            variables: json!({ "number": revoked }),
            check: Box::new(|data| verdict(data, false, json!("REVOKED"))),
        },
    ]
}

fn verdict(data: &Value, valid: bool, reason: Value) -> Result<(), String> {
    let answer = &data["verifyCertificate"];
    if answer["valid"] != json!(valid) || answer["reason"] != reason {
        return Err(format!("expected valid = {valid}, reason = {reason}"));
    }
    Ok(())
}

fn non_empty(value: &Value) -> Result<&Vec<Value>, String> {
    match value {
        Value::Array(items) if !items.is_empty() => Ok(items),
        other => Err(format!("expected a non-empty list, got {other}")),
    }
}
