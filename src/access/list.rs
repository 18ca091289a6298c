//! Lists over several provinces: ask our store and every partner at once, merge
//! in a stable order — province by province, each in its own order — and page
//! with one opaque cursor that carries each source's position.
//!
//! A source that fails is noted and keeps its position, so the next page asks
//! it again from where it stood; it does not hold `hasNextPage` up. A partner
//! that cannot answer at all is stood in for by our replica (unless the caller
//! asks for `LIVE`): the same filter over our copies, in the owner's order and
//! with the owner's cursors, so paging carries on either way.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use futures_util::future::{BoxFuture, join_all};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Access, Consistency, Kind, Noted, Reach, Sourced};
use crate::domain::FacilityRecord;
use crate::domain::{ProvinceCode, RecordKind};
use crate::error::AppError;
use crate::federation::records::{Reader, RemotePage};
use crate::store::{Admits, Page, PageRequest};

/// Which provinces a list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Scope {
    /// This gateway's own records.
    Local,
    /// Every partner's records, each answered by its owner.
    Partners,
    /// Ours and every partner's.
    All,
}

/// One page of a list: each record with the cursor after it, and whether
/// more follow.
pub struct Paged<R> {
    pub edges: Vec<(String, Sourced<R>)>,
    pub has_next: bool,
    pub end_cursor: Option<String>,
}

impl<R> Paged<R> {
    /// A page of our own records, each cursor its row id.
    pub fn ours(page: Page<R>, local: impl Fn(&R) -> i64) -> Self {
        let at = Utc::now();
        let edges: Vec<_> = page
            .items
            .into_iter()
            .map(|record| (row_cursor(local(&record)), Sourced::owner(record, at)))
            .collect();
        Self {
            end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
            edges,
            has_next: page.has_next,
        }
    }

    /// A partner's page as it answered at `at`, its cursors passed through
    /// (a list of one source needs no position of its own).
    pub fn remote(page: RemotePage<R>, at: DateTime<Utc>) -> Self {
        Self {
            edges: page
                .items
                .into_iter()
                .map(|(cursor, record)| (cursor, Sourced::owner(record, at)))
                .collect(),
            has_next: page.has_next,
            end_cursor: page.end_cursor,
        }
    }
}

/// The cursor after our row `id` in a list of ours.
pub fn row_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

