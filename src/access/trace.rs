//! A lot's trace across provinces, walked hop by hop: each level asks every
//! province it must — ours from the store, each partner once — for the
//! events that name the lots it follows, each answered by its owner. What
//! the events say (a source, a destination, a transformation's inputs or
//! outputs) decides the next level. A hop that cannot be followed is told
//! with its reason, and the rest of the trace stands.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use futures_util::future::join_all;
use serde_json::json;

use super::{Access, Consistency, Kind, Note, Noted, Sourced};
use crate::domain::{
    BizStep, ChainStage, Direction, Epc, FacilityRecord, GlobalId, InspectionRecord,
    InspectionRequestRecord, ItemRole, LotCode, LotRecord, ProvinceCode, RequestState, SUPERVISION,
    TraceEventRecord, next_steps, supervised_by,
};
use crate::domain::{
    CertificateNumber, CertificateRecord, InvalidReason, StatusChange, StatusChangeRecord,
    validity_on,
};
use crate::error::AppError;
use crate::federation::PartnerError;
use crate::federation::calls::CERTIFICATES_WITH_HISTORY;
use crate::federation::records::RemotePage;
use crate::store::{
    CertificateFilter, InspectionFilter, InspectionRequestFilter, LotFilter, MAX_PAGE, PageRequest,
    TraceEventFilter,
};

/// How far a trace may go.
#[derive(Debug, Clone, Copy)]
pub struct TraceLimits {
    /// Levels of the walk after the first.
    pub max_hops: u32,
    /// Lots a trace follows at most.
    pub max_lots: usize,
    /// Events one province's answer at one level holds at most.
    pub max_events: usize,
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self {
            max_hops: 8,
            max_lots: 200,
            max_events: 1000,
        }
    }
}

/// Why a hop was not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum UnfollowedReason {
    /// The province that holds the hop could not answer.
    PartnerUnavailable,
    /// The province answered, but shares no event of the lot with us (or
    /// records none).
    NotShared,
    /// Past `maxHops`.
    BeyondMaxHops,
    /// Past the most lots or events one trace follows.
    FanOutLimit,
}

/// A hop not followed: the province that would have answered, the EPC, and
/// why.
#[derive(Debug, Clone)]
pub struct Unfollowed {
    pub province: ProvinceCode,
    pub epc: Epc,
    pub reason: UnfollowedReason,
    /// The failure's code, when a partner failed (`PARTNER_TIMEOUT`…).
    pub code: Option<&'static str>,
}

/// A walked trace.
pub struct Traced {
    pub lots: Vec<Sourced<LotRecord>>,
    /// Events that stand (those declared in error are left out; their
    /// corrective events take their place), each once.
    pub events: Vec<Sourced<TraceEventRecord>>,
    pub unfollowed: Vec<Unfollowed>,
    /// Levels walked.
    pub hops: u32,
    /// The lots or events cut off by the limits.
    pub truncated: bool,
}

impl Traced {
    /// Every facility its events name: where each happened, and where lots
    /// came from or went.
    pub fn facilities(&self) -> Vec<GlobalId> {
        let mut facilities: BTreeSet<GlobalId> = BTreeSet::new();
        for event in &self.events {
            let data = &event.record.data;
            facilities.extend(
                [Some(data.facility), data.source, data.destination]
                    .into_iter()
                    .flatten(),
            );
        }
        facilities.into_iter().collect()
    }
}

