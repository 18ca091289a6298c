//! The change feed: every write to an owned record appends a change in the same
//! transaction, and `changes` reads them in commit order.
//!
//! Why the order holds: the last step of every write transaction bumps the single
//! `change_head` row and numbers its changes with the new value. The bump takes the
//! row's lock, which is held until the transaction ends, so no other writer can
//! take a number until this one has committed or rolled back. Numbers are
//! therefore taken, and become visible, in commit order — on PostgreSQL, where a
//! plain sequence is assigned at insert and seen at commit (so `seq > cursor`
//! polling would skip a late committer), as on SQLite, where writers are
//! serialised anyway. A rolled-back transaction gives its number back. A reader
//! can never see number `n + 1` while `n` is still to come.

use chrono::Utc;
use entity::{change_head, change_log};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{Audience, Store};
use crate::domain::{GlobalId, ProvinceCode, RecordKind, coded_enum};
use crate::error::AppError;

coded_enum! {
    /// What a change did to its record.
    pub enum ChangeOperation {
        Create => "create",
        Update => "update",
    }
}

/// One change a write makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: RecordKind,
    pub record: i64,
    pub version: i32,
    pub operation: ChangeOperation,
    /// The partners the change concerns: those the record is shared with before
    /// or after it, so that a partner also learns when something stops being
    /// shared with it.
    pub shared_with: SharedWith,
}

impl Change {
    /// The change `operation` made to the record `id`, now at `version`.
    pub(super) fn of(
        id: GlobalId,
        version: i32,
        operation: ChangeOperation,
        shared_with: SharedWith,
    ) -> Self {
        Self {
            kind: id.kind,
            record: id.local,
            version,
            operation,
            shared_with,
        }
    }
}

/// Which partners a change concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedWith {
    Everyone,
    Provinces(Vec<ProvinceCode>),
}

impl SharedWith {
    fn stored(&self) -> String {
        match self {
            SharedWith::Everyone => "*".to_owned(),
            SharedWith::Provinces(provinces) => {
                let mut text = ",".to_owned();
                for province in provinces {
                    text.push_str(&format!("{province},"));
                }
                text
            }
        }
    }
}

/// A change as the feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub position: FeedPosition,
    pub id: GlobalId,
    pub version: i32,
    pub operation: ChangeOperation,
    pub at: chrono::DateTime<Utc>,
}

/// A place in the feed: after change `idx` of transaction `seq`, in `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    pub epoch: String,
    pub seq: i64,
    pub idx: i32,
}

impl FeedPosition {
    /// The opaque cursor of this position.
    pub fn cursor(&self) -> String {
        self.cursor_of("f1")
    }

    /// Reads a cursor made by [`FeedPosition::cursor`].
    pub fn from_cursor(cursor: &str) -> Option<Self> {
        Self::read_cursor(cursor, "f1")
    }

    /// The opaque cursor of this position in the alert events.
    pub fn event_cursor(&self) -> String {
        self.cursor_of("e1")
    }

    /// Reads a cursor made by [`FeedPosition::event_cursor`].
    pub fn from_event_cursor(cursor: &str) -> Option<Self> {
        Self::read_cursor(cursor, "e1")
    }

    fn cursor_of(&self, tag: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{tag}:{}:{}:{}", self.epoch, self.seq, self.idx))
    }

    fn read_cursor(cursor: &str, tag: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split(':');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(found), Some(epoch), Some(seq), Some(idx), None) if found == tag => Some(Self {
                epoch: epoch.to_owned(),
                seq: seq.parse().ok()?,
                idx: idx.parse().ok()?,
            }),
            _ => None,
        }
    }

    /// Whether this position comes after `other` in the same feed.
    pub fn is_after(&self, other: &FeedPosition) -> bool {
        self.epoch == other.epoch && (self.seq, self.idx) > (other.seq, other.idx)
    }
}

/// One page of the feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub epoch: String,
    pub items: Vec<ChangeRecord>,
    pub has_next: bool,
}

impl Store {
    /// Numbers and appends a write's changes: the last step before its commit.
    pub(super) async fn record_changes(
        &self,
        txn: &DatabaseTransaction,
        changes: &[Change],
    ) -> Result<(), AppError> {
        let seq = next_seq(txn, FEED_HEAD).await?;
        let at = Utc::now();
        let rows = changes
            .iter()
            .enumerate()
            .map(|(idx, change)| change_log::ActiveModel {
                seq: Set(seq),
                idx: Set(idx as i32),
                kind: Set(change.kind.code().to_owned()),
                record_id: Set(change.record),
                version: Set(change.version),
                operation: Set(change.operation.code().to_owned()),
                shared_with: Set(change.shared_with.stored()),
                at: Set(at),
            });
        change_log::Entity::insert_many(rows).exec(txn).await?;
        Ok(())
    }

    /// Appends `count` changes to certificates that do not exist, each shared
    /// with `partner`, in transactions of a thousand: a feed of realistic length
    /// for the benchmark, which measures a page of it. Never used by the gateway.
    #[doc(hidden)]
    pub async fn pad_feed(&self, count: u64, partner: ProvinceCode) -> Result<(), AppError> {
        let mut done = 0;
        while done < count {
            let batch = Ord::min(count - done, 1000);
            let changes: Vec<Change> = (0..batch)
                .map(|i| Change {
                    kind: RecordKind::Certificate,
                    record: -1 - (done + i) as i64,
                    version: 1,
                    operation: ChangeOperation::Create,
                    shared_with: SharedWith::Provinces(vec![partner]),
                })
                .collect();
            let txn = self.write().await?;
            self.record_changes(&txn, &changes).await?;
            txn.commit().await?;
            done += batch;
        }
        Ok(())
    }

