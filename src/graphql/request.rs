//! Running one request: its document (kept or parsed now), its cost against
//! the caller's limits and the policy's word (`prepare`), then its execution
//! on the caller's schema, with the request's access to records, and its
//! answer settled into the query's shape with a stable `extensions.code` on
//! every error (`run`).

use std::sync::{Arc, Mutex};

use async_graphql::{
    Request, Response, ServerError, Value,
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType},
};

use super::answer::Returned;
use super::{CauNoiSchema, SchemaBuilder, cost, schema, shape};
use crate::access::Access;
use crate::config::Limits;
use crate::domain::Caller;
use crate::store::{Audience, Store};

/// What `caller` may spend, as `cost` measures it.
pub(super) fn limits_of(limits: &Limits, caller: Caller) -> cost::Limits {
    let internal = cost::Limits {
        depth: limits.depth,
        fields: limits.complexity as u64,
        partner_lists: limits.partner_lists as u64,
    };
    match caller {
        Caller::Partner(_) => cost::Limits {
            fields: limits.partner_complexity as u64,
            ..internal
        },
        Caller::Internal(_) => internal,
    }
}

/// One schema per kind of caller: partners get no introspection, no "did you
/// mean" suggestions and a lower complexity limit.
#[derive(Clone)]
pub struct Schemas {
    internal: CauNoiSchema,
    partner: CauNoiSchema,
    pub limits: Limits,
    documents: Arc<Documents>,
    shape: Arc<shape::Shape>,
}

impl Schemas {
    /// Both schemas, each given the same data by `attach`.
    pub fn build(limits: Limits, attach: impl Fn(SchemaBuilder) -> SchemaBuilder) -> Self {
        let internal = attach(schema()).finish();
        Self {
            shape: Arc::new(shape::Shape::of(&internal.sdl())),
            internal,
            partner: attach(schema().disable_introspection().disable_suggestions()).finish(),
            limits,
            documents: Arc::new(Documents::new()),
        }
    }

    fn of(&self, caller: Caller) -> &CauNoiSchema {
        match caller {
            Caller::Partner(_) => &self.partner,
            Caller::Internal(_) => &self.internal,
        }
    }
}

/// Parsed queries by their text, the most recently used kept. Dashboards and
/// partner gateways send a few texts over and over with new variables, and
/// parsing is the largest single cost of a lookup (9 % of a gateway's CPU at
/// C = 50); copying a parsed document is a fraction of that. Only short texts
/// are kept, which bounds the cache to a few megabytes.
struct Documents(Mutex<lru::LruCache<String, Arc<Parsed>>>);

/// A kept document, and its text's SHA-256 once a request with it has been
/// audited. Every request is validated in full: a kept text saves parsing,
/// never a rule.
struct Parsed {
    document: ExecutableDocument,
    query_hash: std::sync::OnceLock<String>,
    /// What the text costs each kind of request (`Parsed::cost_slot`), when
    /// that does not depend on its variables: measuring is a walk of the
    /// document, a tenth of a partner's lookup's validation and execution.
    costs: [std::sync::OnceLock<cost::Cost>; 4],
}

impl Parsed {
    /// The kept cost of a request of one of ours or not, that federates or
    /// not.
    fn cost_slot(&self, internal: bool, federates: bool) -> &std::sync::OnceLock<cost::Cost> {
        &self.costs[usize::from(internal) * 2 + usize::from(federates)]
    }
}

impl Documents {
    const ENTRIES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(128).unwrap();
    const TEXT_BYTES: usize = 4096;

    fn new() -> Self {
        Self(Mutex::new(lru::LruCache::new(Self::ENTRIES)))
    }

