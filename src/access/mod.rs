//! The record-access layer: one typed path from a request to any record,
//! between the GraphQL layer and the three sources — our store, the owner
//! partner (through `federation::calls`), and our replica of its records.
//!
//! Given an ID, a number or a list's filter and page, the caller's audience
//! and the consistency asked for, it routes to the owner, lets the replica
//! stand in where allowed, batches references (a page's facilities cost one
//! query, or one request per partner), and merges pages across provinces
//! (`list`). Every answer is [`Sourced`]: the record and where it came from,
//! with [`Note`]s of what the caller should be told beside it. Nothing here
//! knows GraphQL; what varies by kind of record is [`Kind`].

mod alert;
mod fair;
mod kind;
mod list;
mod market;
mod trace;

pub use alert::Concerned;
pub use fair::Verdict;
pub use kind::{Kind, OfFacility};
pub use list::{Listing, Paged, Scope, read_row_cursor, row_cursor};
pub use trace::{Chain, ChainLink, TraceLimits, Traced, Unfollowed, UnfollowedReason};

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::join_all;

use crate::domain::{
    CertificateNumber, GlobalId, InvalidReason, ProvinceCode, StatusChange, date_in_vietnam,
    validity_on,
};
use crate::domain::{CertificateRecord, Record, StatusChangeRecord};
use crate::error::AppError;
use crate::federation::PartnerError;
use crate::federation::calls::Calls;
use crate::federation::records::Reader;
use crate::store::{Audience, PageRequest, Store};

/// Where an object came from: its owner, answering now, or our replica of a
/// partner's records when the partner could not answer.
#[derive(Debug, Clone, Copy, async_graphql::SimpleObject)]
pub struct Provenance {
    pub source: Source,
    /// When the owner answered: now for our own records, the time of the partner's
    /// answer for theirs, and for a replica's copy the time it was copied.
    pub fetched_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum Source {
    /// The owner province answered.
    Owner,
    /// A read-only copy kept by the sync job answered.
    Replica,
}

/// Whether an answer may come from the replica when the owner cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, async_graphql::Enum)]
pub enum Consistency {
    /// The owner's answer, or our replica's (marked as such) when the owner is
    /// unreachable, slow or its circuit is open.
    #[default]
    BestEffort,
    /// The owner's answer only.
    Live,
}

/// A record and where it came from.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub record: T,
    pub provenance: Provenance,
}

impl<T> Sourced<T> {
    /// The owner's record, as it answered at `at`.
    pub fn owner(record: T, at: DateTime<Utc>) -> Self {
        Self {
            record,
            provenance: Provenance {
                source: Source::Owner,
                fetched_at: at,
            },
        }
    }

    /// Our replica's copy, synced at `at`.
    pub fn replica(record: T, at: DateTime<Utc>) -> Self {
        Self {
            record,
            provenance: Provenance {
                source: Source::Replica,
                fetched_at: at,
            },
        }
    }
}

/// What the caller is told beside an answer.
#[derive(Debug, Clone)]
pub enum Note {
    /// A partner gave no usable answer; its part of the answer is missing.
    Failed {
        province: ProvinceCode,
        error: PartnerError,
    },
    /// Our replica answered for a partner that could not, with its copy of
    /// `synced_at`.
    FromReplica {
        province: ProvinceCode,
        synced_at: DateTime<Utc>,
        cause: PartnerError,
    },
}

/// An answer, and what the caller is told beside it.
#[derive(Debug)]
pub struct Noted<T> {
    pub value: T,
    pub notes: Vec<Note>,
}

