//! Facilities: the object, its queries and its mutations.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};

use super::answer::{find, listed, local};
use super::objects::{Facility, FacilityConnection};
use super::{audience, check, forward, opt_check, scalars, store, writable_id};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{
    BusinessRegistrationNumber, FacilityKind, GlobalId, IdNumber, PhoneNumber, RecordKind, text,
};
use crate::domain::{FacilityData, FacilityRecord};
use crate::error::FieldContext;
use crate::store::{Audience, FacilityFilter};

/// Which facilities to list.
#[derive(InputObject, Default)]
pub struct FacilityFilterInput {
    pub kind: Option<FacilityKind>,
    /// Facilities whose products are supplied to this province.
    pub supplies_to: Option<scalars::ProvinceCode>,
    /// Words that must all appear in the name, commune, district or registration
    /// number; case and Vietnamese diacritics are ignored.
    pub text: Option<String>,
}

/// A new facility.
#[derive(InputObject)]
pub struct CreateFacilityInput {
    pub name: String,
    pub kind: FacilityKind,
    pub business_registration_number: Option<String>,
    pub commune: String,
    pub district: Option<String>,
    pub address_detail: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_id_number: Option<String>,
    #[graphql(default)]
    pub supplies_to: Vec<scalars::ProvinceCode>,
}

/// Changes to a facility: absent fields stay as they are; `null` clears an
/// optional field.
#[derive(InputObject)]
pub struct UpdateFacilityInput {
    pub name: Option<String>,
    pub kind: Option<FacilityKind>,
    pub business_registration_number: MaybeUndefined<String>,
    pub commune: Option<String>,
    pub district: MaybeUndefined<String>,
    pub address_detail: MaybeUndefined<String>,
    pub contact_name: MaybeUndefined<String>,
    pub contact_phone: MaybeUndefined<String>,
    pub contact_id_number: MaybeUndefined<String>,
    pub supplies_to: Option<Vec<scalars::ProvinceCode>>,
}

#[derive(Default)]
pub struct FacilityQuery;

#[Object]
impl FacilityQuery {
    /// A facility by ID, answered by its owner; null if none has it.
    async fn facility(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Facility>> {
        find(
            ctx,
            GlobalId::parse_kind(&id, RecordKind::Facility).field("id")?,
        )
        .await
    }

    /// Facilities, in a stable order, a page at a time.
    async fn facilities(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<FacilityFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<FacilityConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = FacilityFilter {
            kind: filter.kind,
            supplies_to: filter.supplies_to.map(|p| p.0),
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        let listing = Listing::<FacilityRecord>::new(scope, consistency, filter, forwarded);
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct FacilityMutation;

#[Object]
impl FacilityMutation {
    /// Registers a facility of this province.
    async fn create_facility(
        &self,
        ctx: &Context<'_>,
        input: CreateFacilityInput,
    ) -> Result<Facility> {
        let data = FacilityData {
            name: check("input.name", text::line(&input.name, text::SHORT))?,
            kind: input.kind,
            business_registration_number: opt_check(
                "input.businessRegistrationNumber",
                input.business_registration_number.as_deref(),
                BusinessRegistrationNumber::parse,
            )?,
            commune: check("input.commune", text::line(&input.commune, text::SHORT))?,
            district: opt_check("input.district", input.district.as_deref(), short_line)?,
            address_detail: opt_check(
                "input.addressDetail",
                input.address_detail.as_deref(),
                short_line,
            )?,
            contact_name: opt_check(
                "input.contactName",
                input.contact_name.as_deref(),
                short_line,
            )?,
            contact_phone: opt_check(
                "input.contactPhone",
                input.contact_phone.as_deref(),
                PhoneNumber::parse,
            )?,
            contact_id_number: opt_check(
                "input.contactIdNumber",
                input.contact_id_number.as_deref(),
                IdNumber::parse,
            )?,
            supplies_to: provinces(input.supplies_to),
        };
        Ok(local::<Facility>(
            ctx,
            store(ctx).create_facility(data).await?,
        ))
    }

    /// Changes a facility. `version` is the version you read: if the facility
    /// changed since, the answer is `CONFLICT` and nothing is written.
    async fn update_facility(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: UpdateFacilityInput,
    ) -> Result<Facility> {
        let store = store(ctx);
        let id = writable_id(ctx, &id, RecordKind::Facility)?;
        let current = store
            .facility(id.local, Audience::Internal)
            .await?
            .ok_or_else(|| {
                crate::error::AppError::NotFound(format!("no facility has the ID {id}"))
            })?;
        let mut data = current.data;
        if let Some(name) = input.name {
            data.name = check("input.name", text::line(&name, text::SHORT))?;
        }
        if let Some(kind) = input.kind {
            data.kind = kind;
        }
        if let Some(commune) = input.commune {
            data.commune = check("input.commune", text::line(&commune, text::SHORT))?;
        }
        patch(
            &mut data.business_registration_number,
            input.business_registration_number,
            "input.businessRegistrationNumber",
            BusinessRegistrationNumber::parse,
        )?;
        patch(
            &mut data.district,
            input.district,
            "input.district",
            short_line,
        )?;
        patch(
            &mut data.address_detail,
            input.address_detail,
            "input.addressDetail",
            short_line,
        )?;
        patch(
            &mut data.contact_name,
            input.contact_name,
            "input.contactName",
            short_line,
        )?;
        patch(
            &mut data.contact_phone,
            input.contact_phone,
            "input.contactPhone",
            PhoneNumber::parse,
        )?;
        patch(
            &mut data.contact_id_number,
            input.contact_id_number,
            "input.contactIdNumber",
            IdNumber::parse,
        )?;
        if let Some(supplies_to) = input.supplies_to {
            data.supplies_to = provinces(supplies_to);
        }
        Ok(local::<Facility>(
            ctx,
            store.update_facility(id, version, data).await?,
        ))
    }
}

fn short_line(value: &str) -> Result<String, crate::domain::Invalid> {
    text::line(value, text::SHORT)
}

/// Sorted, without repeats.
fn provinces(codes: Vec<scalars::ProvinceCode>) -> Vec<crate::domain::ProvinceCode> {
    let mut codes: Vec<_> = codes.into_iter().map(|c| c.0).collect();
    codes.sort();
    codes.dedup();
    codes
}

/// Applies an optional field's change: absent keeps, null clears, a value is parsed.
fn patch<T>(
    current: &mut Option<T>,
    change: MaybeUndefined<String>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::Invalid>,
) -> Result<(), crate::error::AppError> {
    match change {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *current = None,
        MaybeUndefined::Value(value) => *current = opt_check(field, Some(&value), parse)?,
    }
    Ok(())
}