    /// Gives `request` its parsed document, kept or parsed now, and returns
    /// the kept one. A long text is left for the executor to parse; a text that
    /// does not parse is not kept: it is parsed again, to report its error.
    fn parse(&self, request: &mut Request) -> Option<Arc<Parsed>> {
        if request.query.len() > Self::TEXT_BYTES {
            return None;
        }
        let kept = self
            .0
            .lock()
            .expect("the document cache is never poisoned")
            .get(&request.query)
            .cloned();
        if let Some(parsed) = kept {
            request.set_parsed_query(parsed.document.clone());
            return Some(parsed);
        }
        let parsed = Arc::new(Parsed {
            document: request.parsed_query().ok()?.clone(),
            query_hash: std::sync::OnceLock::new(),
            costs: Default::default(),
        });
        self.0
            .lock()
            .expect("the document cache is never poisoned")
            .put(request.query.clone(), parsed.clone());
        Some(parsed)
    }
}

/// Most errors one answer carries; how many more there were is the answer's
/// `extensions.errorsLeftOut`. A request of thousands of bad fields or
/// directives would otherwise be answered with megabytes of errors.
pub const MOST_ERRORS: usize = 50;

/// A request's text, and its parsed document if kept: what its audit entry
/// hashes, taken before it runs so that a request that times out is audited
/// all the same.
#[derive(Clone)]
pub struct Text {
    query: Arc<str>,
    kept: Option<Arc<Parsed>>,
}

impl Text {
    /// The SHA-256 of the request's text, as its audit entry records it. A
    /// kept document keeps its text's hash, so the few texts partners send
    /// over and over are hashed once (11 600 instructions of a partner's
    /// lookup).
    pub fn query_hash(&self) -> String {
        let hash = || crate::domain::audit::sha256_hex(self.query.as_bytes());
        match &self.kept {
            Some(parsed) => parsed.query_hash.get_or_init(hash).clone(),
            None => hash(),
        }
    }
}

/// What running a request did.
pub struct Executed {
    pub response: Response,
    /// The type of the operation run, if the query named one.
    pub operation: Option<OperationType>,
    /// The policy refused it; no resolver ran.
    pub refused: bool,
    /// Execution began: the answer has a `data` entry. A request that does
    /// not parse, validate or pass the limits or the policy has none.
    pub began: bool,
    pub text: Text,
}

/// A request parsed, measured against its caller's limits and allowed by the
/// policy: ready to run.
pub struct Prepared {
    request: Request,
    caller: Caller,
    operation: Option<OperationType>,
    federates: bool,
    /// The fields it may resolve, if it runs.
    fields: Option<u64>,
    text: Text,
}

impl Prepared {
    /// Whether it is a query cheap enough for the turns kept for cheap
    /// requests. A write is never cheap: it may wait on the database's lock.
    pub fn cheap(&self) -> bool {
        self.operation == Some(OperationType::Query)
            && self
                .fields
                .is_some_and(|fields| fields <= crate::turn::CHEAP)
    }

    /// The type of the operation it will run, if the query names one.
    pub fn operation(&self) -> Option<OperationType> {
        self.operation
    }

    pub fn text(&self) -> &Text {
        &self.text
    }
}

/// How a request came: posted, answered once; or subscribed to over a
/// WebSocket, answered as events come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Post,
    Stream,
}

