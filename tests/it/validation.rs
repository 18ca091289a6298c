//! Bad input gets INVALID_INPUT naming the field, and stores nothing.

use serde_json::{Value, json};

use caunoi::domain::Role;

use crate::helpers::{
    TestGateway, assert_code, assert_invalid, day, spawn_gateway, spawn_with_partner,
};

const CREATE: &str =
    "mutation($input: CreateFacilityInput!) { createFacility(input: $input) { id } }";

fn facility(extra: Value) -> Value {
    let mut input = json!({ "name": "Hợp tác xã", "kind": "COOPERATIVE", "commune": "Tân Cương" });
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "input": input })
}

async fn refused(gw: &TestGateway, extra: Value, field: &str) {
    let before = gw.counts().await;
    let answer = gw.post(CREATE, facility(extra.clone())).await;
    assert_invalid(&answer, field);
    assert_eq!(answer["data"], Value::Null, "{extra}");
    assert_eq!(gw.counts().await, before, "{extra} stored something");
}

#[tokio::test]
async fn bad_facility_fields_are_named() {
    let gw = spawn_gateway().await;
    refused(&gw, json!({ "kind": "SPACESHIP" }), "input.kind").await;
    refused(&gw, json!({ "name": "   " }), "input.name").await;
    refused(&gw, json!({ "name": "Hợp tác xã\u{0}" }), "input.name").await;
    refused(
        &gw,
        json!({ "commune": "Tân\u{1b}[31mCương" }),
        "input.commune",
    )
    .await;
    refused(&gw, json!({ "name": "x".repeat(201) }), "input.name").await;
    refused(
        &gw,
        json!({ "contactPhone": "12345" }),
        "input.contactPhone",
    )
    .await;
    refused(
        &gw,
        json!({ "contactIdNumber": "0192" }),
        "input.contactIdNumber",
    )
    .await;
    refused(
        &gw,
        json!({ "businessRegistrationNumber": "46 00" }),
        "input.businessRegistrationNumber",
    )
    .await;
    refused(
        &gw,
        json!({ "suppliesTo": ["19", "4O"] }),
        "input.suppliesTo.1",
    )
    .await;
    refused(&gw, json!({ "suppliesTo": ["100"] }), "input.suppliesTo.0").await;
}

#[tokio::test]
async fn a_huge_string_is_refused_with_its_field() {
    let gw = spawn_gateway().await;
    // Under the body limit, the field check names the field.
    refused(&gw, json!({ "name": "chè ".repeat(50_000) }), "input.name").await;
}

#[tokio::test]
async fn bad_certificate_fields_are_named() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Cơ sở", json!({})).await;
    let issue = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { id } }";
    let input = |extra: Value| {
        let mut input = json!({ "facilityId": f["id"], "kind": "ELIGIBILITY", "scope": ["Chè"], "issuingAuthority": "Chi cục" });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "i": input })
    };
    let before = gw.counts().await;
    for (extra, field) in [
        (
            json!({ "issuedOn": "2024-05-01", "expiresOn": "2024-04-30" }),
            "input.expiresOn",
        ),
        (json!({ "issuedOn": "01/05/2024" }), "input.issuedOn"),
        (json!({ "issuedOn": "2999-01-01" }), "input.issuedOn"),
        (json!({ "scope": [] }), "input.scope"),
        (json!({ "scope": ["Chè", "\u{7}"] }), "input.scope.1"),
        (json!({ "grade": "D" }), "input.grade"),
        (json!({ "kind": "LICENCE" }), "input.kind"),
        (json!({ "facilityId": "nonsense" }), "input.facilityId"),
        (json!({ "issuingAuthority": "" }), "input.issuingAuthority"),
    ] {
        assert_invalid(&gw.post(issue, input(extra)).await, field);
    }
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn bad_ids_and_literals_are_named() {
    let gw = spawn_gateway().await;
    assert_invalid(
        &gw.post(r#"{ node(id: "Parcel:19:1") { id } }"#, json!({}))
            .await,
        "id",
    );
    assert_invalid(
        &gw.post(r#"{ facility(id: "19") { id } }"#, json!({})).await,
        "id",
    );
    assert_invalid(
        &gw.post(
            r#"{ certificates(filter: { status: LOST }) { edges { cursor } } }"#,
            json!({}),
        )
        .await,
        "filter.status",
    );
    assert_invalid(
        &gw.post(
            r#"{ verifyCertificate(number: "19-ATTP-2024-1", on: "yesterday") { valid } }"#,
            json!({}),
        )
        .await,
        "on",
    );
}

#[tokio::test]
async fn malformed_queries_and_limits_have_codes() {
    let gw = spawn_gateway().await;
    assert_code(
        &gw.post("{ facilities { edges ", json!({})).await,
        "INVALID_INPUT",
    );
    assert_code(
        &gw.post("{ noSuchField }", json!({})).await,
        "INVALID_INPUT",
    );
    let deep =
        "{ facilities { edges { node { certificates { edges { node { facility { certificates {
        edges { node { facility { name } } } } } } } } } } } }";
    assert_code(&gw.post(deep, json!({})).await, "QUERY_TOO_DEEP");
    let aliased = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("a{i}: province {{ code }}"))
            .collect();
        format!("{{ {} }}", fields.join(" "))
    };
    assert!(
        gw.post(&aliased(30), json!({}))
            .await
            .get("errors")
            .is_none()
    );
    let answer = gw.post(&aliased(31), json!({})).await;
    assert_code(&answer, "QUERY_TOO_COMPLEX");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "aliases");
}

