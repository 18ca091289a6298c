//! Notices of our records owed to partners. An entry is written in the
//! transaction that makes it due (an alert notified), so none is lost or
//! made up by a crash; a deliverer claims due entries for a while, so that
//! two deliverers — two processes of one province — do not send the same
//! one at once, and records each attempt. A partner stores a notice once,
//! so one sent again after a crash between its answer and our record of
//! it is harmless.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::outbox;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{Audience, Store, stored, stored_kind};
use crate::domain::{Delivery, GlobalId, ProvinceCode, Record, RecordKind, Told};
use crate::error::AppError;

/// Most entries one pass of a deliverer claims.
const CLAIMED_AT_ONCE: u64 = 64;

/// A notice a deliverer has claimed, to send and then record.
#[derive(Debug, Clone)]
pub struct Owed {
    id: i64,
    pub delivery: Delivery,
    /// What the notice says.
    pub told: Told,
}

impl Store {
    /// Owes each of `partners` a notice of our record `about` at `version`,
    /// in `txn`; the deliverer is woken when it commits.
    pub(super) async fn owe_notices(
        &self,
        txn: &impl ConnectionTrait,
        partners: &[ProvinceCode],
        about: GlobalId,
        version: i32,
    ) -> Result<(), AppError> {
        if partners.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        outbox::Entity::insert_many(partners.iter().map(|partner| outbox::ActiveModel {
            partner: Set(partner.number()),
            kind: Set(about.kind.code().to_owned()),
            record_local: Set(about.local),
            version: Set(version),
            created_at: Set(now),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            delivered_at: Set(None),
            claimed_until: Set(None),
            ..Default::default()
        }))
        .exec(txn)
        .await?;
        Ok(())
    }

    /// Wakes whoever waits in [`Store::notices_owed`].
    pub(super) fn wake_deliverer(&self) {
        self.outbox_wake.notify_one();
    }

