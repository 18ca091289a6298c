//! One way to find any record by global ID: our own from the store, a partner's
//! from its owner, each batched per request — the references of a page of 100
//! cost one query per kind, or one request per partner.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::json;

use super::node::Node;
use super::{Certificate, Facility, Inspection, Output, Product, Provenance, returned, store};
use crate::domain::GlobalId;
use crate::federation::records::{Reader, nodes_query};
use crate::federation::{Budget, PartnerError, Partners, Trace};
use crate::store::{Audience, Record, Store};

/// Whether this request may ask partners: only our own callers' requests, and
/// never one that came from another gateway (the hop marker is a second guard).
#[derive(Debug, Clone, Copy)]
pub struct Reach {
    pub federate: bool,
}

pub fn federates(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<Reach>().is_some_and(|reach| reach.federate)
}

/// A partner's record and when the partner gave it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub record: Record,
    pub at: DateTime<Utc>,
}

/// Wraps a partner's record for the answer.
pub fn remote<T: Output>(ctx: &Context<'_>, record: T::Record, at: DateTime<Utc>) -> T {
    returned(ctx, T::new(record, Provenance::owner(at)))
}

/// Wraps a record, from its owner or our replica, as a node.
fn to_node(ctx: &Context<'_>, record: Record, provenance: Provenance) -> Node {
    match record {
        Record::Facility(r) => returned(ctx, Facility::new(r, provenance)).into(),
        Record::Certificate(r) => returned(ctx, Certificate::new(r, provenance)).into(),
        Record::Product(r) => returned(ctx, Product::new(r, provenance)).into(),
        Record::Inspection(r) => returned(ctx, Inspection::new(r, provenance)).into(),
    }
}

/// The request's loader of partners' records. Its cache also holds records a
/// partner sent along with others (a list's facilities), so that asking for
/// them costs no second request.
pub type Partnered = DataLoader<PartnerLoader, async_graphql::dataloader::HashMapCache>;

/// Records a partner sent along with an answer, so that lookups of them in
/// this request are answered without asking again.
pub async fn remember(ctx: &Context<'_>, records: Vec<Record>, at: DateTime<Utc>) {
    if let Ok(loader) = ctx.data::<Partnered>() {
        loader
            .feed_many(
                records
                    .into_iter()
                    .map(|record| (record.id(), Ok(Fetched { record, at }))),
            )
            .await;
    }
}

/// Batches lookups of our own records, as the request's audience may see them:
/// one query per kind.
pub struct StoreLoader {
    pub store: Store,
    pub audience: Audience,
}

impl Loader<GlobalId> for StoreLoader {
    type Value = Record;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[GlobalId]) -> Result<HashMap<GlobalId, Record>, Self::Error> {
        Ok(self
            .store
            .records_by_id(keys, self.audience)
            .await?
            .into_iter()
            .map(|record| (record.id(), record))
            .collect())
    }
}

/// Batches lookups of partners' records: one `nodes` request per partner.
pub struct PartnerLoader {
    pub partners: Partners,
    pub budget: Arc<Budget>,
    pub trace: Trace,
    /// The request's turn, given back while the partner answers.
    pub turn: crate::turn::Turn,
}

/// Most IDs asked of a partner in one request.
pub const BATCH: usize = 100;

impl Loader<GlobalId> for PartnerLoader {
    type Value = Result<Fetched, PartnerError>;
    type Error = Infallible;

    async fn load(&self, keys: &[GlobalId]) -> Result<HashMap<GlobalId, Self::Value>, Infallible> {
        let mut by_province: HashMap<_, Vec<GlobalId>> = HashMap::new();
        for key in keys {
            by_province.entry(key.province).or_default().push(*key);
        }
        let calls = by_province.into_iter().map(|(province, ids)| async move {
            let answer = match self
                .partners
                .get(province)
                .and_then(|partner| self.budget.spend(province).map(|()| partner))
            {
                Ok(partner) => {
                    let ids_json: Vec<String> = ids.iter().map(ToString::to_string).collect();
                    let query = nodes_query();
                    let asked = partner.query(&query, json!({ "ids": ids_json }), &self.trace);
                    self.turn.away(asked).await
                }
                Err(error) => Err(error),
            };
            let at = Utc::now();
            let mut found = Vec::new();
            let read = answer.and_then(|data| {
                Ok(Reader { owner: province }
                    .nodes(&ids, &data)?
                    .into_iter()
                    .flatten()
                    .map(|(record, _)| record)
                    .collect::<Vec<_>>())
            });
            match read {
                Ok(records) => found.extend(
                    records
                        .into_iter()
                        .map(|record| (record.id(), Ok(Fetched { record, at }))),
                ),
                Err(error) => found.extend(ids.iter().map(|id| (*id, Err(error.clone())))),
            }
            found
        });
        Ok(join_all(calls).await.into_iter().flatten().collect())
    }
}

