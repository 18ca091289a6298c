//! Certificates: the object, lookups, verification and the officer's actions.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::answer::{access, listed, local, told, wrap};
use super::objects::{Certificate, CertificateConnection};
use super::{
    as_argument, as_input, audience, check, facility_filter, forward, opt_check, scalars::Date,
    store, writable_id,
};
use crate::access::{Consistency, Listing, Scope, Verification};
use crate::domain::{CertificateData, CertificateRecord, Renewal, StatusAction};
use crate::domain::{
    CertificateKind, CertificateNumber, CertificateStatus, GlobalId, Grade, InvalidReason,
    RecordKind, Standard, StoredStatus, default_expiry, text, today,
};
use crate::error::{AppError, FieldContext};
use crate::store::CertificateFilter;

/// Most product groups one certificate lists.
const MAX_SCOPE: usize = 50;

/// Whether a certificate was valid on a date, and why not.
#[derive(SimpleObject)]
pub struct CertificateVerification {
    /// The number asked about, in canonical form.
    pub number: String,
    pub on: Date,
    pub valid: bool,
    /// Why it was not valid; null when valid.
    pub reason: Option<InvalidReason>,
    /// The certificate, when the number is known.
    pub certificate: Option<Certificate>,
}

/// Which certificates to list.
#[derive(InputObject, Default)]
pub struct CertificateFilterInput {
    pub status: Option<CertificateStatus>,
    pub kind: Option<CertificateKind>,
    /// Certificates of this facility.
    pub facility_id: Option<ID>,
    /// Certificates of any of these facilities (at most 100).
    pub facility_ids: Option<Vec<ID>>,
    /// Certificates of facilities supplying this province.
    pub supplies_to: Option<super::scalars::ProvinceCode>,
    /// Active certificates that expire within this many days from today.
    pub expiring_within_days: Option<i32>,
    /// Words that must all appear in the number, scope, authority, or the
    /// facility's name or address; case and diacritics are ignored.
    pub text: Option<String>,
}

/// A certificate to issue.
#[derive(InputObject)]
pub struct IssueCertificateInput {
    pub facility_id: ID,
    pub kind: CertificateKind,
    /// Required for an exemption, refused otherwise.
    pub standard: Option<Standard>,
    /// Product groups covered, at least one.
    pub scope: Vec<String>,
    pub issuing_authority: String,
    /// Defaults to today.
    pub issued_on: Option<Date>,
    /// Defaults to three years after issue for an eligibility certificate and to
    /// none for a commitment; required for an exemption.
    pub expires_on: Option<Date>,
    pub grade: Option<Grade>,
}

/// What changes when a certificate is renewed; the rest is carried over.
#[derive(InputObject, Default)]
pub struct RenewCertificateInput {
    /// Defaults to today.
    pub issued_on: Option<Date>,
    /// Defaults as for a new certificate of the same kind.
    pub expires_on: Option<Date>,
    pub scope: Option<Vec<String>>,
    pub issuing_authority: Option<String>,
    pub grade: Option<Grade>,
}

#[derive(Default)]
pub struct CertificateQuery;

#[Object]
impl CertificateQuery {
    /// A certificate by number; null if none has it. Another province's
    /// certificate is answered by its owner (or, unless `consistency` is `LIVE`,
    /// by our replica when the owner cannot answer).
    async fn certificate(
        &self,
        ctx: &Context<'_>,
        number: String,
        consistency: Option<Consistency>,
    ) -> Result<Option<Certificate>> {
        let number = CertificateNumber::parse(&number).field("number")?;
        let found = access(ctx)
            .certificate(number, consistency.unwrap_or_default())
            .await?;
        Ok(told(ctx, found).map(|found| wrap(ctx, found)))
    }

