//! Trade fairs a province hosts, and the booths provinces register at them
//! for their businesses, each product checked with its owner.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::alert::partner_record;
use super::answer::{access, find, kept_about, listed, local, told, wrap};
use super::objects::{Facility, Product};
use super::{Province, as_input, audience, check, forward, heavy, ids_of, scalars, store};
use crate::access::{Consistency, Listing, Scope, Verdict};
use crate::domain::{
    BoothRegistrationData, BoothRegistrationRecord, Caller, DEFAULT_MIN_STARS, Exhibitor, GlobalId,
    Ineligible, RecordKind, Stars, TradeFairData, TradeFairRecord, text, today,
};
use crate::domain::{Refused, Registered};
use crate::error::{AppError, FieldContext};
use crate::store::{BoothRegistrationFilter, NewRegistration, TradeFairFilter};

super::answer::record_object! {
    /// A trade fair a province hosts, shown to every partner.
    object TradeFair(TradeFairRecord), TradeFairEdge, TradeFairConnection;
    province: " The owner: the host.";
    version: " Grows by one on each write, each registration included.";
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    async fn place(&self) -> &str {
        &self.0.data.place
    }
    async fn starts_on(&self) -> scalars::Date {
        scalars::Date(self.0.data.starts_on)
    }
    async fn ends_on(&self) -> scalars::Date {
        scalars::Date(self.0.data.ends_on)
    }
    /// Booths in all.
    async fn booths(&self) -> i32 {
        self.0.data.booths
    }
    /// Booths registered so far.
    async fn booths_taken(&self) -> i32 {
        self.0.booths_taken
    }
    async fn booths_left(&self) -> i32 {
        self.0.data.booths - self.0.booths_taken
    }
    /// The least OCOP rating of a product shown.
    async fn min_stars(&self) -> i32 {
        self.0.data.min_stars.get()
    }
    /// The last day to register.
    async fn registration_deadline(&self) -> scalars::Date {
        scalars::Date(self.0.data.registration_deadline)
    }
    /// Whether registration is open today.
    async fn open(&self) -> bool {
        self.0.data.registration_deadline >= today()
    }
    /// The registrations, from the host: all of them for the host's own
    /// callers, a partner's own for that partner.
    async fn registrations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BoothRegistrationConnection> {
        let id = self.0.id;
        let filter = BoothRegistrationFilter {
            fairs: vec![id],
            audience: audience(ctx),
            ..Default::default()
        };
        let forwarded = serde_json::json!({ "fairIds": [id.to_string()] });
        heavy(kept_about(ctx, id, filter, forwarded, (first, after))).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A business at a booth, and the products it shows.
#[derive(SimpleObject)]
pub struct Exhibit {
    pub facility_id: ID,
    pub product_ids: Vec<ID>,
}

/// A product at a fair, and whether it may be shown there, as its owner's
/// records say now.
pub struct ShownProduct {
    facility: GlobalId,
    product: GlobalId,
    verdict: Verdict,
}

#[Object]
impl ShownProduct {
    async fn facility_id(&self) -> ID {
        ID(self.facility.to_string())
    }
    /// The business, from its owner.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.facility)).await
    }
    async fn product_id(&self) -> ID {
        ID(self.product.to_string())
    }
    /// The product, from its owner.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        heavy(find::<Product>(ctx, self.product)).await
    }
    async fn eligible(&self) -> bool {
        self.verdict.is_ok()
    }
    /// Why it may not be shown.
    async fn code(&self) -> Option<Ineligible> {
        self.verdict.as_ref().err().map(|(code, _)| *code)
    }
    async fn reason(&self) -> Option<&str> {
        self.verdict
            .as_ref()
            .err()
            .map(|(_, reason)| reason.as_str())
    }
}