/// Whether an answer may come from the replica when the owner cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, async_graphql::Enum)]
pub enum Consistency {
    /// The owner's answer, or our replica's (marked as such) when the owner is
    /// unreachable, slow or its circuit is open.
    #[default]
    BestEffort,
    /// The owner's answer only.
    Live,
}

/// Finds any record by global ID: ours from the store, a partner's from its owner.
pub async fn lookup(ctx: &Context<'_>, id: GlobalId) -> async_graphql::Result<Option<Node>> {
    lookup_with(ctx, id, Consistency::BestEffort).await
}

/// As [`lookup`], choosing whether the replica may answer for an owner that
/// cannot. The replica is never used when the owner answers.
pub async fn lookup_with(
    ctx: &Context<'_>,
    id: GlobalId,
    consistency: Consistency,
) -> async_graphql::Result<Option<Node>> {
    let store = store(ctx);
    if id.province == store.province() {
        let loader = ctx.data::<DataLoader<StoreLoader>>()?;
        return Ok(loader
            .load_one(id)
            .await?
            .map(|record| to_node(ctx, record, Provenance::owner(Utc::now()))));
    }
    if !federates(ctx) {
        return Ok(None);
    }
    let loader = ctx.data::<Partnered>()?;
    match loader.load_one(id).await {
        Ok(None) => Ok(None),
        Ok(Some(Ok(fetched))) => Ok(Some(to_node(
            ctx,
            fetched.record,
            Provenance::owner(fetched.at),
        ))),
        Ok(Some(Err(error))) => {
            let copy = async {
                let row = store
                    .replica_record(id.province, id.kind.code(), id.local)
                    .await?;
                Ok(read_replica(id.province, row))
            };
            Ok(stand_in(ctx, id.province, &error, consistency, copy)
                .await?
                .map(|(record, synced_at)| to_node(ctx, record, Provenance::replica(synced_at))))
        }
        Err(never) => match never {},
    }
}

/// As [`lookup_with`] for each of `ids`, answered in their order. Our own
/// records are read in one go (a query per kind) rather than one lookup each:
/// a sync job asks for a thousand at a time, and a thousand lookups through the
/// request's loader cost the partner more than reading the records did. A
/// partner's records go through its loader, as one request per partner, while
/// ours are read.
pub async fn lookup_many(
    ctx: &Context<'_>,
    ids: &[GlobalId],
    consistency: Consistency,
) -> async_graphql::Result<Vec<Option<Node>>> {
    let store = store(ctx);
    let ours = |id: &GlobalId| id.province == store.province();
    // Where each of our IDs is asked for last: there its record is handed over,
    // and any earlier ask for it gets a copy.
    let mut last = HashMap::new();
    for (i, id) in ids.iter().enumerate().filter(|(_, id)| ours(id)) {
        last.insert(*id, i);
    }
    let read = async {
        if last.is_empty() {
            return Ok(HashMap::new());
        }
        let records = store.records_by_id(ids, super::audience(ctx)).await?;
        Ok::<_, async_graphql::Error>(records.into_iter().map(|r| (r.id(), r)).collect())
    };
    let asked = join_all(
        ids.iter()
            .filter(|id| !ours(id))
            .map(|id| lookup_with(ctx, *id, consistency)),
    );
    let (found, theirs) = futures_util::future::join(read, asked).await;
    let mut found: HashMap<GlobalId, Record> = found?;
    let mut theirs = theirs.into_iter();
    let at = Utc::now();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            if !ours(id) {
                return theirs.next().expect("an answer for each partner's ID");
            }
            let record = if last[id] == i {
                found.remove(id)
            } else {
                found.get(id).cloned()
            };
            Ok(record.map(|record| to_node(ctx, record, Provenance::owner(at))))
        })
        .collect()
}

/// Stands in for an owner that failed with `error`: our replica's `copy` when
/// the owner is down and the caller accepts a copy (the answer's `errors` then
/// says whose data it is and how old), otherwise nothing, with the failure noted.
/// The copy is only read when it may be used.
pub async fn stand_in<R>(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    error: &PartnerError,
    consistency: Consistency,
    copy: impl std::future::Future<Output = async_graphql::Result<Option<(R, DateTime<Utc>)>>>,
) -> async_graphql::Result<Option<(R, DateTime<Utc>)>> {
    if owner_down(error)
        && consistency == Consistency::BestEffort
        && let Some((record, synced_at)) = copy.await?
    {
        served_from_replica(ctx, province, synced_at, error);
        return Ok(Some((record, synced_at)));
    }
    partner_failed(ctx, province, error);
    Ok(None)
}

/// Whether the owner could not answer at all — unreachable, too slow, or its
/// circuit open — which is when our replica may stand in. A refusal or a bad
/// answer is the owner's word, and the replica never overrides it.
pub fn owner_down(error: &PartnerError) -> bool {
    matches!(
        error,
        PartnerError::Unavailable(_) | PartnerError::Timeout | PartnerError::CircuitOpen
    )
}

