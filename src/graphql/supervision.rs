//! The split of supervision: the inspection requests an alert's owner makes
//! of the provinces of its chain, listed for the provinces that are to
//! inspect, and the notice of one that a partner's gateway delivers.

use async_graphql::{Context, ID, Object, Result};

use super::alert::{
    InspectionRequestConnection, InspectionRequestFilterInput, NoticeReceipt, received,
};
use super::answer::listed;
use super::{audience, forward};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{GlobalId, InspectionRequestRecord, RecordKind, Told};
use crate::error::{AppError, FieldContext};
use crate::store::InspectionRequestFilter;

#[derive(Default)]
pub struct SupervisionQuery;

#[Object]
impl SupervisionQuery {
    /// Inspection requests this province made and, with `scope`, those its
    /// partners made (of which they show us the ones on alerts that
    /// concern us); `filter.assignee` with our own code and `state: OPEN`
    /// (or `overdue: true`) is our inspectors' work.
    async fn inspection_requests(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<InspectionRequestFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InspectionRequestConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = InspectionRequestFilter {
            alert: super::optional_id(RecordKind::Alert, "filter.alertId", filter.alert_id)?,
            facilities: super::facility_ids("filter.facilityIds", filter.facility_ids)?,
            assignee: filter.assignee.map(|code| code.0),
            state: filter.state,
            overdue: filter.overdue,
            audience: audience(ctx),
        };
        let listing =
            Listing::<InspectionRequestRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct SupervisionMutation;

#[Object]
impl SupervisionMutation {
    /// For partners' gateways: the partner asks us, by its request
    /// `requestId` at `version` on its alert `alertId`, for an inspection.
    /// Delivered again, it is stored once.
    async fn receive_inspection_request_notice(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        version: i32,
        alert_id: ID,
    ) -> Result<NoticeReceipt> {
        let request =
            GlobalId::parse_kind(&request_id, RecordKind::InspectionRequest).field("requestId")?;
        let alert = GlobalId::parse_kind(&alert_id, RecordKind::Alert).field("alertId")?;
        if alert.province != request.province {
            return Err(AppError::invalid(
                "alertId",
                "a request belongs to an alert of the province that made it",
            )
            .into());
        }
        let told = Told {
            about: request,
            version,
            status: None,
            alert: Some(alert),
            answers: None,
        };
        received(ctx, "requestId", told).await
    }
}
