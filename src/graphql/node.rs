//! The Relay `node(id:)` lookup and the gateway's own province.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::{Certificate, Facility, Inspection, Product, Province, audience, local, store};
use crate::domain::{GlobalId, RecordKind};
use crate::error::FieldContext;

/// Any record with a global ID. The ID names the owner province.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Facility(Facility),
    Certificate(Certificate),
    Product(Product),
    Inspection(Inspection),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any record by global ID; null if none has it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let id = GlobalId::parse(&id).field("id")?;
        let store = store(ctx);
        if id.province != store.province() {
            return Ok(None);
        }
        let audience = audience(ctx);
        Ok(match id.kind {
            RecordKind::Facility => store
                .facility(id.local, audience)
                .await?
                .map(|r| local::<Facility>(ctx, r).into()),
            RecordKind::Certificate => store
                .certificate(id.local, audience)
                .await?
                .map(|r| local::<Certificate>(ctx, r).into()),
            RecordKind::Product => store
                .product(id.local, audience)
                .await?
                .map(|r| local::<Product>(ctx, r).into()),
            RecordKind::Inspection => store
                .inspection(id.local, audience)
                .await?
                .map(|r| local::<Inspection>(ctx, r).into()),
        })
    }

    /// The province this gateway serves.
    async fn province(&self, ctx: &Context<'_>) -> Province {
        Province(store(ctx).province())
    }
}
