//! Scheduled sync: keep a read-only replica of what each partner shares, by
//! reading its change feed.
//!
//! One pass for one partner: take the lease on that partner's sync (so only one
//! worker runs it, however many gateway processes share the database), then page
//! through the partner's feed from our stored cursor, `federation.sync_page`
//! (default 1000) changes a page. For each page, fetch the changed records from
//! their owner in one `nodes` request, and apply the page — rows upserted only
//! when newer, records no longer shared removed, cursor advanced — in one
//! transaction. A crash at any instant therefore
//! loses nothing and applies nothing twice: the next pass resumes from the last
//! committed cursor. A feed whose epoch changed, or a cursor that does not move
//! forward, stops the pass with an error instead of guessing.
//!
//! Fetching runs ahead of applying: while a page is applied, the next page's
//! records are fetched, together with the feed page after it. This changes none
//! of the above, since a page still applies only where the one before it ended.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;

use crate::domain::{GlobalId, ProvinceCode};
use crate::federation::records::{EPOCH, FEED, Reader, nodes_query};
use crate::federation::{Partner, PartnerError, Partners, Trace};
use crate::store::{FeedPosition, ReplicaRow, Store, SyncPage};

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub province: ProvinceCode,
    /// Another worker held the lease; this pass did nothing.
    pub skipped: bool,
    pub pages: u32,
    /// Rows inserted, updated or removed.
    pub applied: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.skipped {
            return write!(
                f,
                "province {}: another worker is syncing it; skipped",
                self.province
            );
        }
        write!(
            f,
            "province {}: {} pages, {} rows applied",
            self.province, self.pages, self.applied
        )
    }
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("province {0} cannot be asked: {1:?}")]
    Partner(ProvinceCode, PartnerError),
    #[error(
        "province {province}'s feed is now epoch {now}, not {stored}: its database was restored or re-created; clear its replica and sync state to start again"
    )]
    EpochChanged {
        province: ProvinceCode,
        stored: String,
        now: String,
    },
    #[error("province {0}'s feed cursor did not move forward; stopping rather than guessing")]
    CursorBackwards(ProvinceCode),
    #[error("storage: {0}")]
    Store(String),
}

fn store_error(error: crate::error::AppError) -> SyncError {
    SyncError::Store(format!("{error:?}"))
}

/// One pass over `province`'s feed, as worker `holder`.
#[tracing::instrument(skip(store, partners))]
pub async fn sync_once(
    store: &Store,
    partners: &Partners,
    province: ProvinceCode,
    holder: &str,
) -> Result<Report, SyncError> {
    let mut report = Report {
        province,
        skipped: false,
        pages: 0,
        applied: 0,
    };
    let partner = partners
        .get(province)
        .map_err(|e| SyncError::Partner(province, e))?;
    let lease = chrono::Duration::from_std(partner.sync_lease())
        .map_err(|e| SyncError::Store(format!("federation.sync_lease: {e}")))?;
    if !store
        .take_sync_lease(province, holder, Utc::now() + lease)
        .await
        .map_err(store_error)?
    {
        report.skipped = true;
        return Ok(report);
    }
    let result = pass(store, partner, lease, holder, &mut report).await;
    match &result {
        Ok(()) => crate::server::metrics::sync_pass(&province.to_string(), Some(report.applied)),
        Err(error) => {
            crate::server::metrics::sync_pass(&province.to_string(), None);
            let _ = store.record_sync_error(province, &error.to_string()).await;
        }
    }
    let _ = store.release_sync_lease(province, holder).await;
    result.map(|()| report)
}

async fn pass(
    store: &Store,
    partner: &Partner,
    lease: chrono::Duration,
    holder: &str,
    report: &mut Report,
) -> Result<(), SyncError> {
    let province = partner.province;
    let state = store.sync_state(province).await.map_err(store_error)?;
    // The next pages are fetched while this one is applied; a page waits in the
    // channel only until the one before it is applied.
    let (pages, mut ready) = tokio::sync::mpsc::channel::<SyncPage>(1);
    let fetching = fetch(partner, state.cursor, state.epoch, lease, holder, pages);
    // `move`: the receiver goes with the applier, so an applier that stops
    // closes the channel and a fetcher waiting to send is told at once.
    let applying = async move {
        while let Some(page) = ready.recv().await {
            report.applied += store
                .apply_sync_page(province, &page)
                .await
                .map_err(store_error)?;
            report.pages += 1;
        }
        Ok::<(), SyncError>(())
    };
    let (fetched, applied) = futures_util::future::join(fetching, applying).await;
    // A failed apply stops the fetching (its channel closes); a failed fetch
    // lets the pages already fetched be applied first.
    applied.and(fetched)
}

