//! What resolvers share: the request's store and audience, reading
//! arguments into domain types (naming the field of a bad value), the guard
//! of internal-only fields, and boxing a field's heavy work.

use crate::domain::{Caller, GlobalId, Invalid, RecordKind, Refusal};
use crate::error::{AppError, FieldContext};
use crate::store::{Audience, Store};

pub(crate) fn store<'a>(ctx: &async_graphql::Context<'a>) -> &'a Store {
    ctx.data_unchecked::<Store>()
}

/// Refuses internal-only fields — personal data and internal notes — to partners:
/// the field answers null with a `FORBIDDEN` error, the rest of the answer stands.
pub(crate) struct InternalOnly;

impl async_graphql::Guard for InternalOnly {
    async fn check(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<()> {
        if crate::policy::sees_internal_fields(*ctx.data_unchecked::<Caller>()) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "personal data and internal notes are not shared with partner provinces".to_owned(),
            )
            .into())
        }
    }
}

/// Runs the work of a record's field that awaits the store, a loader or a
/// partner in a box of its own. async-graphql boxes the future of every field
/// it resolves at the size of the largest field future of the object, and such
/// work holds kilobytes (a sea-orm query, a partner call, the replica's stand-in):
/// inline, every field of a certificate — `version` too — took a 4.7 KB box
/// and copied its state into it. Boxed apart, the field holds a pointer, and
/// every field's future stays under a kilobyte (test `record_fields_stay_small`).
pub(crate) fn heavy<'a, T>(
    work: impl std::future::Future<Output = async_graphql::Result<T>> + Send + 'a,
) -> futures_util::future::BoxFuture<'a, async_graphql::Result<T>> {
    Box::pin(work)
}

/// Reads a `filter.facilityId`, and whether the facility is a partner's (so
/// that none of our records can match).
pub(crate) fn facility_filter(
    ctx: &async_graphql::Context<'_>,
    id: Option<&async_graphql::ID>,
) -> Result<(Option<GlobalId>, bool), AppError> {
    let Some(id) = id else {
        return Ok((None, false));
    };
    let id = GlobalId::parse_kind(id, RecordKind::Facility).field("filter.facilityId")?;
    Ok((Some(id), id.province != store(ctx).province()))
}

/// A list of facility IDs a filter names (`field`), at most a page of them.
pub(crate) fn facility_ids(
    field: &str,
    ids: Option<Vec<async_graphql::ID>>,
) -> Result<Vec<GlobalId>, AppError> {
    ids_of(RecordKind::Facility, field, ids)
}

/// A list of IDs of `kind` a filter names (`field`), at most a page of them.
pub(crate) fn ids_of(
    kind: RecordKind,
    field: &str,
    ids: Option<Vec<async_graphql::ID>>,
) -> Result<Vec<GlobalId>, AppError> {
    let ids = ids.unwrap_or_default();
    if ids.len() > crate::store::MAX_PAGE as usize {
        return Err(AppError::invalid(field, "at most 100 at once"));
    }
    ids.iter()
        .enumerate()
        .map(|(i, id)| GlobalId::parse_kind(id, kind).field(&format!("{field}.{i}")))
        .collect()
}

/// An optional ID of `kind` sent as `field`.
pub(crate) fn optional_id(
    kind: RecordKind,
    field: &str,
    id: Option<async_graphql::ID>,
) -> Result<Option<GlobalId>, AppError> {
    id.map(|id| GlobalId::parse_kind(&id, kind).field(field))
        .transpose()
}

/// An input as JSON, to pass on to a partner unchanged.
pub(crate) fn forward<T: async_graphql::InputType>(input: &Option<T>) -> serde_json::Value {
    input
        .as_ref()
        .and_then(|input| input.to_value().into_json().ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Who reads in this request: what the store may show.
pub(crate) fn audience(ctx: &async_graphql::Context<'_>) -> Audience {
    super::answer::access(ctx).audience()
}

/// Reads the ID of a record to write, which this province must own.
pub(crate) fn writable_id(
    ctx: &async_graphql::Context<'_>,
    id: &str,
    kind: RecordKind,
) -> Result<GlobalId, AppError> {
    let id = GlobalId::parse_kind(id, kind).field("id")?;
    store(ctx).owned(id, "id")?;
    Ok(id)
}

/// A required value, parsed; a failure names `field`.
pub(crate) fn check<T>(field: &str, parsed: Result<T, Invalid>) -> Result<T, AppError> {
    parsed.field(field)
}

/// An optional value: absent or blank is `None`, anything else is parsed.
pub(crate) fn opt_check<T>(
    field: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => parse(value).field(field).map(Some),
    }
}

/// A refusal of the store or a domain rule, its field named as the caller
/// sent it: a field of the data under `input` (`issued_on` as
/// `input.issuedOn`, `facility` as `input.facilityId`).
pub(crate) fn as_input(error: AppError) -> AppError {
    named(error, |field| format!("input.{}", api_name(field)))
}

/// The same, for a field sent as an argument of its own (`effective_on` as
/// `effectiveOn`).
pub(crate) fn as_argument(error: AppError) -> AppError {
    named(error, api_name)
}

fn named(error: AppError, name: impl Fn(&str) -> String) -> AppError {
    match error {
        AppError::InvalidInput { field, message } => AppError::InvalidInput {
            field: name(&field),
            message,
        },
        other => other,
    }
}

/// A refusal of an item of a list the caller sent, named under `at` (the
/// hazard's `legal_limit` at `input.hazards.2` as `input.hazards.2.legalLimit`).
pub(crate) fn refused_at(at: &str, refusal: Refusal) -> AppError {
    AppError::invalid(format!("{at}.{}", api_name(refusal.field)), refusal.reason)
}

/// A field of the domain's data as the API names it: in camel case, and a
/// reference to other records by their IDs (`facility` is `facilityId`).
pub(crate) fn api_name(field: &str) -> String {
    const RENAMED: &[(&str, &str)] = &[
        ("facility", "facilityId"),
        ("alert", "alertId"),
        ("products", "productIds"),
        ("facilities", "facilityIds"),
        ("provinces", "provincesConcerned"),
    ];
    if let Some((_, name)) = RENAMED.iter().find(|(domain, _)| *domain == field) {
        return (*name).to_owned();
    }
    let mut name = String::with_capacity(field.len() + 2);
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                name.extend(c.to_uppercase());
                upper = false;
            }
            c => name.push(c),
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::{AppError, Refusal, as_argument, as_input, refused_at};

    fn field(error: AppError) -> String {
        match error {
            AppError::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn domain_fields_are_named_as_the_api_names_them() {
        let refused = |name: &str| AppError::invalid(name, "no");
        assert_eq!(field(as_input(refused("issued_on"))), "input.issuedOn");
        assert_eq!(field(as_input(refused("facility"))), "input.facilityId");
        assert_eq!(field(as_input(refused("scope"))), "input.scope");
        assert_eq!(field(as_input(refused("products"))), "input.productIds");
        let refusal = Refusal::new("legal_limit", "no");
        assert_eq!(
            field(refused_at("input.hazards.2", refusal)),
            "input.hazards.2.legalLimit"
        );
        assert_eq!(field(as_argument(refused("effective_on"))), "effectiveOn");
        let busy = as_input(AppError::StorageBusy);
        assert!(matches!(busy, AppError::StorageBusy));
    }
}