super::answer::record_object! {
    /// Booths a province registered at a fair for its businesses, kept by
    /// the host; the products remain their owner's.
    object BoothRegistration(BoothRegistrationRecord), BoothRegistrationEdge, BoothRegistrationConnection;
    province: " The owner: the fair's host.";
    version: " Grows by one on each write.";
    async fn fair_id(&self) -> ID {
        ID(self.0.data.fair.to_string())
    }
    async fn fair(&self, ctx: &Context<'_>) -> Result<Option<TradeFair>> {
        heavy(find::<TradeFair>(ctx, self.0.data.fair)).await
    }
    /// The province whose businesses exhibit.
    async fn exhibiting(&self) -> Province {
        Province(self.0.data.exhibiting)
    }
    async fn booths(&self) -> i32 {
        self.0.data.booths
    }
    /// The registering province's own name for it.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn exhibitors(&self) -> Vec<Exhibit> {
        self.0
            .data
            .exhibitors
            .iter()
            .map(|e| Exhibit {
                facility_id: ID(e.facility.to_string()),
                product_ids: e.products.iter().map(|p| ID(p.to_string())).collect(),
            })
            .collect()
    }
    /// Each product shown, and whether it may be shown, judged now from
    /// its owner's records against the fair: a product whose rating was
    /// lowered or whose business's certificate was suspended since it was
    /// registered says so here.
    async fn products(&self, ctx: &Context<'_>) -> Result<Vec<ShownProduct>> {
        heavy(async {
            let Some(fair) = find::<TradeFair>(ctx, self.0.data.fair).await? else {
                return Ok(Vec::new());
            };
            let shown: Vec<(GlobalId, GlobalId)> = self.0.data.shown().collect();
            let verdicts = access(ctx).eligibility(&fair.0.data, &shown).await?;
            Ok(shown
                .into_iter()
                .zip(told(ctx, verdicts))
                .map(|((facility, product), verdict)| ShownProduct {
                    facility,
                    product,
                    verdict,
                })
                .collect())
        })
        .await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Which fairs to list.
#[derive(InputObject, Default)]
pub struct TradeFairFilterInput {
    /// Fairs open to registration today, or not.
    pub open: Option<bool>,
    /// Fairs that end on or after this day.
    pub ends_from: Option<scalars::Date>,
}

/// Which registrations to list.
#[derive(InputObject, Default)]
pub struct BoothRegistrationFilterInput {
    /// Registrations at these fairs (at most 100).
    pub fair_ids: Option<Vec<ID>>,
    /// Registrations of this province's businesses.
    pub exhibiting: Option<scalars::ProvinceCode>,
}

/// A fair to host.
#[derive(InputObject)]
pub struct CreateTradeFairInput {
    pub name: String,
    pub place: String,
    pub starts_on: scalars::Date,
    pub ends_on: scalars::Date,
    pub booths: i32,
    /// The least OCOP rating of a product shown (3 unless given).
    pub min_stars: Option<i32>,
    pub registration_deadline: scalars::Date,
}

/// A business and the products it will show.
#[derive(InputObject, Clone)]
pub struct ExhibitorInput {
    pub facility_id: ID,
    pub product_ids: Vec<ID>,
}

/// Booths for businesses of ours at a fair of either province.
#[derive(InputObject)]
pub struct RegisterBoothsInput {
    pub fair_id: ID,
    pub booths: i32,
    pub exhibitors: Vec<ExhibitorInput>,
}

/// For partners' gateways: booths the partner's businesses would have at
/// our fair.
#[derive(InputObject)]
pub struct ReceiveBoothRegistrationInput {
    /// The partner's own name for it: sent again, kept once.
    pub reference: String,
    pub fair_id: ID,
    pub booths: i32,
    pub exhibitors: Vec<ExhibitorInput>,
}

/// A product the host refused, and why.
#[derive(SimpleObject)]
pub struct RefusedProduct {
    pub facility_id: ID,
    pub product_id: ID,
    pub code: Ineligible,
    pub reason: String,
}

impl From<Refused> for RefusedProduct {
    fn from(refused: Refused) -> Self {
        Self {
            facility_id: ID(refused.business.to_string()),
            product_id: ID(refused.product.to_string()),
            code: refused.code,
            reason: refused.reason,
        }
    }
}

/// What the host answered: the registration it keeps, with the products
/// it accepted (null when it accepted none), and each product it refused.
#[derive(SimpleObject)]
pub struct BoothRegistrationResult {
    pub registration: Option<BoothRegistration>,
    pub refused: Vec<RefusedProduct>,
}

/// The exhibitors sent as `field`, each a business of `exhibiting`.
fn exhibitors(field: &str, input: Vec<ExhibitorInput>) -> Result<Vec<Exhibitor>, AppError> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(Exhibitor {
                facility: GlobalId::parse_kind(&e.facility_id, RecordKind::Facility)
                    .field(&format!("{field}.{i}.facilityId"))?,
                products: ids_of(
                    RecordKind::Product,
                    &format!("{field}.{i}.productIds"),
                    Some(e.product_ids),
                )?,
            })
        })
        .collect()
}

