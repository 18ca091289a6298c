//! The market between the provinces: harvest offers, browsed across both,
//! and the interest a buyer of either province registers in one, kept by
//! the offer's owner.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::alert::{NoticeReceipt, partner_record, received};
use super::answer::{access, find, kept_about, listed, local, wrap};
use super::objects::{Facility, Ocop, Product};
use super::{
    Province, as_input, audience, check, forward, heavy, ids_of, opt_check, optional_id, scalars,
    store,
};
use crate::access::{Consistency, Listing, Scope};
use crate::domain::{
    Caller, Contact, GlobalId, HarvestOfferData, HarvestOfferRecord, InterestData, InterestRecord,
    InterestState, OfferStatus, PhoneNumber, ProductCategory, ProvinceCode, QuantityUnit,
    RecordKind, Stars, Told, buys_harvests, text,
};
use crate::error::{AppError, FieldContext};
use crate::federation::Partners;
use crate::store::{HarvestOfferFilter, InterestFilter, NewInterest};

/// Someone to call.
#[derive(SimpleObject)]
pub struct ContactDetails {
    pub name: String,
    pub phone: String,
}

impl From<&Contact> for ContactDetails {
    fn from(contact: &Contact) -> Self {
        Self {
            name: contact.name.clone(),
            phone: contact.phone.clone().into_inner(),
        }
    }
}

super::answer::record_object! {
    /// A facility's harvest looking for buyers, owned by the facility's
    /// province and shown to every partner. What it shows of its product
    /// and facility, and whether the facility is certified, is its owner's
    /// answer when it was read.
    object HarvestOffer(HarvestOfferRecord), HarvestOfferEdge, HarvestOfferConnection;
    province: " The owner: the province of the offering facility.";
    version: " Grows by one on each write.";
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    /// The facility, from its owner (null when it is not shared with us).
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    async fn facility_name(&self) -> &str {
        &self.0.shown.facility_name
    }
    async fn product_id(&self) -> ID {
        ID(self.0.data.product.to_string())
    }
    /// The product, from its owner (null when it is not shared with us).
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<Product>> {
        heavy(find::<Product>(ctx, self.0.data.product)).await
    }
    async fn product_name(&self) -> &str {
        &self.0.shown.product_name
    }
    async fn category(&self) -> ProductCategory {
        self.0.shown.category
    }
    /// The product's OCOP rating, if it has one.
    async fn ocop(&self) -> Option<Ocop> {
        self.0.shown.ocop.map(Ocop::from)
    }
    /// Whether the facility holds a certificate valid today, as its owner
    /// answered.
    async fn certified(&self) -> bool {
        self.0.shown.certified
    }
    async fn quantity(&self) -> f64 {
        self.0.data.quantity
    }
    async fn unit(&self) -> QuantityUnit {
        self.0.data.unit
    }
    /// The first day of the harvest.
    async fn harvest_from(&self) -> scalars::Date {
        scalars::Date(self.0.data.harvest_from)
    }
    /// The last day of the harvest.
    async fn harvest_until(&self) -> scalars::Date {
        scalars::Date(self.0.data.harvest_until)
    }
    /// The indicative price range, in đồng per unit.
    async fn min_price_vnd(&self) -> i64 {
        self.0.data.min_price_vnd
    }
    async fn max_price_vnd(&self) -> i64 {
        self.0.data.max_price_vnd
    }
    /// Where buyers collect.
    async fn collection_point(&self) -> &str {
        &self.0.data.collection_point
    }
    /// The harvest is at risk of going unsold.
    async fn urgent(&self) -> bool {
        self.0.data.urgent
    }
    /// Whether the facility consents to its contact being shown to other
    /// provinces.
    async fn contact_shared(&self) -> bool {
        self.0.data.contact_shared
    }
    /// Whom to call (personal data): for partners, only with the
    /// facility's consent, and null otherwise.
    async fn contact(&self, ctx: &Context<'_>) -> Option<ContactDetails> {
        let shown = self.0.data.contact_shared
            || crate::policy::sees_internal_fields(*ctx.data_unchecked::<Caller>());
        self.0.data.contact.as_ref().filter(|_| shown).map(Into::into)
    }
    async fn note(&self) -> Option<&str> {
        self.0.data.note.as_deref()
    }
    async fn status(&self) -> OfferStatus {
        self.0.status
    }
    /// The interest registered in it, from its owner: all of it for the
    /// owner's own callers, a partner's buyers' for that partner.
    async fn interests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InterestConnection> {
        let id = self.0.id;
        let filter = InterestFilter {
            offers: vec![id],
            audience: audience(ctx),
            ..Default::default()
        };
        let forwarded = serde_json::json!({ "offerIds": [id.to_string()] });
        heavy(kept_about(ctx, id, filter, forwarded, (first, after))).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

super::answer::record_object! {
    /// A buyer's interest in a harvest offer, kept by the offer's owner and
    /// shown to its own callers and to the buyer's province.
    object Interest(InterestRecord), InterestEdge, InterestConnection;
    province: " The owner: the offer's province.";
    version: " Grows by one on each write.";
    async fn offer_id(&self) -> ID {
        ID(self.0.data.offer.to_string())
    }
    async fn offer(&self, ctx: &Context<'_>) -> Result<Option<HarvestOffer>> {
        heavy(find::<HarvestOffer>(ctx, self.0.data.offer)).await
    }
    /// The buying facility, of either province.
    async fn buyer_facility_id(&self) -> ID {
        ID(self.0.data.buyer.to_string())
    }
    async fn buyer_facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.buyer)).await
    }
    async fn buyer_province(&self) -> Province {
        Province(self.0.data.buyer.province)
    }
    /// The buyer's province's own name for the interest: sent again, the
    /// interest is kept once.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    /// How much the buyer would take, in the offer's unit.
    async fn quantity(&self) -> Option<f64> {
        self.0.data.quantity
    }
    async fn message(&self) -> Option<&str> {
        self.0.data.message.as_deref()
    }
    /// Whom the offering facility calls back, as the buyer gave it (the
    /// offer's province and the buyer's see it).
    async fn contact(&self) -> Option<ContactDetails> {
        self.0.data.contact.as_ref().map(Into::into)
    }
    async fn state(&self) -> InterestState {
        self.0.state
    }
    /// The offering province's answer, in words.
    async fn answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Someone to call.
