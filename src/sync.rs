//! Scheduled sync: keep a read-only replica of what each partner shares, by
//! reading its change feed.
//!
//! One pass for one partner: take the lease on that partner's sync (so only one
//! worker runs it, however many gateway processes share the database), then page
//! through the partner's feed from our stored cursor, `federation.sync_page`
//! (default 1000) changes a page. For each page, fetch the changed records from
//! their owner in one `nodes` request, and apply the page — rows upserted only
//! when newer, records no longer shared removed, the partner's alerts kept as
//! notices (if its push of one was lost), cursor advanced — in one
//! transaction. A crash at any instant therefore
//! loses nothing and applies nothing twice: the next pass resumes from the last
//! committed cursor. A feed whose epoch changed, or a cursor that does not move
//! forward, stops the pass with an error instead of guessing.
//!
//! Fetching runs ahead of applying: the feed is read page after page, the
//! records of up to four pages are asked for meanwhile, and a page is applied
//! while the ones after it are fetched. This changes none of the above, since
//! pages are applied in feed order and each only where the one before it ended.

use chrono::Utc;

use crate::domain::{GlobalId, ProvinceCode};
use crate::federation::feed;
use crate::federation::{Partner, PartnerError, Partners, Trace};
use crate::store::{FeedPosition, ReplicaRow, Store, SyncPage};
use futures_util::StreamExt;

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

/// The exit status of `caunoi sync --once` when another worker held a
/// partner's lease, so the pass did nothing: `EX_TEMPFAIL` of sysexits.h,
/// "try again later", apart from a failure (1), so that a scheduler notices.
pub const SKIPPED_EXIT: u8 = 75;

/// Names a sync worker in the lease it holds: `<kind>@<host>/<pid>/<start>`,
/// the process's start in clock ticks since boot, so that a process later
/// given the same number is not taken for it.
pub fn worker(kind: &str) -> String {
    let pid = std::process::id();
    format!(
        "{kind}@{}/{pid}/{}",
        host_name().unwrap_or_default(),
        started(pid).unwrap_or_default()
    )
}

/// Whether the worker named `holder` was a process of this host that is gone:
/// its lease need not be waited out. A holder of another host, or one not
/// named by [`worker`], is never judged gone.
pub fn gone(holder: &str) -> bool {
    let Some((_, place)) = holder.split_once('@') else {
        return false;
    };
    let mut parts = place.rsplitn(3, '/');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host.is_empty() || Some(host) != host_name().as_deref() {
        return false;
    }
    started(pid).is_none_or(|now| now != start)
}

/// This machine's name, as the kernel has it.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_owned()).filter(|name| !name.is_empty())
}

