//! GraphQL over HTTP, as its specification (graphql.github.io/graphql-over-http)
//! lays it out: what a request may be, and how an answer is written.
//!
//! - A POST carries `content-type: application/json`; anything else is 415 and
//!   runs nothing. A browser may send a form or `text/plain` from any page
//!   without asking first (no CORS preflight), with the officer's client
//!   certificate; JSON it may not.
//! - A GET carries `query`, `variables`, `operationName` in its URL and runs
//!   queries only: a mutation over GET is 405 with `Allow: POST`. A GET without
//!   a query is the GraphiQL page, for our own callers.
//! - The answer is `application/graphql-response+json` when the `Accept`
//!   header prefers it, with the specification's status codes: 200 once
//!   execution began, 400 for a request that did not parse, validate or pass
//!   the limits, 403 for one the policy refused. Otherwise it is
//!   `application/json`, 200 for every well-formed request, as tools written
//!   before the specification expect. An `Accept` that takes neither is 406.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: 200 for every well-formed request.
    Json,
    /// `application/graphql-response+json`: the status says how it went.
    GraphqlResponse,
}

const JSON: &str = "application/json";

/// When to try again after a 503 or a 429, in seconds.
pub const RETRY_AFTER: HeaderValue = HeaderValue::from_static("1");
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

impl Media {
    /// The answer's media type for a request's `Accept` header: the one it
    /// prefers, `application/json` when it has no preference (no header, or
    /// `*/*`), `None` when it takes neither.
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers
            .get(header::ACCEPT)
            .map(|value| value.to_str().unwrap_or_default())
            .filter(|accept| !accept.trim().is_empty())
        else {
            return Some(Self::Json);
        };
        // For each type, its quality from a range naming it, else from a
        // wildcard range: (quality, named).
        let mut json: Option<(f32, bool)> = None;
        let mut graphql: Option<(f32, bool)> = None;
        let mut wildcard: Option<f32> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|parameter| parameter.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            match essence.as_str() {
                JSON => json = Some((quality, true)),
                GRAPHQL_RESPONSE => graphql = Some((quality, true)),
                "*/*" | "application/*" => {
                    wildcard = Some(wildcard.map_or(quality, |q: f32| q.max(quality)));
                }
                _ => {}
            }
        }
        let from_wildcard = wildcard.map(|q| (q, false));
        let json = json.or(from_wildcard).unwrap_or((0.0, false));
        let graphql = graphql.or(from_wildcard).unwrap_or((0.0, false));
        if json.0 <= 0.0 && graphql.0 <= 0.0 {
            return None;
        }
        // Equal preference: the newer type only if the client named it.
        Some(
            if graphql.0 > json.0 || (graphql.0 == json.0 && graphql.1) {
                Self::GraphqlResponse
            } else {
                Self::Json
            },
        )
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Json => JSON,
            Self::GraphqlResponse => GRAPHQL_RESPONSE,
        })
    }

    /// The status of an answer whose status under the specification is
    /// `status`: that, for `application/graphql-response+json`; 200 for
    /// `application/json`, whose clients read the errors — but for 429 and
    /// 503, which say "not now" to any client, proxy or retrying gateway.
    pub fn status(self, status: StatusCode) -> StatusCode {
        match self {
            Self::Json
                if status != StatusCode::TOO_MANY_REQUESTS
                    && status != StatusCode::SERVICE_UNAVAILABLE =>
            {
                StatusCode::OK
            }
            _ => status,
        }
    }
}

/// The 406 answer to an `Accept` that takes no type we write.
pub fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "INVALID_INPUT",
        Some("accept"),
        format!("the answer is {JSON} or {GRAPHQL_RESPONSE}; the Accept header takes neither"),
    )
}

/// The 415 answer to a POST whose body is not declared JSON (in UTF-8, the
/// only charset JSON has); `None` for one that is.
pub fn unless_json(headers: &HeaderMap) -> Option<Response> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut parts = declared.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let utf8 = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if essence.eq_ignore_ascii_case(JSON) && utf8 {
        return None;
    }
    let declared = if declared.is_empty() {
        "none".to_owned()
    } else {
        crate::domain::text::preview(declared)
    };
    Some(error_response(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "INVALID_INPUT",
        Some("content-type"),
        format!("a GraphQL request is posted as {JSON} (in UTF-8), not {declared}"),
    ))
}