impl Access {
    /// The trace of the lots `codes` in `direction`, within `limits`: one
    /// walk, whose first level asks each lot's owner and us.
    pub async fn trace(
        &self,
        codes: &[LotCode],
        direction: Direction,
        limits: TraceLimits,
    ) -> Result<Traced, AppError> {
        let mut following: BTreeSet<Epc> = BTreeSet::new();
        let mut asked: HashSet<(ProvinceCode, Epc)> = HashSet::new();
        let mut frontier: BTreeMap<ProvinceCode, BTreeSet<Epc>> = BTreeMap::new();
        for code in codes.iter().take(limits.max_lots) {
            let start = Epc::Lot(*code);
            following.insert(start.clone());
            for province in [code.province(), self.province()] {
                frontier.entry(province).or_default().insert(start.clone());
            }
        }
        let mut traced = Traced {
            lots: Vec::new(),
            events: Vec::new(),
            unfollowed: Vec::new(),
            hops: 0,
            truncated: false,
        };
        let mut seen_events = HashSet::new();
        // A partner's lots come with the level that asks it about them
        // anyway; ours, and those no level asked their owner about, after
        // the walk.
        let mut lots: BTreeMap<LotCode, Sourced<LotRecord>> = BTreeMap::new();
        let mut lots_asked: HashSet<LotCode> = HashSet::new();
        let mut level = 0;
        while !frontier.is_empty() {
            if level > limits.max_hops {
                for (province, epcs) in frontier {
                    traced
                        .unfollowed
                        .extend(epcs.into_iter().map(|epc| Unfollowed {
                            province,
                            epc,
                            reason: UnfollowedReason::BeyondMaxHops,
                            code: None,
                        }));
                }
                break;
            }
            traced.hops = level;
            let asking: Vec<(ProvinceCode, Vec<Epc>, Vec<LotCode>)> = frontier
                .into_iter()
                .map(|(province, epcs)| {
                    let own: Vec<LotCode> = epcs
                        .iter()
                        .filter_map(Epc::lot)
                        .filter(|code| code.province() == province && province != self.province())
                        .filter(|code| lots_asked.insert(*code))
                        .take(MAX_PAGE as usize)
                        .collect();
                    (province, epcs.into_iter().collect(), own)
                })
                .collect();
            for (province, epcs, _) in &asking {
                asked.extend(epcs.iter().map(|epc| (*province, epc.clone())));
            }
            let answers = join_all(
                asking
                    .iter()
                    .map(|(province, epcs, own)| self.level(*province, epcs, own, limits)),
            )
            .await;
            let mut next: BTreeMap<ProvinceCode, BTreeSet<Epc>> = BTreeMap::new();
            for ((province, epcs, _), answer) in asking.into_iter().zip(answers) {
                let (events, cut) = match answer {
                    Ok(found) => {
                        lots.extend(found.lots.into_iter().map(|l| (l.record.code, l)));
                        (found.events, found.cut)
                    }
                    Err(Failure::Partner(error)) => {
                        traced
                            .unfollowed
                            .extend(epcs.into_iter().map(|epc| Unfollowed {
                                province,
                                epc,
                                reason: UnfollowedReason::PartnerUnavailable,
                                code: Some(error.code()),
                            }));
                        continue;
                    }
                    Err(Failure::Ours(error)) => return Err(error),
                };
                traced.truncated |= cut;
                if province != self.province() {
                    for epc in &epcs {
                        let named = events
                            .iter()
                            .any(|e| e.record.data.items.iter().any(|i| i.epc == *epc));
                        if !named {
                            traced.unfollowed.push(Unfollowed {
                                province,
                                epc: epc.clone(),
                                reason: UnfollowedReason::NotShared,
                                code: None,
                            });
                        }
                    }
                }
                for event in events {
                    if !seen_events.insert(event.record.id) {
                        continue;
                    }
                    let steps = {
                        let follows = |epc: &Epc| following.contains(epc);
                        next_steps(&event.record.data, &follows, direction)
                    };
                    for (to, epc) in steps {
                        if !following.contains(&epc) {
                            if following.len() >= limits.max_lots {
                                traced.truncated = true;
                                traced.unfollowed.push(Unfollowed {
                                    province: to,
                                    epc,
                                    reason: UnfollowedReason::FanOutLimit,
                                    code: None,
                                });
                                continue;
                            }
                            following.insert(epc.clone());
                        }
                        if !asked.contains(&(to, epc.clone())) {
                            next.entry(to).or_default().insert(epc);
                        }
                    }
                    traced.events.push(event);
                }
            }
            frontier = next;
            level += 1;
        }
        traced
            .events
            .sort_by_key(|e| (e.record.data.event_time, e.record.id.to_string()));
        let rest: Vec<LotCode> = following
            .iter()
            .filter_map(Epc::lot)
            .filter(|code| !lots_asked.contains(code))
            .collect();
        lots.extend(
            self.lots_of(&rest)
                .await?
                .into_iter()
                .map(|l| (l.record.code, l)),
        );
        traced.lots = lots.into_values().collect();
        Ok(traced)
    }