/// When process `pid` started, in clock ticks since boot, if it is running:
/// the 22nd field of `/proc/<pid>/stat`, counted after the command's closing
/// parenthesis (the command may hold spaces).
fn started(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// One pass over `province`'s feed, as worker `holder`. A lease held by a
/// worker of this host whose process is gone (killed mid-pass) is taken over
/// at once rather than waited out.
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
    let held_by = store
        .sync_state(province)
        .await
        .map_err(store_error)?
        .holder
        .filter(|holder| gone(holder));
    if !store
        .take_sync_lease(province, holder, Utc::now() + lease, held_by.as_deref())
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

/// Pages whose records may be on their way at once, so that the partner
/// prepares some while we read and check others. Measured on two cores with
/// both gateways on them (the benchmark's sync, 50 000 certificates): one page
/// at a time synced about 9 000 records/s with the machine 39 % idle, two
/// 12 000, three 14 500, four 15 500 (13 % idle), six or eight no more. Four
/// leave a partner's other callers half of its turns (`limits`), and cost
/// the partner about 10 MB more at its peak than two.
const PAGES_AHEAD: usize = 4;

async fn pass(
    store: &Store,
    partner: &Partner,
    lease: chrono::Duration,
    holder: &str,
    report: &mut Report,
) -> Result<(), SyncError> {
    let province = partner.province;
    let state = store.sync_state(province).await.map_err(store_error)?;
    // Fetched pages wait here only until the one before them is applied.
    let (pages, mut ready) = tokio::sync::mpsc::channel::<SyncPage>(PAGES_AHEAD);
    let fetching = fetch(partner, store.province(), state.cursor, state.epoch, pages);
    // `move`: the receiver goes with the applier, so an applier that stops
    // closes the channel and a fetcher waiting to send is told at once.
    // The lease is renewed as each page is applied, not as it is fetched: a
    // page may wait behind others.
    let applying = async move {
        while let Some(page) = ready.recv().await {
            report.applied += store
                .apply_sync_page(province, &page, holder, Utc::now() + lease)
                .await
                .map_err(store_error)?;
            report.pages += 1;
        }
        Ok::<(), SyncError>(())
    };
    let (fetched, applied) = futures_util::future::join(fetching, applying).await;
    // A failed apply stops the fetching (its channel closes); a failed fetch
    // lets the pages already handed to the applier be applied first (those
    // still on their way are dropped, to be fetched again by the next pass).
    applied.and(fetched)
}

/// Reads `partner`'s feed from `after` and sends each page, with the latest form
/// of each record it names, to `pages`, in feed order; stops at the feed's end
/// or when `pages` is closed. The feed is read one page after another (each
/// starts where the last ended), and the records of up to [`PAGES_AHEAD`] pages
/// are asked for meanwhile.
async fn fetch(
    partner: &Partner,
    us: ProvinceCode,
    after: Option<String>,
    epoch: Option<String>,
    pages: tokio::sync::mpsc::Sender<SyncPage>,
) -> Result<(), SyncError> {
    let source = Source {
        partner,
        us,
        trace: Trace::from_headers(None, None),
    };
    // A feed that started again refuses our cursor; say so plainly first.
    if let Some(stored) = &epoch {
        let now = feed::epoch(partner, &source.trace)
            .await
            .map_err(|e| source.failed(e))?;
        same_epoch(partner.province, stored, &now)?;
    }
    // The feed page being read, and the pages whose records are on their way,
    // oldest first.
    let mut reading = Some(Box::pin(source.changes(after, epoch)));
    let mut fetching = futures_util::stream::FuturesOrdered::new();
    while reading.is_some() || !fetching.is_empty() {
        tokio::select! {
            read = async { reading.as_mut().expect("checked").await },
                if reading.is_some() && fetching.len() < PAGES_AHEAD =>
            {
                reading = None;
                if let Some(changed) = read? {
                    if changed.more {
                        let (after, epoch) = (changed.until.clone(), changed.epoch.clone());
                        reading = Some(Box::pin(source.changes(Some(after), Some(epoch))));
                    }
                    fetching.push_back(source.records(changed));
                }
            }
            Some(page) = fetching.next(), if !fetching.is_empty() => {
                if pages.send(page?).await.is_err() {
                    // The applier stopped; it says why.
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// One page of a partner's feed to apply: where it starts and ends, the
/// records it says changed, once each, and whether more pages follow.
struct Changed {
    epoch: String,
    after: Option<String>,
    until: String,
    ids: Vec<GlobalId>,
    more: bool,
}

/// Where one pass reads from.
struct Source<'a> {
    partner: &'a Partner,
    /// Our province, which the partner tells of some of its records.
    us: ProvinceCode,
    trace: Trace,
}

impl Source<'_> {
    fn failed(&self, error: PartnerError) -> SyncError {
        SyncError::Partner(self.partner.province, error)
    }

    /// The feed page after the cursor `after` (in the feed epoch `epoch`, when
    /// known); `None` when it is empty, the feed's end. The feed must still be
    /// in that epoch, and its cursor must move forward.
    async fn changes(
        &self,
        after: Option<String>,
        epoch: Option<String>,
    ) -> Result<Option<Changed>, SyncError> {
        let province = self.partner.province;
        let page = feed::changes(self.partner, after.as_deref(), &self.trace)
            .await
            .map_err(|e| self.failed(e))?;
        if let Some(stored) = &epoch {
            same_epoch(province, stored, &page.epoch)?;
        }
        let Some(until) = page.until else {
            return Ok(None);
        };
        let reached = FeedPosition::from_cursor(&until)
            .ok_or_else(|| self.failed(PartnerError::BadResponse("cursor".to_owned())))?;
        if let Some(previous) = after.as_deref().and_then(FeedPosition::from_cursor)
            && !reached.is_after(&previous)
        {
            return Err(SyncError::CursorBackwards(province));
        }
        Ok(Some(Changed {
            epoch: page.epoch,
            after,
            until,
            ids: page.ids,
            more: page.more,
        }))
    }

    /// The page to apply for `changed`: its records asked of their owner, in
    /// their latest form, or removed where the owner no longer shares them.
    async fn records(&self, changed: Changed) -> Result<SyncPage, SyncError> {
        let copies = feed::records(self.partner, &changed.ids, &self.trace)
            .await
            .map_err(|e| self.failed(e))?;
        let mut page = SyncPage {
            epoch: changed.epoch,
            after: changed.after,
            until: changed.until,
            rows: Vec::new(),
            removed: Vec::new(),
            notices: Vec::new(),
        };
        for (id, copy) in changed.ids.iter().zip(copies) {
            let kind = id.kind.code().to_owned();
            match copy {
                // No longer shared with us (or gone): our copy goes too.
                None => page.removed.push((kind, id.local)),
                Some(copy) => {
                    // A copy of what the partner tells us of is its notice,
                    // if the push was lost.
                    page.notices.extend(copy.record.notice_to(self.us));
                    page.rows.push(ReplicaRow {
                        kind,
                        record_id: id.local,
                        version: copy.record.version(),
                        number: copy.record.number().map(|n| n.to_string()),
                        body: copy.body,
                    });
                }
            }
        }
        Ok(page)
    }
}

/// A feed read in epoch `now` where we hold a cursor of epoch `stored`: the
/// partner's database was restored or re-created, and the cursor means nothing.
fn same_epoch(province: ProvinceCode, stored: &str, now: &str) -> Result<(), SyncError> {
    if stored == now {
        return Ok(());
    }
    Err(SyncError::EpochChanged {
        province,
        stored: stored.to_owned(),
        now: now.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::{gone, worker};

    #[test]
    fn only_a_worker_of_this_host_whose_process_is_gone_is_gone() {
        let me = worker("caunoi-sync");
        assert!(!gone(&me), "{me}");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let (kind_host, _) = me.split_once('/').unwrap();
        assert!(gone(&format!("{kind_host}/{pid}/1")));
        // Our own number, with another start: a process that had it before.
        let mine = std::process::id();
        assert!(gone(&format!("{kind_host}/{mine}/0")));
        for never in [
            "caunoi-sync@another-host/1/1".to_owned(),
            format!("{kind_host}/not-a-pid/1"),
            "worker-b".to_owned(),
            "caunoi-sync@/1/1".to_owned(),
        ] {
            assert!(!gone(&never), "{never}");
        }
    }
}