/// Reads our replica's copy of a record of `province` (as the store found it)
/// back into a partner record. A copy that no longer reads is as good as none.
pub fn read_replica(
    province: crate::domain::ProvinceCode,
    row: Option<(String, DateTime<Utc>)>,
) -> Option<(Record, DateTime<Utc>)> {
    let (body, synced_at) = row?;
    let value = serde_json::from_str::<serde_json::Value>(&body).ok()?;
    let record = Reader { owner: province }.node(&value).ok()??;
    Some((record, synced_at))
}

/// Notes that an answer for `province` comes from our replica, synced at
/// `synced_at`, because the owner failed with `cause`.
pub fn served_from_replica(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    synced_at: DateTime<Utc>,
    cause: &PartnerError,
) {
    let age = (Utc::now() - synced_at).num_seconds().max(0);
    let mut server = async_graphql::ServerError::new(
        format!("province {province} could not answer; this is our copy from {age} seconds ago"),
        Some(ctx.item.pos),
    );
    let extensions = server.extensions.get_or_insert_with(Default::default);
    extensions.set("code", "SERVED_FROM_REPLICA");
    extensions.set("province", province.to_string());
    extensions.set("ageSeconds", age);
    extensions.set("cause", cause.code());
    note(ctx, server);
}

/// Whether a partner confirms that its facility `id` exists and is shared with
/// us. A partner that cannot be asked is an error, not a "no".
pub async fn confirm_facility(ctx: &Context<'_>, id: GlobalId) -> async_graphql::Result<bool> {
    let loader = ctx.data::<Partnered>()?;
    match loader.load_one(id).await {
        Ok(None) => Ok(false),
        Ok(Some(Ok(fetched))) => Ok(matches!(fetched.record, Record::Facility(_))),
        Ok(Some(Err(error))) => Err(error.to_error(id.province)),
        Err(never) => match never {},
    }
}

/// Notes that a partner gave no usable answer: the field answers null, and the
/// answer's `errors` says which province failed and how. The rest of the answer
/// stands.
pub fn partner_failed(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    error: &PartnerError,
) {
    let mut server = error.to_server_error(province);
    server.locations = vec![ctx.item.pos];
    note(ctx, server);
}

/// Adds `error` to the answer's `errors` at this field; the field itself answers.
fn note(ctx: &Context<'_>, error: async_graphql::ServerError) {
    ctx.add_error(ctx.set_error_path(error));
}

/// Asks the owner of `province`'s records `query`; its `data` and when it came, or
/// `None` when the partner failed (noted by [`partner_failed`]).
pub async fn ask(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    query: &str,
    variables: serde_json::Value,
) -> async_graphql::Result<Option<(serde_json::Value, DateTime<Utc>)>> {
    Ok(noted(
        ctx,
        province,
        ask_owner(ctx, province, query, variables).await?,
    ))
}

/// Asks the owner of `province`'s records `query`: its `data` and when it came,
/// or how it failed (not yet noted).
pub async fn ask_owner(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    query: &str,
    variables: serde_json::Value,
) -> async_graphql::Result<Result<(serde_json::Value, DateTime<Utc>), PartnerError>> {
    let partners = ctx.data::<Partners>()?;
    let budget = ctx.data::<Arc<Budget>>()?;
    let answer = match partners
        .get(province)
        .and_then(|partner| budget.spend(province).map(|()| partner))
    {
        Ok(partner) => {
            let asked = partner.query(query, variables, ctx.data::<Trace>()?);
            ctx.data::<crate::turn::Turn>()?.away(asked).await
        }
        Err(error) => Err(error),
    };
    Ok(answer.map(|data| (data, Utc::now())))
}

/// The value, or `None` with the partner's failure noted.
pub fn noted<T>(
    ctx: &Context<'_>,
    province: crate::domain::ProvinceCode,
    result: Result<T, PartnerError>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            partner_failed(ctx, province, &error);
            None
        }
    }
}

/// Reads a partner's page of a list into one of our connections, keeping the
/// partner's cursors (a nested list has one source, so its cursors pass through).
pub fn remote_page<C: super::pagination::Connection, R>(
    province: crate::domain::ProvinceCode,
    list: &serde_json::Value,
    at: DateTime<Utc>,
    read: fn(&Reader, &serde_json::Value) -> Result<R, PartnerError>,
    wrap: impl Fn(R, DateTime<Utc>) -> C::Node,
) -> Result<C, PartnerError> {
    let page = Reader { owner: province }.page(list, read)?;
    Ok(C::assemble(
        page.items
            .into_iter()
            .map(|(cursor, record)| (cursor, wrap(record, at)))
            .collect(),
        super::pagination::PageInfo {
            has_next_page: page.has_next,
            end_cursor: page.end_cursor,
        },
    ))
}