/// The host's part: checks each product of `data` with its owner, and
/// keeps the registration with those found eligible, if any.
async fn host(
    ctx: &Context<'_>,
    data: BoothRegistrationData,
    reference: String,
) -> Result<BoothRegistrationResult> {
    let row = store(ctx).owned(data.fair, "input.fairId")?;
    let fair = store(ctx)
        .trade_fairs_by_id(&[row], crate::store::Audience::Internal)
        .await?
        .pop()
        .ok_or_else(|| {
            AppError::invalid(
                "input.fairId",
                format!("no trade fair has the ID {}", data.fair),
            )
        })?;
    if fair.data.registration_deadline < today() {
        return Err(AppError::invalid(
            "input.fairId",
            format!("registration closed on {}", fair.data.registration_deadline),
        )
        .into());
    }
    let shown: Vec<(GlobalId, GlobalId)> = data.shown().collect();
    let verdicts = told(ctx, access(ctx).eligibility(&fair.data, &shown).await?);
    let mut refused = Vec::new();
    let mut kept: Vec<Exhibitor> = Vec::new();
    for ((facility, product), verdict) in shown.into_iter().zip(verdicts) {
        match verdict {
            Ok(()) => match kept.iter_mut().find(|e| e.facility == facility) {
                Some(exhibitor) => exhibitor.products.push(product),
                None => kept.push(Exhibitor {
                    facility,
                    products: vec![product],
                }),
            },
            Err((code, reason)) => refused.push(
                Refused {
                    business: facility,
                    product,
                    code,
                    reason,
                }
                .into(),
            ),
        }
    }
    if kept.is_empty() {
        return Ok(BoothRegistrationResult {
            registration: None,
            refused,
        });
    }
    let data = BoothRegistrationData {
        exhibitors: kept,
        ..data
    };
    let (registration, _) = store(ctx)
        .register_booths(NewRegistration { data, reference })
        .await
        .map_err(as_input)?;
    Ok(BoothRegistrationResult {
        registration: Some(local(ctx, registration)),
        refused,
    })
}

#[derive(Default)]
pub struct FairQuery;

