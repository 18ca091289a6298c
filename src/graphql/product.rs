//! Products and their OCOP ratings: the object, lists and the operator's writes.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use super::answer::{find, listed, local};
use super::objects::{Product, ProductConnection};
use super::{
    as_input, audience, check, facility_filter, forward, opt_check, scalars, store, writable_id,
};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{
    GlobalId, Invalid, OcopRating, ProductCategory, RecordKind, Stars, text, today,
};
use crate::domain::{ProductData, ProductRecord};
use crate::error::{AppError, FieldContext};
use crate::store::{Audience, ProductFilter};

/// An OCOP rating decision.
#[derive(InputObject)]
pub struct OcopInput {
    /// 1 to 5.
    pub stars: i32,
    /// The date of the rating decision; not in the future.
    pub rated_on: scalars::Date,
}

/// Which products to list.
#[derive(InputObject, Default)]
pub struct ProductFilterInput {
    pub category: Option<ProductCategory>,
    /// Only products whose OCOP rating is valid today and has at least these stars.
    pub min_stars: Option<i32>,
    pub facility_id: Option<ID>,
    /// Products of facilities supplying this province.
    pub supplies_to: Option<scalars::ProvinceCode>,
    pub specialty: Option<bool>,
    pub key_product: Option<bool>,
    /// Words that must all appear in the name, description, or the facility's name
    /// or address; case and diacritics are ignored.
    pub text: Option<String>,
}

/// A new product.
#[derive(InputObject)]
pub struct RegisterProductInput {
    pub name: String,
    pub category: ProductCategory,
    pub facility_id: ID,
    pub description: Option<String>,
    pub ocop: Option<OcopInput>,
    #[graphql(default)]
    pub specialty: bool,
    #[graphql(default)]
    pub key_product: bool,
}

/// Changes to a product: absent fields stay; `ocop: null` removes the rating.
#[derive(InputObject)]
pub struct UpdateProductInput {
    pub name: Option<String>,
    pub category: Option<ProductCategory>,
    pub facility_id: Option<ID>,
    pub description: MaybeUndefined<String>,
    pub ocop: MaybeUndefined<OcopInput>,
    pub specialty: Option<bool>,
    pub key_product: Option<bool>,
}

#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    /// A product by ID, answered by its owner; null if none has it.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        let id = GlobalId::parse_kind(&id, RecordKind::Product).field("id")?;
        find(ctx, id).await
    }

    /// Products, in a stable order, a page at a time.
    async fn products(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<ProductFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProductConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let (facility, none_here) = facility_filter(ctx, filter.facility_id.as_ref())?;
        let filter = ProductFilter {
            category: filter.category,
            min_stars: filter
                .min_stars
                .map(|n| Stars::parse(n.into()).field("filter.minStars"))
                .transpose()?,
            facility,
            supplies_to: filter.supplies_to.map(|p| p.0),
            specialty: filter.specialty,
            key_product: filter.key_product,
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        let listing = Listing::<ProductRecord>::new(scope, consistency, filter, forwarded)
            .none_of_ours(none_here);
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct ProductMutation;

#[Object]
impl ProductMutation {
    /// Registers a product of a facility of this province.
    async fn register_product(
        &self,
        ctx: &Context<'_>,
        input: RegisterProductInput,
    ) -> Result<Product> {
        let data = ProductData {
            name: check("input.name", text::line(&input.name, text::SHORT))?,
            category: input.category,
            facility: GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
                .field("input.facilityId")?,
            description: opt_check("input.description", input.description.as_deref(), long)?,
            ocop: input.ocop.map(ocop).transpose()?,
            specialty: input.specialty,
            key_product: input.key_product,
        };
        Ok(local::<Product>(
            ctx,
            store(ctx).register_product(data).await.map_err(as_input)?,
        ))
    }

    /// Changes a product, its OCOP rating included. `version` is the version you
    /// read: if the product changed since, the answer is `CONFLICT`.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateProductInput,
    ) -> Result<Product> {
        let store = store(ctx);
        let id = writable_id(ctx, &id, RecordKind::Product)?;
        let current = store
            .product(id.local, Audience::Internal)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no product has the ID {id}")))?;
        let mut data = current.data;
        if let Some(name) = input.name {
            data.name = check("input.name", text::line(&name, text::SHORT))?;
        }
        if let Some(category) = input.category {
            data.category = category;
        }
        if let Some(facility) = input.facility_id {
            data.facility =
                GlobalId::parse_kind(&facility, RecordKind::Facility).field("input.facilityId")?;
        }
        match input.description {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => data.description = None,
            MaybeUndefined::Value(d) => {
                data.description = opt_check("input.description", Some(&d), long)?
            }
        }
        match input.ocop {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => data.ocop = None,
            MaybeUndefined::Value(rating) => data.ocop = Some(ocop(rating)?),
        }
        if let Some(specialty) = input.specialty {
            data.specialty = specialty;
        }
        if let Some(key_product) = input.key_product {
            data.key_product = key_product;
        }
        Ok(local::<Product>(
            ctx,
            store
                .update_product(id, version, data)
                .await
                .map_err(as_input)?,
        ))
    }
}

fn long(value: &str) -> Result<String, Invalid> {
    text::paragraph(value, text::LONG)
}

fn ocop(input: OcopInput) -> Result<OcopRating, AppError> {
    let stars = Stars::parse(input.stars.into()).field("input.ocop.stars")?;
    if input.rated_on.0 > today() {
        return Err(AppError::invalid(
            "input.ocop.ratedOn",
            "must not be in the future",
        ));
    }
    Ok(OcopRating {
        stars,
        rated_on: input.rated_on.0,
    })
}
