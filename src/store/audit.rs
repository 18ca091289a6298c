//! The audit chain's storage: appends serialised on the head row.

use entity::{audit_head, audit_log};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait, Statement, sea_query::Expr,
};

use super::{Page, PageRequest, Store, page};
use crate::audit::{Entry, Event, Head};
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

type Reply = tokio::sync::oneshot::Sender<Result<i64, String>>;

impl Store {
    /// Appends `event` to the chain and returns its id, once it is committed.
    /// Appends are serialised by the head row (its update locks it on
    /// PostgreSQL; on SQLite the write lock does) and, within a process, grouped.
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
                            Err(error) => Err(format!("{error:?}")),
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
            .map_err(|error| AppError::Internal(anyhow::anyhow!("audit append: {error}")))
    }

    /// Appends `events` in order in one transaction: the id of the first, and the
    /// new head. `known` is the head this process wrote last, if any; it is used
    /// unread, and if another process has appended since, the batch goes again
    /// after the stored head.
    async fn append_audit_batch(
        &self,
        events: &[Event],
        known: Option<Head>,
    ) -> Result<(i64, Head), AppError> {
        if let Some(head) = known {
            match self.append_after(events, Some(head)).await {
                Ok(Some(written)) => return Ok(written),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(error = ?error, "appending after the head written last failed");
                }
            }
        }
        self.append_after(events, None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the audit head moved under its lock").into())
    }

    /// One try at appending `events` after `head` (the stored head, read under
    /// the lock, if `None`). The head row moves first, and only from `head`: if
    /// it is elsewhere, nothing is written, and the answer is `None` (or an
    /// error, where an id the batch would take is already taken).
    async fn append_after(
        &self,
        events: &[Event],
        head: Option<Head>,
    ) -> Result<Option<(i64, Head)>, AppError> {
        let txn = self.write().await?;
        let head = match head {
            Some(head) => head,
            None => stored_head(&txn, self.backend() == DbBackend::Postgres).await?,
        };
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
        let moves = audit_head::Entity::update_many()
            .col_expr(audit_head::Column::LastId, Expr::value(last.id))
            .col_expr(audit_head::Column::LastHash, Expr::value(last.hash.clone()))
            .filter(audit_head::Column::Id.eq(1))
            .filter(audit_head::Column::LastId.eq(head.id))
            .filter(audit_head::Column::LastHash.eq(head.hash.as_str()));
        // At most this many rows per statement, within SQLite's parameter limit.
        let mut inserts = rows
            .chunks(500)
            .map(|chunk| audit_log::Entity::insert_many(chunk.to_vec()));
        let backend = self.backend();
        let changed = if backend == DbBackend::Sqlite && rows.len() <= 500 {
            // Every statement is a round trip to the connection's thread, and
            // the writer's round trips are what other appends wait on: SQLite
            // takes the two as one statement list, its parameters in order.
            // If the head is elsewhere, the insert still runs (or fails on
            // an id taken); either way the counts tell, and nothing stays.
            let head_moves = backend.build(&moves.into_query());
            let appends = backend.build(&inserts.next().expect("a batch has entries").into_query());
            let values = [head_moves.values, appends.values]
                .into_iter()
                .flatten()
                .flat_map(|values| values.0);
            let both = Statement::from_sql_and_values(
                backend,
                format!("{}; {}", head_moves.sql, appends.sql),
                values,
            );
            txn.execute_raw(both).await?.rows_affected() == rows.len() as u64 + 1
        } else {
            let moved = moves.exec(&txn).await?.rows_affected == 1;
            if moved {
                for insert in inserts {
                    insert.exec(&txn).await?;
                }
            }
            moved
        };
        if !changed {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.commit().await?;
        Ok(Some((head.id + 1, last)))
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
