//! The Relay `node(id:)` lookup and the gateway's own province.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::alert::{Alert, FollowUp, InspectionRequest};
use super::answer::{access, told, wrap};
use super::fair::{BoothRegistration, TradeFair};
use super::market::{HarvestOffer, Interest};
use super::trace::{Lot, TraceEvent};
use super::{Certificate, Facility, Inspection, Product, Province, store};
use crate::access::{Consistency, Sourced};
use crate::domain::GlobalId;
use crate::domain::Record;
use crate::error::FieldContext;

/// Any record with a global ID. The ID names the owner province.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Facility(Facility),
    Certificate(Certificate),
    Product(Product),
    Inspection(Inspection),
    Alert(Alert),
    FollowUp(FollowUp),
    InspectionRequest(InspectionRequest),
    Lot(Lot),
    TraceEvent(TraceEvent),
    HarvestOffer(HarvestOffer),
    Interest(Interest),
    TradeFair(TradeFair),
    BoothRegistration(BoothRegistration),
}

impl Node {
    /// Wraps any record, from its owner or our replica, as a node.
    fn of(ctx: &Context<'_>, sourced: Sourced<Record>) -> Self {
        let Sourced { record, provenance } = sourced;
        match record {
            Record::Facility(record) => {
                wrap::<Facility>(ctx, Sourced { record, provenance }).into()
            }
            Record::Certificate(record) => {
                wrap::<Certificate>(ctx, Sourced { record, provenance }).into()
            }
            Record::Product(record) => wrap::<Product>(ctx, Sourced { record, provenance }).into(),
            Record::Inspection(record) => {
                wrap::<Inspection>(ctx, Sourced { record, provenance }).into()
            }
            Record::Alert(record) => wrap::<Alert>(ctx, Sourced { record, provenance }).into(),
            Record::FollowUp(record) => {
                wrap::<FollowUp>(ctx, Sourced { record, provenance }).into()
            }
            Record::InspectionRequest(record) => {
                wrap::<InspectionRequest>(ctx, Sourced { record, provenance }).into()
            }
            Record::Lot(record) => wrap::<Lot>(ctx, Sourced { record, provenance }).into(),
            Record::TraceEvent(record) => {
                wrap::<TraceEvent>(ctx, Sourced { record, provenance }).into()
            }
            Record::HarvestOffer(record) => {
                wrap::<HarvestOffer>(ctx, Sourced { record, provenance }).into()
            }
            Record::Interest(record) => {
                wrap::<Interest>(ctx, Sourced { record, provenance }).into()
            }
            Record::TradeFair(record) => {
                wrap::<TradeFair>(ctx, Sourced { record, provenance }).into()
            }
            Record::BoothRegistration(record) => {
                wrap::<BoothRegistration>(ctx, Sourced { record, provenance }).into()
            }
        }
    }
}

/// Most IDs `nodes` takes: as many as one page of the change feed names.
pub const MAX_IDS: usize = crate::store::MAX_FEED_PAGE as usize;

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any record by global ID, answered by its owner (or, unless `consistency`
    /// is `LIVE`, by our replica when the owner cannot answer); null if none has it.
    async fn node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        consistency: Option<Consistency>,
    ) -> Result<Option<Node>> {
        let id = GlobalId::parse(&id).field("id")?;
        let found = access(ctx)
            .find(id, consistency.unwrap_or_default())
            .await?;
        Ok(told(ctx, found).map(|found| Node::of(ctx, found)))
    }

    /// Records by global ID, each answered by its owner, in the order asked; null
    /// where none has the ID. At most 1000 IDs, as many as a page of the change
    /// feed names.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        consistency: Option<Consistency>,
    ) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_IDS {
            return Err(crate::error::AppError::invalid(
                "ids",
                format!("at most {MAX_IDS} IDs at once"),
            )
            .into());
        }
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, id)| GlobalId::parse(id).field(&format!("ids.{i}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let found = access(ctx)
            .find_many(&ids, consistency.unwrap_or_default())
            .await?;
        Ok(told(ctx, found)
            .into_iter()
            .map(|found| found.map(|found| Node::of(ctx, found)))
            .collect())
    }

    /// The province this gateway serves.
    async fn province(&self, ctx: &Context<'_>) -> Province {
        Province(store(ctx).province())
    }
}