/// Reads `caller`'s request: its document (kept or parsed now), its
/// operation, its cost against the caller's limits and the policy's word.
/// A request that breaks a limit or that the policy refuses is answered here,
/// and no resolver runs. `hop` says it came from another gateway. A
/// subscription comes over a stream, and only a subscription does.
pub fn prepare(
    schemas: &Schemas,
    caller: Caller,
    mut request: Request,
    hop: bool,
    transport: Transport,
) -> Result<Prepared, Box<Executed>> {
    // Kept for the audit, which hashes it only if the request is audited:
    // known once it has run.
    let text = Text {
        query: Arc::from(request.query.as_str()),
        kept: schemas.documents.parse(&mut request),
    };
    let (operation, aliases) = operation_of(&mut request);
    // Our own callers' requests federate; a partner's only when it is the
    // one that asks its sender back (and only it, in `run`).
    let calls_back = matches!(caller, Caller::Partner(_))
        && operation
            .as_ref()
            .is_some_and(|(_, fields)| crate::policy::calls_back(fields));
    let federates = (matches!(caller, Caller::Internal(_)) && !hop) || calls_back;
    let refused = |error: ServerError, operation: Option<OperationType>, text: Text| {
        Box::new(Executed {
            response: Response::from_errors(vec![error]),
            operation,
            refused: true,
            began: false,
            text,
        })
    };
    let fields = match measure(
        schemas,
        &mut request,
        text.kept.as_deref(),
        caller,
        aliases,
        federates,
    ) {
        Ok(fields) => fields,
        Err(breach) => {
            let mut error = coded_error(&breach.message, breach.code);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("limit", breach.limit);
            return Err(refused(error, operation.map(|(ty, _)| ty), text));
        }
    };
    if let Some((ty, _)) = &operation {
        let subscription = *ty == OperationType::Subscription;
        let wrong = match transport {
            Transport::Post if subscription => {
                Some("a subscription is served over a WebSocket (graphql-transport-ws) at /graphql")
            }
            Transport::Stream if !subscription => {
                Some("over a WebSocket this gateway serves subscriptions; post other operations")
            }
            _ => None,
        };
        if let Some(why) = wrong {
            let mut error = coded_error(why, "INVALID_INPUT");
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("field", "query");
            return Err(refused(error, Some(*ty), text));
        }
    }
    if let Some((ty, root_fields)) = &operation
        && let Err(reason) = crate::policy::authorize(caller, *ty, root_fields)
    {
        return Err(refused(forbidden(reason), Some(*ty), text));
    }
    Ok(Prepared {
        request,
        caller,
        operation: operation.map(|(ty, _)| ty),
        federates,
        fields,
        text,
    })
}

/// Runs a prepared request against its caller's schema, on `turn`. Every
/// record the answer holds is noted in `returned`.
pub async fn run(
    schemas: &Schemas,
    prepared: Prepared,
    returned: Arc<Returned>,
    trace: crate::federation::Trace,
    turn: crate::turn::Turn,
) -> Executed {
    let Prepared {
        request,
        caller,
        operation,
        federates,
        text,
        ..
    } = prepared;
    let parsed = &text.kept;
    let schema = schemas.of(caller);
    let store = schema
        .data::<Store>()
        .expect("the app attaches a store to the schema")
        .clone();
    let calls = federates.then(|| crate::federation::calls::Calls {
        partners: match (schema.data::<crate::federation::Partners>(), caller) {
            (Some(partners), Caller::Partner(sender)) => partners.only(sender),
            (Some(partners), _) => partners.clone(),
            (None, _) => Default::default(),
        },
        budget: crate::federation::Budget::new(schemas.limits.partner_calls),
        trace,
        turn,
    });
    let access = Access::new(store, Audience::from(caller), calls);
    // A text too long to keep is parsed once more than the executor parses
    // it, to settle the answer by.
    let mut request = request;
    let unkept = match parsed {
        Some(_) => None,
        None => request.parsed_query().ok().cloned(),
    };
    let operation_name = request.operation_name.clone();
    let mut response = schema
        .execute(request.data(access).data(caller).data(returned))
        .await;
    let began = !matches!(response.data, Value::Null)
        || response.errors.iter().any(|error| !error.path.is_empty());
    let document = parsed.as_ref().map(|p| &p.document).or(unkept.as_ref());
    if began
        && let Some(document) = document
        && let Some(selected) = self::operation(document, operation_name.as_deref())
    {
        schemas.shape.settle(
            &mut response,
            document,
            &selected.node.selection_set.node,
            root_type(selected.node.ty),
        );
    }
    if response.errors.len() > MOST_ERRORS {
        let left_out = response.errors.len() - MOST_ERRORS;
        response.errors.truncate(MOST_ERRORS);
        response
            .extensions
            .insert("errorsLeftOut".to_owned(), Value::from(left_out));
    }
    for error in &mut response.errors {
        give_code(error, !began);
    }
    Executed {
        response,
        operation,
        refused: false,
        began,
        text,
    }
}