/// A text validated once is after that checked only for its variables: each
/// bad variable still gets the error full validation gives, naming it, from
/// dashboards and partners alike.
#[tokio::test]
async fn a_validated_text_still_has_its_variables_checked() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    // Shared with the partner, as the helper's facilities are.
    let facility = gw
        .create_facility("Hợp tác xã chè Tân Cương", json!({}))
        .await;
    let number = gw
        .issue_certificate(facility["id"].as_str().unwrap(), json!({}))
        .await["number"]
        .clone();
    let verify = "query($number: String!, $on: Date) {
                    verifyCertificate(number: $number, on: $on) { valid }
                  }";
    let nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let id = facility["id"].clone();
    for client in [
        gw.client_as(Role::Dashboard),
        gw.client(Some(&partner.leaf("40", Role::Gateway))),
    ] {
        for _ in 0..2 {
            let (_, answer) = gw
                .post_with(&client, verify, json!({ "number": number, "on": day(0) }))
                .await;
            assert_eq!(
                answer["data"]["verifyCertificate"]["valid"], true,
                "{answer:#}"
            );
            let (_, answer) = gw.post_with(&client, nodes, json!({ "ids": [id] })).await;
            assert_eq!(answer["data"]["nodes"][0]["id"], id, "{answer:#}");
        }
        for (variables, field) in [
            (json!({ "number": 19 }), "number"),
            (json!({ "number": null }), "number"),
            (json!({ "number": number, "on": "yesterday" }), "on"),
        ] {
            let (_, answer) = gw.post_with(&client, verify, variables).await;
            assert_invalid(&answer, field);
            assert_eq!(answer["data"], Value::Null, "{answer:#}");
        }
        for ids in [json!([id, null]), json!([id, true]), json!([id, [id]])] {
            let (_, answer) = gw.post_with(&client, nodes, json!({ "ids": ids })).await;
            assert_invalid(&answer, "ids.1");
        }
    }
}

/// A name that hides what it holds — a bidirectional override that makes
/// `gnp.exe` read as `exe.png`, an isolate, a zero-width space, a non-character
/// — is refused in every text field, naming the field, and stores nothing.
#[tokio::test]
async fn text_that_hides_what_it_holds_is_refused_in_every_field() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Cơ sở", json!({})).await;
    let c = gw
        .issue_certificate(f["id"].as_str().unwrap(), json!({}))
        .await;
    let before = gw.counts().await;
    let issue = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { id } }";
    let register = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";
    let record = "mutation($i: RecordInspectionInput!) { recordInspection(input: $i) { id } }";
    let suspend = "mutation($id: ID!, $r: String!) { suspendCertificate(id: $id, version: 1, reason: $r) { id } }";
    let with = |base: Value, extra: Value| {
        let mut input = base;
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "i": input })
    };
    let certificate = json!({ "facilityId": f["id"], "kind": "ELIGIBILITY", "scope": ["Chè"], "issuingAuthority": "Chi cục" });
    let product = json!({ "name": "Chè búp", "category": "AGRICULTURAL", "facilityId": f["id"] });
    let inspection = json!({ "facilityId": f["id"], "stage": "PROCESSING", "inspectedOn": day(-1), "result": "PASS" });
    for bad in [
        "Cơ sở \u{202E}gnp.exe",
        "\u{2066}Chè\u{2069}",
        "Chè\u{200B}",
        "Chè\u{FFFF}",
    ] {
        for field in [
            "name",
            "commune",
            "district",
            "addressDetail",
            "contactName",
        ] {
            let answer = gw.post(CREATE, facility(json!({ field: bad }))).await;
            assert_invalid(&answer, &format!("input.{field}"));
        }
        for (query, variables, field) in [
            (
                issue,
                with(certificate.clone(), json!({ "scope": ["Chè", bad] })),
                "input.scope.1",
            ),
            (
                issue,
                with(certificate.clone(), json!({ "issuingAuthority": bad })),
                "input.issuingAuthority",
            ),
            (
                register,
                with(product.clone(), json!({ "name": bad })),
                "input.name",
            ),
            (
                register,
                with(product.clone(), json!({ "description": bad })),
                "input.description",
            ),
            (
                record,
                with(inspection.clone(), json!({ "findings": bad })),
                "input.findings",
            ),
            (
                record,
                with(inspection.clone(), json!({ "internalNotes": bad })),
                "input.internalNotes",
            ),
            (suspend, json!({ "id": c["id"], "r": bad }), "reason"),
        ] {
            let answer = gw.post(query, variables).await;
            assert_invalid(&answer, field);
            let message = answer["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("U+"), "{message}");
            assert!(
                !message.contains(bad),
                "the message repeats the text: {message}"
            );
        }
    }
    assert_eq!(gw.counts().await, before);
}

