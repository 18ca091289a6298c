//! The audit chain's storage: appends serialised on the head row.

use entity::{audit_head, audit_log};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::{Page, PageRequest, Store, page};
use crate::domain::audit::{Entry, Event, Head};
use crate::error::AppError;

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub outcome: Option<String>,
    pub province: Option<i32>,
    pub role: Option<String>,
}

/// Audit appends waiting to be written. Every append must reach the disk before
/// its request is answered, and each commit costs a flush; so appends that
/// arrive while one is being written wait and go together in the next
/// transaction (group commit), one flush for all of them.
#[derive(Default)]
pub(super) struct Queue {
    pending: std::sync::Mutex<Vec<(Event, Reply)>>,
    /// Held by whoever writes, with the head this process last wrote: the next
    /// batch links to it without reading the head back.
    writer: tokio::sync::Mutex<Option<Head>>,
}

/// An append's id, or why it failed: the database was busy, or another cause.
type Reply = tokio::sync::oneshot::Sender<Result<i64, Option<String>>>;

impl Store {
    /// Appends `event` to the chain and returns its id, once it is committed.
    /// Appends are serialised by the head row, which each insert moves (the
    /// update locks it on PostgreSQL; on SQLite the write lock serialises) and,
    /// within a process, grouped.
    #[tracing::instrument(skip(self, event), fields(outcome = %event.outcome))]
    pub async fn append_audit(&self, event: &Event) -> Result<i64, AppError> {
        let (reply, written) = tokio::sync::oneshot::channel();
        self.audit_queue
            .pending
            .lock()
            .expect("the audit queue is never poisoned")
            .push((event.clone(), reply));
        {
            // Whoever holds the writer writes everything queued so far; ours is
            // in it unless a writer before took it, and then it is answered.
            let mut writer = self.audit_queue.writer.lock().await;
            let batch = std::mem::take(
                &mut *self
                    .audit_queue
                    .pending
                    .lock()
                    .expect("the audit queue is never poisoned"),
            );
            if !batch.is_empty() {
                // Its own task, so that a request given up mid-write (its client
                // went away) cannot abandon the others' entries.
                let store = self.clone();
                let known = writer.take();
                let write = tokio::spawn(async move {
                    let (events, replies): (Vec<Event>, Vec<Reply>) = batch.into_iter().unzip();
                    let written = store.append_audit_batch(&events, known).await;
                    for (i, reply) in replies.into_iter().enumerate() {
                        let _ = reply.send(match &written {
                            Ok((first, _)) => Ok(first + i as i64),
                            Err(AppError::StorageBusy) => Err(None),
                            Err(error) => Err(Some(format!("{error:?}"))),
                        });
                    }
                    written.ok().map(|(_, head)| head)
                });
                *writer = write.await.ok().flatten();
            }
        }
        written
            .await
            .map_err(|_| anyhow::anyhow!("the audit writer went away"))?
            .map_err(|error| match error {
                None => AppError::StorageBusy,
                Some(error) => AppError::Internal(anyhow::anyhow!("audit append: {error}")),
            })
    }

    /// Appends `events` in order and returns the id of the first and the new
    /// head. The database refuses an entry that does not follow the head and
    /// moves the head as each goes in (migration `m0006_audit_links`), so a batch
    /// is one `INSERT`: one statement, committed on its own. `known` is the head
    /// this process wrote last; if another process has appended since, the
    /// insert is refused and the batch goes again after the stored head, read
    /// under the write lock.
    async fn append_audit_batch(
        &self,
        events: &[Event],
        known: Option<Head>,
    ) -> Result<(i64, Head), AppError> {
        if let Some(head) = known.filter(|_| events.len() <= INSERT_ROWS) {
            let (rows, last) = linked(events, &head)?;
            match audit_log::Entity::insert_many(rows)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => return Ok((head.id + 1, last)),
                Err(error) => {
                    tracing::debug!(error = ?error, "appending after the head written last failed");
                }
            }
        }
        let txn = self.write().await?;
        let head = stored_head(&txn, self.backend() == DbBackend::Postgres).await?;
        let (rows, last) = linked(events, &head)?;
        for chunk in rows.chunks(INSERT_ROWS) {
            audit_log::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok((head.id + 1, last))
    }

