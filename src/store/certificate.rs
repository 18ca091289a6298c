//! Certificates, their numbers and their status history.

use std::sync::OnceLock;

use chrono::{Days, NaiveDate, Utc};
use entity::{certificate, certificate_status_change, facility};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseTransaction, DbBackend,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement,
};

use super::{
    Admits, Audience, Change, ChangeOperation, Page, PageRequest, SharedWith, Store, claim,
    facility::{facility_search_text, matching_facilities, of_visible_facilities, supplies},
    holds_terms, matches_terms, page, search_text, stored,
};
use crate::domain::{
    AlertData, CertificateData, CertificateRecord, FacilityRecord, Renewal, StatusAction,
    StatusChangeRecord, Withdrawal,
};
use crate::domain::{
    CertificateKind, CertificateNumber, CertificateStatus, GlobalId, Grade, ProvinceCode,
    RecordKind, Standard, StatusChange, StoredStatus, today,
};
use crate::error::AppError;

impl CertificateRecord {
    /// This record's entry in the change feed.
    fn change(&self, operation: ChangeOperation, shared_with: SharedWith) -> Change {
        Change {
            kind: RecordKind::Certificate,
            record: self.id.local,
            version: self.version,
            operation,
            shared_with,
        }
    }
}

/// Which certificates a list holds.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    pub status: Option<CertificateStatus>,
    pub kind: Option<CertificateKind>,
    pub facility: Option<GlobalId>,
    /// Certificates of any of these facilities (none: of any).
    pub facilities: Vec<GlobalId>,
    pub supplies_to: Option<ProvinceCode>,
    /// Active certificates whose expiry falls within this many days from today.
    pub expiring_within_days: Option<u32>,
    pub text: Vec<String>,
    pub audience: Audience,
}

impl Admits<CertificateRecord> for CertificateFilter {
    fn kind(&self) -> RecordKind {
        RecordKind::Certificate
    }

    fn facility_of(&self, record: &CertificateRecord) -> Option<GlobalId> {
        Some(record.data.facility)
    }

    fn admits(&self, r: &CertificateRecord, facility: Option<&FacilityRecord>) -> bool {
        let today = today();
        let active = r.status == StoredStatus::Active;
        let expired = r.data.expires_on.is_some_and(|e| e < today);
        let status = self.status.is_none_or(|status| match status {
            CertificateStatus::Active => active && !expired,
            CertificateStatus::Expired => active && expired,
            CertificateStatus::Suspended => r.status == StoredStatus::Suspended,
            CertificateStatus::Revoked => r.status == StoredStatus::Revoked,
        });
        let expiring = self.expiring_within_days.is_none_or(|days| {
            let until = today
                .checked_add_days(Days::new(days.into()))
                .unwrap_or(NaiveDate::MAX);
            active && r.data.expires_on.is_some_and(|e| today <= e && e <= until)
        });
        status
            && expiring
            && self.kind.is_none_or(|kind| r.data.kind == kind)
            && self.facility.is_none_or(|f| r.data.facility == f)
            && (self.facilities.is_empty() || self.facilities.contains(&r.data.facility))
            && self
                .supplies_to
                .is_none_or(|p| facility.is_some_and(|f| f.data.supplies_to.contains(&p)))
            && (self.text.is_empty()
                || holds_terms(&certificate_search_text(&r.number, &r.data), &self.text)
                || facility
                    .is_some_and(|f| holds_terms(&facility_search_text(&f.data), &self.text)))
    }
}

/// What a certificate's words are searched in.
fn certificate_search_text(number: &CertificateNumber, data: &CertificateData) -> String {
    search_text(
        [number.to_string().as_str(), data.issuing_authority.as_str()]
            .into_iter()
            .chain(data.scope.iter().map(String::as_str))
            .chain(data.standard.map(|s| s.code())),
    )
}

impl Store {
    #[tracing::instrument(skip(self))]
    pub async fn certificate(
        &self,
        id: i64,
        audience: Audience,
    ) -> Result<Option<CertificateRecord>, AppError> {
        Ok(self.certificates_by_id(&[id], audience).await?.pop())
    }

