//! Lists over several provinces: ask our store and every partner at once, merge
//! in a stable order — province by province, each in its own order — and page
//! with one opaque cursor that carries each source's position.
//!
//! A source that fails is noted in `errors` and keeps its position, so the next
//! page asks it again from where it stood; it does not hold `hasNextPage` up.
//! A partner that cannot answer at all is stood in for by our replica (unless
//! the caller asks for `LIVE`): the same filter over our copies, in the owner's
//! order and with the owner's cursors, so paging carries on either way.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, Enum};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pagination::{self, Connection, PageInfo};
use super::remote::{Consistency, ask_owner, federates, remember, remote, stand_in};
use super::{Output, Provenance, local, returned, store};
use crate::domain::{ProvinceCode, RecordKind};
use crate::error::AppError;
use crate::federation::records::Reader;
use crate::federation::{PartnerError, Partners};
use crate::store::{Admits, FacilityRecord, Page, PageRequest};

/// Which provinces a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Scope {
    /// This gateway's own records.
    Local,
    /// Every partner's records, each answered by its owner.
    Partners,
    /// Ours and every partner's.
    All,
}

/// Where each source of a list stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The cursor (ours: the last row id; a partner's: its own cursor) after
    /// which each source continues. Absent: from the start.
    #[serde(default)]
    after: BTreeMap<String, String>,
    /// Sources with nothing more.
    #[serde(default)]
    done: BTreeSet<String>,
}

impl Position {
    fn encode(&self) -> String {
        let json = serde_json::to_string(self).expect("a position serialises");
        URL_SAFE_NO_PAD.encode(format!("v2:{json}"))
    }

    fn decode(cursor: &str) -> Result<Self, AppError> {
        let invalid = || AppError::invalid("after", "not a cursor from this list");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let json = text.strip_prefix("v2:").ok_or_else(invalid)?;
        serde_json::from_str(json).map_err(|_| invalid())
    }
}

/// Reads one page of our own records.
pub type LocalPage<'a, R> = Box<
    dyn FnOnce(PageRequest) -> futures_util::future::BoxFuture<'a, Result<Page<R>, AppError>>
        + Send
        + 'a,
>;

/// How to read one kind of list from the store and from partners.
pub struct Sources<'a, R> {
    /// Our page after a row id; `None` when no record of ours can match (the
    /// filter names a partner's facility).
    pub local: Option<LocalPage<'a, R>>,
    /// The partner query: takes `$filter`, `$first`, `$after`; answers `field`.
    pub query: String,
    pub field: &'static str,
    /// The caller's filter, passed on as it came.
    pub filter: Value,
    pub read: fn(&Reader, &Value) -> Result<R, PartnerError>,
    /// The caller's filter, for our copies when a partner cannot answer.
    pub replica: Box<dyn Admits<R> + 'a>,
}

/// Copies read at a time while looking for a page's worth that pass the filter.
const REPLICA_CHUNK: u64 = 200;

/// One source's page: its items with the cursor after each, and what is left.
struct SourcePage<N> {
    source: String,
    items: Vec<(String, N)>,
    has_next: bool,
}

/// One source's page, or `None` when it failed (and the failure is noted).
type Call<'f, N> =
    futures_util::future::BoxFuture<'f, async_graphql::Result<Option<SourcePage<N>>>>;

