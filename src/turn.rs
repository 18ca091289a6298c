//! Turns to execute a request: at most `limits.concurrent_requests` requests of
//! each line are at work at once, the rest wait in arrival order. This bounds
//! the memory of the answers being built. A request waiting on a partner's answer
//! does no work and holds little, so it gives its turn back for the wait
//! ([`Turn::away`]) and takes one again to go on. Otherwise a partner that does
//! not answer would hold every turn of our own callers until it timed out. With
//! the turns counting only requests at work, a few per core keep the CPU busy
//! (on 2 cores, 8 turns rather than 16: peak RSS 80 → 62 MB in the benchmark's
//! 20 000-certificate runs, throughput within the machine's noise).
//!
//! A turn ends when the answer's data is written out as JSON, before the audit
//! flush (`App::execute_hop`): the wait for the flush holds bytes. Given back with
//! the tree of values still held, partners' finished answers piled up (peak RSS
//! +40 % in the benchmark's 20 000-certificate runs).
//!
//! At most `limits.queued_requests` wait in a line; one more is shed at once
//! (503 `OVERLOADED`, and `/readyz` says overloaded for a second), rather than
//! waiting out its timeout: at 1 000 concurrent heavy requests half waited 10 s
//! for `TIMEOUT`. A quarter as many turns again are kept for cheap requests
//! ([`CHEAP`]), so that a lookup is answered while pages fill the line.
//!
//! Our own callers and partners wait in separate lines, so that a partner's
//! requests never queue behind our dashboards' load, nor theirs behind a
//! partner's. (Before turns were given back for waits, the lines also kept two
//! gateways asking each other at once from holding every turn and stalling.)

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::Caller;

/// A request that costs at most this many fields (`graphql::cost`) is cheap:
/// a lookup by number or ID costs 20 to 40, a page of 100 thousands.
pub const CHEAP: u64 = 100;

/// The two lines of a gateway, each with its turns, a reserve of turns for
/// cheap requests, and a bound on how many may wait.
pub struct Turns {
    own: Line,
    partners: Line,
    queue: usize,
    /// When a request was last shed, in milliseconds since the Unix epoch.
    last_shed: AtomicU64,
}

struct Line {
    turns: Arc<Semaphore>,
    /// Turns only cheap requests take, when every other is at work: a lookup
    /// is not kept waiting behind pages.
    reserve: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// No turn now, and too many waiting for one: the request is refused at once
/// (503 `OVERLOADED`), rather than waiting out its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed;

impl Turns {
    /// Lines of `each` turns (and a quarter as many again for cheap
    /// requests), where at most `queue` requests wait.
    pub fn new(each: usize, queue: usize) -> Self {
        let line = || Line {
            turns: Arc::new(Semaphore::new(each)),
            reserve: Arc::new(Semaphore::new(each.div_ceil(4))),
            waiting: AtomicUsize::new(0),
        };
        Self {
            own: line(),
            partners: line(),
            queue,
            last_shed: AtomicU64::new(0),
        }
    }

    /// A turn in `caller`'s line: one free, or for a `cheap` request one of
    /// the reserve, or else one waited for, unless the line's queue is full.
    pub async fn take(&self, caller: Caller, cheap: bool) -> Result<Turn, Shed> {
        let line = match caller {
            Caller::Partner(_) => &self.partners,
            Caller::Internal(_) => &self.own,
        };
        if let Ok(permit) = line.turns.clone().try_acquire_owned() {
            return Ok(Turn::held(&line.turns, permit));
        }
        if cheap && let Ok(permit) = line.reserve.clone().try_acquire_owned() {
            return Ok(Turn::held(&line.reserve, permit));
        }
        if line.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            line.waiting.fetch_sub(1, Ordering::AcqRel);
            let now = chrono::Utc::now().timestamp_millis();
            self.last_shed
                .store(u64::try_from(now).unwrap_or_default(), Ordering::Relaxed);
            return Err(Shed);
        }
        // Counted out even if the wait is given up (the request timed out).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let waiting = Waiting(&line.waiting);
        let permit = line
            .turns
            .clone()
            .acquire_owned()
            .await
            .expect("the lines are never closed");
        drop(waiting);
        Ok(Turn::held(&line.turns, permit))
    }

    /// Whether a request was shed within the last `within`: the gateway is
    /// overloaded, as `/readyz` says.
    pub fn shed_within(&self, within: std::time::Duration) -> bool {
        let last = self.last_shed.load(Ordering::Relaxed);
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
        last != 0 && now.saturating_sub(last) < within.as_millis() as u64
    }
}

/// A request's turn; cloned into the request's data. [`Turn::none`] is the turn
/// of a request run outside any line (tests, the CLI).
#[derive(Clone)]
pub struct Turn(Option<Arc<Held>>);