#[Object]
impl FairQuery {
    /// Trade fairs this province hosts and, with `scope`, partners'.
    async fn trade_fairs(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        filter: Option<TradeFairFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<TradeFairConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = TradeFairFilter {
            open: filter.open,
            ends_from: filter.ends_from.map(|d| d.0),
            audience: audience(ctx),
        };
        let listing =
            Listing::<TradeFairRecord>::new(scope, Some(Consistency::Live), filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// Booth registrations at fairs this province hosts and, with `scope`,
    /// ours at partners' fairs.
    async fn booth_registrations(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        filter: Option<BoothRegistrationFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BoothRegistrationConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = BoothRegistrationFilter {
            fairs: ids_of(RecordKind::TradeFair, "filter.fairIds", filter.fair_ids)?,
            exhibiting: filter.exhibiting.map(|code| code.0),
            audience: audience(ctx),
        };
        let listing = Listing::<BoothRegistrationRecord>::new(
            scope,
            Some(Consistency::Live),
            filter,
            forwarded,
        );
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct FairMutation;

#[Object]
impl FairMutation {
    /// Announces a fair this province hosts, shown to every partner.
    async fn create_trade_fair(
        &self,
        ctx: &Context<'_>,
        input: CreateTradeFairInput,
    ) -> Result<TradeFair> {
        let data = TradeFairData {
            name: check("input.name", text::line(&input.name, text::SHORT))?,
            place: check("input.place", text::line(&input.place, text::SHORT))?,
            starts_on: input.starts_on.0,
            ends_on: input.ends_on.0,
            booths: input.booths,
            min_stars: check(
                "input.minStars",
                Stars::parse(input.min_stars.map_or(DEFAULT_MIN_STARS, i64::from)),
            )?,
            registration_deadline: input.registration_deadline.0,
        };
        let fair = store(ctx).create_trade_fair(data).await.map_err(as_input)?;
        Ok(local(ctx, fair))
    }

    /// Registers booths for businesses of ours at a fair of either
    /// province. The host checks each product with us, its owner, and keeps
    /// the registration with those that may be shown; the answer names
    /// every product refused, with a code and a reason. A business exhibits
    /// at a partner's fair as one that supplies it (`suppliesTo`), whose
    /// records the partner may read.
    async fn register_booths(
        &self,
        ctx: &Context<'_>,
        input: RegisterBoothsInput,
    ) -> Result<BoothRegistrationResult> {
        let fair =
            GlobalId::parse_kind(&input.fair_id, RecordKind::TradeFair).field("input.fairId")?;
        let ours = store(ctx);
        let exhibitors = exhibitors("input.exhibitors", input.exhibitors.clone())?;
        for (i, exhibitor) in exhibitors.iter().enumerate() {
            let field = format!("input.exhibitors.{i}.facilityId");
            ours.owned(exhibitor.facility, &field)?;
            let facility = ours
                .facility(exhibitor.facility.local, crate::store::Audience::Internal)
                .await?
                .ok_or_else(|| {
                    AppError::invalid(
                        &field,
                        format!("no facility has the ID {}", exhibitor.facility),
                    )
                })?;
            if fair.province != ours.province()
                && !facility.data.supplies_to.contains(&fair.province)
            {
                return Err(AppError::invalid(
                    &field,
                    format!(
                        "{} does not supply province {}; a business exhibits where it supplies",
                        exhibitor.facility, fair.province
                    ),
                )
                .into());
            }
        }
        let data = BoothRegistrationData {
            fair,
            exhibiting: ours.province(),
            booths: input.booths,
            exhibitors,
        };
        data.check().map_err(|e| {
            AppError::invalid(format!("input.{}", super::api_name(e.field)), e.reason)
        })?;
        let reference = format!("{:032x}", fastrand::u128(..));
        if fair.province == ours.province() {
            return host(ctx, data, reference).await;
        }
        // The host's word on the fair now, so that a late registration is
        // told in our words; the host checks again as it keeps it.
        let shown = partner_record::<TradeFairRecord>(ctx, fair, "input.fairId").await?;
        if let Some(shown) = shown
            && shown.data.registration_deadline < today()
        {
            return Err(AppError::invalid(
                "input.fairId",
                format!(
                    "registration closed on {}",
                    shown.data.registration_deadline
                ),
            )
            .into());
        }
        let sent = serde_json::json!({
            "reference": reference,
            "fairId": fair.to_string(),
            "booths": data.booths,
            "exhibitors": data.exhibitors.iter().map(|e| serde_json::json!({
                "facilityId": e.facility.to_string(),
                "productIds": e.products.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let answered = access(ctx)
            .register_booths(fair.province, sent)
            .await
            .map_err(|error| error.to_error(fair.province))?;
        let Registered {
            registration,
            refused,
        } = answered.record;
        let provenance = answered.provenance;
        Ok(BoothRegistrationResult {
            registration: registration
                .map(|record| wrap(ctx, crate::access::Sourced { record, provenance })),
            refused: refused.into_iter().map(Into::into).collect(),
        })
    }

    /// For partners' gateways: booths for the partner's businesses at our
    /// fair. Each product is checked with the partner, its owner, now; sent
    /// again with the same `reference`, the registration is kept once.
    async fn receive_booth_registration(
        &self,
        ctx: &Context<'_>,
        input: ReceiveBoothRegistrationInput,
    ) -> Result<BoothRegistrationResult> {
        let Caller::Partner(sender) = *ctx.data::<Caller>()? else {
            return Err(AppError::Forbidden(
                "registrations come from partners' gateways".to_owned(),
            )
            .into());
        };
        let data = BoothRegistrationData {
            fair: GlobalId::parse_kind(&input.fair_id, RecordKind::TradeFair)
                .field("input.fairId")?,
            exhibiting: sender,
            booths: input.booths,
            exhibitors: exhibitors("input.exhibitors", input.exhibitors)?,
        };
        data.check().map_err(|e| {
            AppError::invalid(format!("input.{}", super::api_name(e.field)), e.reason)
        })?;
        let reference = check("input.reference", text::line(&input.reference, 64))?;
        host(ctx, data, reference).await
    }
}