    /// One level of the walk at `province`: its events that name any of
    /// `epcs`, that stand, and whether more than the limit were cut off;
    /// and a partner's lots `own`, in the same request.
    async fn level(
        &self,
        province: ProvinceCode,
        epcs: &[Epc],
        own: &[LotCode],
        limits: TraceLimits,
    ) -> Result<Level, Failure> {
        let filter = TraceEventFilter {
            epcs: epcs.to_vec(),
            audience: self.audience,
            ..Default::default()
        };
        let forwarded = json!({ "epcs": epcs.iter().map(Epc::uri).collect::<Vec<_>>() });
        let most = limits.max_events;
        let Some(reach) = self.reach.as_ref().filter(|_| province != self.province()) else {
            let (events, cut) = self
                .all_of::<TraceEventRecord>(province, &filter, forwarded, most)
                .await?;
            return Ok(Level {
                events,
                cut,
                lots: Vec::new(),
            });
        };
        let answer = reach
            .calls
            .trace_level(province, forwarded.clone(), own, None)
            .await
            .map_err(Failure::Partner)?;
        let at = answer.at;
        let lots = answer
            .value
            .lots
            .map(|page| from_owner(page, at))
            .unwrap_or_default();
        let page = answer.value.events;
        let (has_next, after) = (page.has_next, page.end_cursor.clone());
        let found = from_owner(page, at);
        let (events, cut) = match after.filter(|_| has_next && found.len() < most) {
            Some(after) => {
                self.partner_pages::<TraceEventRecord>(
                    province,
                    forwarded,
                    found,
                    Some(after),
                    most,
                )
                .await?
            }
            None => {
                let cut = has_next || found.len() > most;
                (found.into_iter().take(most).collect(), cut)
            }
        };
        Ok(Level { events, cut, lots })
    }

    /// The lots `codes`, each from its owner; a lot whose owner cannot
    /// answer is left out (its hops say why).
    async fn lots_of(&self, codes: &[LotCode]) -> Result<Vec<Sourced<LotRecord>>, AppError> {
        let mut by_owner: BTreeMap<ProvinceCode, Vec<LotCode>> = BTreeMap::new();
        for code in codes {
            by_owner.entry(code.province()).or_default().push(*code);
        }
        let answers = join_all(by_owner.into_iter().map(|(province, codes)| async move {
            let filter = LotFilter {
                codes: codes.clone(),
                audience: self.audience,
                ..Default::default()
            };
            let forwarded =
                json!({ "codes": codes.iter().map(ToString::to_string).collect::<Vec<_>>() });
            self.all_of::<LotRecord>(province, &filter, forwarded, codes.len())
                .await
        }))
        .await;
        let mut lots = Vec::new();
        for answer in answers {
            match answer {
                Ok((found, _)) => lots.extend(found),
                Err(Failure::Partner(_)) => {}
                Err(Failure::Ours(error)) => return Err(error),
            }
        }
        Ok(lots)
    }

    /// Every record of `province` that passes `filter` (ours) or
    /// `forwarded` (a partner's), page by page, at most `most`; and
    /// whether more were cut off.
    async fn all_of<K: Kind>(
        &self,
        province: ProvinceCode,
        filter: &K::Filter,
        forwarded: serde_json::Value,
        most: usize,
    ) -> Result<(Vec<Sourced<K>>, bool), Failure> {
        if province == self.province() {
            let mut found = Vec::new();
            let mut after = None;
            loop {
                let page = K::page(
                    &self.store,
                    filter,
                    PageRequest {
                        after,
                        first: MAX_PAGE,
                    },
                )
                .await
                .map_err(Failure::Ours)?;
                let at = chrono::Utc::now();
                after = page.items.last().map(|r| r.id().local);
                found.extend(page.items.into_iter().map(|r| Sourced::owner(r, at)));
                if !page.has_next || found.len() >= most {
                    let cut = page.has_next || found.len() > most;
                    found.truncate(most);
                    return Ok((found, cut));
                }
            }
        }
        self.partner_pages::<K>(province, forwarded, Vec::new(), None, most)
            .await
    }