/// Reads one page of a list over `scope` (internal callers default to `ALL`;
/// a request from a partner is always answered from our own records).
pub async fn list<'a, C, R>(
    ctx: &Context<'a>,
    scope: Option<Scope>,
    first: Option<i32>,
    after: Option<String>,
    consistency: Option<Consistency>,
    sources: Sources<'a, R>,
) -> async_graphql::Result<C>
where
    C: Connection,
    C::Node: Output<Record = R> + Send,
    R: Send + 'a,
{
    let scope = if federates(ctx) {
        scope.unwrap_or(Scope::All)
    } else {
        Scope::Local
    };
    if scope == Scope::Local {
        let request = pagination::request(first, after.as_deref())?;
        let page = match sources.local {
            Some(local) => local(request).await?,
            None => Page::empty(),
        };
        let page = Page {
            items: page
                .items
                .into_iter()
                .map(|r| local::<C::Node>(ctx, r))
                .collect(),
            has_next: page.has_next,
        };
        return Ok(pagination::connection(
            page,
            |node| node.key().0.local,
            |node| node,
        ));
    }
    let request = pagination::request(first, None)?;
    let position = after
        .as_deref()
        .map(Position::decode)
        .transpose()?
        .unwrap_or_default();
    let own = store(ctx).province();
    let partners = ctx.data::<Partners>()?;
    let mut wanted: Vec<ProvinceCode> = partners.iter().map(|p| p.province).collect();
    if scope == Scope::All {
        wanted.push(own);
    }
    wanted.sort();
    wanted.retain(|p| !position.done.contains(&p.to_string()));

    let Sources {
        local: ours,
        query,
        field,
        filter,
        read,
        replica,
    } = sources;
    let replica: &dyn Admits<R> = &*replica;
    let consistency = consistency.unwrap_or_default();
    let mut ours = Some(ours);
    let mut calls: Vec<Call<'_, C::Node>> = Vec::new();
    for province in wanted {
        let key = province.to_string();
        let after = position.after.get(&key).cloned();
        if province == own {
            let ours = ours.take().flatten();
            let after = after
                .map(|id| id.parse::<i64>())
                .transpose()
                .map_err(|_| AppError::invalid("after", "not a cursor from this list"))?;
            calls.push(Box::pin(async move {
                let page = match ours {
                    Some(ours) => {
                        ours(PageRequest {
                            after,
                            first: request.first,
                        })
                        .await?
                    }
                    None => Page::empty(),
                };
                let items = page
                    .items
                    .into_iter()
                    .map(|r| {
                        let node = local::<C::Node>(ctx, r);
                        (node.key().0.local.to_string(), node)
                    })
                    .collect();
                Ok(Some(SourcePage {
                    source: key,
                    has_next: page.has_next,
                    items,
                }))
            }));
        } else {
            let variables =
                serde_json::json!({ "filter": filter, "first": request.first, "after": after });
            let query = &query;
            calls.push(Box::pin(async move {
                let answer = ask_owner(ctx, province, query, variables).await?;
                let reader = Reader { owner: province };
                if let Ok((data, at)) = &answer {
                    remember(ctx, reader.facilities_in(&data[field]), *at).await;
                }
                match answer.and_then(|(data, at)| Ok((reader.page(&data[field], read)?, at))) {
                    Ok((page, at)) => Ok(Some(SourcePage {
                        source: key,
                        has_next: page.has_next,
                        items: page
                            .items
                            .into_iter()
                            .map(|(cursor, record)| (cursor, remote::<C::Node>(ctx, record, at)))
                            .collect(),
                    })),
                    Err(error) => {
                        let copy = replica_page::<C, R>(
                            ctx,
                            province,
                            after.as_deref(),
                            request.first,
                            read,
                            replica,
                        );
                        Ok(stand_in(ctx, province, &error, consistency, copy)
                            .await?
                            .map(|(page, _)| page))
                    }
                }
            }));
        }
    }
    let mut pages = Vec::new();
    for page in join_all(calls).await {
        pages.extend(page?);
    }
    Ok(merge(position, pages, request.first as usize))
}

