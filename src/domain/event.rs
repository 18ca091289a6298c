//! What happens to the alerts a province sees, as its dashboards follow it
//! live: one event per step, in the order the steps were committed.

use chrono::{DateTime, Utc};

use super::{GlobalId, coded_enum};

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

/// One step: of which kind, on which alert, through which record (the
/// follow-up or the request), when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    pub kind: AlertEventKind,
    pub alert: GlobalId,
    pub record: Option<GlobalId>,
    pub at: DateTime<Utc>,
}

impl AlertEvent {
    /// The event `kind` on `alert`, through `record`, now.
    pub fn now(kind: AlertEventKind, alert: GlobalId, record: Option<GlobalId>) -> Self {
        Self {
            kind,
            alert,
            record,
            at: Utc::now(),
        }
    }
}
