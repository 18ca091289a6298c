//! Certificates: the object, lookups, verification and the officer's actions.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::{
    Facility, Provenance, Province, audience, check,
    facility::facility_ref,
    facility_filter,
    fanout::{self, LocalPage, Scope, Sources},
    forward, heavy, local,
    node::Node,
    opt_check,
    remote::{
        Consistency, ask, ask_owner, federates, lookup, noted, read_replica, remote, stand_in,
    },
    returned,
    scalars::Date,
    store, writable_id,
};
use crate::domain::{
    CertificateKind, CertificateNumber, CertificateStatus, GlobalId, Grade, InvalidReason,
    RecordKind, Standard, StatusChange, StoredStatus, date_in_vietnam, default_expiry, text, today,
    validity_on,
};
use crate::error::{AppError, FieldContext};
use crate::federation::PartnerError;
use crate::federation::records::{self, Reader};
use crate::store::Record;
use crate::store::{
    CertificateData, CertificateFilter, CertificateRecord, Renewal, StatusAction,
    StatusChangeRecord,
};

/// Most product groups one certificate lists.
const MAX_SCOPE: usize = 50;

/// A food-safety certificate: eligibility certificate, safe-food-production
/// commitment, or exemption by a recognised standard.
pub struct Certificate(pub CertificateRecord, pub super::Provenance);

super::pagination::connection_types!(Certificate, CertificateEdge, CertificateConnection);

#[Object]
impl Certificate {
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The owner province, which issued it.
    async fn province(&self) -> Province {
        Province(self.0.id.province)
    }
    /// Where this answer came from.
    async fn provenance(&self) -> super::Provenance {
        self.1
    }
    /// Grows by one on each write; send it back to change the certificate.
    async fn version(&self) -> i32 {
        self.0.version
    }
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
        heavy(facility_ref(ctx, self.0.data.facility)).await
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
        heavy(certificate_at(ctx, id)).await
    }
    /// The certificate that renewed this one.
    async fn replaced_by(&self, ctx: &Context<'_>) -> Result<Option<Certificate>> {
        heavy(self.replacement(ctx)).await
    }
    /// Every status change, oldest first, starting with the issue; null when the
    /// owner of a partner's certificate cannot be asked.
    async fn history(&self, ctx: &Context<'_>) -> Result<Option<Vec<CertificateStatusChange>>> {
        heavy(self.status_history(ctx)).await
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.updated_at
    }
}

impl Certificate {
    fn is_ours(&self, ctx: &Context<'_>) -> bool {
        self.0.id.province == store(ctx).province()
    }

    /// The work of `replaced_by`.
    async fn replacement(&self, ctx: &Context<'_>) -> Result<Option<Certificate>> {
        if self.is_ours(ctx) {
            return Ok(store(ctx)
                .certificate_replacing(self.0.id.local, audience(ctx))
                .await?
                .map(|r| local::<Certificate>(ctx, r)));
        }
        let Some((data, _)) = self.ask_owner(ctx).await? else {
            return Ok(None);
        };
        let Some(id) = data["certificate"]["replacedBy"]["id"].as_str() else {
            return Ok(None);
        };
        let parsed = GlobalId::parse_kind(id, RecordKind::Certificate)
            .map_err(|e| PartnerError::BadResponse(e.0));
        let Some(id) = noted(ctx, self.0.id.province, parsed) else {
            return Ok(None);
        };
        certificate_at(ctx, id).await
    }