/// Our copies of `province`'s records that pass the caller's filter, after the
/// partner's cursor `after` (the owner's cursors are row ids, as ours), and the
/// time the oldest of them was copied. `None` when we have never synced from
/// `province` or the cursor is not one of its list cursors.
async fn replica_page<'a, C, R>(
    ctx: &Context<'a>,
    province: ProvinceCode,
    after: Option<&str>,
    first: u64,
    read: fn(&Reader, &Value) -> Result<R, PartnerError>,
    replica: &dyn Admits<R>,
) -> async_graphql::Result<Option<(SourcePage<C::Node>, chrono::DateTime<Utc>)>>
where
    C: Connection,
    C::Node: Output<Record = R>,
{
    let store = store(ctx);
    let Some(last_sync) = store.sync_state(province).await?.last_success else {
        return Ok(None);
    };
    let mut after = match after.map(pagination::decode).transpose() {
        Ok(after) => after,
        Err(_) => return Ok(None),
    };
    let reader = Reader { owner: province };
    let parse = |body: &str| {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|value| read(&reader, &value).ok())
    };
    let mut items = Vec::new();
    let mut has_next = false;
    let mut oldest = last_sync;
    'chunks: loop {
        let rows = store
            .replica_page(province, replica.kind().code(), after, REPLICA_CHUNK)
            .await?;
        let exhausted = (rows.len() as u64) < REPLICA_CHUNK;
        let records: Vec<_> = rows
            .into_iter()
            .map(|(id, body, synced_at)| (id, parse(&body), synced_at))
            .collect();
        let wanted: Vec<i64> = records
            .iter()
            .filter_map(|(_, record, _)| record.as_ref().and_then(|r| replica.facility_of(r)))
            .filter(|facility| facility.province == province)
            .map(|facility| facility.local)
            .collect();
        let facilities: std::collections::HashMap<i64, FacilityRecord> = if wanted.is_empty() {
            Default::default()
        } else {
            store
                .replica_records(province, RecordKind::Facility.code(), &wanted)
                .await?
                .iter()
                .filter_map(|body| {
                    let value = serde_json::from_str::<Value>(body).ok()?;
                    reader.facility(&value).ok()
                })
                .map(|facility| (facility.id.local, facility))
                .collect()
        };
        for (id, record, synced_at) in records {
            after = Some(id);
            let Some(record) = record else { continue };
            let facility = replica
                .facility_of(&record)
                .and_then(|f| facilities.get(&f.local));
            if !replica.admits(&record, facility) {
                continue;
            }
            if items.len() as u64 == first {
                has_next = true;
                break 'chunks;
            }
            oldest = oldest.min(synced_at);
            let node = returned(ctx, C::Node::new(record, Provenance::replica(synced_at)));
            items.push((pagination::encode(id), node));
        }
        if exhausted {
            break;
        }
    }
    Ok(Some((
        SourcePage {
            source: province.to_string(),
            items,
            has_next,
        },
        oldest,
    )))
}

/// Takes the first `first` items, source by source in province order, and gives
/// each edge the position just after it.
fn merge<C: Connection>(
    mut position: Position,
    pages: Vec<SourcePage<C::Node>>,
    first: usize,
) -> C {
    let mut edges: Vec<(String, C::Node)> = Vec::new();
    let mut more = false;
    for page in pages {
        let available = page.items.len();
        let mut taken = 0;
        for (cursor, node) in page.items {
            if edges.len() == first {
                break;
            }
            position.after.insert(page.source.clone(), cursor);
            taken += 1;
            edges.push((position.encode(), node));
        }
        if taken == available && !page.has_next {
            position.done.insert(page.source.clone());
            if taken > 0
                && let Some((last, _)) = edges.last_mut()
            {
                *last = position.encode();
            }
        } else {
            more = true;
        }
    }
    let end_cursor = edges.last().map(|(cursor, _)| cursor.clone());
    C::assemble(
        edges,
        PageInfo {
            has_next_page: more,
            end_cursor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::Position;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    proptest::proptest! {
        /// A list's cursor, however made, is read or refused, never a panic;
        /// one it wrote reads back the same.
        #[test]
        fn any_cursor_is_read_or_refused_never_a_panic(
            text in "\\PC{0,60}",
            json in "\\PC{0,60}",
            after in proptest::collection::btree_map("[0-9]{2}", "\\PC{0,20}", 0..4),
            done in proptest::collection::btree_set("[0-9]{2}", 0..4),
        ) {
            let _ = Position::decode(&text);
            let _ = Position::decode(&URL_SAFE_NO_PAD.encode(format!("v2:{json}")));
            let position = Position { after, done };
            proptest::prop_assert_eq!(Position::decode(&position.encode()).ok(), Some(position));
        }
    }
}