    /// Certificates by row id, in no particular order, for batched lookups.
    #[tracing::instrument(skip(self, ids), fields(count = ids.len()))]
    pub async fn certificates_by_id(
        &self,
        ids: &[i64],
        audience: Audience,
    ) -> Result<Vec<CertificateRecord>, AppError> {
        certificate::Entity::find()
            .filter(certificate::Column::Id.is_in(ids.iter().copied()))
            .filter(visible_certificates(audience))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| self.certificate_record(row))
            .collect()
    }

    #[tracing::instrument(skip(self), fields(number = %number))]
    pub async fn certificate_by_number(
        &self,
        number: &CertificateNumber,
        audience: Audience,
    ) -> Result<Option<CertificateRecord>, AppError> {
        let statement = self
            .by_number
            .statement(self.backend(), &number.to_string(), audience);
        let row = certificate::Model::find_by_statement(statement)
            .one(&self.db)
            .await?;
        row.map(|row| self.certificate_record(row)).transpose()
    }

    /// The certificate that renewed `id`, if any.
    pub async fn certificate_replacing(
        &self,
        id: i64,
        audience: Audience,
    ) -> Result<Option<CertificateRecord>, AppError> {
        let row = certificate::Entity::find()
            .filter(certificate::Column::ReplacesId.eq(id))
            .filter(visible_certificates(audience))
            .one(&self.db)
            .await?;
        row.map(|row| self.certificate_record(row)).transpose()
    }

    #[tracing::instrument(skip(self))]
    pub async fn certificates(
        &self,
        filter: &CertificateFilter,
        request: PageRequest,
    ) -> Result<Page<CertificateRecord>, AppError> {
        use certificate::Column as C;
        let today = today();
        let active = || C::Status.eq(StoredStatus::Active.code());
        let mut select = certificate::Entity::find().filter(visible_certificates(filter.audience));
        if let Some(status) = filter.status {
            select = select.filter(match status {
                CertificateStatus::Active => Condition::all().add(active()).add(
                    Condition::any()
                        .add(C::ExpiresOn.is_null())
                        .add(C::ExpiresOn.gte(today)),
                ),
                CertificateStatus::Expired => {
                    Condition::all().add(active()).add(C::ExpiresOn.lt(today))
                }
                CertificateStatus::Suspended => {
                    Condition::all().add(C::Status.eq(StoredStatus::Suspended.code()))
                }
                CertificateStatus::Revoked => {
                    Condition::all().add(C::Status.eq(StoredStatus::Revoked.code()))
                }
            });
        }
        if let Some(days) = filter.expiring_within_days {
            let until = today
                .checked_add_days(Days::new(days.into()))
                .unwrap_or(NaiveDate::MAX);
            select = select
                .filter(active())
                .filter(C::ExpiresOn.gte(today))
                .filter(C::ExpiresOn.lte(until));
        }
        if let Some(kind) = filter.kind {
            select = select.filter(C::Kind.eq(kind.code()));
        }
        if let Some(facility) = filter.facility {
            select = select.filter(C::FacilityId.eq(facility.local));
        }
        if !filter.facilities.is_empty() {
            let ours = filter
                .facilities
                .iter()
                .filter(|f| f.province == self.province)
                .map(|f| f.local);
            select = select.filter(C::FacilityId.is_in(ours));
        }
        if let Some(province) = filter.supplies_to {
            select = select.filter(supplies(C::FacilityId, province));
        }
        if !filter.text.is_empty() {
            let facilities = matching_facilities(&filter.text);
            select = select.filter(
                Condition::any()
                    .add(matches_terms(C::SearchText, &filter.text))
                    .add(C::FacilityId.in_subquery(facilities)),
            );
        }
        let rows = page(&self.db, select, C::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| self.certificate_record(row))
                .collect::<Result<_, _>>()?,
            has_next: rows.has_next,
        })
    }

    /// A certificate's status history, in the order it was recorded.
    #[tracing::instrument(skip(self))]
    pub async fn certificate_history(&self, id: i64) -> Result<Vec<StatusChangeRecord>, AppError> {
        let rows = certificate_status_change::Entity::find()
            .filter(certificate_status_change::Column::CertificateId.eq(id))
            .order_by_asc(certificate_status_change::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StatusChangeRecord {
                    change: StatusChange {
                        status: stored(StoredStatus::from_code(&row.status), "status change")?,
                        effective_on: row.effective_on,
                    },
                    reason: row.reason,
                    recorded_at: row.recorded_at,
                })
            })
            .collect()
    }

    /// Issues a certificate and gives it the next number of its kind and year.
    #[tracing::instrument(skip(self, data), fields(kind = %data.kind))]
    pub async fn issue_certificate(
        &self,
        data: CertificateData,
    ) -> Result<CertificateRecord, AppError> {
        Ok(self.issue_certificates(vec![data]).await?.remove(0))
    }

    /// Issues several certificates in one transaction — all or none, numbered in
    /// order — as when a province's existing register is brought in.
    #[tracing::instrument(skip(self, batch), fields(count = batch.len()))]
    pub async fn issue_certificates(
        &self,
        batch: Vec<CertificateData>,
    ) -> Result<Vec<CertificateRecord>, AppError> {
        batch.iter().try_for_each(|data| data.check(today()))?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.write().await?;
        let mut records = Vec::with_capacity(batch.len());
        let mut changes = Vec::with_capacity(batch.len());
        for data in batch {
            let record = self.insert_certificate(&txn, data, None).await?;
            let shared = self.certificate_audience(&txn, &record).await?;
            changes.push(record.change(ChangeOperation::Create, shared));
            records.push(record);
        }
        self.record_changes(&txn, &changes).await?;
        txn.commit().await?;
        Ok(records)
    }

    /// Renews `id`: issues a new certificate that names it as the one it replaces.
    #[tracing::instrument(skip(self, renewal))]
    pub async fn renew_certificate(
        &self,
        id: GlobalId,
        version: i32,
        renewal: Renewal,
    ) -> Result<CertificateRecord, AppError> {
        let txn = self.write().await?;
        claim(&txn, "certificate", id, version).await?;
        let old = self.certificate_in(&txn, id.local).await?;
        let renewed = old.change(
            ChangeOperation::Update,
            self.certificate_audience(&txn, &old).await?,
        );
        if old.status != StoredStatus::Active {
            return Err(AppError::Conflict(format!(
                "{} is {}; only an active or expired certificate can be renewed",
                old.number, old.status
            )));
        }
        let replaced = certificate::Entity::find()
            .filter(certificate::Column::ReplacesId.eq(id.local))
            .one(&txn)
            .await?;
        if let Some(newer) = replaced {
            return Err(AppError::Conflict(format!(
                "{} was already renewed by {}",
                old.number, newer.number
            )));
        }
        let data = renewal.renew(old.data, today())?;
        let record = self.insert_certificate(&txn, data, Some(id.local)).await?;
        let shared = self.certificate_audience(&txn, &record).await?;
        self.record_changes(
            &txn,
            &[renewed, record.change(ChangeOperation::Create, shared)],
        )
        .await?;
        txn.commit().await?;
        Ok(record)
    }

    /// Suspends, reinstates or revokes a certificate. A certificate
    /// withdrawn from a facility that supplies partners raises, in the same
    /// transaction, an alert for their attention, notified at once.
    pub async fn change_certificate_status(
        &self,
        id: GlobalId,
        version: i32,
        action: StatusAction,
    ) -> Result<CertificateRecord, AppError> {
        self.status_change(id, version, action, true).await
    }

    /// Records a change of status from the province's past records, as an
    /// import does: history, which no partner is told of as news.
    pub async fn import_certificate_status(
        &self,
        id: GlobalId,
        version: i32,
        action: StatusAction,
    ) -> Result<CertificateRecord, AppError> {
        self.status_change(id, version, action, false).await
    }

    #[tracing::instrument(skip(self, action), fields(to = %action.to))]
    async fn status_change(
        &self,
        id: GlobalId,
        version: i32,
        action: StatusAction,
        news: bool,
    ) -> Result<CertificateRecord, AppError> {
        let txn = self.write().await?;
        claim(&txn, "certificate", id, version).await?;
        let current = self.certificate_in(&txn, id.local).await?;
        if !current.status.may_become(action.to) {
            return Err(AppError::Conflict(format!(
                "{} is {} and cannot become {}",
                current.number, current.status, action.to
            )));
        }
        let last_change = certificate_status_change::Entity::find()
            .filter(certificate_status_change::Column::CertificateId.eq(id.local))
            .order_by_desc(certificate_status_change::Column::Id)
            .one(&txn)
            .await?
            .map_or(current.data.issued_on, |change| change.effective_on);
        action.check(last_change, today())?;
        certificate::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.local),
            status: Set(action.to.code().to_owned()),
            status_reason: Set(action.reason.clone()),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        record_status(
            &txn,
            id.local,
            action.to,
            action.effective_on,
            action.reason.clone(),
        )
        .await?;
        let record = self.certificate_in(&txn, id.local).await?;
        let markets = self.markets_of(&txn, record.data.facility.local).await?;
        let shared = SharedWith::Provinces(markets.clone());
        self.record_changes(&txn, &[record.change(ChangeOperation::Update, shared)])
            .await?;
        // The provinces the facility supplies are told, for their attention.
        let told = if news && markets.iter().any(|p| *p != self.province) {
            let facility = facility::Entity::find_by_id(record.data.facility.local)
                .one(&txn)
                .await?
                .map(|row| row.name)
                .unwrap_or_default();
            let withdrawal = Withdrawal {
                number: &record.number,
                to: action.to,
                effective_on: action.effective_on,
                reason: action.reason.as_deref(),
                facility: record.data.facility,
                facility_name: &facility,
            };
            let mut provinces = markets;
            provinces.push(self.province);
            match AlertData::of_withdrawal(&withdrawal, provinces) {
                Some(alert) => Some(self.raise_notified(&txn, alert).await?),
                None => None,
            }
        } else {
            None
        };
        txn.commit().await?;
        if told.is_some() {
            self.events_committed();
            self.wake_deliverer();
        }
        Ok(record)
    }

    async fn insert_certificate(
        &self,
        txn: &DatabaseTransaction,
        data: CertificateData,
        replaces: Option<i64>,
    ) -> Result<CertificateRecord, AppError> {
        let facility_id = self.owned(data.facility, "facility")?;
        if facility::Entity::find_by_id(facility_id)
            .one(txn)
            .await?
            .is_none()
        {
            return Err(AppError::invalid(
                "facility",
                format!("no facility has the ID {}", data.facility),
            ));
        }
        let serial = super::next_serial(
            txn,
            data.kind.code(),
            chrono::Datelike::year(&data.issued_on),
        )
        .await?;
        let number = CertificateNumber::issued(self.province, data.kind, data.issued_on, serial);
        let now = Utc::now();
        let row = certificate::ActiveModel {
            province: Set(self.province.number()),
            version: Set(1),
            number: Set(number.to_string()),
            kind: Set(data.kind.code().to_owned()),
            standard: Set(data.standard.map(|s| s.code().to_owned())),
            facility_id: Set(facility_id),
            scope: Set(data.scope.join("\n")),
            issuing_authority: Set(data.issuing_authority.clone()),
            issued_on: Set(data.issued_on),
            expires_on: Set(data.expires_on),
            status: Set(StoredStatus::Active.code().to_owned()),
            status_reason: Set(None),
            grade: Set(data.grade.map(|g| g.code().to_owned())),
            replaces_id: Set(replaces),
            search_text: Set(certificate_search_text(&number, &data)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        record_status(txn, row.id, StoredStatus::Active, data.issued_on, None).await?;
        self.certificate_record(row)
    }

    /// The partners a certificate's change concerns: its facility's markets.
    async fn certificate_audience(
        &self,
        txn: &DatabaseTransaction,
        record: &CertificateRecord,
    ) -> Result<SharedWith, AppError> {
        Ok(SharedWith::Provinces(
            self.markets_of(txn, record.data.facility.local).await?,
        ))
    }

    async fn certificate_in(
        &self,
        txn: &DatabaseTransaction,
        id: i64,
    ) -> Result<CertificateRecord, AppError> {
        let row = certificate::Entity::find_by_id(id)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no certificate has the row id {id}")))?;
        self.certificate_record(row)
    }

    fn certificate_record(&self, row: certificate::Model) -> Result<CertificateRecord, AppError> {
        let what = "certificate";
        Ok(CertificateRecord {
            id: self.id(RecordKind::Certificate, row.id),
            version: row.version,
            number: stored(CertificateNumber::parse(&row.number), what)?,
            data: CertificateData {
                kind: stored(CertificateKind::from_code(&row.kind), what)?,
                standard: row
                    .standard
                    .map(|s| stored(Standard::from_code(&s), what))
                    .transpose()?,
                facility: self.id(RecordKind::Facility, row.facility_id),
                scope: row
                    .scope
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                issuing_authority: row.issuing_authority,
                issued_on: row.issued_on,
                expires_on: row.expires_on,
                grade: row
                    .grade
                    .map(|g| stored(Grade::from_code(&g), what))
                    .transpose()?,
            },
            status: stored(StoredStatus::from_code(&row.status), what)?,
            status_reason: row.status_reason,
            replaces: row
                .replaces_id
                .map(|id| self.id(RecordKind::Certificate, id)),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The SQL of [`Store::certificate_by_number`], built once for each kind of
/// audience. Every verification runs this lookup, a partner's thousands of times
/// a second, and sea-query building it anew (each of the entity's columns, the
/// partner's sharing rule) cost a partner's lookup 50 000 instructions, a tenth.
#[derive(Default)]
pub(super) struct ByNumber {
    internal: OnceLock<String>,
    partner: OnceLock<String>,
}

impl ByNumber {
    /// [`by_number`] as a statement for `backend`. The values follow the SQL's
    /// placeholders in order; the test `the_lookup_by_number_is_built_as_sea_query_builds_it`
    /// holds them to what sea-query binds.
    fn statement(&self, backend: DbBackend, number: &str, audience: Audience) -> Statement {
        let (sql, values): (_, Vec<sea_orm::Value>) = match audience {
            Audience::Internal => (&self.internal, vec![number.into(), 1u64.into()]),
            Audience::Partner(province) => (
                &self.partner,
                vec![
                    number.into(),
                    1.into(),
                    province.number().into(),
                    1u64.into(),
                ],
            ),
        };
        let sql = sql.get_or_init(|| by_number(number, audience).build(backend).sql);
        Statement::from_sql_and_values(backend, sql.clone(), values)
    }
}

/// The lookup of a certificate by number that `audience` may see.
fn by_number(number: &str, audience: Audience) -> sea_orm::Select<certificate::Entity> {
    certificate::Entity::find()
        .filter(certificate::Column::Number.eq(number))
        .filter(visible_certificates(audience))
        .limit(1)
}

/// The certificates `audience` may see: those of facilities it may see.
fn visible_certificates(audience: Audience) -> Condition {
    of_visible_facilities(certificate::Column::FacilityId, audience)
}

async fn record_status(
    txn: &DatabaseTransaction,
    certificate_id: i64,
    status: StoredStatus,
    effective_on: NaiveDate,
    reason: Option<String>,
) -> Result<(), AppError> {
    certificate_status_change::ActiveModel {
        certificate_id: Set(certificate_id),
        status: Set(status.code().to_owned()),
        effective_on: Set(effective_on),
        reason: Set(reason),
        recorded_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait};

    use super::{ByNumber, by_number};
    use crate::domain::ProvinceCode;
    use crate::store::Audience;

    /// The statement built once, run again with other values, is the one
    /// sea-query would build for those values: the same SQL, the same values
    /// in the same places, for each backend and kind of audience.
    #[test]
    fn the_lookup_by_number_is_built_as_sea_query_builds_it() {
        let partner = |code| Audience::Partner(ProvinceCode::from_number(code).unwrap());
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let built = ByNumber::default();
            for (number, audience) in [
                ("19-ATTP-2026-000001", Audience::Internal),
                ("19-ATTP-2026-000002", Audience::Internal),
                ("19-ATTP-2026-000003", partner(40)),
                ("19-ATTP-2026-000004", partner(1)),
            ] {
                assert_eq!(
                    built.statement(backend, number, audience),
                    by_number(number, audience).build(backend),
                    "{backend:?}, {audience:?}"
                );
            }
        }
    }
}