/// Runs a prepared subscription: one answer per event, for as long as the
/// stream is read. It answers from this gateway's records (a partner's from
/// our replica): a stream has no request's budget of partner calls.
pub fn subscribe(
    schemas: &Schemas,
    prepared: Prepared,
) -> futures_util::stream::BoxStream<'static, Response> {
    use futures_util::StreamExt;
    let Prepared {
        request, caller, ..
    } = prepared;
    let schema = schemas.of(caller);
    let store = schema
        .data::<Store>()
        .expect("the app attaches a store to the schema")
        .clone();
    let access = Access::new(store, Audience::from(caller), None);
    let returned = Arc::new(Returned::default());
    schema
        .execute_stream(request.data(access).data(caller).data(returned))
        .map(|mut response| {
            for error in &mut response.errors {
                give_code(error, false);
            }
            response
        })
        .boxed()
}

/// What `request` would cost `caller` (the fields it may resolve; `None` for
/// a text that does not parse or names no operation it holds, which runs no
/// resolver), or the first limit it breaks: aliases, then what `cost`
/// measures.
fn measure(
    schemas: &Schemas,
    request: &mut Request,
    kept: Option<&Parsed>,
    caller: Caller,
    aliases: usize,
    federates: bool,
) -> Result<Option<u64>, cost::Breach> {
    let limits = schemas.limits;
    if aliases > limits.aliases {
        return Err(cost::Breach {
            code: "QUERY_TOO_COMPLEX",
            limit: "aliases",
            message: format!(
                "the query uses {aliases} aliases; at most {} are allowed",
                limits.aliases
            ),
        });
    }
    let internal = matches!(caller, Caller::Internal(_));
    // A text of one operation whose cost reads no variable costs the same
    // every time.
    let slot = kept
        .filter(|kept| kept.document.operations.iter().count() == 1)
        .map(|kept| kept.cost_slot(internal, federates));
    let cost = match slot.and_then(|slot| slot.get()) {
        Some(cost) => *cost,
        None => {
            let name = request.operation_name.clone();
            let variables = request.variables.clone();
            // The schema says why a text does not run.
            let Ok(document) = request.parsed_query() else {
                return Ok(None);
            };
            let Some(selected) = operation(document, name.as_deref()) else {
                return Ok(None);
            };
            let (cost, varies) = cost::measure(
                &schemas.shape,
                document,
                &selected.node,
                root_type(selected.node.ty),
                &variables,
                internal,
                federates,
            );
            if let Some(slot) = slot.filter(|_| !varies) {
                let _ = slot.set(cost);
            }
            cost
        }
    };
    match cost.breach(&limits_of(&limits, caller)) {
        Some(breach) => Err(breach),
        None => Ok(Some(cost.fields)),
    }
}

/// The name of an operation type's root type.
fn root_type(operation: OperationType) -> &'static str {
    match operation {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    }
}

/// The type and root field names of the operation a request would run — `None`
/// if the query does not parse or names no operation it holds (the schema then
/// says why, and no resolver runs) — and how many aliases the document uses.
/// The parsed document stays in the request, so the schema does not parse again.
fn operation_of(request: &mut Request) -> (Option<(OperationType, Vec<String>)>, usize) {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return (None, 0);
    };
    let aliases = document
        .operations
        .iter()
        .map(|(_, operation)| count_aliases(&operation.node.selection_set.node))
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| count_aliases(&fragment.node.selection_set.node)),
        )
        .sum();
    (
        selected_operation(operation_name.as_deref(), document),
        aliases,
    )
}

