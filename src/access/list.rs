//! Lists over several provinces: ask our store and every partner at once, each
//! for its share of the page, lay their records out province by province, each
//! in its own order, and page with one opaque cursor that carries each
//! source's position.
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

/// Most rounds of asking the sources of a list for one page.
const ROUNDS: usize = 3;

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
    ///
    /// The page is shared among the sources that still have records: each is
    /// asked for its share, and the shares of those that ran short go, in a
    /// next round, to those that filled theirs. Each round's records are all
    /// kept but for the last round's surplus, so a page fetches at most
    /// `first` plus one per source less one, whatever the number of partners.
    /// A source that did not answer for itself (failed, or stood in for by the
    /// replica) is asked once a page. After [`ROUNDS`] rounds the page may be
    /// shorter than `first`, with `hasNextPage`.
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
        let mut asking: Vec<ProvinceCode> =
            reach.calls.partners.iter().map(|p| p.province).collect();
        if scope == Scope::All {
            asking.push(own);
        }
        asking.sort();
        asking.retain(|p| !position.done.contains(&p.to_string()));

        let listing = &listing;
        let pages = gather(
            asking,
            first as usize,
            &position,
            |province, after, share| {
                let key = province.to_string();
                let call: Call<'_, K> = if province == own {
                    Box::pin(self.own_page(listing, key, after, share))
                } else {
                    Box::pin(self.partner_page(reach, province, key, after, share, listing))
                };
                call
            },
        )
        .await?;
        Ok(pages.map(|pages| merge(position, pages.into_values())))
    }

    /// A page of our own records for a list over several sources, each
    /// cursor the record's row id.
    async fn own_page<K: Kind>(
        &self,
        listing: &Listing<K>,
        key: String,
        after: Option<String>,
        first: u64,
    ) -> Result<Noted<Option<SourcePage<K>>>, AppError> {
        let after = after
            .map(|id| id.parse::<i64>())
            .transpose()
            .map_err(|_| AppError::invalid("after", "not a cursor from this list"))?;
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

/// Asks `asking` for a page of `first` records after `position`, round by
/// round (see [`Access::list`]): `ask` calls one source for a number of
/// records after a cursor of its own.
async fn gather<'f, R>(
    mut asking: Vec<ProvinceCode>,
    first: usize,
    position: &Position,
    ask: impl Fn(ProvinceCode, Option<String>, u64) -> Call<'f, R>,
) -> Result<Noted<BTreeMap<ProvinceCode, SourcePage<R>>>, AppError> {
    let mut pages: BTreeMap<ProvinceCode, SourcePage<R>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut wanted = first;
    for round in 0..ROUNDS {
        // A page of none still asks each source once, whether it has more.
        if asking.is_empty() || (wanted == 0 && round > 0) {
            break;
        }
        let share = wanted.div_ceil(asking.len());
        let calls = asking.iter().map(|&province| {
            let after = pages
                .get(&province)
                .and_then(|page| page.items.last().map(|(cursor, _)| cursor.clone()))
                .or_else(|| position.after.get(&province.to_string()).cloned());
            ask(province, after, share as u64)
        });
        let answers = join_all(calls).await;
        let mut next = Vec::new();
        let mut room = wanted;
        for (province, answer) in asking.iter().copied().zip(answers) {
            let answer = answer?;
            let spoke_for_itself = answer.notes.is_empty();
            notes.extend(answer.notes);
            let Some(mut page) = answer.value else {
                continue;
            };
            if page.items.len() >= share && page.has_next && spoke_for_itself {
                next.push(province);
            }
            wanted = wanted.saturating_sub(page.items.len());
            if page.items.len() > room {
                page.items.truncate(room);
                page.has_next = true;
            }
            room -= page.items.len();
            let gathered = pages.entry(province).or_insert_with(|| SourcePage {
                source: page.source.clone(),
                items: Vec::new(),
                has_next: false,
            });
            gathered.items.append(&mut page.items);
            gathered.has_next = page.has_next;
        }
        asking = next;
    }
    Ok(Noted {
        value: pages,
        notes,
    })
}