    /// The work of `history`.
    async fn status_history(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<CertificateStatusChange>>> {
        if self.is_ours(ctx) {
            let history = store(ctx).certificate_history(self.0.id.local).await?;
            return Ok(Some(
                history
                    .into_iter()
                    .map(CertificateStatusChange::from)
                    .collect(),
            ));
        }
        let Some((data, _)) = self.ask_owner(ctx).await? else {
            return Ok(None);
        };
        let changes = data["certificate"]["history"]
            .as_array()
            .ok_or_else(|| PartnerError::BadResponse("no history".to_owned()))
            .and_then(|changes| changes.iter().map(history_entry).collect());
        Ok(noted(ctx, self.0.id.province, changes))
    }

    /// Asks a partner certificate's owner for its history and successor.
    async fn ask_owner(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<(serde_json::Value, chrono::DateTime<chrono::Utc>)>> {
        ask(
            ctx,
            self.0.id.province,
            records::HISTORY,
            serde_json::json!({ "number": self.0.number.to_string() }),
        )
        .await
    }
}

/// The certificate `id` names, ours or a partner's.
async fn certificate_at(ctx: &Context<'_>, id: GlobalId) -> Result<Option<Certificate>> {
    Ok(match lookup(ctx, id).await? {
        Some(Node::Certificate(certificate)) => Some(certificate),
        _ => None,
    })
}

/// One step of a partner certificate's history, as its owner wrote it.
fn history_entry(change: &serde_json::Value) -> Result<CertificateStatusChange, PartnerError> {
    Ok(CertificateStatusChange {
        status: records::coded(&change["status"], StoredStatus::from_code)?,
        effective_on: Date(records::date(&change["effectiveOn"])?),
        reason: change["reason"].as_str().map(str::to_owned),
        recorded_at: records::time(&change["recordedAt"])?,
    })
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
        let store = store(ctx);
        if number.province == store.province() {
            return Ok(store
                .certificate_by_number(&number, audience(ctx))
                .await?
                .map(|r| local::<Certificate>(ctx, r)));
        }
        if !federates(ctx) {
            return Err(not_ours(number).into());
        }
        let province = number.province;
        let answer = ask_owner(
            ctx,
            province,
            &records::certificate_query(),
            serde_json::json!({ "number": number.to_string() }),
        )
        .await?
        .and_then(|(data, at)| match &data["certificate"] {
            serde_json::Value::Null => Ok(None),
            found => Ok(Some((Reader { owner: province }.certificate(found)?, at))),
        });
        Ok(match answer {
            Ok(found) => found.map(|(record, at)| remote::<Certificate>(ctx, record, at)),
            Err(error) => stand_in(
                ctx,
                province,
                &error,
                consistency.unwrap_or_default(),
                replica_certificate(ctx, number),
            )
            .await?
            .map(|(record, synced_at)| {
                returned(ctx, Certificate(record, Provenance::replica(synced_at)))
            }),
        })
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
            supplies_to: filter.supplies_to.map(|p| p.0),
            expiring_within_days,
            text: filter
                .text
                .as_deref()
                .map(text::search_terms)
                .unwrap_or_default(),
            audience: audience(ctx),
        };
        let admitted = filter.clone();
        let store = store(ctx).clone();
        let sources = Sources {
            local: (!none_here).then(|| -> LocalPage<'_, _> {
                Box::new(move |request| {
                    Box::pin(async move { store.certificates(&filter, request).await })
                })
            }),
            query: records::certificates_query(),
            field: "certificates",
            filter: forwarded,
            read: Reader::certificate,
            replica: Box::new(admitted),
        };
        fanout::list(ctx, scope, first, after, consistency, sources).await
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
        let store = store(ctx);
        if number.province != store.province() {
            if !federates(ctx) {
                return Err(not_ours(number).into());
            }
            return verify_at_owner(ctx, number, on, consistency.unwrap_or_default()).await;
        }
        let Some(certificate) = store.certificate_by_number(&number, audience(ctx)).await? else {
            return Ok(Some(CertificateVerification::unknown(number, on)));
        };
        let history: Vec<_> = store
            .certificate_history(certificate.id.local)
            .await?
            .into_iter()
            .map(|record| record.change)
            .collect();
        let verdict = validity_on(
            certificate.data.issued_on,
            certificate.data.expires_on,
            &history,
            on,
        );
        Ok(Some(CertificateVerification::new(
            number,
            on,
            verdict,
            local::<Certificate>(ctx, certificate),
        )))
    }
}

/// The answer to a request that may not federate — a partner's, or one
/// another gateway passed on — about another province's certificate: only its
/// owner answers for it, and we do not pass requests on.
fn not_ours(number: CertificateNumber) -> AppError {
    AppError::NotOwner {
        province: number.province,
        message: format!(
            "number: {number} belongs to province {}; only its owner answers for it",
            number.province
        ),
    }
}

impl CertificateVerification {
    fn new(
        number: CertificateNumber,
        on: chrono::NaiveDate,
        verdict: Result<(), InvalidReason>,
        certificate: Certificate,
    ) -> Self {
        Self {
            number: number.to_string(),
            on: Date(on),
            valid: verdict.is_ok(),
            reason: verdict.err(),
            certificate: Some(certificate),
        }
    }

