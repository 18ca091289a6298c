//! Inspections of production-chain stages.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::answer::{access, find, listed, local};
use super::{
    Facility, InternalOnly, Province, audience, forward, heavy, opt_check, scalars, store,
};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{ChainStage, GlobalId, InspectionResult, RecordKind, text, today};
use crate::error::{AppError, FieldContext};
use crate::store::{InspectionData, InspectionFilter, InspectionRecord};

super::answer::record_object! {
    /// An inspection of one stage of a facility's production chain, owned by the
    /// inspecting province.
    object Inspection(InspectionRecord), InspectionEdge, InspectionConnection;
    province: " The owner: the province whose inspectors inspected.";
    {
        /// The province whose inspectors inspected (the owner).
        async fn inspecting_province(&self) -> Province {
            Province(self.0.id.province)
        }
    }
    version: " Grows by one on each write.";
    /// The inspected facility; null when it belongs to a province this gateway
    /// cannot reach.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    /// The inspected facility's ID, which names its owner province.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    async fn stage(&self) -> ChainStage {
        self.0.data.stage
    }
    async fn inspected_on(&self) -> scalars::Date {
        scalars::Date(self.0.data.inspected_on)
    }
    async fn result(&self) -> InspectionResult {
        self.0.data.result
    }
    /// What the inspectors found.
    async fn findings(&self) -> Option<&str> {
        self.0.data.findings.as_deref()
    }
    /// Internal working notes, for this province's staff only.
    #[graphql(guard = "InternalOnly")]
    async fn internal_notes(&self) -> Option<&str> {
        self.0.data.internal_notes.as_deref()
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

/// Which inspections to list.
#[derive(InputObject, Default)]
pub struct InspectionFilterInput {
    pub facility_id: Option<ID>,
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
            facility: filter
                .facility_id
                .map(|id| {
                    GlobalId::parse_kind(&id, RecordKind::Facility).field("filter.facilityId")
                })
                .transpose()?,
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
    /// Records an inspection of a facility of this province.
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
        Ok(local::<Inspection>(
            ctx,
            store(ctx).record_inspection(data).await?,
        ))
    }
}
