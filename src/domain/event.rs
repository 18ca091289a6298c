//! What happens to the alerts and the market a province sees, as its
//! dashboards follow it live: one event per step, in the order the steps
//! were committed. Each feed has its kinds of event and of subject.

use chrono::{DateTime, Utc};

use super::{GlobalId, Invalid, RecordKind, coded_enum};

coded_enum! {
    /// A step in the life of an alert, as this province saw it happen.
    pub enum AlertEventKind {
        /// One of our alerts was notified to the provinces it concerns.
        Raised => "raised",
        /// A partner's alert was notified to us.
        Received => "received",
        /// A follow-up joined an alert's thread: written here, or told by
        /// its writer.
        FollowedUp => "followed_up",
        /// One of our operators acknowledged a partner's alert.
        Acknowledged => "acknowledged",
        /// An inspection was asked: by us, or of us by a partner.
        RequestAssigned => "request_assigned",
        /// An inspection request was answered: ours, or a partner's by us.
        RequestAnswered => "request_answered",
        /// One of our alerts was closed.
        Closed => "closed",
        /// One of our alerts was withdrawn as a mistake.
        Withdrawn => "withdrawn",
    }
}

coded_enum! {
    /// A step on the market, as this province saw it happen.
    pub enum MarketEventKind {
        /// One of our facilities made an urgent offer; partners are told.
        UrgentOffer => "urgent_offer",
        /// A partner told us of its urgent offer.
        OfferReceived => "offer_received",
        /// A buyer, of either province, registered interest in our offer.
        InterestReceived => "interest_received",
        /// We answered an interest in our offer.
        InterestAnswered => "interest_answered",
    }
}

/// The kinds of event of one feed, and what its events are about.
pub trait FeedKind: Copy + Send + Sync + 'static {
    /// The kinds of record the feed's events are about.
    const SUBJECT: RecordKind;
    fn code(self) -> &'static str;
    fn from_code(code: &str) -> Result<Self, Invalid>;
}

impl FeedKind for AlertEventKind {
    const SUBJECT: RecordKind = RecordKind::Alert;
    fn code(self) -> &'static str {
        AlertEventKind::code(self)
    }
    fn from_code(code: &str) -> Result<Self, Invalid> {
        AlertEventKind::from_code(code)
    }
}

impl FeedKind for MarketEventKind {
    const SUBJECT: RecordKind = RecordKind::HarvestOffer;
    fn code(self) -> &'static str {
        MarketEventKind::code(self)
    }
    fn from_code(code: &str) -> Result<Self, Invalid> {
        MarketEventKind::from_code(code)
    }
}

/// One step: of which kind, on which subject (an alert, an offer), through
/// which record (a follow-up, a request, an interest), when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<K> {
    pub kind: K,
    pub subject: GlobalId,
    pub record: Option<GlobalId>,
    pub at: DateTime<Utc>,
}

pub type AlertEvent = Event<AlertEventKind>;
pub type MarketEvent = Event<MarketEventKind>;

impl<K> Event<K> {
    /// The event `kind` on `subject`, through `record`, now.
    pub fn now(kind: K, subject: GlobalId, record: Option<GlobalId>) -> Self {
        Self {
            kind,
            subject,
            record,
            at: Utc::now(),
        }
    }
}
