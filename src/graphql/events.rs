//! The live feed of a province's alerts for its dashboards: the events of
//! the store's log, from a cursor on, as a page or as a subscription that
//! goes on as they are committed.

use std::collections::VecDeque;
use std::time::Duration;

use async_graphql::{Context, ID, Object, Result, SimpleObject, Subscription};
use futures_util::Stream;

use super::alert::Alert;
use super::answer::find;
use super::{pagination, store};
use crate::domain::{AlertEvent as Event, AlertEventKind};
use crate::error::AppError;
use crate::store::{FeedPosition, Store};

/// One step in the life of an alert this province sees.
pub struct AlertEvent {
    position: FeedPosition,
    event: Event,
}

#[Object]
impl AlertEvent {
    /// Where this event stands: give it back as `after` to go on from it.
    async fn cursor(&self) -> String {
        self.position.event_cursor()
    }
    async fn kind(&self) -> AlertEventKind {
        self.event.kind
    }
    /// The alert, which names its owner.
    async fn alert_id(&self) -> ID {
        ID(self.event.alert.to_string())
    }
    /// The alert, from its owner (in a subscription, from this gateway's
    /// records, a partner's from our replica).
    async fn alert(&self, ctx: &Context<'_>) -> Result<Option<Alert>> {
        find::<Alert>(ctx, self.event.alert).await
    }
    /// The follow-up or the inspection request the event came through.
    async fn record_id(&self) -> Option<ID> {
        self.event.record.map(|r| ID(r.to_string()))
    }
    /// When it was committed here.
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.at
    }
}

/// One event and the cursor just after it.
#[derive(SimpleObject)]
pub struct AlertEventEdge {
    pub cursor: String,
    pub node: AlertEvent,
}

/// A page of the events.
#[derive(SimpleObject)]
pub struct AlertEventConnection {
    pub edges: Vec<AlertEventEdge>,
    pub page_info: pagination::PageInfo,
}

fn decode(cursor: Option<&str>) -> Result<Option<FeedPosition>, AppError> {
    cursor
        .map(|c| {
            FeedPosition::from_event_cursor(c)
                .ok_or_else(|| AppError::invalid("after", "not a cursor of the alert events"))
        })
        .transpose()
}

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The events of the alerts this province sees, after `after`, in the
    /// order they were committed (internal callers).
    async fn alert_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<AlertEventConnection> {
        let request = pagination::request_up_to(first, None, crate::store::MAX_PAGE)?;
        let after = decode(after.as_deref())?;
        let page = store(ctx)
            .alert_events(after.as_ref(), request.first)
            .await?;
        let edges: Vec<AlertEventEdge> = page
            .items
            .into_iter()
            .map(|(position, event)| AlertEventEdge {
                cursor: position.event_cursor(),
                node: AlertEvent { position, event },
            })
            .collect();
        Ok(AlertEventConnection {
            page_info: pagination::PageInfo {
                has_next_page: page.has_next,
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
        })
    }
}

/// Events read at a time by a subscription catching up.
const CATCH_UP: u64 = 100;

/// Longest a subscription waits before looking again with nothing told: a
/// process of the province other than this one may have committed events.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// The events of the alerts this province sees, as they are committed
    /// (internal callers, over `graphql-transport-ws`). With `after`, the
    /// last cursor a dashboard saw, it first gets every event it missed,
    /// then the live ones; each once, in commit order.
    async fn alert_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = AlertEvent> + use<>> {
        let store = store(ctx).clone();
        let after = decode(after.as_deref())?;
        // A cursor of another database is refused now, not at the first read.
        store.alert_events(after.as_ref(), 0).await?;
        let follower = Follower {
            watch: store.events_watch(),
            store,
            after,
            ready: VecDeque::new(),
        };
        Ok(futures_util::stream::unfold(follower, Follower::next))
    }
}

/// A subscription's place in the events.
struct Follower {
    store: Store,
    watch: tokio::sync::watch::Receiver<u64>,
    after: Option<FeedPosition>,
    ready: VecDeque<(FeedPosition, Event)>,
}

impl Follower {
    /// The next event, waiting for it if none is committed yet; `None` when
    /// the gateway stops.
    async fn next(mut self) -> Option<(AlertEvent, Self)> {
        loop {
            if let Some((position, event)) = self.ready.pop_front() {
                self.after = Some(position.clone());
                return Some((AlertEvent { position, event }, self));
            }
            // Seen before reading: a commit after this wakes the wait below.
            self.watch.borrow_and_update();
            match self.store.alert_events(self.after.as_ref(), CATCH_UP).await {
                Ok(page) if !page.items.is_empty() => {
                    self.ready.extend(page.items);
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(?error, "reading alert events failed"),
            }
            if let Ok(Err(_)) = tokio::time::timeout(LOOK_AGAIN, self.watch.changed()).await {
                return None;
            }
        }
    }
}