/// What graphql-js's `getIntrospectionQuery()` sends, as GraphiQL, Apollo and
/// Relay tooling and code generators do: its type references nest nine deep.
const INTROSPECTION: &str = "
  query IntrospectionQuery {
    __schema {
      queryType { name }
      mutationType { name }
      subscriptionType { name }
      types { ...FullType }
      directives { name description locations isRepeatable args { ...InputValue } }
    }
  }
  fragment FullType on __Type {
    kind name description specifiedByURL
    fields(includeDeprecated: true) {
      name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
    }
    inputFields { ...InputValue }
    interfaces { ...TypeRef }
    enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
    possibleTypes { ...TypeRef }
  }
  fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
  fragment TypeRef on __Type {
    kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
  }";

#[tokio::test]
async fn the_standard_introspection_query_passes_for_our_own_callers() {
    let (gw, partner, _dir) = spawn_with_partner().await;
    for role in [Role::Operator, Role::Dashboard] {
        let (status, answer) = gw
            .post_with(&gw.client_as(role), INTROSPECTION, json!({}))
            .await;
        assert_eq!(status, 200);
        assert!(answer.get("errors").is_none(), "{role:?}: {answer:#}");
        let types = answer["data"]["__schema"]["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "Certificate"));
    }
    let (_, answer) = gw
        .post_with(
            &gw.client(Some(&partner.leaf("40", Role::Gateway))),
            INTROSPECTION,
            json!({}),
        )
        .await;
    assert!(!answer.to_string().contains("Certificate"), "{answer}");
}

/// Five hundred and fifty repeats of a 100-item page, 55 KB of text, once
/// passed a count of one per field and took a gateway's memory; counted
/// with its pages, it runs nothing and says which limit it broke.
#[tokio::test]
async fn a_request_over_a_limit_runs_nothing_and_names_the_limit() {
    let gw = spawn_gateway().await;
    let page = "facilities(first: 100) { edges { node { name certificates(first: 100) { edges { node { number } } } } } } ";
    let repeated = format!("{{ {} }}", page.repeat(550));
    assert!(repeated.len() > 50_000);
    let answer = gw.post(&repeated, json!({})).await;
    assert_code(&answer, "QUERY_TOO_COMPLEX");
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "complexity");
    assert!(answer.get("data").is_none(), "{answer}");
    let deep =
        "{ facilities { edges { node { certificates { edges { node { facility { certificates {
        edges { node { facility { name } } } } } } } } } } } }";
    let answer = gw.post(deep, json!({})).await;
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "depth");
    // A variable's page counts as its value.
    let one = "query($n: Int) { facilities(first: $n) { edges { node { certificates(first: $n) { edges { node { number scope status } } } } } } }";
    assert!(
        gw.post(one, json!({ "n": 50 }))
            .await
            .get("errors")
            .is_none()
    );
    // 1 + 100 × (edges + node + certificates (1 + 100 × 5)) = 50 301
    let answer = gw.post(one, json!({ "n": 100 })).await;
    assert_eq!(answer["errors"][0]["extensions"]["limit"], "complexity");
}