#[derive(InputObject, Clone)]
pub struct ContactInput {
    pub name: String,
    /// A Vietnamese phone number.
    pub phone: String,
}

/// A harvest looking for buyers.
#[derive(InputObject)]
pub struct CreateHarvestOfferInput {
    /// Our facility that harvests.
    pub facility_id: ID,
    /// One of its products.
    pub product_id: ID,
    pub quantity: f64,
    pub unit: QuantityUnit,
    pub harvest_from: scalars::Date,
    pub harvest_until: scalars::Date,
    /// The indicative price range, in đồng per unit.
    pub min_price_vnd: i64,
    pub max_price_vnd: i64,
    /// Where buyers collect.
    pub collection_point: String,
    /// The harvest is at risk of going unsold: every partner is told.
    #[graphql(default)]
    pub urgent: bool,
    pub contact: Option<ContactInput>,
    /// The facility consents to its contact being shown to other provinces.
    #[graphql(default)]
    pub contact_shared: bool,
    pub note: Option<String>,
}

/// Which offers to list.
#[derive(InputObject, Default)]
pub struct HarvestOfferFilterInput {
    pub status: Option<OfferStatus>,
    pub urgent: Option<bool>,
    pub category: Option<ProductCategory>,
    /// Products with an OCOP rating valid today of at least these stars.
    pub min_stars: Option<i32>,
    /// Offers whose harvest window meets the days from `harvestFrom` to
    /// `harvestUntil`.
    pub harvest_from: Option<scalars::Date>,
    pub harvest_until: Option<scalars::Date>,
    /// Whether the facility holds a certificate valid today, by its owner.
    pub certified: Option<bool>,
    pub facility_id: Option<ID>,
    pub product_id: Option<ID>,
    /// Words in the offer, its product or its facility; case and
    /// diacritics ignored.
    pub text: Option<String>,
}

/// Which interests to list.
#[derive(InputObject, Default)]
pub struct InterestFilterInput {
    /// Interests in these offers (at most 100).
    pub offer_ids: Option<Vec<ID>>,
    pub state: Option<InterestState>,
    /// Interests of buyers of this province.
    pub buyer_province: Option<scalars::ProvinceCode>,
}

/// A buyer of ours is interested in an offer, of either province.
#[derive(InputObject)]
pub struct RegisterInterestInput {
    pub offer_id: ID,
    /// Our facility that buys: a trader or a processor.
    pub facility_id: ID,
    /// How much it would take, in the offer's unit.
    pub quantity: Option<f64>,
    pub message: Option<String>,
    /// Whom the offering facility calls back: sent to the offer's province.
    pub contact: Option<ContactInput>,
}

/// For partners' gateways: a buyer of the partner is interested in an
/// offer of ours.
#[derive(InputObject)]
pub struct ReceiveInterestInput {
    /// The partner's own name for the interest: sent again, kept once.
    pub reference: String,
    pub offer_id: ID,
    /// The partner's buying facility.
    pub buyer_facility_id: ID,
    pub quantity: Option<f64>,
    pub message: Option<String>,
    pub contact: Option<ContactInput>,
}