/// Lays the sources' pages out source by source, in province order, giving
/// each edge the position just after it.
fn merge<R>(mut position: Position, pages: impl IntoIterator<Item = SourcePage<R>>) -> Paged<R> {
    let mut edges: Vec<(String, Sourced<R>)> = Vec::new();
    let mut more = false;
    for page in pages {
        let taken = !page.items.is_empty();
        for (cursor, item) in page.items {
            position.after.insert(page.source.clone(), cursor);
            edges.push((position.encode(), item));
        }
        if page.has_next {
            more = true;
        } else {
            position.done.insert(page.source.clone());
            if taken && let Some((last, _)) = edges.last_mut() {
                *last = position.encode();
            }
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
    use std::cell::Cell;

    use super::{
        Call, Noted, Position, SourcePage, Sourced, gather, merge, read_row_cursor, row_cursor,
    };
    use crate::domain::ProvinceCode;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use futures_util::FutureExt;

    /// Pages through sources holding `sizes` records each, `first` at a
    /// time, as a list does; returns each page's records and how many
    /// records the sources were asked for and gave while making it.
    fn page_through(sizes: &[usize], first: usize) -> Vec<(Vec<(u8, usize)>, usize)> {
        let sources: Vec<ProvinceCode> = (1..=sizes.len())
            .map(|n| ProvinceCode::from_number(n as i64).unwrap())
            .collect();
        let mut after: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            let position = after
                .as_deref()
                .map(Position::decode)
                .transpose()
                .unwrap()
                .unwrap_or_default();
            let fetched = Cell::new(0);
            let ask = |province: ProvinceCode,
                       after: Option<String>,
                       share: u64|
             -> Call<'_, (u8, usize)> {
                let size = sizes[province.number() as usize - 1];
                let start = after.map_or(0, |a| a.parse::<usize>().unwrap() + 1);
                let end = (start + share as usize).min(size);
                fetched.set(fetched.get() + (end - start));
                let items = (start..end)
                    .map(|i| {
                        (
                            i.to_string(),
                            Sourced::owner((province.number() as u8, i), chrono::Utc::now()),
                        )
                    })
                    .collect();
                Box::pin(async move {
                    Ok(Noted::plain(Some(SourcePage {
                        source: province.to_string(),
                        items,
                        has_next: end < size,
                    })))
                })
            };
            let mut asking = sources.clone();
            asking.retain(|p| !position.done.contains(&p.to_string()));
            let gathered = gather(asking, first, &position, ask)
                .now_or_never()
                .expect("fake sources answer at once")
                .unwrap();
            let page = merge(position, gathered.value.into_values());
            pages.push((
                page.edges.iter().map(|(_, item)| item.record).collect(),
                fetched.get(),
            ));
            if !page.has_next {
                return pages;
            }
            assert!(!page.edges.is_empty(), "a page with more to come was empty");
            after = page.end_cursor;
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// However records lie among any number of sources, paging gives
        /// each once, in its source's order; no page is longer than asked,
        /// and none fetches more than `first` plus one per source less one.
        #[test]
        fn pages_share_out_the_sources_and_lose_nothing(
            sizes in proptest::collection::vec(
                proptest::prop_oneof![0usize..3, 0usize..40, 0usize..200], 1..40),
            first in proptest::prop_oneof![1usize..4, 1usize..=100],
        ) {
            let pages = page_through(&sizes, first);
            let mut seen: Vec<Vec<usize>> = vec![Vec::new(); sizes.len()];
            for (records, fetched) in &pages {
                proptest::prop_assert!(records.len() <= first);
                proptest::prop_assert!(*fetched < first + sizes.len(), "fetched {fetched} for {first}");
                for (source, index) in records {
                    seen[*source as usize - 1].push(*index);
                }
            }
            for (source, size) in sizes.iter().enumerate() {
                proptest::prop_assert_eq!(&seen[source], &(0..*size).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_full_page_is_shared_evenly_and_a_short_share_goes_to_the_others() {
        let pages = page_through(&[300, 300, 300, 300], 100);
        assert_eq!(pages[0].0.len(), 100);
        assert_eq!(pages[0].1, 100, "four sources of plenty are asked 25 each");
        let pages = page_through(&[2, 300, 0, 300], 100);
        assert_eq!(pages[0].0.len(), 100);
        let from = |source: u8| pages[0].0.iter().filter(|(s, _)| *s == source).count();
        assert_eq!((from(1), from(2), from(3), from(4)), (2, 49, 0, 49));
        assert!(pages[0].1 < 100 + 4);
    }

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