    /// The feed's epoch.
    pub async fn feed_epoch(&self) -> Result<String, AppError> {
        Ok(change_head::Entity::find_by_id(FEED_HEAD)
            .one(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the change feed head row is missing"))?
            .epoch)
    }

    /// Changes after `after` in commit order, at most `first`, of `kinds` (all if
    /// empty), as `audience` may see them. A page costs one indexed range read
    /// however long the feed is.
    #[tracing::instrument(skip(self, kinds))]
    pub async fn changes(
        &self,
        after: Option<&FeedPosition>,
        first: u64,
        kinds: &[RecordKind],
        audience: Audience,
    ) -> Result<FeedPage, AppError> {
        use change_log::Column as L;
        let epoch = self.feed_epoch().await?;
        let mut select = change_log::Entity::find();
        if let Some(after) = after {
            if after.epoch != epoch {
                return Err(AppError::invalid(
                    "after",
                    format!(
                        "the cursor is from feed epoch {}, but this feed is epoch {epoch}: start again from the beginning",
                        after.epoch
                    ),
                ));
            }
            select = select.filter(beyond(L::Seq, L::Idx, after));
        }
        if !kinds.is_empty() {
            select = select.filter(L::Kind.is_in(kinds.iter().map(|k| k.code())));
        }
        if let Audience::Partner(partner) = audience {
            select = select.filter(self.shared_changes(partner));
        }
        let first = std::cmp::min(first, super::MAX_FEED_PAGE);
        let mut rows = select
            .order_by_asc(L::Seq)
            .order_by_asc(L::Idx)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let items = rows
            .into_iter()
            .map(|row| {
                Ok(ChangeRecord {
                    position: FeedPosition {
                        epoch: epoch.clone(),
                        seq: row.seq,
                        idx: row.idx,
                    },
                    id: self.id(
                        RecordKind::from_code(&row.kind).ok_or_else(|| {
                            AppError::Internal(anyhow::anyhow!("corrupt change kind {}", row.kind))
                        })?,
                        row.record_id,
                    ),
                    version: row.version,
                    operation: super::stored(ChangeOperation::from_code(&row.operation), "change")?,
                    at: row.at,
                })
            })
            .collect::<Result<_, AppError>>()?;
        Ok(FeedPage {
            epoch,
            items,
            has_next,
        })
    }

    /// Changes that concern `partner`.
    fn shared_changes(&self, partner: ProvinceCode) -> Condition {
        use change_log::Column as L;
        Condition::any()
            .add(L::SharedWith.eq("*"))
            .add(L::SharedWith.like(format!("%,{partner},%")))
    }

    /// The provinces a facility of ours supplies now.
    pub(super) async fn markets_of(
        &self,
        txn: &DatabaseTransaction,
        facility: i64,
    ) -> Result<Vec<ProvinceCode>, AppError> {
        use entity::facility_market;
        let rows = facility_market::Entity::find()
            .filter(facility_market::Column::FacilityId.eq(facility))
            .all(txn)
            .await?;
        rows.into_iter()
            .map(|row| super::stored(ProvinceCode::from_number(row.province.into()), "market"))
            .collect()
    }
}

/// The rows numbered after `after` by their `(seq, idx)` columns. `seq >=
/// s` comes first: the range the primary key can seek to. Without it the OR
/// read the feed from its start (measured: a page cost 34 times more at a
/// million changes than at a thousand).
pub(super) fn beyond<C: ColumnTrait>(seq: C, idx: C, after: &FeedPosition) -> Condition {
    Condition::all().add(seq.gte(after.seq)).add(
        Condition::any().add(seq.gt(after.seq)).add(
            Condition::all()
                .add(seq.eq(after.seq))
                .add(idx.gt(after.idx)),
        ),
    )
}

/// The head row of the change feed; its epoch names the database.
const FEED_HEAD: i32 = 1;
/// The head row of the alert events.
pub(super) const EVENTS_HEAD: i32 = 2;

/// Takes, in `txn`, the next number from the head row `head`: the row stays
/// locked until `txn` ends, so numbers become visible in the order taken.
pub(super) async fn next_seq(txn: &DatabaseTransaction, head: i32) -> Result<i64, AppError> {
    use sea_orm::ConnectionTrait;
    txn.execute(
        Query::update()
            .table(change_head::Entity)
            .value(
                change_head::Column::LastSeq,
                Expr::col(change_head::Column::LastSeq).add(1),
            )
            .and_where(Expr::col(change_head::Column::Id).eq(head)),
    )
    .await?;
    Ok(change_head::Entity::find_by_id(head)
        .one(txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the head row {head} is missing"))?
        .last_seq)
}

#[cfg(test)]
mod tests {
    use super::FeedPosition;
    use base64::Engine;

    proptest::proptest! {
        /// A feed cursor, however made, is read or refused, never a panic;
        /// one the feed wrote reads back the same.
        #[test]
        fn any_feed_cursor_is_read_or_refused_never_a_panic(
            text in "\\PC{0,60}",
            inside in "\\PC{0,60}",
            epoch in "[a-f0-9]{1,32}",
            seq in proptest::prelude::any::<i64>(),
            idx in proptest::prelude::any::<i32>(),
        ) {
            let _ = FeedPosition::from_cursor(&text);
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let _ = FeedPosition::from_cursor(&engine.encode(format!("f1:{inside}")));
            let position = FeedPosition { epoch, seq, idx };
            proptest::prop_assert_eq!(FeedPosition::from_cursor(&position.cursor()), Some(position));
        }
    }
}