fn contact(at: &str, input: Option<ContactInput>) -> Result<Option<Contact>, AppError> {
    input
        .map(|c| {
            Ok(Contact {
                name: check(&format!("{at}.name"), text::line(&c.name, text::SHORT))?,
                phone: check(&format!("{at}.phone"), PhoneNumber::parse(&c.phone))?,
            })
        })
        .transpose()
}

fn message(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    opt_check(field, value, |m| text::paragraph(m, text::LONG))
}

#[derive(Default)]
pub struct MarketQuery;

#[Object]
impl MarketQuery {
    /// Harvest offers of this province and, with `scope`, of partners, each
    /// answered by its owner.
    async fn harvest_offers(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        filter: Option<HarvestOfferFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<HarvestOfferConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = HarvestOfferFilter {
            status: filter.status,
            urgent: filter.urgent,
            category: filter.category,
            min_stars: filter
                .min_stars
                .map(|s| check("filter.minStars", Stars::parse(s.into())))
                .transpose()?,
            harvest_from: filter.harvest_from.map(|d| d.0),
            harvest_until: filter.harvest_until.map(|d| d.0),
            certified: filter.certified,
            facility: optional_id(
                RecordKind::Facility,
                "filter.facilityId",
                filter.facility_id,
            )?,
            product: optional_id(RecordKind::Product, "filter.productId", filter.product_id)?,
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        // Offers are live: no replica stands in for them.
        let listing =
            Listing::<HarvestOfferRecord>::new(scope, Some(Consistency::Live), filter, forwarded);
        listed(ctx, listing, first, after).await
    }

    /// Interest registered in offers of this province and, with `scope`,
    /// our buyers' interest in partners' offers.
    async fn interests(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        filter: Option<InterestFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InterestConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let filter = InterestFilter {
            offers: ids_of(
                RecordKind::HarvestOffer,
                "filter.offerIds",
                filter.offer_ids,
            )?,
            state: filter.state,
            buyer_province: filter.buyer_province.map(|code| code.0),
            audience: audience(ctx),
        };
        let listing =
            Listing::<InterestRecord>::new(scope, Some(Consistency::Live), filter, forwarded);
        listed(ctx, listing, first, after).await
    }
}

#[derive(Default)]
pub struct MarketMutation;

#[Object]
impl MarketMutation {
    /// Offers a harvest of one of our facilities; an urgent one is told to
    /// every partner at once, and shown on the market's live feed.
    async fn create_harvest_offer(
        &self,
        ctx: &Context<'_>,
        input: CreateHarvestOfferInput,
    ) -> Result<HarvestOffer> {
        let data = HarvestOfferData {
            facility: GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
                .field("input.facilityId")?,
            product: GlobalId::parse_kind(&input.product_id, RecordKind::Product)
                .field("input.productId")?,
            quantity: input.quantity,
            unit: input.unit,
            harvest_from: input.harvest_from.0,
            harvest_until: input.harvest_until.0,
            min_price_vnd: input.min_price_vnd,
            max_price_vnd: input.max_price_vnd,
            collection_point: check(
                "input.collectionPoint",
                text::line(&input.collection_point, text::SHORT),
            )?,
            urgent: input.urgent,
            contact: contact("input.contact", input.contact)?,
            contact_shared: input.contact_shared,
            note: message("input.note", input.note.as_deref())?,
        };
        let partners: Vec<ProvinceCode> = ctx
            .data::<Partners>()?
            .iter()
            .map(|partner| partner.province)
            .collect();
        let offer = store(ctx)
            .create_harvest_offer(data, &partners)
            .await
            .map_err(as_input)?;
        Ok(local(ctx, offer))
    }

    /// Closes our offer `id`: kept, and no longer open to interest.
    async fn close_harvest_offer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
    ) -> Result<HarvestOffer> {
        let id = super::writable_id(ctx, &id, RecordKind::HarvestOffer)?;
        let offer = store(ctx).close_harvest_offer(id, version).await?;
        Ok(local(ctx, offer))
    }

