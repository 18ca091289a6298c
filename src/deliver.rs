//! The deliverer: sends partners the notices our writes owe them (written to
//! the outbox in the write's own transaction, `store::outbox`), each until
//! the partner has stored it. A failed attempt is tried again after a
//! growing, jittered delay; a partner that takes one notice is back, and
//! everything owed to it is sent at once.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;

use crate::domain::redelivery_delay;
use crate::error::AppError;
use crate::federation::{Partners, notice};
use crate::store::Store;

/// How long a deliverer holds the notices it claims, given how long a
/// partner call may take: a pass sends its notices at once, so four calls'
/// time leaves room for the database on either side. A deliverer that dies
/// holding some delays them by this much; one that outlives its hold may
/// send a notice another also sends, which the partner stores once.
pub fn hold(partner_timeout: Duration) -> Duration {
    partner_timeout * 4
}

/// Longest a deliverer sleeps with nothing due: another process of the
/// province may owe a notice without waking this one.
pub const IDLE: Duration = Duration::from_secs(5);

/// What deliverers have done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub attempts: u64,
    pub delivered: u64,
}

/// Sends every notice due now, each partner's at once; says how many were
/// tried and how many delivered.
pub async fn deliver_due(
    store: &Store,
    partners: &Partners,
    hold: Duration,
) -> Result<Sent, AppError> {
    let owed = store.claim_due_notices(hold).await?;
    let sent = join_all(owed.iter().map(|owed| async move {
        let delivery = &owed.delivery;
        let partner = partners.get(delivery.partner)?;
        notice::send(partner, &owed.told).await
    }))
    .await;
    let mut delivered = 0;
    let mut back = BTreeSet::new();
    for (owed, sent) in owed.iter().zip(sent) {
        let outcome = match &sent {
            Ok(()) => {
                delivered += 1;
                back.insert(owed.delivery.partner);
                Ok(())
            }
            Err(error) => {
                // An open circuit says the partner is down, once, where it
                // opened; each notice it holds back is no news.
                if matches!(error, crate::federation::PartnerError::CircuitOpen) {
                    tracing::debug!(partner = %owed.delivery.partner, about = %owed.delivery.about, "a notice waits for its partner's circuit");
                } else {
                    tracing::warn!(partner = %owed.delivery.partner, about = %owed.delivery.about, ?error, "a notice was not delivered");
                }
                let delay = redelivery_delay(owed.delivery.attempts, fastrand::f64());
                Err((error.code(), Utc::now() + delay))
            }
        };
        store.record_attempt(owed, outcome).await?;
    }
    for partner in back {
        store.partner_back(partner).await?;
    }
    Ok(Sent {
        attempts: owed.len() as u64,
        delivered,
    })
}

/// Delivers for as long as the gateway serves, counting what it did in
/// `sent`.
pub async fn run(
    store: Store,
    partners: Partners,
    hold: Duration,
    sent: std::sync::Arc<tokio::sync::watch::Sender<Sent>>,
) {
    loop {
        let wait = match deliver_due(&store, &partners, hold).await {
            Ok(pass) => {
                if pass.attempts > 0 {
                    sent.send_modify(|total| {
                        total.attempts += pass.attempts;
                        total.delivered += pass.delivered;
                    });
                }
                match store.next_notice_due().await {
                    Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or_default().min(IDLE),
                    Ok(None) | Err(_) => IDLE,
                }
            }
            // The database refused (busy, down): not again at once.
            Err(error) => {
                tracing::warn!(?error, "delivering notices failed");
                IDLE
            }
        };
        if !wait.is_zero() {
            store.notices_owed(wait).await;
        }
    }
}