/// Reads `partner`'s feed from `after` and sends each page, with the latest form
/// of each record it names, to `pages`; stops at the feed's end or when `pages`
/// is closed.
async fn fetch(
    partner: &Partner,
    mut after: Option<String>,
    mut epoch: Option<String>,
    lease: chrono::Duration,
    holder: &str,
    pages: tokio::sync::mpsc::Sender<SyncPage>,
) -> Result<(), SyncError> {
    let province = partner.province;
    let trace = Trace::from_headers(None, None);
    let reader = Reader { owner: province };
    let ask = |query: String, variables: serde_json::Value| {
        let trace = &trace;
        async move {
            partner
                .query(&query, variables, trace)
                .await
                .map_err(|e| SyncError::Partner(province, e))
        }
    };
    let feed_after = |after: Option<String>| {
        ask(
            FEED.to_owned(),
            json!({ "after": after, "first": partner.sync_page() }),
        )
    };
    // A feed that started again refuses our cursor; say so plainly first.
    if let Some(stored) = &epoch {
        let data = ask(EPOCH.to_owned(), json!({})).await?;
        let now = data["changes"]["epoch"].as_str().unwrap_or_default();
        if now != stored {
            return Err(SyncError::EpochChanged {
                province,
                stored: stored.clone(),
                now: now.to_owned(),
            });
        }
    }
    let mut data = feed_after(after.clone()).await?;
    loop {
        let feed = &data["changes"];
        let bad =
            |what: &str| SyncError::Partner(province, PartnerError::BadResponse(what.to_owned()));
        let page_epoch = feed["epoch"]
            .as_str()
            .ok_or_else(|| bad("no epoch"))?
            .to_owned();
        if let Some(stored) = &epoch
            && *stored != page_epoch
        {
            return Err(SyncError::EpochChanged {
                province,
                stored: stored.clone(),
                now: page_epoch,
            });
        }
        let edges = feed["edges"].as_array().ok_or_else(|| bad("no edges"))?;
        let Some(until) = feed["pageInfo"]["endCursor"].as_str() else {
            return Ok(());
        };
        let reached = FeedPosition::from_cursor(until).ok_or_else(|| bad("cursor"))?;
        if let Some(previous) = after.as_deref().and_then(FeedPosition::from_cursor)
            && !reached.is_after(&previous)
        {
            return Err(SyncError::CursorBackwards(province));
        }
        // Each record changed in this page, once: its owner gives its latest form.
        let mut ids: Vec<GlobalId> = Vec::new();
        let mut seen = HashSet::new();
        for edge in edges {
            let id = edge["node"]["id"]
                .as_str()
                .ok_or_else(|| bad("change id"))?;
            let id = GlobalId::parse(id).map_err(|_| bad("change id"))?;
            if id.province != province {
                return Err(bad("a change of another province"));
            }
            if seen.insert(id) {
                ids.push(id);
            }
        }
        let more = feed["pageInfo"]["hasNextPage"] == json!(true);
        let until = until.to_owned();
        // This page's records and the next page of the feed are asked for
        // together: the partner works on both while we wait once.
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let next = async {
            match more {
                true => feed_after(Some(until.clone())).await.map(Some),
                false => Ok(None),
            }
        };
        let (records, next) =
            futures_util::future::join(ask(nodes_query(), json!({ "ids": names })), next).await;
        let records = records?;
        let nodes = reader
            .nodes(&ids, &records)
            .map_err(|e| SyncError::Partner(province, e))?;
        let mut page = SyncPage {
            epoch: page_epoch.clone(),
            after: after.clone(),
            until: until.clone(),
            rows: Vec::new(),
            removed: Vec::new(),
            holder: holder.to_owned(),
            lease_until: Utc::now() + lease,
        };
        for (id, node) in ids.iter().zip(nodes) {
            let kind = id.kind.code().to_owned();
            match node {
                // No longer shared with us (or gone): our copy goes too.
                None => page.removed.push((kind, id.local)),
                Some((record, json)) => page.rows.push(ReplicaRow {
                    kind,
                    record_id: id.local,
                    version: record.version(),
                    body: json.to_string(),
                    number: record.number().map(|n| n.to_string()),
                }),
            }
        }
        if pages.send(page).await.is_err() {
            // The applier stopped; it says why.
            return Ok(());
        }
        match next? {
            Some(following) => {
                data = following;
                after = Some(until);
                epoch = Some(page_epoch);
            }
            None => return Ok(()),
        }
    }
}