    /// `found` and the records of partner `province` that pass `forwarded`,
    /// page by page from `after`, at most `most`; and whether more were cut
    /// off.
    async fn partner_pages<K: Kind>(
        &self,
        province: ProvinceCode,
        forwarded: serde_json::Value,
        mut found: Vec<Sourced<K>>,
        mut after: Option<String>,
        most: usize,
    ) -> Result<(Vec<Sourced<K>>, bool), Failure> {
        let Some(reach) = &self.reach else {
            // A partner's request is answered from our records alone.
            return Err(Failure::Partner(PartnerError::NotConfigured));
        };
        loop {
            let answer = reach
                .calls
                .list(
                    province,
                    K::LIST,
                    json!({ "filter": forwarded, "first": MAX_PAGE, "after": after }),
                )
                .await
                .map_err(Failure::Partner)?;
            let page = answer.value.page;
            let (has_next, end_cursor) = (page.has_next, page.end_cursor.clone());
            found.extend(from_owner(page, answer.at));
            if !has_next || found.len() >= most || end_cursor.is_none() {
                let cut = has_next || found.len() > most;
                found.truncate(most);
                return Ok((found, cut));
            }
            after = end_cursor;
        }
    }
}

/// A partner's page as its owner's records, answered at `at`.
fn from_owner<R>(page: RemotePage<R>, at: DateTime<Utc>) -> Vec<Sourced<R>> {
    page.items
        .into_iter()
        .map(|(_, record)| Sourced::owner(record, at))
        .collect()
}

/// Facilities' certificates with their histories, as their owners answered;
/// the provinces that could not, and their failures.
#[derive(Default)]
pub(super) struct Certificates {
    pub held: HashMap<GlobalId, Vec<(CertificateRecord, Vec<StatusChangeRecord>)>>,
    pub failed: HashSet<ProvinceCode>,
    pub notes: Vec<Note>,
}

/// What a province answered at one level of a trace.
struct Level {
    events: Vec<Sourced<TraceEventRecord>>,
    /// More events than the limit were cut off.
    cut: bool,
    lots: Vec<Sourced<LotRecord>>,
}

/// Why a province's part of a trace is missing.
enum Failure {
    Partner(PartnerError),
    Ours(AppError),
}

/// A facility of a lot's chain, the stage it works at and who inspects it.
pub struct ChainLink {
    pub facility: GlobalId,
    /// The facility from its owner; `None` where it could not be read.
    pub record: Option<Sourced<FacilityRecord>>,
    pub stage: Option<ChainStage>,
    /// The province that inspects the stage, under the agreement.
    pub responsible: ProvinceCode,
    /// The latest inspection of the stage, by the responsible province.
    pub latest: Option<Sourced<InspectionRecord>>,
    /// Open inspection requests for the stage past their last day.
    pub overdue: Vec<Sourced<InspectionRequestRecord>>,
    /// The lots of the trace this facility received (for a recall).
    pub received: Vec<LotCode>,
}

/// The facilities of one or more traces, each with its stage, who inspects
/// it, and the trace that found them.
pub struct Chain {
    pub links: Vec<ChainLink>,
    pub unfollowed: Vec<Unfollowed>,
    pub truncated: bool,
}

impl Access {
    /// The supervision of `code`'s chain: every facility its trace (both
    /// ways) passes through, by stage, with the province responsible for
    /// inspecting it, its latest inspection and any overdue request. One
    /// request per partner for the facilities, one for the inspections and
    /// one for the requests, after the walk.
    pub async fn supply_chain(
        &self,
        code: LotCode,
        limits: TraceLimits,
    ) -> Result<Noted<Chain>, AppError> {
        let traced = self.trace(&[code], Direction::Both, limits).await?;
        let supervised = self.supervision(traced.facilities()).await?;
        Ok(supervised.map(|links| Chain {
            links,
            unfollowed: traced.unfollowed,
            truncated: traced.truncated,
        }))
    }

