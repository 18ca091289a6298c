//! The records' GraphQL objects — facility, certificate, product,
//! inspection — which refer to one another (a certificate's facility, a
//! facility's certificates), in one module. Each kind's own module holds its
//! inputs, root queries and mutations.

use async_graphql::{Context, ID, Result, SimpleObject};
use chrono::Datelike;

use super::answer::{Output, access, connection, find, told, wrap};
use super::pagination::Connection;
use super::scalars::{self, Date};
use super::{InternalOnly, Province, audience, heavy, pagination, store};
use crate::access::{OfFacility, Paged};
use crate::domain::{
    CertificateKind, CertificateStatus, ChainStage, FacilityKind, Grade, IdNumber,
    InspectionResult, OcopRating, PhoneNumber, ProductCategory, Standard, StoredStatus, today,
};
use crate::domain::{
    CertificateRecord, FacilityRecord, InspectionRecord, ProductRecord, StatusChangeRecord,
};
use crate::store::InspectionFilter;

super::answer::record_object! {
    /// A food-safety certificate: eligibility certificate, safe-food-production
    /// commitment, or exemption by a recognised standard.
    object Certificate(CertificateRecord), CertificateEdge, CertificateConnection;
    province: " The owner province, which issued it.";
    version: " Grows by one on each write; send it back to change the certificate.";
    /// The certificate number, e.g. `19-ATTP-2024-000042`; it names the owner.
    async fn number(&self) -> String {
        self.0.number.to_string()
    }
    async fn kind(&self) -> CertificateKind {
        self.0.data.kind
    }
    /// The recognised standard of an exemption.
    async fn standard(&self) -> Option<Standard> {
        self.0.data.standard
    }
    /// The certified facility's ID.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    /// The certified facility.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    /// Product groups covered.
    async fn scope(&self) -> &[String] {
        &self.0.data.scope
    }
    async fn issuing_authority(&self) -> &str {
        &self.0.data.issuing_authority
    }
    async fn issued_on(&self) -> Date {
        Date(self.0.data.issued_on)
    }
    /// The last day it is valid; null for a commitment, which does not expire.
    async fn expires_on(&self) -> Option<Date> {
        self.0.data.expires_on.map(Date)
    }
    /// The status today; `EXPIRED` follows from the expiry date.
    async fn status(&self) -> CertificateStatus {
        self.0.status_on(today())
    }
    /// Why it was suspended or revoked.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// The optional A/B/C grade (Circular 38/2018).
    async fn grade(&self) -> Option<Grade> {
        self.0.data.grade
    }
    /// The certificate this one renewed.
    async fn replaces(&self, ctx: &Context<'_>) -> Result<Option<Certificate>> {
        let Some(id) = self.0.replaces else {
            return Ok(None);
        };
        heavy(find::<Certificate>(ctx, id)).await
    }
    /// The certificate that renewed this one.
    async fn replaced_by(&self, ctx: &Context<'_>) -> Result<Option<Certificate>> {
        heavy(async {
            let found = access(ctx).replacement(&self.0).await?;
            Ok(told(ctx, found).map(|found| wrap(ctx, found)))
        })
        .await
    }
    /// Every status change, oldest first, starting with the issue; null when the
    /// owner of a partner's certificate cannot be asked.
    async fn history(&self, ctx: &Context<'_>) -> Result<Option<Vec<CertificateStatusChange>>> {
        heavy(async {
            let history = access(ctx).history(&self.0).await?;
            Ok(told(ctx, history).map(|history| {
                history
                    .into_iter()
                    .map(CertificateStatusChange::from)
                    .collect()
            }))
        })
        .await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

/// One step of a certificate's status history.
#[derive(SimpleObject)]
pub struct CertificateStatusChange {
    /// The status from `effectiveOn` on.
    pub status: StoredStatus,
    pub effective_on: Date,
    pub reason: Option<String>,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl From<StatusChangeRecord> for CertificateStatusChange {
    fn from(record: StatusChangeRecord) -> Self {
        Self {
            status: record.change.status,
            effective_on: Date(record.change.effective_on),
            reason: record.reason,
            recorded_at: record.recorded_at,
        }
    }
}

/// Where a facility is. Communes are data, not an enumeration: the 2025
/// reorganisation renamed many of them.
#[derive(SimpleObject)]
pub struct Address {
    pub commune: String,
    /// The district, where the address still names one.
    pub district: Option<String>,
    /// Village, street and number.
    pub detail: Option<String>,
}

super::answer::record_object! {
    /// A facility (cơ sở) that produces, processes or trades food.
    object Facility(FacilityRecord), FacilityEdge, FacilityConnection;
    province: " The owner province.";
    version: " Grows by one on each write; send it back to update.";
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    async fn kind(&self) -> FacilityKind {
        self.0.data.kind
    }
    async fn business_registration_number(&self) -> Option<&str> {
        self.0
            .data
            .business_registration_number
            .as_ref()
            .map(|n| n.as_str())
    }
    async fn address(&self) -> Address {
        Address {
            commune: self.0.data.commune.clone(),
            district: self.0.data.district.clone(),
            detail: self.0.data.address_detail.clone(),
        }
    }
    /// Personal data (Decree 13/2023): the contact person's name.
    #[graphql(guard = "InternalOnly")]
    async fn contact_name(&self) -> Option<&str> {
        self.0.data.contact_name.as_deref()
    }
    /// Personal data: the contact person's phone number.
    #[graphql(guard = "InternalOnly")]
    async fn contact_phone(&self) -> Option<String> {
        self.0
            .data
            .contact_phone
            .clone()
            .map(PhoneNumber::into_inner)
    }
    /// Personal data: the contact person's identity number.
    #[graphql(guard = "InternalOnly")]
    async fn contact_id_number(&self) -> Option<String> {
        self.0
            .data
            .contact_id_number
            .clone()
            .map(IdNumber::into_inner)
    }
    /// Provinces this facility's products are supplied to.
    async fn supplies_to(&self) -> Vec<Province> {
        self.0
            .data
            .supplies_to
            .iter()
            .copied()
            .map(Province)
            .collect()
    }
    /// This facility's certificates.
    async fn certificates(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<CertificateConnection>> {
        heavy(self.own_page::<CertificateRecord, _>(ctx, first, after)).await
    }
    /// This facility's products.
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<ProductConnection>> {
        heavy(self.own_page::<ProductRecord, _>(ctx, first, after)).await
    }
    /// Inspections of this facility recorded by this province.
    async fn inspections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InspectionConnection> {
        heavy(self.inspection_page(ctx, first, after)).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

impl Facility {
    /// A page of this facility's own records of kind `K`, from its owner.
    async fn own_page<K, C>(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Option<C>>
    where
        K: OfFacility,
        C: Connection,
        C::Node: Output<Record = K>,
    {
        let first = pagination::request(first, None)?.first;
        let page = access(ctx)
            .of_facility::<K>(self.0.id, first, after)
            .await?;
        Ok(told(ctx, page).map(|page| connection(ctx, page)))
    }

    /// The work of `inspections`.
    async fn inspection_page(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InspectionConnection> {
        let filter = InspectionFilter {
            facility: Some(self.0.id),
            audience: audience(ctx),
            ..Default::default()
        };
        let page = store(ctx)
            .inspections(&filter, pagination::request(first, after.as_deref())?)
            .await?;
        Ok(connection(ctx, Paged::ours(page, |i| i.id.local)))
    }
}

super::answer::record_object! {
    /// A food product of a facility of this province.
    object Product(ProductRecord), ProductEdge, ProductConnection;
    province: " The owner province.";
    version: " Grows by one on each write; send it back to update.";
    async fn name(&self) -> &str {
        &self.0.data.name
    }
    async fn category(&self) -> ProductCategory {
        self.0.data.category
    }
    /// The producing facility's ID.
    async fn facility_id(&self) -> ID {
        ID(self.0.data.facility.to_string())
    }
    /// The producing facility.
    async fn facility(&self, ctx: &Context<'_>) -> Result<Option<Facility>> {
        heavy(find::<Facility>(ctx, self.0.data.facility)).await
    }
    async fn description(&self) -> Option<&str> {
        self.0.data.description.as_deref()
    }
    /// The OCOP rating, if the product was ever rated (check `valid`).
    async fn ocop(&self) -> Option<Ocop> {
        self.0.data.ocop.map(Ocop::from)
    }
    /// A provincial specialty (đặc sản).
    async fn specialty(&self) -> bool {
        self.0.data.specialty
    }
    /// A key product of the province (sản phẩm chủ lực).
    async fn key_product(&self) -> bool {
        self.0.data.key_product
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

/// An OCOP rating: 3 and 4 stars are awarded by the province, 5 nationally;
/// a rating is valid 36 months.
#[derive(SimpleObject)]
pub struct Ocop {
    pub stars: i32,
    /// The date of the rating decision.
    pub rated_on: scalars::Date,
    pub year: i32,
    /// The last day the rating is valid.
    pub expires_on: scalars::Date,
    /// Whether the rating is valid today.
    pub valid: bool,
}

impl From<OcopRating> for Ocop {
    fn from(rating: OcopRating) -> Self {
        Self {
            stars: rating.stars.get(),
            rated_on: scalars::Date(rating.rated_on),
            year: rating.rated_on.year(),
            expires_on: scalars::Date(rating.expires_on()),
            valid: rating.is_valid_on(today()),
        }
    }
}

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