    /// Registers our buyer's interest in an offer of either province: kept
    /// by the offer's owner, which answers it; a partner that cannot be
    /// reached keeps nothing, and says so (`PARTNER_*`).
    async fn register_interest(
        &self,
        ctx: &Context<'_>,
        input: RegisterInterestInput,
    ) -> Result<Interest> {
        let offer = GlobalId::parse_kind(&input.offer_id, RecordKind::HarvestOffer)
            .field("input.offerId")?;
        let buyer = GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
            .field("input.facilityId")?;
        let ours = store(ctx);
        ours.owned(buyer, "input.facilityId")?;
        let facility = ours
            .facility(buyer.local, crate::store::Audience::Internal)
            .await?
            .ok_or_else(|| {
                AppError::invalid(
                    "input.facilityId",
                    format!("no facility has the ID {buyer}"),
                )
            })?;
        if !buys_harvests(facility.data.kind) {
            return Err(AppError::invalid(
                "input.facilityId",
                "only a trader or a processor registers interest in a harvest",
            )
            .into());
        }
        let data = InterestData {
            offer,
            buyer,
            quantity: input.quantity,
            message: message("input.message", input.message.as_deref())?,
            contact: contact("input.contact", input.contact)?,
        };
        let reference = format!("{:032x}", fastrand::u128(..));
        if offer.province == ours.province() {
            let (interest, _) = ours
                .receive_interest(NewInterest { data, reference })
                .await
                .map_err(as_input)?;
            return Ok(local(ctx, interest));
        }
        data.check().map_err(|e| {
            AppError::invalid(format!("input.{}", super::api_name(e.field)), e.reason)
        })?;
        // The owner's word on the offer now, so that a refusal is told in
        // our words; the owner checks again as it keeps the interest.
        let shown = partner_record::<HarvestOfferRecord>(ctx, offer, "input.offerId").await?;
        if shown.is_some_and(|o| o.status != OfferStatus::Open) {
            return Err(AppError::invalid("input.offerId", "the offer is closed").into());
        }
        let contact = data
            .contact
            .as_ref()
            .map(|c| serde_json::json!({ "name": c.name, "phone": c.phone.clone().into_inner() }));
        let sent = serde_json::json!({
            "reference": reference,
            "offerId": offer.to_string(),
            "buyerFacilityId": buyer.to_string(),
            "quantity": data.quantity,
            "message": data.message,
            "contact": contact,
        });
        let kept = access(ctx)
            .send_interest(offer.province, sent)
            .await
            .map_err(|error| error.to_error(offer.province))?;
        Ok(wrap(ctx, kept))
    }

    /// Answers an interest in one of our offers.
    async fn answer_interest(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        state: InterestState,
        answer: Option<String>,
    ) -> Result<Interest> {
        let id = super::writable_id(ctx, &id, RecordKind::Interest)?;
        let answer = message("answer", answer.as_deref())?;
        let interest = store(ctx)
            .answer_interest(id, version, state, answer)
            .await?;
        Ok(local(ctx, interest))
    }

    /// For partners' gateways: a buyer of the partner is interested in our
    /// offer. Sent again with the same `reference`, it is kept once.
    async fn receive_interest(
        &self,
        ctx: &Context<'_>,
        input: ReceiveInterestInput,
    ) -> Result<Interest> {
        let Caller::Partner(sender) = *ctx.data::<Caller>()? else {
            return Err(
                AppError::Forbidden("interest comes from partners' gateways".to_owned()).into(),
            );
        };
        let buyer = GlobalId::parse_kind(&input.buyer_facility_id, RecordKind::Facility)
            .field("input.buyerFacilityId")?;
        if buyer.province != sender {
            return Err(AppError::NotOwner {
                province: buyer.province,
                message: format!(
                    "input.buyerFacilityId: {buyer} belongs to province {}; a province \
                     registers interest for its own buyers",
                    buyer.province
                ),
            }
            .into());
        }
        let reference = check("input.reference", text::line(&input.reference, 64))?;
        let data = InterestData {
            offer: GlobalId::parse_kind(&input.offer_id, RecordKind::HarvestOffer)
                .field("input.offerId")?,
            buyer,
            quantity: input.quantity,
            message: message("input.message", input.message.as_deref())?,
            contact: contact("input.contact", input.contact)?,
        };
        let (interest, _) = store(ctx)
            .receive_interest(NewInterest { data, reference })
            .await
            .map_err(as_input)?;
        Ok(local(ctx, interest))
    }

    /// For partners' gateways: the partner's offer `offerId`, at `version`,
    /// is urgent. Delivered again, it is stored once.
    async fn receive_harvest_offer_notice(
        &self,
        ctx: &Context<'_>,
        offer_id: ID,
        version: i32,
    ) -> Result<NoticeReceipt> {
        let about = GlobalId::parse_kind(&offer_id, RecordKind::HarvestOffer).field("offerId")?;
        let told = Told {
            about,
            version,
            status: None,
            alert: None,
            answers: None,
        };
        received(ctx, "offerId", told).await
    }
}