    /// `facilities`, by stage, each with the province that inspects it
    /// under the agreement, its latest inspection and overdue requests.
    pub async fn supervision(
        &self,
        facilities: Vec<GlobalId>,
    ) -> Result<Noted<Vec<ChainLink>>, AppError> {
        let mut links = self.links(facilities).await?;
        let failed = self.inspections_of(&mut links.value).await?;
        links.notes.extend(failed);
        // By stage; facilities we may not read (of no known stage) last.
        links.value.sort_by_key(|l| {
            (
                l.stage.map(stage_order).unwrap_or(usize::MAX),
                l.facility.to_string(),
            )
        });
        Ok(links)
    }

    /// The scope of a recall of `codes`: every facility, of either
    /// province, their forward traces say received them, each with the
    /// province responsible for acting on it.
    pub async fn recall_scope(
        &self,
        codes: &[LotCode],
        limits: TraceLimits,
    ) -> Result<Noted<Chain>, AppError> {
        let mut received: BTreeMap<GlobalId, BTreeSet<LotCode>> = BTreeMap::new();
        let traced = self.trace(codes, Direction::Forward, limits).await?;
        for event in &traced.events {
            let data = &event.record.data;
            let lots: Vec<LotCode> = data
                .items
                .iter()
                .filter(|i| i.role == ItemRole::What)
                .filter_map(|i| i.epc.lot())
                .collect();
            let at = match (data.biz_step, data.destination) {
                (BizStep::Receiving, _) => Some(data.facility),
                (_, Some(destination)) => Some(destination),
                _ => None,
            };
            if let Some(at) = at {
                received.entry(at).or_default().extend(lots);
            }
        }
        let mut links = self.links(received.keys().copied().collect()).await?;
        for link in &mut links.value {
            link.received = received
                .get(&link.facility)
                .map(|lots| lots.iter().copied().collect())
                .unwrap_or_default();
        }
        Ok(links.map(|links| Chain {
            links,
            unfollowed: traced.unfollowed,
            truncated: traced.truncated,
        }))
    }

    /// `facilities` read from their owners, each with its stage and who
    /// inspects it.
    async fn links(&self, facilities: Vec<GlobalId>) -> Result<Noted<Vec<ChainLink>>, AppError> {
        let found = self.find_many(&facilities, Consistency::BestEffort).await?;
        let links = facilities
            .into_iter()
            .zip(found.value)
            .map(|(facility, found)| {
                let record = found.and_then(|found| {
                    Some(Sourced {
                        record: FacilityRecord::from_record(found.record)?,
                        provenance: found.provenance,
                    })
                });
                let (stage, responsible) = match &record {
                    Some(r) => {
                        let (stage, by) = supervised_by(facility, r.record.data.kind);
                        (Some(stage), by)
                    }
                    None => (None, facility.province),
                };
                ChainLink {
                    facility,
                    record,
                    stage,
                    responsible,
                    latest: None,
                    overdue: Vec::new(),
                    received: Vec::new(),
                }
            })
            .collect();
        Ok(Noted {
            value: links,
            notes: found.notes,
        })
    }