    /// The chain's head as stored.
    pub async fn audit_head(&self) -> Result<Head, AppError> {
        stored_head(&self.db, false).await
    }

    /// Entries in id order.
    pub async fn audit_entries(
        &self,
        request: PageRequest,
        filter: &AuditFilter,
    ) -> Result<Page<Entry>, AppError> {
        let mut select = audit_log::Entity::find();
        if let Some(outcome) = &filter.outcome {
            select = select.filter(audit_log::Column::Outcome.eq(outcome.as_str()));
        }
        if let Some(province) = filter.province {
            select = select.filter(audit_log::Column::Province.eq(province));
        }
        if let Some(role) = &filter.role {
            select = select.filter(audit_log::Column::Role.eq(role.as_str()));
        }
        let rows = page(&self.db, select, audit_log::Column::Id, request).await?;
        let items = rows
            .items
            .into_iter()
            .map(|row| {
                let records: Vec<String> = serde_json::from_str(&row.records)
                    .map_err(|e| anyhow::anyhow!("audit entry {}: records: {e}", row.id))?;
                Ok(Entry {
                    id: row.id,
                    event: Event {
                        at: row.at,
                        fingerprint: row.fingerprint,
                        subject: row.subject,
                        role: row.role,
                        province: row.province,
                        operation_name: row.operation_name,
                        operation_type: row.operation_type,
                        query_hash: row.query_hash,
                        variables_hash: row.variables_hash,
                        records,
                        outcome: row.outcome,
                        error_codes: row
                            .error_codes
                            .split(',')
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        latency_us: row.latency_us,
                    },
                    prev_hash: row.prev_hash,
                    hash: row.hash,
                })
            })
            .collect::<Result<_, AppError>>()?;
        Ok(Page {
            items,
            has_next: rows.has_next,
        })
    }
}

/// At most this many entries per `INSERT`, within SQLite's parameter limit.
const INSERT_ROWS: usize = 500;

/// The rows of `events` chained after `head`, and the head after the last.
fn linked(events: &[Event], head: &Head) -> Result<(Vec<audit_log::ActiveModel>, Head), AppError> {
    let mut last = head.clone();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let id = last.id + 1;
        let hash = event.link_hash(id, &last.hash);
        rows.push(audit_log::ActiveModel {
            id: Set(id),
            at: Set(event.at),
            fingerprint: Set(event.fingerprint.clone()),
            subject: Set(event.subject.clone()),
            role: Set(event.role.clone()),
            province: Set(event.province),
            operation_name: Set(event.operation_name.clone()),
            operation_type: Set(event.operation_type.clone()),
            query_hash: Set(event.query_hash.clone()),
            variables_hash: Set(event.variables_hash.clone()),
            records: Set(serde_json::to_string(&event.records).map_err(anyhow::Error::from)?),
            outcome: Set(event.outcome.clone()),
            error_codes: Set(event.error_codes.join(",")),
            latency_us: Set(event.latency_us),
            prev_hash: Set(last.hash.clone()),
            hash: Set(hash.clone()),
        });
        last = Head { id, hash };
    }
    Ok((rows, last))
}

/// The head row, locked `FOR UPDATE` if `lock` (PostgreSQL, inside an append).
async fn stored_head(db: &impl ConnectionTrait, lock: bool) -> Result<Head, AppError> {
    let mut select = audit_head::Entity::find_by_id(1);
    if lock {
        select = select.lock_exclusive();
    }
    let row = select
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the audit head row is missing"))?;
    Ok(Head {
        id: row.last_id,
        hash: row.last_hash,
    })
}