fn selected_operation(
    operation_name: Option<&str>,
    document: &ExecutableDocument,
) -> Option<(OperationType, Vec<String>)> {
    let operation = operation(document, operation_name)?;
    let mut fields = Vec::new();
    root_fields(document, &operation.node.selection_set.node, &mut fields, 0);
    Some((operation.node.ty, fields))
}

/// The operation of `document` a request naming `name` runs, if there is one.
fn operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a async_graphql::Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Counts aliased fields in a selection set and all sets below it.
fn count_aliases(set: &async_graphql::parser::types::SelectionSet) -> usize {
    use async_graphql::parser::types::Selection;
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Collects the field names of a selection set, through fragments.
fn root_fields(
    document: &async_graphql::parser::types::ExecutableDocument,
    set: &async_graphql::parser::types::SelectionSet,
    fields: &mut Vec<String>,
    depth: usize,
) {
    use async_graphql::parser::types::Selection;
    if depth > 16 {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => fields.push(field.node.name.node.to_string()),
            Selection::InlineFragment(fragment) => root_fields(
                document,
                &fragment.node.selection_set.node,
                fields,
                depth + 1,
            ),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_fields(
                        document,
                        &fragment.node.selection_set.node,
                        fields,
                        depth + 1,
                    )
                }
            }
        }
    }
}

/// A `FORBIDDEN` error.
pub fn forbidden(reason: String) -> ServerError {
    coded_error(&reason, "FORBIDDEN")
}

/// An error with `message` and `extensions.code`.
pub fn coded_error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
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

#[cfg(test)]
mod tests {
    use super::{Documents, Request};

    fn kept(documents: &Documents) -> usize {
        documents.0.lock().unwrap().len()
    }

    #[test]
    fn parsed_documents_are_kept_by_text() {
        let documents = Documents::new();
        let parsed = |query: &str| {
            let mut request = Request::new(query);
            documents.parse(&mut request);
            request.parsed_query().map(|d| format!("{d:?}")).ok()
        };
        let lookup = "query ($n: String!) { certificate(number: $n) { number } }";
        let first = parsed(lookup).expect("the lookup parses");
        assert_eq!(kept(&documents), 1);
        assert_eq!(parsed(lookup).as_ref(), Some(&first), "the kept copy");
        assert_eq!(kept(&documents), 1);

        let other = parsed("{ province { code } }").expect("parses");
        assert_ne!(other, first);
        assert_eq!(kept(&documents), 2);

        assert_eq!(parsed("{ province {"), None, "a broken text still fails");
        let long = format!(
            "{{ province {{ code }} }} #{}",
            "x".repeat(Documents::TEXT_BYTES)
        );
        assert!(parsed(&long).is_some());
        assert_eq!(
            kept(&documents),
            2,
            "neither broken nor long texts are kept"
        );
    }

    /// A kept text's hash is taken once and kept with it; a text not kept is
    /// hashed each time. Either way the hash is the text's SHA-256.
    #[test]
    fn a_kept_text_is_hashed_once() {
        let documents = Documents::new();
        let text = |query: &str| {
            let mut request = Request::new(query);
            super::Text {
                kept: documents.parse(&mut request),
                query: std::sync::Arc::from(query),
            }
        };
        let lookup = "query ($n: String!) { certificate(number: $n) { number } }";
        let first = text(lookup);
        let kept = first.kept.clone().expect("the lookup is kept");
        assert_eq!(kept.query_hash.get(), None, "hashed before it was asked");
        let hash = crate::domain::audit::sha256_hex(lookup.as_bytes());
        assert_eq!(first.query_hash(), hash);
        assert_eq!(kept.query_hash.get(), Some(&hash), "the hash was not kept");
        assert_eq!(text(lookup).query_hash(), hash);

        let broken = "{ province {";
        let not_kept = text(broken);
        assert!(not_kept.kept.is_none());
        assert_eq!(
            not_kept.query_hash(),
            crate::domain::audit::sha256_hex(broken.as_bytes())
        );
    }
}
