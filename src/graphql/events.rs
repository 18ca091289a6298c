//! The live feeds a province's dashboards follow — its alerts, and its
//! market — each the events of the store's log of its kind, from a cursor
//! on, as a page or as a subscription that goes on as they are committed.

use std::collections::VecDeque;
use std::time::Duration;

use async_graphql::{Context, ID, Object, OutputType, Result, SimpleObject, Subscription};
use futures_util::Stream;

use super::alert::Alert;
use super::answer::find;
use super::market::{HarvestOffer, Interest};
use super::{pagination, store};
use crate::domain::{AlertEventKind, Event, FeedKind, MarketEventKind};
use crate::error::AppError;
use crate::store::{FeedPosition, Store};

/// One step in the life of an alert this province sees.
pub struct AlertEvent {
    position: FeedPosition,
    event: Event<AlertEventKind>,
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
        ID(self.event.subject.to_string())
    }
    /// The alert, from its owner (in a subscription, from this gateway's
    /// records, a partner's from our replica).
    async fn alert(&self, ctx: &Context<'_>) -> Result<Option<Alert>> {
        find::<Alert>(ctx, self.event.subject).await
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

/// One step on the market this province sees: an urgent offer, made here
/// or told by a partner; interest in one of our offers, and its answer.
pub struct MarketEvent {
    position: FeedPosition,
    event: Event<MarketEventKind>,
}

#[Object]
impl MarketEvent {
    /// Where this event stands: give it back as `after` to go on from it.
    async fn cursor(&self) -> String {
        self.position.event_cursor()
    }
    async fn kind(&self) -> MarketEventKind {
        self.event.kind
    }
    /// The offer, which names its owner.
    async fn offer_id(&self) -> ID {
        ID(self.event.subject.to_string())
    }
    /// The offer, from its owner.
    async fn offer(&self, ctx: &Context<'_>) -> Result<Option<HarvestOffer>> {
        find::<HarvestOffer>(ctx, self.event.subject).await
    }
    /// The interest the event came through.
    async fn interest_id(&self) -> Option<ID> {
        self.event.record.map(|r| ID(r.to_string()))
    }
    /// The interest, from the offer's owner.
    async fn interest(&self, ctx: &Context<'_>) -> Result<Option<Interest>> {
        match self.event.record {
            Some(id) => find::<Interest>(ctx, id).await,
            None => Ok(None),
        }
    }
    /// When it was committed here.
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.at
    }
}

/// A feed's event, as GraphQL shows it.
trait Shown: OutputType + Send + Sync + 'static {
    type Kind: FeedKind;
    fn new(position: FeedPosition, event: Event<Self::Kind>) -> Self;
}

impl Shown for AlertEvent {
    type Kind = AlertEventKind;
    fn new(position: FeedPosition, event: Event<AlertEventKind>) -> Self {
        Self { position, event }
    }
}

impl Shown for MarketEvent {
    type Kind = MarketEventKind;
    fn new(position: FeedPosition, event: Event<MarketEventKind>) -> Self {
        Self { position, event }
    }
}

/// A feed's page: its events, each with the cursor just after it.
trait Connection: OutputType {
    type Event: Shown;
    fn new(edges: Vec<(String, Self::Event)>, page_info: pagination::PageInfo) -> Self;
}

macro_rules! feed_connection {
    ($event:ident, $edge:ident, $connection:ident) => {
        /// One event and the cursor just after it.
        #[derive(SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $event,
        }

        /// A page of the feed's events.
        #[derive(SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: pagination::PageInfo,
        }

        impl Connection for $connection {
            type Event = $event;
            fn new(edges: Vec<(String, $event)>, page_info: pagination::PageInfo) -> Self {
                Self {
                    edges: edges
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    page_info,
                }
            }
        }
    };
}

feed_connection!(AlertEvent, AlertEventEdge, AlertEventConnection);
feed_connection!(MarketEvent, MarketEventEdge, MarketEventConnection);

fn decode(cursor: Option<&str>) -> Result<Option<FeedPosition>, AppError> {
    cursor
        .map(|c| {
            FeedPosition::from_event_cursor(c)
                .ok_or_else(|| AppError::invalid("after", "not a cursor of the events"))
        })
        .transpose()
}

/// A page of feed `C`'s events after `after`.
async fn page<C: Connection>(
    ctx: &Context<'_>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<C> {
    let request = pagination::request_up_to(first, None, crate::store::MAX_PAGE)?;
    let after = decode(after.as_deref())?;
    let page = store(ctx)
        .events::<<C::Event as Shown>::Kind>(after.as_ref(), request.first)
        .await?;
    let edges: Vec<(String, C::Event)> = page
        .items
        .into_iter()
        .map(|(position, event)| (position.event_cursor(), C::Event::new(position, event)))
        .collect();
    let page_info = pagination::PageInfo {
        has_next_page: page.has_next,
        end_cursor: edges.last().map(|(cursor, _)| cursor.clone()),
    };
    Ok(C::new(edges, page_info))
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
        page(ctx, after, first).await
    }

    /// The events of the market this province sees, after `after`, in the
    /// order they were committed (internal callers).
    async fn market_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<MarketEventConnection> {
        page(ctx, after, first).await
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
        follow(ctx, after).await
    }

    /// The events of the market this province sees, as they are committed,
    /// as `alertEvents` goes.
    async fn market_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = MarketEvent> + use<>> {
        follow(ctx, after).await
    }
}

/// Feed `E` from `after` on, as its events are committed.
async fn follow<E: Shown>(
    ctx: &Context<'_>,
    after: Option<String>,
) -> Result<impl Stream<Item = E> + use<E>> {
    let store = store(ctx).clone();
    let after = decode(after.as_deref())?;
    // A cursor of another database is refused now, not at the first read.
    store.events::<E::Kind>(after.as_ref(), 0).await?;
    let follower = Follower::<E> {
        watch: store.events_watch(),
        store,
        after,
        ready: VecDeque::new(),
    };
    Ok(futures_util::stream::unfold(follower, Follower::next))
}

/// A subscription's place in its feed.
struct Follower<E: Shown> {
    store: Store,
    watch: tokio::sync::watch::Receiver<u64>,
    after: Option<FeedPosition>,
    ready: VecDeque<(FeedPosition, Event<E::Kind>)>,
}

impl<E: Shown> Follower<E> {
    /// The next event, waiting for it if none is committed yet; `None` when
    /// the gateway stops.
    async fn next(mut self) -> Option<(E, Self)> {
        loop {
            if let Some((position, event)) = self.ready.pop_front() {
                self.after = Some(position.clone());
                return Some((E::new(position, event), self));
            }
            // Seen before reading: a commit after this wakes the wait below.
            self.watch.borrow_and_update();
            match self
                .store
                .events::<E::Kind>(self.after.as_ref(), CATCH_UP)
                .await
            {
                Ok(page) if !page.items.is_empty() => {
                    self.ready.extend(page.items);
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(?error, "reading events failed"),
            }
            if let Ok(Err(_)) = tokio::time::timeout(LOOK_AGAIN, self.watch.changed()).await {
                return None;
            }
        }
    }
}
