//! The GraphQL API: one module per domain, merged at the root.
//!
//! Resolvers are short: they parse arguments into domain types (naming the field
//! of any bad value), call the store, and wrap records in output types. Building
//! the schema ([`schema`]) touches nothing outside memory, so `caunoi schema`
//! needs no database. [`execute`] runs one request with its per-request data and
//! gives every error a stable `extensions.code`.

mod certificate;
mod facility;
mod inspection;
mod node;
mod pagination;
mod product;
mod province;
pub mod scalars;

pub use certificate::Certificate;
pub use facility::Facility;
pub use inspection::Inspection;
pub use product::Product;
pub use province::{Province, ProvinceNames};

use async_graphql::{
    EmptySubscription, MergedObject, Request, Response, Schema, ServerError, Value,
    dataloader::DataLoader,
    parser::types::{DocumentOperations, OperationType},
};

use crate::domain::{GlobalId, Invalid, RecordKind};
use crate::error::{AppError, FieldContext};
use crate::server::identity::Caller;
use crate::store::Store;

#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    facility::FacilityQuery,
    certificate::CertificateQuery,
    product::ProductQuery,
    inspection::InspectionQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    facility::FacilityMutation,
    certificate::CertificateMutation,
    product::ProductMutation,
    inspection::InspectionMutation,
);

pub type CauNoiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Query limits applied before any resolver runs.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub depth: usize,
    pub complexity: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            depth: 10,
            complexity: 5000,
        }
    }
}

/// The schema, without any data attached.
pub fn schema(
    limits: QueryLimits,
) -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema(QueryLimits::default()).finish().sdl()
}

/// Runs one request of `caller` against `schema` (which carries the [`Store`]).
/// The policy decides first; a refused request runs no resolver.
pub async fn execute(schema: &CauNoiSchema, caller: Caller, request: Request) -> Response {
    if let Some(operation) = operation_type(&request)
        && let Err(reason) = crate::policy::authorize(caller, operation)
    {
        return Response::from_errors(vec![forbidden(reason)]);
    }
    let store = schema
        .data::<Store>()
        .expect("the app attaches a store to the schema")
        .clone();
    let loader = DataLoader::new(facility::FacilityLoader(store), tokio::spawn);
    let mut response = schema.execute(request.data(loader).data(caller)).await;
    let validation_failed = matches!(response.data, Value::Null);
    for error in &mut response.errors {
        give_code(error, validation_failed);
    }
    response
}

/// The type of the operation a request would run; `None` if the query does not
/// parse or names no operation it holds (the schema then reports why).
fn operation_type(request: &Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A `FORBIDDEN` error.
pub fn forbidden(reason: String) -> ServerError {
    let mut error = ServerError::new(reason, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "FORBIDDEN");
    error
}

/// Gives an error raised by async-graphql itself (parsing, validation, limits)
/// the code our own errors carry.
fn give_code(error: &mut ServerError, before_execution: bool) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let (code, field) = match error.message.as_str() {
        "Query is nested too deep." => ("QUERY_TOO_DEEP", None),
        "Query is too complex." => ("QUERY_TOO_COMPLEX", None),
        message if message.starts_with("Invalid value for argument ") => (
            "INVALID_INPUT",
            message.split('"').nth(1).map(str::to_owned),
        ),
        message if message.starts_with("Failed to parse ") => ("INVALID_INPUT", None),
        _ if before_execution => ("INVALID_INPUT", None),
        _ => {
            tracing::error!(message = %error.message, "uncoded error from a resolver");
            error.message = "internal error".to_owned();
            ("INTERNAL", None)
        }
    };
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    if let Some(field) = field {
        extensions.set("field", field);
    }
}

fn store<'a>(ctx: &async_graphql::Context<'a>) -> &'a Store {
    ctx.data_unchecked::<Store>()
}

/// Reads an ID argument of `kind`. `Ok(None)` when another province owns the
/// record: nothing of theirs is stored here.
fn local_id(
    ctx: &async_graphql::Context<'_>,
    id: &str,
    kind: RecordKind,
    field: &str,
) -> Result<Option<i64>, AppError> {
    let id = GlobalId::parse_kind(id, kind).field(field)?;
    Ok((id.province == store(ctx).province()).then_some(id.local))
}

/// Reads the ID of a record to write, which this province must own.
fn writable_id(
    ctx: &async_graphql::Context<'_>,
    id: &str,
    kind: RecordKind,
) -> Result<GlobalId, AppError> {
    let id = GlobalId::parse_kind(id, kind).field("id")?;
    store(ctx).owned(id, "id")?;
    Ok(id)
}

/// A required value, parsed; a failure names `field`.
fn check<T>(field: &str, parsed: Result<T, Invalid>) -> Result<T, AppError> {
    parsed.field(field)
}

/// An optional value: absent or blank is `None`, anything else is parsed.
fn opt_check<T>(
    field: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => parse(value).field(field).map(Some),
    }
}
