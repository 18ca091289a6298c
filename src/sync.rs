//! Scheduled sync: keep a read-only replica of what each partner shares, by
//! reading its change feed.
//!
//! One pass for one partner: take the lease on that partner's sync (so only one
//! worker runs it, however many gateway processes share the database), then page
//! through the partner's feed from our stored cursor. For each page, fetch the
//! changed records from their owner in one `nodes` request, and apply the page —
//! rows upserted only when newer, records no longer shared removed, cursor
//! advanced — in one transaction. A crash at any instant therefore loses nothing
//! and applies nothing twice: the next pass resumes from the last committed cursor.
//! A feed whose epoch changed, or a cursor that does not move forward, stops the
//! pass with an error instead of guessing.

use chrono::Utc;
use serde_json::json;

use crate::domain::{GlobalId, ProvinceCode};
use crate::federation::records::{EPOCH, FEED, Reader, nodes_query};
use crate::federation::{Partner, PartnerError, Partners, Trace};
use crate::store::{FeedPosition, ReplicaRow, Store, SyncPage};

/// Changes read per page.
const PAGE: u64 = 100;

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
    let trace = Trace::from_headers(None, None);
    let reader = Reader { owner: province };
    // A feed that started again refuses our cursor; say so plainly first.
    let stored = store.sync_state(province).await.map_err(store_error)?.epoch;
    if let Some(stored) = stored {
        let data = partner
            .query(EPOCH, json!({}), &trace)
            .await
            .map_err(|e| SyncError::Partner(province, e))?;
        let now = data["changes"]["epoch"].as_str().unwrap_or_default();
        if now != stored {
            return Err(SyncError::EpochChanged {
                province,
                stored,
                now: now.to_owned(),
            });
        }
    }
    loop {
        let state = store.sync_state(province).await.map_err(store_error)?;
        let data = partner
            .query(
                FEED,
                json!({ "after": state.cursor, "first": PAGE }),
                &trace,
            )
            .await
            .map_err(|e| SyncError::Partner(province, e))?;
        let feed = &data["changes"];
        let bad =
            |what: &str| SyncError::Partner(province, PartnerError::BadResponse(what.to_owned()));
        let epoch = feed["epoch"]
            .as_str()
            .ok_or_else(|| bad("no epoch"))?
            .to_owned();
        if let Some(stored) = &state.epoch
            && *stored != epoch
        {
            return Err(SyncError::EpochChanged {
                province,
                stored: stored.clone(),
                now: epoch,
            });
        }
        let edges = feed["edges"].as_array().ok_or_else(|| bad("no edges"))?;
        let Some(until) = feed["pageInfo"]["endCursor"].as_str() else {
            return Ok(());
        };
        let reached = FeedPosition::from_cursor(until).ok_or_else(|| bad("cursor"))?;
        if let Some(previous) = state.cursor.as_deref().and_then(FeedPosition::from_cursor)
            && !reached.is_after(&previous)
        {
            return Err(SyncError::CursorBackwards(province));
        }
        // Each record changed in this page, once: its owner gives its latest form.
        let mut ids: Vec<GlobalId> = Vec::new();
        for edge in edges {
            let id = edge["node"]["id"]
                .as_str()
                .ok_or_else(|| bad("change id"))?;
            let id = GlobalId::parse(id).map_err(|_| bad("change id"))?;
            if id.province != province {
                return Err(bad("a change of another province"));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let data = partner
            .query(&nodes_query(), json!({ "ids": names }), &trace)
            .await
            .map_err(|e| SyncError::Partner(province, e))?;
        let nodes = reader
            .nodes(&ids, &data)
            .map_err(|e| SyncError::Partner(province, e))?;
        let mut page = SyncPage {
            epoch,
            after: state.cursor.clone(),
            until: until.to_owned(),
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
        report.applied += store
            .apply_sync_page(province, &page)
            .await
            .map_err(store_error)?;
        report.pages += 1;
        if feed["pageInfo"]["hasNextPage"] != json!(true) {
            return Ok(());
        }
    }
}