    /// Certificates, in a stable order, a page at a time.
    async fn certificates(
        &self,
        ctx: &Context<'_>,
        scope: Option<Scope>,
        consistency: Option<Consistency>,
        filter: Option<CertificateFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CertificateConnection> {
        let forwarded = forward(&filter);
        let filter = filter.unwrap_or_default();
        let (facility, none_here) = facility_filter(ctx, filter.facility_id.as_ref())?;
        let expiring_within_days = match filter.expiring_within_days {
            None => None,
            Some(days) => Some(u32::try_from(days).map_err(|_| {
                AppError::invalid("filter.expiringWithinDays", "must not be negative")
            })?),
        };
        let filter = CertificateFilter {
            status: filter.status,
            kind: filter.kind,
            facility,
            facilities: super::facility_ids("filter.facilityIds", filter.facility_ids)?,
            supplies_to: filter.supplies_to.map(|p| p.0),
            expiring_within_days,
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        let listing = Listing::<CertificateRecord>::new(scope, consistency, filter, forwarded)
            .none_of_ours(none_here);
        listed(ctx, listing, first, after).await
    }

    /// Whether the certificate `number` was valid on `on` (default today), and if
    /// not, why: unknown, not yet issued, expired, suspended or revoked. Another
    /// province's certificate is verified by its owner; when the owner cannot
    /// answer, by our replica (unless `consistency` is `LIVE`) for a day no
    /// earlier than the copy, and otherwise null.
    async fn verify_certificate(
        &self,
        ctx: &Context<'_>,
        number: String,
        on: Option<Date>,
        consistency: Option<Consistency>,
    ) -> Result<Option<CertificateVerification>> {
        let number = CertificateNumber::parse(&number).field("number")?;
        let on = on.map_or_else(today, |d| d.0);
        let found = access(ctx)
            .verify(number, on, consistency.unwrap_or_default())
            .await?;
        Ok(told(ctx, found).map(|verification| CertificateVerification::of(ctx, verification)))
    }
}

impl CertificateVerification {
    fn of(ctx: &Context<'_>, verification: Verification) -> Self {
        Self {
            number: verification.number.to_string(),
            on: Date(verification.on),
            valid: verification.valid,
            reason: verification.reason,
            certificate: verification.certificate.map(|found| wrap(ctx, found)),
        }
    }
}

#[derive(Default)]
pub struct CertificateMutation;

#[Object]
impl CertificateMutation {
    /// Issues a certificate to a facility of this province; the number is assigned.
    async fn issue_certificate(
        &self,
        ctx: &Context<'_>,
        input: IssueCertificateInput,
    ) -> Result<Certificate> {
        let issued_on = input.issued_on.map_or_else(today, |d| d.0);
        let data = CertificateData {
            kind: input.kind,
            standard: input.standard,
            facility: GlobalId::parse_kind(&input.facility_id, RecordKind::Facility)
                .field("input.facilityId")?,
            scope: scope(input.scope)?,
            issuing_authority: check(
                "input.issuingAuthority",
                text::line(&input.issuing_authority, text::SHORT),
            )?,
            issued_on,
            expires_on: input
                .expires_on
                .map(|d| d.0)
                .or_else(|| default_expiry(input.kind, issued_on)),
            grade: input.grade,
        };
        Ok(local::<Certificate>(
            ctx,
            store(ctx).issue_certificate(data).await.map_err(as_input)?,
        ))
    }

    /// Suspends an active certificate from `effectiveOn` (default today).
    async fn suspend_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        reason: String,
        effective_on: Option<Date>,
    ) -> Result<Certificate> {
        let to = StoredStatus::Suspended;
        change_status_for(ctx, &id, version, to, &reason, effective_on).await
    }

    /// Lifts a suspension from `effectiveOn` (default today).
    async fn reinstate_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        note: Option<String>,
        effective_on: Option<Date>,
    ) -> Result<Certificate> {
        let note = opt_check("note", note.as_deref(), |n| text::paragraph(n, text::LONG))?;
        change_status(ctx, &id, version, StoredStatus::Active, note, effective_on).await
    }

    /// Revokes a certificate for good from `effectiveOn` (default today).
    async fn revoke_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        reason: String,
        effective_on: Option<Date>,
    ) -> Result<Certificate> {
        let to = StoredStatus::Revoked;
        change_status_for(ctx, &id, version, to, &reason, effective_on).await
    }

    /// Renews a certificate: issues a new one, with a new number, that names the
    /// one it replaces. A revoked or suspended certificate cannot be renewed.
    async fn renew_certificate(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        #[graphql(default)] input: RenewCertificateInput,
    ) -> Result<Certificate> {
        let id = writable_id(ctx, &id, RecordKind::Certificate)?;
        let renewal = Renewal {
            issued_on: input.issued_on.map(|d| d.0),
            expires_on: input.expires_on.map(|d| d.0),
            scope: input.scope.map(scope).transpose()?,
            issuing_authority: opt_check(
                "input.issuingAuthority",
                input.issuing_authority.as_deref(),
                |a| text::line(a, text::SHORT),
            )?,
            grade: input.grade,
        };
        Ok(local::<Certificate>(
            ctx,
            store(ctx)
                .renew_certificate(id, version, renewal)
                .await
                .map_err(as_input)?,
        ))
    }
}

/// A status change that must give its `reason`.
async fn change_status_for(
    ctx: &Context<'_>,
    id: &ID,
    version: i32,
    to: StoredStatus,
    reason: &str,
    effective_on: Option<Date>,
) -> Result<Certificate> {
    let reason = check("reason", text::paragraph(reason, text::LONG))?;
    change_status(ctx, id, version, to, Some(reason), effective_on).await
}

async fn change_status(
    ctx: &Context<'_>,
    id: &ID,
    version: i32,
    to: StoredStatus,
    reason: Option<String>,
    effective_on: Option<Date>,
) -> Result<Certificate> {
    let id = writable_id(ctx, id, RecordKind::Certificate)?;
    let action = StatusAction {
        to,
        effective_on: effective_on.map_or_else(today, |d| d.0),
        reason,
    };
    Ok(local::<Certificate>(
        ctx,
        store(ctx)
            .change_certificate_status(id, version, action)
            .await
            .map_err(as_argument)?,
    ))
}

fn scope(groups: Vec<String>) -> Result<Vec<String>, AppError> {
    if groups.len() > MAX_SCOPE {
        return Err(AppError::invalid(
            "input.scope",
            format!("lists more than {MAX_SCOPE} product groups"),
        ));
    }
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| check(&format!("input.scope.{i}"), text::line(group, text::SHORT)))
        .collect()
}
