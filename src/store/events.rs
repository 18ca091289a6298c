//! The events a province's dashboards follow, of alerts and of the market:
//! written in the transaction of the step they tell of, numbered in commit
//! order (one numbering for both feeds), read from a position on, feed by
//! feed.

use entity::alert_event;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::changes::{EVENTS_HEAD, beyond, next_seq};
use super::{FeedPosition, Page, Store, stored, stored_kind};
use crate::domain::{Event, FeedKind, GlobalId, ProvinceCode};
use crate::error::AppError;

impl Store {
    /// Appends `events`, in `txn`, after every event committed before;
    /// whoever commits `txn` calls [`Store::events_committed`].
    pub(super) async fn record_events<K: FeedKind>(
        &self,
        txn: &DatabaseTransaction,
        events: &[Event<K>],
    ) -> Result<(), AppError> {
        if events.is_empty() {
            return Ok(());
        }
        let seq = next_seq(txn, EVENTS_HEAD).await?;
        let rows = events
            .iter()
            .enumerate()
            .map(|(idx, e)| alert_event::ActiveModel {
                seq: Set(seq),
                idx: Set(idx as i32),
                kind: Set(e.kind.code().to_owned()),
                subject_kind: Set(e.subject.kind.code().to_owned()),
                alert_province: Set(e.subject.province.number()),
                alert_local: Set(e.subject.local),
                record_kind: Set(e.record.map(|r| r.kind.code().to_owned())),
                record_province: Set(e.record.map(|r| r.province.number())),
                record_local: Set(e.record.map(|r| r.local)),
                at: Set(e.at),
            });
        alert_event::Entity::insert_many(rows).exec(txn).await?;
        Ok(())
    }

    /// Tells those following the events that some were committed.
    pub(super) fn events_committed(&self) {
        self.events.send_modify(|count| *count += 1);
    }

    /// Changes each time events of this process are committed: a follower
    /// reads again after it. Events another process commits are not seen
    /// here.
    pub fn events_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// The events of feed `K` after `after`, oldest first, at most `first`.
    /// A position of another database (its feed's epoch) is refused naming
    /// `after`.
    pub async fn events<K: FeedKind>(
        &self,
        after: Option<&FeedPosition>,
        first: u64,
    ) -> Result<Page<(FeedPosition, Event<K>)>, AppError> {
        use alert_event::Column as E;
        let epoch = self.feed_epoch().await?;
        let mut select = alert_event::Entity::find().filter(E::SubjectKind.eq(K::SUBJECT.code()));
        if let Some(after) = after {
            if after.epoch != epoch {
                return Err(AppError::invalid(
                    "after",
                    "the cursor is from another database's events: start again without one",
                ));
            }
            select = select.filter(beyond(E::Seq, E::Idx, after));
        }
        let mut rows = select
            .order_by_asc(E::Seq)
            .order_by_asc(E::Idx)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let items = rows
            .into_iter()
            .map(|row| {
                let position = FeedPosition {
                    epoch: epoch.clone(),
                    seq: row.seq,
                    idx: row.idx,
                };
                Ok((position, read(row)?))
            })
            .collect::<Result<_, AppError>>()?;
        Ok(Page { items, has_next })
    }
}

fn read<K: FeedKind>(row: alert_event::Model) -> Result<Event<K>, AppError> {
    let what = "event";
    let province = |n: i32| stored(ProvinceCode::from_number(n.into()), what);
    let record = match (row.record_kind, row.record_province, row.record_local) {
        (Some(kind), Some(p), Some(local)) => Some(GlobalId::new(
            stored_kind(&kind, what)?,
            province(p)?,
            local,
        )),
        _ => None,
    };
    Ok(Event {
        kind: stored(K::from_code(&row.kind), what)?,
        subject: GlobalId::new(
            stored_kind(&row.subject_kind, what)?,
            province(row.alert_province)?,
            row.alert_local,
        ),
        record,
        at: row.at,
    })
}