    /// Fills each link's latest inspection, asked of the province
    /// responsible for it, and its overdue requests, asked of every
    /// province of the chain (a request is its alert owner's); says which
    /// partners failed.
    async fn inspections_of(&self, links: &mut [ChainLink]) -> Result<Vec<Note>, AppError> {
        let mut notes = Vec::new();
        let mut by_inspector: BTreeMap<ProvinceCode, Vec<GlobalId>> = BTreeMap::new();
        for link in links.iter().filter(|l| l.stage.is_some()) {
            by_inspector
                .entry(link.responsible)
                .or_default()
                .push(link.facility);
        }
        let all: Vec<GlobalId> = links.iter().map(|l| l.facility).collect();
        let mut provinces: BTreeSet<ProvinceCode> = all.iter().map(|f| f.province).collect();
        provinces.insert(self.province());
        let ids = |facilities: &[GlobalId]| -> Vec<String> {
            facilities.iter().map(ToString::to_string).collect()
        };
        let inspections = join_all(by_inspector.iter().map(|(province, facilities)| {
            let filter = InspectionFilter {
                facilities: facilities.clone(),
                audience: self.audience,
                ..Default::default()
            };
            let forwarded = json!({ "facilityIds": ids(facilities) });
            async move {
                (
                    *province,
                    self.all_of::<InspectionRecord>(*province, &filter, forwarded, 1000)
                        .await,
                )
            }
        }));
        let requests = join_all(provinces.iter().map(|province| {
            let filter = InspectionRequestFilter {
                facilities: all.clone(),
                state: Some(RequestState::Open),
                overdue: Some(true),
                audience: self.audience,
                ..Default::default()
            };
            let forwarded = json!({ "facilityIds": ids(&all), "state": "OPEN", "overdue": true });
            async move {
                (
                    *province,
                    self.all_of::<InspectionRequestRecord>(*province, &filter, forwarded, 1000)
                        .await,
                )
            }
        }));
        let (inspections, requests) = futures_util::future::join(inspections, requests).await;
        let mut found_inspections = Vec::new();
        for (province, answer) in inspections {
            match answer {
                Ok((found, _)) => found_inspections.extend(found),
                Err(Failure::Partner(error)) => notes.push(Note::Failed { province, error }),
                Err(Failure::Ours(error)) => return Err(error),
            }
        }
        let mut found_requests = Vec::new();
        for (province, answer) in requests {
            match answer {
                Ok((found, _)) => found_requests.extend(found),
                Err(Failure::Partner(error)) => notes.push(Note::Failed { province, error }),
                Err(Failure::Ours(error)) => return Err(error),
            }
        }
        for link in links.iter_mut() {
            let Some(stage) = link.stage else { continue };
            link.latest = found_inspections
                .iter()
                .filter(|i| i.record.data.facility == link.facility && i.record.data.stage == stage)
                .max_by_key(|i| (i.record.data.inspected_on, i.record.id.local))
                .cloned();
            link.overdue = found_requests
                .iter()
                .filter(|r| r.record.data.facility == link.facility && r.record.data.stage == stage)
                .cloned()
                .collect();
        }
        Ok(notes)
    }
}

/// The order of the chain's stages, the agreement's.
fn stage_order(stage: ChainStage) -> usize {
    SUPERVISION
        .iter()
        .position(|(s, _)| *s == stage)
        .unwrap_or(SUPERVISION.len())
}

/// Whether an event's facility held a valid certificate on the day of the
/// event.
pub struct Certified {
    pub event: GlobalId,
    pub facility: GlobalId,
    pub on: NaiveDate,
    /// `None` when the facility's province could not answer.
    pub valid: Option<bool>,
    /// The certificate valid that day, or the latest one that was not.
    pub certificate: Option<CertificateNumber>,
    /// Why the latest certificate was not valid; `None` when one was, or
    /// when the facility has none.
    pub reason: Option<InvalidReason>,
}

