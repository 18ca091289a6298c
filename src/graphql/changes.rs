//! The change feed: what changed in this province's records, in commit order.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};

use super::{audience, pagination, store};
use crate::domain::RecordKind;
use crate::error::AppError;
use crate::store::{ChangeOperation, ChangeRecord, FeedPosition, MAX_FEED_PAGE};

/// The kinds of record the feed reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RecordType {
    Facility,
    Certificate,
    Product,
    Inspection,
    Alert,
    FollowUp,
    InspectionRequest,
    Lot,
    TraceEvent,
    HarvestOffer,
    Interest,
    TradeFair,
    BoothRegistration,
}

impl From<RecordType> for RecordKind {
    fn from(kind: RecordType) -> Self {
        match kind {
            RecordType::Facility => RecordKind::Facility,
            RecordType::Certificate => RecordKind::Certificate,
            RecordType::Product => RecordKind::Product,
            RecordType::Inspection => RecordKind::Inspection,
            RecordType::Alert => RecordKind::Alert,
            RecordType::FollowUp => RecordKind::FollowUp,
            RecordType::InspectionRequest => RecordKind::InspectionRequest,
            RecordType::Lot => RecordKind::Lot,
            RecordType::TraceEvent => RecordKind::TraceEvent,
            RecordType::HarvestOffer => RecordKind::HarvestOffer,
            RecordType::Interest => RecordKind::Interest,
            RecordType::TradeFair => RecordKind::TradeFair,
            RecordType::BoothRegistration => RecordKind::BoothRegistration,
        }
    }
}

/// One change to one record. Fetch the record by `id` for its new content.
pub struct Change(ChangeRecord);

#[Object]
impl Change {
    /// The changed record.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The record's version after the change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn operation(&self) -> ChangeOperation {
        self.0.operation
    }
    /// When the change was committed.
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.at
    }
}

/// One change and the cursor just after it.
#[derive(SimpleObject)]
pub struct ChangeEdge {
    pub cursor: String,
    pub node: Change,
}

/// A page of the change feed.
#[derive(SimpleObject)]
pub struct ChangeConnection {
    pub edges: Vec<ChangeEdge>,
    pub page_info: pagination::PageInfo,
    /// The feed's epoch: it changes only if the feed starts again (a restored or
    /// re-created database); a cursor of another epoch is refused.
    pub epoch: String,
}

fn decode(cursor: &str) -> Result<FeedPosition, AppError> {
    FeedPosition::from_cursor(cursor)
        .ok_or_else(|| AppError::invalid("after", "not a cursor of this change feed"))
}

#[derive(Default)]
pub struct ChangesQuery;

#[Object]
impl ChangesQuery {
    /// Changes to this province's records after `after`, in commit order: every
    /// committed change exactly once. A partner sees changes to what is shared
    /// with it; our own callers see all. Pages hold up to 1000 changes.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
        types: Option<Vec<RecordType>>,
    ) -> Result<ChangeConnection> {
        let request = pagination::request_up_to(first, None, MAX_FEED_PAGE)?;
        let after = after.as_deref().map(decode).transpose()?;
        let kinds: Vec<RecordKind> = types
            .unwrap_or_default()
            .into_iter()
            .map(RecordKind::from)
            .collect();
        let page = store(ctx)
            .changes(after.as_ref(), request.first, &kinds, audience(ctx))
            .await?;
        let edges: Vec<ChangeEdge> = page
            .items
            .into_iter()
            .map(|change| ChangeEdge {
                cursor: change.position.cursor(),
                node: Change(change),
            })
            .collect();
        Ok(ChangeConnection {
            page_info: pagination::PageInfo {
                has_next_page: page.has_next,
                end_cursor: edges.last().map(|edge| edge.cursor.clone()),
            },
            edges,
            epoch: page.epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The feed names every kind of record a change can be of.
    #[test]
    fn every_kind_of_record_has_a_record_type() {
        use async_graphql::resolver_utils::EnumType;
        let named: Vec<RecordKind> = RecordType::items()
            .iter()
            .map(|item| RecordKind::from(item.value))
            .collect();
        for kind in RecordKind::ALL {
            assert!(named.contains(&kind), "{kind:?} has no RecordType");
        }
    }
}