impl<T> Noted<T> {
    /// An answer with nothing to tell.
    pub fn plain(value: T) -> Self {
        Self {
            value,
            notes: Vec::new(),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Noted<U> {
        Noted {
            value: f(self.value),
            notes: self.notes,
        }
    }

    fn failed(value: T, province: ProvinceCode, error: PartnerError) -> Self {
        Self {
            value,
            notes: vec![Note::Failed { province, error }],
        }
    }
}

/// Whether a certificate was valid on a day, and why not.
pub struct Verification {
    /// The number asked about.
    pub number: CertificateNumber,
    pub on: NaiveDate,
    pub valid: bool,
    /// Why it was not valid; `None` when valid.
    pub reason: Option<InvalidReason>,
    /// The certificate, when the number is known.
    pub certificate: Option<Sourced<CertificateRecord>>,
}

/// One request's access to records.
pub struct Access {
    store: Store,
    audience: Audience,
    own: DataLoader<StoreLoader>,
    /// The way to partners, for a request that may ask them: only our own
    /// callers' requests, never one that came from another gateway. Every
    /// partner call goes through it, so a request without it asks none.
    reach: Option<Reach>,
}

/// A request's calls of partners, and its loader of their records.
struct Reach {
    calls: Arc<Calls>,
    loader: DataLoader<PartnerLoader, HashMapCache>,
}

/// Most IDs asked of a partner in one request.
pub const BATCH: usize = 100;

impl Access {
    /// `calls` is `None` for a request that may not ask partners.
    pub fn new(store: Store, audience: Audience, calls: Option<Calls>) -> Self {
        // No delay before a batch is read: the fields of a page ask for their
        // records in one poll, before the spawned read runs, so they are batched
        // anyway; the default millisecond only added to every page's latency.
        let own = DataLoader::new(
            StoreLoader {
                store: store.clone(),
                audience,
            },
            tokio::spawn,
        )
        .delay(std::time::Duration::ZERO);
        let reach = calls.map(|calls| {
            let calls = Arc::new(calls);
            let loader = DataLoader::with_cache(
                PartnerLoader {
                    calls: calls.clone(),
                },
                tokio::spawn,
                HashMapCache::default(),
            )
            .delay(std::time::Duration::ZERO)
            .max_batch_size(BATCH);
            Reach { calls, loader }
        });
        Self {
            store,
            audience,
            own,
            reach,
        }
    }

    /// The request's calls of partners; a request that may not ask them
    /// has none.
    fn calls(&self) -> Result<&Calls, PartnerError> {
        self.reach
            .as_ref()
            .map(|reach| reach.calls.as_ref())
            .ok_or(PartnerError::NotConfigured)
    }

    /// The province whose records are ours.
    pub fn province(&self) -> ProvinceCode {
        self.store.province()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Who reads: what the store may show.
    pub fn audience(&self) -> Audience {
        self.audience
    }

    /// Whether this request may ask partners.
    pub fn federates(&self) -> bool {
        self.reach.is_some()
    }

    fn ours(&self, id: GlobalId) -> bool {
        id.province == self.province()
    }

    /// Any record by global ID: ours from the store, a partner's from its
    /// owner, or, unless `consistency` is `Live`, from our replica when the
    /// owner cannot answer.
    pub async fn find(
        &self,
        id: GlobalId,
        consistency: Consistency,
    ) -> Result<Noted<Option<Sourced<Record>>>, AppError> {
        if self.ours(id) {
            let record = self.own.load_one(id).await.map_err(|e| e.duplicate())?;
            return Ok(Noted::plain(
                record.map(|record| Sourced::owner(record, Utc::now())),
            ));
        }
        let Some(reach) = &self.reach else {
            return Ok(Noted::plain(None));
        };
        match reach.loader.load_one(id).await {
            Ok(None) => Ok(Noted::plain(None)),
            Ok(Some(Ok(fetched))) => Ok(Noted::plain(Some(Sourced::owner(
                fetched.record,
                fetched.at,
            )))),
            Ok(Some(Err(error))) => {
                let copy = async {
                    let row = self
                        .store
                        .replica_record(id.province, id.kind.code(), id.local)
                        .await?;
                    Ok(read_replica(id.province, row))
                };
                Ok(self
                    .stand_in(id.province, error, consistency, copy)
                    .await?
                    .map(|copy| copy.map(|(record, at)| Sourced::replica(record, at))))
            }
            Err(never) => match never {},
        }
    }

    /// A record of `kind` by global ID, as [`Access::find`]; `None` for one
    /// of another kind.
    pub async fn find_kind<K: Kind>(
        &self,
        id: GlobalId,
    ) -> Result<Noted<Option<Sourced<K>>>, AppError> {
        let found = self.find(id, Consistency::BestEffort).await?;
        Ok(found.map(|found| {
            let found = found?;
            Some(Sourced {
                record: K::from_record(found.record)?,
                provenance: found.provenance,
            })
        }))
    }

    /// As [`Access::find`] for each of `ids`, answered in their order. Our own
    /// records are read in one go (a query per kind) rather than one lookup
    /// each: a sync job asks for a thousand at a time, and a thousand lookups
    /// through the loader cost the partner more than reading the records did.
    /// A partner's records go through its loader, as one request per partner,
    /// while ours are read.
    pub async fn find_many(
        &self,
        ids: &[GlobalId],
        consistency: Consistency,
    ) -> Result<Noted<Vec<Option<Sourced<Record>>>>, AppError> {
        // Where each of our IDs is asked for last: there its record is handed
        // over, and any earlier ask for it gets a copy.
        let mut last = HashMap::new();
        for (i, id) in ids.iter().enumerate().filter(|(_, id)| self.ours(**id)) {
            last.insert(*id, i);
        }
        let read = async {
            if last.is_empty() {
                return Ok(HashMap::new());
            }
            let records = self.store.records_by_id(ids, self.audience).await?;
            Ok::<_, AppError>(records.into_iter().map(|r| (r.id(), r)).collect())
        };
        let asked = join_all(
            ids.iter()
                .filter(|id| !self.ours(**id))
                .map(|id| self.find(*id, consistency)),
        );
        let (found, theirs) = futures_util::future::join(read, asked).await;
        let mut found: HashMap<GlobalId, Record> = found?;
        let mut theirs = theirs.into_iter();
        let mut notes = Vec::new();
        let at = Utc::now();
        let mut answers = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if !self.ours(*id) {
                let answer = theirs.next().expect("an answer for each partner's ID")?;
                notes.extend(answer.notes);
                answers.push(answer.value);
                continue;
            }
            let record = if last[id] == i {
                found.remove(id)
            } else {
                found.get(id).cloned()
            };
            answers.push(record.map(|record| Sourced::owner(record, at)));
        }
        Ok(Noted {
            value: answers,
            notes,
        })
    }

    /// Whether a partner confirms that its facility `id` exists and is shared
    /// with us. A partner that cannot be asked is an error, not a "no".
    pub async fn partner_shares_facility(&self, id: GlobalId) -> Result<bool, PartnerError> {
        let Some(reach) = &self.reach else {
            return Ok(false);
        };
        match reach.loader.load_one(id).await {
            Ok(None) => Ok(false),
            Ok(Some(Ok(fetched))) => Ok(matches!(fetched.record, Record::Facility(_))),
            Ok(Some(Err(error))) => Err(error),
            Err(never) => match never {},
        }
    }

    /// The certificate `number`: ours from the store; a partner's from its
    /// owner, or our replica's copy as [`Access::find`] allows. A request that
    /// may not federate is told that only the owner answers for it.
    pub async fn certificate(
        &self,
        number: CertificateNumber,
        consistency: Consistency,
    ) -> Result<Noted<Option<Sourced<CertificateRecord>>>, AppError> {
        if number.province == self.province() {
            let found = self
                .store
                .certificate_by_number(&number, self.audience)
                .await?;
            return Ok(Noted::plain(found.map(|r| Sourced::owner(r, Utc::now()))));
        }
        let Some(reach) = &self.reach else {
            return Err(not_ours(number));
        };
        match reach.calls.certificate(number).await {
            Ok(answer) => Ok(Noted::plain(
                answer.value.map(|record| Sourced::owner(record, answer.at)),
            )),
            Err(error) => Ok(self
                .stand_in(
                    number.province,
                    error,
                    consistency,
                    self.replica_certificate(number),
                )
                .await?
                .map(|copy| copy.map(|(record, at)| Sourced::replica(record, at)))),
        }
    }

    /// Whether the certificate `number` was valid on `on`. A partner's is
    /// verified by its owner; when the owner cannot answer, by our replica
    /// (unless `consistency` is `Live`) for a day no earlier than the copy —
    /// the copy's status held from then on as far as we know; an earlier day
    /// needs the history only the owner has.
    pub async fn verify(
        &self,
        number: CertificateNumber,
        on: NaiveDate,
        consistency: Consistency,
    ) -> Result<Noted<Option<Verification>>, AppError> {
        if number.province != self.province() {
            let Some(reach) = &self.reach else {
                return Err(not_ours(number));
            };
            return self.verify_at_owner(reach, number, on, consistency).await;
        }
        let Some(certificate) = self
            .store
            .certificate_by_number(&number, self.audience)
            .await?
        else {
            return Ok(Noted::plain(Some(Verification {
                number,
                on,
                valid: false,
                reason: Some(InvalidReason::Unknown),
                certificate: None,
            })));
        };
        let history: Vec<_> = self
            .store
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
        Ok(Noted::plain(Some(Verification {
            number,
            on,
            valid: verdict.is_ok(),
            reason: verdict.err(),
            certificate: Some(Sourced::owner(certificate, Utc::now())),
        })))
    }

    async fn verify_at_owner(
        &self,
        reach: &Reach,
        number: CertificateNumber,
        on: NaiveDate,
        consistency: Consistency,
    ) -> Result<Noted<Option<Verification>>, AppError> {
        let error = match reach.calls.verify(number, on).await {
            Ok(answer) => {
                let verified = answer.value;
                return Ok(Noted::plain(Some(Verification {
                    number,
                    on: verified.on,
                    valid: verified.valid,
                    reason: verified.reason,
                    certificate: verified
                        .certificate
                        .map(|record| Sourced::owner(record, answer.at)),
                })));
            }
            Err(error) => error,
        };
        let copy = async {
            Ok(self
                .replica_certificate(number)
                .await?
                .filter(|(_, synced_at)| on >= date_in_vietnam(*synced_at)))
        };
        Ok(self
            .stand_in(number.province, error, consistency, copy)
            .await?
            .map(|copy| {
                copy.map(|(record, synced_at)| {
                    let verdict = validity_on(
                        record.data.issued_on,
                        record.data.expires_on,
                        &[StatusChange {
                            status: record.status,
                            effective_on: record.data.issued_on,
                        }],
                        on,
                    );
                    Verification {
                        number,
                        on,
                        valid: verdict.is_ok(),
                        reason: verdict.err(),
                        certificate: Some(Sourced::replica(record, synced_at)),
                    }
                })
            }))
    }

    /// Every status change of `certificate`, oldest first, starting with the
    /// issue; `None` when the owner of a partner's certificate cannot be asked.
    pub async fn history(
        &self,
        certificate: &CertificateRecord,
    ) -> Result<Noted<Option<Vec<StatusChangeRecord>>>, AppError> {
        if self.ours(certificate.id) {
            let history = self.store.certificate_history(certificate.id.local).await?;
            return Ok(Noted::plain(Some(history)));
        }
        Ok(self
            .history_at_owner(certificate)
            .await
            .map(|history| history.and_then(|history| history.map(|h| h.changes))))
    }

    /// The certificate that renewed `certificate`, ours or a partner's.
    pub async fn replacement(
        &self,
        certificate: &CertificateRecord,
    ) -> Result<Noted<Option<Sourced<CertificateRecord>>>, AppError> {
        if self.ours(certificate.id) {
            let found = self
                .store
                .certificate_replacing(certificate.id.local, self.audience)
                .await?;
            return Ok(Noted::plain(found.map(|r| Sourced::owner(r, Utc::now()))));
        }
        let asked = self.history_at_owner(certificate).await;
        let Some(Some(history)) = asked.value else {
            return Ok(Noted {
                value: None,
                notes: asked.notes,
            });
        };
        let Some(id) = history.replaced_by else {
            return Ok(Noted::plain(None));
        };
        self.find_kind::<CertificateRecord>(id).await
    }

    /// A partner certificate's history as its owner tells it: `None` when
    /// the owner cannot be asked (noted when it failed), `Some(None)` when it
    /// does not share the certificate.
    async fn history_at_owner(
        &self,
        certificate: &CertificateRecord,
    ) -> Noted<Option<Option<crate::federation::calls::History>>> {
        let Some(reach) = &self.reach else {
            return Noted::plain(None);
        };
        match reach.calls.history(certificate.number).await {
            Ok(answer) => Noted::plain(Some(answer.value)),
            Err(error) => Noted::failed(None, certificate.id.province, error),
        }
    }

    /// A page of `facility`'s own records of kind `K` (its certificates, its
    /// products), from its owner: ours from the store, a partner's asked of
    /// it; `None` when the owner cannot be asked (noted when it failed).
    pub async fn of_facility<K: OfFacility>(
        &self,
        facility: GlobalId,
        first: u64,
        after: Option<String>,
    ) -> Result<Noted<Option<Paged<K>>>, AppError> {
        if self.ours(facility) {
            let after = after.as_deref().map(read_row_cursor).transpose()?;
            let filter = K::of_facility(facility, self.audience);
            let page = K::page(&self.store, &filter, PageRequest { after, first }).await?;
            return Ok(Noted::plain(Some(Paged::ours(page, |r| r.id().local))));
        }
        let Some(reach) = &self.reach else {
            return Ok(Noted::plain(None));
        };
        let variables = serde_json::json!({
            "facility": facility.to_string(),
            "first": first,
            "after": after,
        });
        Ok(
            match reach
                .calls
                .list(facility.province, K::OF_FACILITY, variables)
                .await
            {
                Ok(answer) => Noted::plain(Some(Paged::remote(answer.value.page, answer.at))),
                Err(error) => Noted::failed(None, facility.province, error),
            },
        )
    }

    /// Stands in for an owner that failed with `error`: our replica's `copy`
    /// when the owner is down and the caller accepts a copy (noted with its
    /// age), otherwise nothing, with the failure noted. The copy is read only
    /// when it may be used.
    async fn stand_in<R>(
        &self,
        province: ProvinceCode,
        error: PartnerError,
        consistency: Consistency,
        copy: impl Future<Output = Result<Option<(R, DateTime<Utc>)>, AppError>>,
    ) -> Result<Noted<Option<(R, DateTime<Utc>)>>, AppError> {
        if owner_down(&error)
            && consistency == Consistency::BestEffort
            && let Some((record, synced_at)) = copy.await?
        {
            return Ok(Noted {
                value: Some((record, synced_at)),
                notes: vec![Note::FromReplica {
                    province,
                    synced_at,
                    cause: error,
                }],
            });
        }
        Ok(Noted::failed(None, province, error))
    }

    /// Our replica's copy of a partner's certificate `number`, and when it
    /// was synced.
    async fn replica_certificate(
        &self,
        number: CertificateNumber,
    ) -> Result<Option<(CertificateRecord, DateTime<Utc>)>, AppError> {
        let row = self.store.replica_certificate(&number).await?;
        Ok(match read_replica(number.province, row) {
            Some((Record::Certificate(record), synced_at)) if record.number == number => {
                Some((record, synced_at))
            }
            _ => None,
        })
    }

    /// Records a partner sent along with an answer, so that lookups of them in
    /// this request are answered without asking again.
    async fn remember(&self, reach: &Reach, records: Vec<Record>, at: DateTime<Utc>) {
        reach
            .loader
            .feed_many(
                records
                    .into_iter()
                    .map(|record| (record.id(), Ok(Fetched { record, at }))),
            )
            .await;
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

/// Whether the owner could not answer at all — unreachable, too slow, or its
/// circuit open — which is when our replica may stand in. A refusal or a bad
/// answer is the owner's word, and the replica never overrides it.
fn owner_down(error: &PartnerError) -> bool {
    matches!(
        error,
        PartnerError::Unavailable(_) | PartnerError::Timeout | PartnerError::CircuitOpen
    )
}

/// Reads our replica's copy of a record of `province` (as the store found it)
/// back into a partner record. A copy that no longer reads is as good as none.
fn read_replica(
    province: ProvinceCode,
    row: Option<(String, DateTime<Utc>)>,
) -> Option<(Record, DateTime<Utc>)> {
    let (body, synced_at) = row?;
    let value = serde_json::from_str::<serde_json::Value>(&body).ok()?;
    let record = Reader { owner: province }.node(&value).ok()??;
    Some((record, synced_at))
}

/// A partner's record and when the partner gave it.
#[derive(Debug, Clone)]
struct Fetched {
    record: Record,
    at: DateTime<Utc>,
}

/// Batches lookups of our own records, as the request's audience may see
/// them: one query per kind.
struct StoreLoader {
    store: Store,
    audience: Audience,
}

impl Loader<GlobalId> for StoreLoader {
    type Value = Record;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[GlobalId]) -> Result<HashMap<GlobalId, Record>, Self::Error> {
        Ok(self
            .store
            .records_by_id(keys, self.audience)
            .await
            .map_err(Arc::new)?
            .into_iter()
            .map(|record| (record.id(), record))
            .collect())
    }
}

/// Batches lookups of partners' records: one `nodes` request per partner. Its
/// cache also holds records a partner sent along with others (a list's
/// facilities), so that asking for them costs no second request.
struct PartnerLoader {
    calls: Arc<Calls>,
}

impl Loader<GlobalId> for PartnerLoader {
    type Value = Result<Fetched, PartnerError>;
    type Error = Infallible;

    async fn load(&self, keys: &[GlobalId]) -> Result<HashMap<GlobalId, Self::Value>, Infallible> {
        let mut by_province: HashMap<_, Vec<GlobalId>> = HashMap::new();
        for key in keys {
            by_province.entry(key.province).or_default().push(*key);
        }
        let calls = by_province.into_iter().map(|(province, ids)| async move {
            match self.calls.nodes(province, &ids).await {
                Ok(answer) => answer
                    .value
                    .into_iter()
                    .map(|record| {
                        let at = answer.at;
                        (record.id(), Ok(Fetched { record, at }))
                    })
                    .collect::<Vec<_>>(),
                Err(error) => ids.iter().map(|id| (*id, Err(error.clone()))).collect(),
            }
        });
        Ok(join_all(calls).await.into_iter().flatten().collect())
    }
}