    /// Waits until a notice may be due: woken by a write that owes one, or
    /// after `at_most` (another process may have written one).
    pub async fn notices_owed(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.outbox_wake.notified()).await;
    }

    /// Claims the notices due now for `hold`, oldest first: each is ours to
    /// send until then, and no other deliverer's.
    pub async fn claim_due_notices(&self, hold: Duration) -> Result<Vec<Owed>, AppError> {
        use outbox::Column as O;
        let now = Utc::now();
        let free = || {
            Condition::all()
                .add(O::DeliveredAt.is_null())
                .add(O::NextAttemptAt.lte(now))
                .add(
                    Condition::any()
                        .add(O::ClaimedUntil.is_null())
                        .add(O::ClaimedUntil.lt(now)),
                )
        };
        let due = outbox::Entity::find()
            .filter(free())
            .order_by_asc(O::Id)
            .limit(CLAIMED_AT_ONCE)
            .all(&self.db)
            .await?;
        let until = now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let won = outbox::Entity::update_many()
                .col_expr(O::ClaimedUntil, Expr::value(until))
                .filter(O::Id.eq(row.id))
                .filter(free())
                .exec(&self.db)
                .await?
                .rows_affected
                == 1;
            if won {
                let delivery = self.delivery(row.clone())?;
                claimed.push(Owed {
                    id: row.id,
                    told: Told {
                        about: delivery.about,
                        version: delivery.version,
                        status: None,
                        alert: None,
                        answers: None,
                    },
                    delivery,
                });
            }
        }
        self.fill_notices(&mut claimed).await?;
        Ok(claimed)
    }

    /// Says in each notice what its record says now: its latest version,
    /// an alert's status, the alert of a follow-up or a request, and which
    /// request a follow-up answers.
    async fn fill_notices(&self, owed: &mut [Owed]) -> Result<(), AppError> {
        let of = |kind| -> Vec<i64> {
            owed.iter()
                .filter(|o| o.told.about.kind == kind)
                .map(|o| o.told.about.local)
                .collect()
        };
        let (alerts, follow_ups, requests, offers) = (
            of(RecordKind::Alert),
            of(RecordKind::FollowUp),
            of(RecordKind::InspectionRequest),
            of(RecordKind::HarvestOffer),
        );
        let mut records = Vec::new();
        if !alerts.is_empty() {
            records.extend(
                self.alerts_by_id(&alerts, Audience::Internal)
                    .await?
                    .into_iter()
                    .map(Record::Alert),
            );
        }
        if !follow_ups.is_empty() {
            records.extend(
                self.follow_ups_by_id(&follow_ups, Audience::Internal)
                    .await?
                    .into_iter()
                    .map(Record::FollowUp),
            );
        }
        if !requests.is_empty() {
            records.extend(
                self.inspection_requests_by_id(&requests, Audience::Internal)
                    .await?
                    .into_iter()
                    .map(Record::InspectionRequest),
            );
        }
        if !offers.is_empty() {
            records.extend(
                self.harvest_offers_by_id(&offers, Audience::Internal)
                    .await?
                    .into_iter()
                    .map(Record::HarvestOffer),
            );
        }
        for o in owed {
            let partner = o.delivery.partner;
            if let Some(told) = records
                .iter()
                .find(|r| r.id() == o.told.about)
                .and_then(|r| r.notice_to(partner))
            {
                o.told = told;
            }
        }
        Ok(())
    }

    /// Records an attempt at a claimed notice: delivered, or failed with
    /// `error` and due again at `retry_at`.
    pub async fn record_attempt(
        &self,
        owed: &Owed,
        outcome: Result<(), (&str, DateTime<Utc>)>,
    ) -> Result<(), AppError> {
        use outbox::Column as O;
        let mut update = outbox::Entity::update_many()
            .col_expr(O::Attempts, Expr::col(O::Attempts).add(1))
            .col_expr(O::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None));
        update = match outcome {
            Ok(()) => update
                .col_expr(O::DeliveredAt, Expr::value(Utc::now()))
                .col_expr(O::LastError, Expr::value(Option::<String>::None)),
            Err((error, retry_at)) => update
                .col_expr(O::LastError, Expr::value(error))
                .col_expr(O::NextAttemptAt, Expr::value(retry_at)),
        };
        update
            .filter(O::Id.eq(owed.id))
            .filter(O::DeliveredAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// When the next notice owed and not held by a deliverer falls due, if
    /// any is.
    pub async fn next_notice_due(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        use outbox::Column as O;
        Ok(outbox::Entity::find()
            .select_only()
            .column(O::NextAttemptAt)
            .filter(O::DeliveredAt.is_null())
            .filter(
                Condition::any()
                    .add(O::ClaimedUntil.is_null())
                    .add(O::ClaimedUntil.lt(Utc::now())),
            )
            .order_by_asc(O::NextAttemptAt)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(&self.db)
            .await?)
    }

    /// Makes every notice owed to `partner` due now: it has just taken one,
    /// so it is back, and what waited for it need not wait out its backoff.
    pub async fn partner_back(&self, partner: ProvinceCode) -> Result<(), AppError> {
        use outbox::Column as O;
        let now = Utc::now();
        outbox::Entity::update_many()
            .col_expr(O::NextAttemptAt, Expr::value(now))
            .filter(O::Partner.eq(partner.number()))
            .filter(O::DeliveredAt.is_null())
            .filter(O::NextAttemptAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The latest notice of our record `about` owed or delivered to each
    /// partner (a notice of each change after the first), by partner.
    pub async fn deliveries(&self, about: GlobalId) -> Result<Vec<Delivery>, AppError> {
        use outbox::Column as O;
        let mut rows = outbox::Entity::find()
            .filter(O::Kind.eq(about.kind.code()))
            .filter(O::RecordLocal.eq(about.local))
            .order_by_asc(O::Partner)
            .order_by_desc(O::Id)
            .all(&self.db)
            .await?;
        rows.dedup_by_key(|row| row.partner);
        rows.into_iter().map(|row| self.delivery(row)).collect()
    }

    fn delivery(&self, row: outbox::Model) -> Result<Delivery, AppError> {
        let what = "outbox entry";
        Ok(Delivery {
            partner: stored(ProvinceCode::from_number(row.partner.into()), what)?,
            about: self.id(stored_kind(&row.kind, what)?, row.record_local),
            version: row.version,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
        })
    }
}
