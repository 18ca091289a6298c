//! The Relay `node(id:)` lookup and the gateway's own province.

use async_graphql::{Context, ID, Interface, Object, Result};

use super::remote::{Consistency, lookup_many, lookup_with};
use super::{Certificate, Facility, Inspection, Product, Province, store};
use crate::domain::GlobalId;
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
        lookup_with(
            ctx,
            GlobalId::parse(&id).field("id")?,
            consistency.unwrap_or_default(),
        )
        .await
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
        lookup_many(ctx, &ids, consistency.unwrap_or_default()).await
    }

    /// The province this gateway serves.
    async fn province(&self, ctx: &Context<'_>) -> Province {
        Province(store(ctx).province())
    }
}