impl Turn {
    fn held(line: &Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Self {
        Self(Some(Arc::new(Held {
            line: line.clone(),
            state: Mutex::new(State {
                permit: Some(permit),
                away: 0,
            }),
        })))
    }
}

struct Held {
    line: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    permit: Option<OwnedSemaphorePermit>,
    /// Waits on partners under way; the turn is given back while any is.
    away: usize,
}

impl Turn {
    /// No line at all: [`Turn::away`] just runs the wait.
    pub fn none() -> Self {
        Self(None)
    }

    /// Runs `wait` (a partner's answer) with the turn given back, then waits for
    /// a turn again. Several waits of one request may overlap; the turn is back
    /// in the line until the last ends, and the request holds at most one.
    pub async fn away<F: Future>(&self, wait: F) -> F::Output {
        let Some(held) = &self.0 else {
            return wait.await;
        };
        {
            let mut state = held.state();
            state.away += 1;
            state.permit = None;
        }
        // Counted out even if the wait is dropped half-way (a timeout), so that
        // the request's other waits still take the turn back after.
        let away = Away(held);
        let output = wait.await;
        drop(away);
        let back = {
            let state = held.state();
            state.away == 0 && state.permit.is_none()
        };
        if back {
            let permit = held
                .line
                .clone()
                .acquire_owned()
                .await
                .expect("the lines are never closed");
            let mut state = held.state();
            // Another wait may have begun (the turn stays out) or ended and
            // taken a turn first; then this one goes back to the line.
            if state.away == 0 && state.permit.is_none() {
                state.permit = Some(permit);
            }
        }
        output
    }
}

impl Held {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("a turn's state is never poisoned")
    }
}

/// One wait under way; ends it when dropped.
struct Away<'a>(&'a Held);

impl Drop for Away<'_> {
    fn drop(&mut self) {
        self.0.state().away -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;
    use crate::domain::Caller;
    use crate::domain::Role;

    const DASHBOARD: Caller = Caller::Internal(Role::Dashboard);

    #[tokio::test]
    async fn a_request_gives_its_turn_back_while_it_waits_on_a_partner() {
        let turns = Turns::new(1, 8);
        let turn = turns.take(DASHBOARD, false).await.unwrap();
        assert!(turns.own.turns.try_acquire().is_err());
        let free_during_the_wait = turn
            .away(async { turns.own.turns.try_acquire().is_ok() })
            .await;
        assert!(free_during_the_wait, "the turn was held during the wait");
        assert!(
            turns.own.turns.try_acquire().is_err(),
            "the turn was not taken again"
        );
        drop(turn);
        assert_eq!(turns.own.turns.available_permits(), 1);
        assert_eq!(turns.partners.turns.available_permits(), 1);
    }

    #[tokio::test]
    async fn overlapping_waits_of_one_request_take_one_turn_back_after_the_last() {
        let turns = Turns::new(2, 8);
        let turn = turns.take(DASHBOARD, false).await.unwrap();
        let (second_ended, first_may_end) = tokio::sync::oneshot::channel();
        let ((), free_after_the_second) =
            tokio::join!(turn.away(async { first_may_end.await.unwrap() }), async {
                turn.away(async {}).await;
                let free = turns.own.turns.available_permits();
                second_ended.send(()).unwrap();
                free
            },);
        assert_eq!(
            free_after_the_second, 2,
            "the turn came back while a wait went on"
        );
        assert_eq!(turns.own.turns.available_permits(), 1);
        drop(turn);
        assert_eq!(turns.own.turns.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_wait_dropped_half_way_does_not_keep_the_turn_out() {
        let turns = Turns::new(1, 8);
        let turn = turns.take(DASHBOARD, false).await.unwrap();
        let given_up = tokio::time::timeout(
            std::time::Duration::ZERO,
            turn.away(std::future::pending::<()>()),
        )
        .await;
        assert!(given_up.is_err());
        turn.away(async {}).await;
        assert_eq!(
            turns.own.turns.available_permits(),
            0,
            "the turn stayed out"
        );
    }

    #[tokio::test]
    async fn a_full_line_sheds_at_once_and_a_cheap_request_takes_the_reserve() {
        let turns = std::sync::Arc::new(Turns::new(1, 1));
        let busy = turns.take(DASHBOARD, false).await.unwrap();
        // One may wait; the next is refused at once.
        let waiter = tokio::spawn({
            let turns = turns.clone();
            async move { turns.take(DASHBOARD, false).await.map(drop) }
        });
        while turns.own.waiting.load(std::sync::atomic::Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!turns.shed_within(std::time::Duration::from_secs(60)));
        assert_eq!(turns.take(DASHBOARD, false).await.err(), Some(super::Shed));
        assert!(turns.shed_within(std::time::Duration::from_secs(60)));
        // A cheap request is not kept behind them: it takes the reserve.
        let cheap = turns.take(DASHBOARD, true).await.unwrap();
        assert_eq!(turns.own.reserve.available_permits(), 0);
        // The partners' line is its own.
        let partner = Caller::Partner(crate::domain::ProvinceCode::parse("40").unwrap());
        drop(turns.take(partner, false).await.unwrap());
        drop((busy, cheap));
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(
            turns.own.waiting.load(std::sync::atomic::Ordering::Acquire),
            0
        );
    }
}