    fn unknown(number: CertificateNumber, on: chrono::NaiveDate) -> Self {
        Self {
            number: number.to_string(),
            on: Date(on),
            valid: false,
            reason: Some(InvalidReason::Unknown),
            certificate: None,
        }
    }
}

/// Our replica's copy of a partner's certificate `number`, and when it was synced.
async fn replica_certificate(
    ctx: &Context<'_>,
    number: CertificateNumber,
) -> Result<Option<(CertificateRecord, chrono::DateTime<chrono::Utc>)>> {
    let row = store(ctx).replica_certificate(&number).await?;
    Ok(match read_replica(number.province, row) {
        Some((Record::Certificate(record), synced_at)) if record.number == number => {
            Some((record, synced_at))
        }
        _ => None,
    })
}

/// Asks the owner of `number` whether it was valid on `on`; when the owner
/// cannot answer, our replica may, for a day on or after its copy was taken:
/// the copy's status held from then on as far as we know. An earlier day needs
/// the history only the owner has.
async fn verify_at_owner(
    ctx: &Context<'_>,
    number: CertificateNumber,
    on: chrono::NaiveDate,
    consistency: Consistency,
) -> Result<Option<CertificateVerification>> {
    let province = number.province;
    let answer = ask_owner(
        ctx,
        province,
        &records::verify_query(),
        serde_json::json!({ "number": number.to_string(), "on": on.format("%Y-%m-%d").to_string() }),
    )
    .await?
    .and_then(|(data, at)| Ok((read_verification(province, &data["verifyCertificate"])?, at)));
    match answer {
        Ok(((on, valid, reason, certificate), at)) => Ok(Some(CertificateVerification {
            number: number.to_string(),
            on: Date(on),
            valid,
            reason,
            certificate: certificate.map(|record| remote::<Certificate>(ctx, record, at)),
        })),
        Err(error) => {
            let copy = async {
                Ok(replica_certificate(ctx, number)
                    .await?
                    .filter(|(_, synced_at)| on >= date_in_vietnam(*synced_at)))
            };
            Ok(stand_in(ctx, province, &error, consistency, copy)
                .await?
                .map(|(record, synced_at)| {
                    let verdict = validity_on(
                        record.data.issued_on,
                        record.data.expires_on,
                        &[StatusChange {
                            status: record.status,
                            effective_on: record.data.issued_on,
                        }],
                        on,
                    );
                    let certificate =
                        returned(ctx, Certificate(record, Provenance::replica(synced_at)));
                    CertificateVerification::new(number, on, verdict, certificate)
                }))
        }
    }
}

type Verification = (
    chrono::NaiveDate,
    bool,
    Option<InvalidReason>,
    Option<crate::store::CertificateRecord>,
);

/// Reads a partner's `verifyCertificate` answer.
fn read_verification(
    province: crate::domain::ProvinceCode,
    answer: &serde_json::Value,
) -> Result<Verification, PartnerError> {
    let reader = Reader { owner: province };
    let certificate = match &answer["certificate"] {
        serde_json::Value::Null => None,
        found => Some(reader.certificate(found)?),
    };
    let reason = match &answer["reason"] {
        serde_json::Value::Null => None,
        reason => Some(records::coded(reason, InvalidReason::from_code)?),
    };
    let valid = answer["valid"]
        .as_bool()
        .ok_or_else(|| PartnerError::BadResponse("verifyCertificate.valid".to_owned()))?;
    Ok((records::date(&answer["on"])?, valid, reason, certificate))
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
            store(ctx).issue_certificate(data).await?,
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
        let reason = check("reason", text::paragraph(&reason, text::LONG))?;
        change_status(
            ctx,
            &id,
            version,
            StoredStatus::Suspended,
            Some(reason),
            effective_on,
        )
        .await
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
        let reason = check("reason", text::paragraph(&reason, text::LONG))?;
        change_status(
            ctx,
            &id,
            version,
            StoredStatus::Revoked,
            Some(reason),
            effective_on,
        )
        .await
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
            store(ctx).renew_certificate(id, version, renewal).await?,
        ))
    }
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
            .await?,
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
