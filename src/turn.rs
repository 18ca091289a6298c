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
//! Our own callers and partners wait in separate lines, so that a partner's
//! requests never queue behind our dashboards' load, nor theirs behind a
//! partner's. (Before turns were given back for waits, the lines also kept two
//! gateways asking each other at once from holding every turn and stalling.)

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::server::identity::Caller;

/// The two lines of a gateway.
pub struct Turns {
    own: Arc<Semaphore>,
    partners: Arc<Semaphore>,
}

impl Turns {
    /// Lines of `each` turns.
    pub fn new(each: usize) -> Self {
        Self {
            own: Arc::new(Semaphore::new(each)),
            partners: Arc::new(Semaphore::new(each)),
        }
    }

    /// Waits for a turn in `caller`'s line.
    pub async fn take(&self, caller: Caller) -> Turn {
        let line = match caller {
            Caller::Partner(_) => &self.partners,
            Caller::Internal(_) => &self.own,
        };
        let permit = line
            .clone()
            .acquire_owned()
            .await
            .expect("the lines are never closed");
        Turn(Some(Arc::new(Held {
            line: line.clone(),
            state: Mutex::new(State {
                permit: Some(permit),
                away: 0,
            }),
        })))
    }
}

/// A request's turn; cloned into the request's data. [`Turn::none`] is the turn
/// of a request run outside any line (tests, the CLI).
#[derive(Clone)]
pub struct Turn(Option<Arc<Held>>);

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
    use crate::domain::Role;
    use crate::server::identity::Caller;

    const DASHBOARD: Caller = Caller::Internal(Role::Dashboard);

    #[tokio::test]
    async fn a_request_gives_its_turn_back_while_it_waits_on_a_partner() {
        let turns = Turns::new(1);
        let turn = turns.take(DASHBOARD).await;
        assert!(turns.own.try_acquire().is_err());
        let free_during_the_wait = turn.away(async { turns.own.try_acquire().is_ok() }).await;
        assert!(free_during_the_wait, "the turn was held during the wait");
        assert!(
            turns.own.try_acquire().is_err(),
            "the turn was not taken again"
        );
        drop(turn);
        assert_eq!(turns.own.available_permits(), 1);
        assert_eq!(turns.partners.available_permits(), 1);
    }

    #[tokio::test]
    async fn overlapping_waits_of_one_request_take_one_turn_back_after_the_last() {
        let turns = Turns::new(2);
        let turn = turns.take(DASHBOARD).await;
        let (second_ended, first_may_end) = tokio::sync::oneshot::channel();
        let ((), free_after_the_second) =
            tokio::join!(turn.away(async { first_may_end.await.unwrap() }), async {
                turn.away(async {}).await;
                let free = turns.own.available_permits();
                second_ended.send(()).unwrap();
                free
            },);
        assert_eq!(
            free_after_the_second, 2,
            "the turn came back while a wait went on"
        );
        assert_eq!(turns.own.available_permits(), 1);
        drop(turn);
        assert_eq!(turns.own.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_wait_dropped_half_way_does_not_keep_the_turn_out() {
        let turns = Turns::new(1);
        let turn = turns.take(DASHBOARD).await;
        let given_up = tokio::time::timeout(
            std::time::Duration::ZERO,
            turn.away(std::future::pending::<()>()),
        )
        .await;
        assert!(given_up.is_err());
        turn.away(async {}).await;
        assert_eq!(turns.own.available_permits(), 0, "the turn stayed out");
    }
}