/// The row id a cursor of [`row_cursor`] holds; a bad cursor is `after`'s
/// fault.
pub fn read_row_cursor(cursor: &str) -> Result<i64, AppError> {
    let invalid = || AppError::invalid("after", "not a cursor from this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("v1:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(invalid)
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

/// A list to read: which records of ours pass, and what partners are asked.
pub struct Listing<K: Kind> {
    pub scope: Option<Scope>,
    pub consistency: Consistency,
    /// Our records that pass, and our copies of a partner's that pass.
    pub filter: K::Filter,
    /// Whether any record of ours can pass (not when the filter names a
    /// partner's facility).
    pub ours: bool,
    /// The caller's filter, passed on to partners as it came.
    pub forwarded: Value,
}

impl<K: Kind> Listing<K> {
    /// A list of every record that passes `filter`, ours included.
    pub fn new(
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: K::Filter,
        forwarded: Value,
    ) -> Self {
        Self {
            scope,
            consistency: consistency.unwrap_or_default(),
            filter,
            ours: true,
            forwarded,
        }
    }

    /// The same list, knowing whether none of ours can pass.
    pub fn none_of_ours(self, none: bool) -> Self {
        Self {
            ours: !none,
            ..self
        }
    }
}

/// Copies read at a time while looking for a page's worth that pass the filter.
const REPLICA_CHUNK: u64 = 200;

/// One source's page: its items with the cursor after each, and what is left.
struct SourcePage<R> {
    source: String,
    items: Vec<(String, Sourced<R>)>,
    has_next: bool,
}

/// One source's page, or `None` when it failed; and what to tell.
type Call<'f, R> = BoxFuture<'f, Result<Noted<Option<SourcePage<R>>>, AppError>>;

impl Access {
    /// Reads one page of a list of `first` records after `after` (internal
    /// callers' lists default to `ALL`; a request that may not federate is
    /// always answered from our own records).
    pub async fn list<K: Kind>(
        &self,
        listing: Listing<K>,
        first: u64,
        after: Option<String>,
    ) -> Result<Noted<Paged<K>>, AppError> {
        let reach = self.reach.as_ref();
        let scope = match reach {
            Some(_) => listing.scope.unwrap_or(Scope::All),
            None => Scope::Local,
        };
        let Some(reach) = reach.filter(|_| scope != Scope::Local) else {
            let after = after.as_deref().map(read_row_cursor).transpose()?;
            let page = if listing.ours {
                K::page(&self.store, &listing.filter, PageRequest { after, first }).await?
            } else {
                Page::empty()
            };
            return Ok(Noted::plain(Paged::ours(page, |r| r.id().local)));
        };
        let position = after
            .as_deref()
            .map(Position::decode)
            .transpose()?
            .unwrap_or_default();
        let own = self.province();
        let mut wanted: Vec<ProvinceCode> =
            reach.calls.partners.iter().map(|p| p.province).collect();
        if scope == Scope::All {
            wanted.push(own);
        }
        wanted.sort();
        wanted.retain(|p| !position.done.contains(&p.to_string()));

        let listing = &listing;
        let mut calls: Vec<Call<'_, K>> = Vec::new();
        for province in wanted {
            let key = province.to_string();
            let after = position.after.get(&key).cloned();
            if province == own {
                let after = after
                    .map(|id| id.parse::<i64>())
                    .transpose()
                    .map_err(|_| AppError::invalid("after", "not a cursor from this list"))?;
                calls.push(Box::pin(async move {
                    let page = if listing.ours {
                        K::page(&self.store, &listing.filter, PageRequest { after, first }).await?
                    } else {
                        Page::empty()
                    };
                    let at = Utc::now();
                    let items = page
                        .items
                        .into_iter()
                        .map(|r| (r.id().local.to_string(), Sourced::owner(r, at)))
                        .collect();
                    Ok(Noted::plain(Some(SourcePage {
                        source: key,
                        has_next: page.has_next,
                        items,
                    })))
                }));
            } else {
                calls.push(Box::pin(
                    self.partner_page(reach, province, key, after, first, listing),
                ));
            }
        }
        let mut pages = Vec::new();
        let mut notes = Vec::new();
        for page in join_all(calls).await {
            let page = page?;
            notes.extend(page.notes);
            pages.extend(page.value);
        }
        Ok(Noted {
            value: merge(position, pages, first as usize),
            notes,
        })
    }

    /// A partner's page of a list, or our replica's in its stead.
    async fn partner_page<K: Kind>(
        &self,
        reach: &Reach,
        province: ProvinceCode,
        key: String,
        after: Option<String>,
        first: u64,
        listing: &Listing<K>,
    ) -> Result<Noted<Option<SourcePage<K>>>, AppError> {
        let variables =
            serde_json::json!({ "filter": listing.forwarded, "first": first, "after": after });
        let error = match reach.calls.list(province, K::LIST, variables).await {
            Ok(answer) => {
                let at = answer.at;
                self.remember(reach, answer.value.facilities, at).await;
                return Ok(Noted::plain(Some(SourcePage {
                    source: key,
                    has_next: answer.value.page.has_next,
                    items: answer
                        .value
                        .page
                        .items
                        .into_iter()
                        .map(|(cursor, record)| (cursor, Sourced::owner(record, at)))
                        .collect(),
                })));
            }
            Err(error) => error,
        };
        let copy = self.replica_page(province, after.as_deref(), first, &listing.filter);
        Ok(self
            .stand_in(province, error, listing.consistency, copy)
            .await?
            .map(|copy| copy.map(|(page, _)| page)))
    }

    /// Our copies of `province`'s records that pass `filter`, after the
    /// partner's cursor `after` (the owner's cursors are row ids, as ours), and
    /// the time the oldest of them was copied. `None` when we have never
    /// synced from `province` or the cursor is not one of its list cursors.
    async fn replica_page<K: Kind>(
        &self,
        province: ProvinceCode,
        after: Option<&str>,
        first: u64,
        filter: &K::Filter,
    ) -> Result<Option<(SourcePage<K>, DateTime<Utc>)>, AppError> {
        let Some(last_sync) = self.store.sync_state(province).await?.last_success else {
            return Ok(None);
        };
        let mut after = match after.map(read_row_cursor).transpose() {
            Ok(after) => after,
            Err(_) => return Ok(None),
        };
        let reader = Reader { owner: province };
        let parse = |body: &str| {
            serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|value| (K::LIST.read)(&reader, &value).ok())
        };
        let mut items = Vec::new();
        let mut has_next = false;
        let mut oldest = last_sync;
        'chunks: loop {
            let rows = self
                .store
                .replica_page(province, K::KIND.code(), after, REPLICA_CHUNK)
                .await?;
            let exhausted = (rows.len() as u64) < REPLICA_CHUNK;
            let records: Vec<_> = rows
                .into_iter()
                .map(|(id, body, synced_at)| (id, parse(&body), synced_at))
                .collect();
            let wanted: Vec<i64> = records
                .iter()
                .filter_map(|(_, record, _)| record.as_ref().and_then(|r| filter.facility_of(r)))
                .filter(|facility| facility.province == province)
                .map(|facility| facility.local)
                .collect();
            let facilities: HashMap<i64, FacilityRecord> = if wanted.is_empty() {
                HashMap::new()
            } else {
                self.store
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
                let facility = filter
                    .facility_of(&record)
                    .and_then(|f| facilities.get(&f.local));
                if !filter.admits(&record, facility) {
                    continue;
                }
                if items.len() as u64 == first {
                    has_next = true;
                    break 'chunks;
                }
                oldest = oldest.min(synced_at);
                items.push((row_cursor(id), Sourced::replica(record, synced_at)));
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
}

/// Takes the first `first` items, source by source in province order, and gives
/// each edge the position just after it.
fn merge<R>(mut position: Position, pages: Vec<SourcePage<R>>, first: usize) -> Paged<R> {
    let mut edges: Vec<(String, Sourced<R>)> = Vec::new();
    let mut more = false;
    for page in pages {
        let available = page.items.len();
        let mut taken = 0;
        for (cursor, item) in page.items {
            if edges.len() == first {
                break;
            }
            position.after.insert(page.source.clone(), cursor);
            taken += 1;
            edges.push((position.encode(), item));
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
    Paged {
        end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
        edges,
        has_next: more,
    }
}

#[cfg(test)]
mod tests {
    use super::{Position, read_row_cursor, row_cursor};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    #[test]
    fn row_cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(read_row_cursor(&row_cursor(42)).unwrap(), 42);
        assert!(read_row_cursor("bm9wZQ").is_err());
        assert!(read_row_cursor("!!").is_err());
    }

    proptest::proptest! {
        /// A list's cursor, however made, is read or refused, never a panic;
        /// one it wrote reads back the same.
        #[test]
        fn any_cursor_is_read_or_refused_never_a_panic(
            text in "\\PC{0,60}",
            json in "\\PC{0,60}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            id in 0i64..,
            after in proptest::collection::btree_map("[0-9]{2}", "\\PC{0,20}", 0..4),
            done in proptest::collection::btree_set("[0-9]{2}", 0..4),
        ) {
            let _ = Position::decode(&text);
            let _ = Position::decode(&URL_SAFE_NO_PAD.encode(format!("v2:{json}")));
            let _ = read_row_cursor(&text);
            let _ = read_row_cursor(&URL_SAFE_NO_PAD.encode(&bytes));
            proptest::prop_assert_eq!(read_row_cursor(&row_cursor(id)).unwrap(), id);
            let position = Position { after, done };
            proptest::prop_assert_eq!(Position::decode(&position.encode()).ok(), Some(position));
        }
    }
}
