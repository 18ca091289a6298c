//! Inspections of production-chain stages.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::alert::partner_record;
use super::answer::{access, listed, local};
use super::objects::{Inspection, InspectionConnection};
use super::{as_input, audience, forward, opt_check, scalars, store};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{AlertRecord, InspectionRequestRecord};
use crate::domain::{ChainStage, GlobalId, InspectionResult, RecordKind, text, today};
use crate::domain::{InspectionData, InspectionRecord};
use crate::error::{AppError, FieldContext};
use crate::store::{Audience, InspectionFilter, Reply};

/// Which inspections to list.
#[derive(InputObject, Default)]
pub struct InspectionFilterInput {
    pub facility_id: Option<ID>,
    /// Inspections of any of these facilities (at most 100).
    pub facility_ids: Option<Vec<ID>>,
    pub stage: Option<ChainStage>,
    pub result: Option<InspectionResult>,
}

/// An inspection to record.
#[derive(InputObject)]
pub struct RecordInspectionInput {
    pub facility_id: ID,
    pub stage: ChainStage,
    /// Not in the future.
    pub inspected_on: scalars::Date,
    pub result: InspectionResult,
    /// Required when the result is `FAIL`.
    pub findings: Option<String>,
    pub internal_notes: Option<String>,
    /// The inspection request, of either province, assigned to this province,
    /// that this inspection answers: it must be open and ask for this
    /// facility and stage. The answer closes it and adds a follow-up to its
    /// alert's thread.
    pub answers_request_id: Option<ID>,
}

#[derive(Default)]
pub struct InspectionQuery;

#[Object]
impl InspectionQuery {
    /// Inspections recorded by this province, in a stable order, a page at a time.
    async fn inspections(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<InspectionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InspectionConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = InspectionFilter {
            facility: super::optional_id(
                RecordKind::Facility,
                "filter.facilityId",
                filter.facility_id,
            )?,
            facilities: super::facility_ids("filter.facilityIds", filter.facility_ids)?,
            stage: filter.stage,
            result: filter.result,
            audience: audience(ctx),
        };
        let listing = Listing::<InspectionRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct InspectionMutation;

#[Object]
impl InspectionMutation {
    /// Records an inspection: of any stage of a facility of this province, or
    /// of the trading of a partner's facility here.
    async fn record_inspection(
        &self,
        ctx: &Context<'_>,
        input: RecordInspectionInput,
    ) -> Result<Inspection> {
        let long = |value: &str| text::paragraph(value, text::LONG);
        let findings = opt_check("input.findings", input.findings.as_deref(), long)?;
        if input.result == InspectionResult::Fail && findings.is_none() {
            return Err(AppError::invalid(
                "input.findings",
                "a failed inspection states its findings",
            )
            .into());
        }
        if input.inspected_on.0 > today() {
            return Err(AppError::invalid("input.inspectedOn", "must not be in the future").into());
        }
        let facility = GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
            .field("input.facilityId")?;
        if facility.province != store(ctx).province() && input.stage == ChainStage::Trading {
            // A partner's facility: its owner must confirm it exists and is shared.
            let shared = access(ctx)
                .partner_shares_facility(facility)
                .await
                .map_err(|error| error.to_error(facility.province))?;
            if !shared {
                return Err(AppError::invalid(
                    "input.facilityId",
                    format!(
                        "province {} does not confirm a facility {facility}",
                        facility.province
                    ),
                )
                .into());
            }
        }
        let reply = match &input.answers_request_id {
            Some(id) => Some(reply(ctx, id).await?),
            None => None,
        };
        let data = InspectionData {
            facility,
            stage: input.stage,
            inspected_on: input.inspected_on.0,
            result: input.result,
            findings,
            internal_notes: opt_check(
                "input.internalNotes",
                input.internal_notes.as_deref(),
                long,
            )?,
        };
        let recorded = store(ctx)
            .record_inspection(data, reply)
            .await
            .map_err(as_input)?;
        Ok(local::<Inspection>(ctx, recorded))
    }
}

/// The request `id` as its owner shows it, with its alert when the owner is
/// a partner: what an inspection that answers it writes about.
async fn reply(ctx: &Context<'_>, id: &ID) -> Result<Reply> {
    let field = "input.answersRequestId";
    let id = GlobalId::parse_kind(id, RecordKind::InspectionRequest).field(field)?;
    let request = match partner_record::<InspectionRequestRecord>(ctx, id, field).await? {
        Some(request) => request,
        None => store(ctx)
            .inspection_requests_by_id(&[id.local], Audience::Internal)
            .await?
            .pop()
            .ok_or_else(|| AppError::invalid(field, format!("no inspection request {id}")))?,
    };
    let partner_alert = partner_record::<AlertRecord>(ctx, request.data.alert, field).await?;
    Ok(Reply {
        request,
        partner_alert,
    })
}