/// The parameters of a GraphQL request in a GET's URL.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    pub query: Option<String>,
    /// JSON text.
    pub variables: Option<String>,
    pub operation_name: Option<String>,
    /// JSON text.
    pub extensions: Option<String>,
}

impl Params {
    /// The request a GET's URL carries, as a JSON body would; `Err` names
    /// what is wrong.
    pub fn into_body(self) -> Result<serde_json::Value, (&'static str, String)> {
        let json = |field: &'static str, text: Option<String>| match text {
            None => Ok(serde_json::Value::Null),
            Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .filter(|value| value.is_object() || value.is_null())
                .ok_or((field, format!("`{field}` is not a JSON object"))),
        };
        Ok(json!({
            "query": self.query,
            "variables": json("variables", self.variables)?,
            "operationName": self.operation_name,
            "extensions": json("extensions", self.extensions)?,
        }))
    }
}

/// Whether `query` (a GET's) selects a mutation: the operation named
/// `operation_name`, or its only one. A text that does not parse is left to
/// the executor, which says why.
pub fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) => {
            // Which would run is unclear and the executor refuses it; a
            // mutation among them is reason enough to refuse it here.
            return operations
                .values()
                .any(|operation| operation.node.ty == OperationType::Mutation);
        }
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// The 405 answer to a mutation over GET.
pub fn mutation_over_get() -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "INVALID_INPUT",
        Some("method"),
        "mutations are accepted only over POST".to_owned(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// An error about the HTTP request body, in the GraphQL error shape.
pub fn invalid_body(status: StatusCode, message: String) -> Response {
    error_response(status, "INVALID_INPUT", Some("body"), message)
}

/// A response holding one GraphQL-shaped error, and no `data`.
pub fn error_response(
    status: StatusCode,
    code: &str,
    field: Option<&str>,
    message: String,
) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    (
        status,
        Json(json!({ "errors": [{ "message": message, "extensions": extensions }] })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(accept: Option<&str>) -> Option<Media> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        Media::negotiate(&headers)
    }

    #[test]
    fn the_answer_takes_the_type_the_client_prefers() {
        use Media::{GraphqlResponse, Json};
        for (accept, media) in [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (
                Some("application/graphql-response+json"),
                Some(GraphqlResponse),
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Some(GraphqlResponse),
            ),
            (
                Some("application/json, application/graphql-response+json;q=0.5"),
                Some(Json),
            ),
            (
                Some("application/json, application/graphql-response+json"),
                Some(GraphqlResponse),
            ),
            (
                Some("application/graphql-response+json;q=0, */*"),
                Some(Json),
            ),
            (Some("text/html, */*;q=0.8"), Some(Json)),
            (Some("text/html"), None),
            (Some("application/json;q=0"), None),
        ] {
            assert_eq!(accepting(accept), media, "{accept:?}");
        }
    }

    fn typed(content_type: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = content_type {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(content_type).unwrap(),
            );
        }
        unless_json(&headers).is_none()
    }

    #[test]
    fn only_json_in_utf8_is_a_request_body() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(typed(Some(good)), "{good}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "application/json; charset=latin1",
            "application/jsonx",
            "",
        ] {
            assert!(!typed(Some(bad)), "{bad}");
        }
        assert!(!typed(None));
    }

    #[test]
    fn a_mutation_is_recognised_by_the_operation_that_would_run() {
        assert!(is_mutation("mutation { x }", None));
        assert!(!is_mutation("{ x }", None));
        assert!(!is_mutation("query Q { x }", Some("Q")));
        assert!(is_mutation("query Q { x } mutation M { y }", Some("M")));
        assert!(!is_mutation("query Q { x } mutation M { y }", Some("Q")));
        assert!(is_mutation("query Q { x } mutation M { y }", None));
        assert!(!is_mutation("mutation {", None), "left to the executor");
    }

    #[test]
    fn a_get_url_carries_variables_as_a_json_object() {
        let params = Params {
            query: Some("{ x }".to_owned()),
            variables: Some(r#"{"a": 1}"#.to_owned()),
            ..Params::default()
        };
        assert_eq!(params.into_body().unwrap()["variables"], json!({ "a": 1 }));
        for bad in ["[1]", "{", "7"] {
            let params = Params {
                query: Some("{ x }".to_owned()),
                variables: Some(bad.to_owned()),
                ..Params::default()
            };
            assert_eq!(params.into_body().unwrap_err().0, "variables", "{bad}");
        }
    }
}