impl Access {
    /// For each of `events` (an event, its facility, its day), whether the
    /// facility held a valid certificate that day, by the certificates and
    /// their status histories as their owner recorded them: one request per
    /// partner for all its facilities.
    pub async fn certification(
        &self,
        events: &[(GlobalId, GlobalId, NaiveDate)],
    ) -> Result<Noted<Vec<Certified>>, AppError> {
        let Certificates {
            held,
            failed,
            notes,
        } = self
            .certificates_held(events.iter().map(|(_, facility, _)| *facility))
            .await?;
        let certified = events
            .iter()
            .map(|&(event, facility, on)| {
                let mut verdict = Certified {
                    event,
                    facility,
                    on,
                    valid: None,
                    certificate: None,
                    reason: None,
                };
                if failed.contains(&facility.province) {
                    return verdict;
                }
                let mut certificates: Vec<_> = held.get(&facility).into_iter().flatten().collect();
                // The latest issued first: the one that speaks when none was valid.
                certificates.sort_by_key(|(c, _)| std::cmp::Reverse(c.data.issued_on));
                let checked = certificates.iter().map(|(c, history)| {
                    let changes: Vec<StatusChange> = history.iter().map(|h| h.change).collect();
                    (
                        c.number,
                        validity_on(c.data.issued_on, c.data.expires_on, &changes, on),
                    )
                });
                let mut first_refusal = None;
                for (number, validity) in checked {
                    match validity {
                        Ok(()) => {
                            verdict.valid = Some(true);
                            verdict.certificate = Some(number);
                            return verdict;
                        }
                        Err(reason) => {
                            first_refusal.get_or_insert((number, reason));
                        }
                    }
                }
                verdict.valid = Some(false);
                if let Some((number, reason)) = first_refusal {
                    verdict.certificate = Some(number);
                    verdict.reason = Some(reason);
                }
                verdict
            })
            .collect();
        Ok(Noted {
            value: certified,
            notes,
        })
    }

    /// The certificates of `facilities`, with their status histories, by
    /// facility, from their owners: one request per partner for all its
    /// facilities.
    pub(super) async fn certificates_held(
        &self,
        facilities: impl IntoIterator<Item = GlobalId>,
    ) -> Result<Certificates, AppError> {
        let mut by_owner: BTreeMap<ProvinceCode, BTreeSet<GlobalId>> = BTreeMap::new();
        for facility in facilities {
            by_owner
                .entry(facility.province)
                .or_default()
                .insert(facility);
        }
        let answers = join_all(
            by_owner
                .into_iter()
                .map(|(province, facilities)| async move {
                    let facilities: Vec<GlobalId> = facilities.into_iter().collect();
                    (province, self.certificates_of(province, facilities).await)
                }),
        )
        .await;
        let mut held = Certificates::default();
        for (province, answer) in answers {
            match answer {
                Ok(certificates) => {
                    for (certificate, history) in certificates {
                        held.held
                            .entry(certificate.data.facility)
                            .or_default()
                            .push((certificate, history));
                    }
                }
                Err(Failure::Partner(error)) => {
                    held.failed.insert(province);
                    held.notes.push(Note::Failed { province, error });
                }
                Err(Failure::Ours(error)) => return Err(error),
            }
        }
        Ok(held)
    }

    /// The certificates of `facilities` (all of `province`), with their
    /// status histories.
    async fn certificates_of(
        &self,
        province: ProvinceCode,
        facilities: Vec<GlobalId>,
    ) -> Result<Vec<(CertificateRecord, Vec<StatusChangeRecord>)>, Failure> {
        let mut found = Vec::new();
        if province == self.province() {
            let filter = CertificateFilter {
                facilities,
                audience: self.audience,
                ..Default::default()
            };
            let (certificates, _) = self
                .all_of::<CertificateRecord>(province, &filter, json!({}), 1000)
                .await?;
            for certificate in certificates {
                let history = self
                    .store
                    .certificate_history(certificate.record.id.local)
                    .await
                    .map_err(Failure::Ours)?;
                found.push((certificate.record, history));
            }
            return Ok(found);
        }
        let Some(reach) = &self.reach else {
            return Err(Failure::Partner(PartnerError::NotConfigured));
        };
        let ids: Vec<String> = facilities.iter().map(ToString::to_string).collect();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let answer = reach
                .calls
                .list(
                    province,
                    CERTIFICATES_WITH_HISTORY,
                    json!({ "filter": { "facilityIds": ids }, "first": MAX_PAGE, "after": after }),
                )
                .await
                .map_err(Failure::Partner)?;
            let page = answer.value.page;
            found.extend(page.items.into_iter().map(|(_, item)| item));
            if !page.has_next || page.end_cursor.is_none() {
                break;
            }
            after = page.end_cursor;
        }
        Ok(found)
    }
}
