//! A lot's trace across provinces, walked hop by hop: each level asks every
//! province it must — ours from the store, each partner once — for the
//! events that name the lots it follows, each answered by its owner. What
//! the events say (a source, a destination, a transformation's inputs or
//! outputs) decides the next level. A hop that cannot be followed is told
//! with its reason, and the rest of the trace stands.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures_util::future::join_all;
use serde_json::json;

use super::{Access, Kind, Sourced};
use crate::domain::{
    Direction, Epc, LotCode, LotRecord, ProvinceCode, TraceEventRecord, next_steps,
};
use crate::error::AppError;
use crate::federation::PartnerError;
use crate::store::{Audience, LotFilter, MAX_PAGE, PageRequest, TraceEventFilter};

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

impl Access {
    /// The trace of the lot `code` in `direction`, within `limits`.
    pub async fn trace(
        &self,
        code: LotCode,
        direction: Direction,
        limits: TraceLimits,
    ) -> Result<Traced, AppError> {
        let start = Epc::Lot(code);
        let mut following: BTreeSet<Epc> = BTreeSet::from([start.clone()]);
        let mut asked: HashSet<(ProvinceCode, Epc)> = HashSet::new();
        let mut frontier: BTreeMap<ProvinceCode, BTreeSet<Epc>> = BTreeMap::new();
        for province in [code.province(), self.province()] {
            frontier.entry(province).or_default().insert(start.clone());
        }
        let mut traced = Traced {
            lots: Vec::new(),
            events: Vec::new(),
            unfollowed: Vec::new(),
            hops: 0,
            truncated: false,
        };
        let mut seen_events = HashSet::new();
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
            let asking: Vec<(ProvinceCode, Vec<Epc>)> = frontier
                .into_iter()
                .map(|(province, epcs)| (province, epcs.into_iter().collect()))
                .collect();
            for (province, epcs) in &asking {
                asked.extend(epcs.iter().map(|epc| (*province, epc.clone())));
            }
            let answers = join_all(
                asking
                    .iter()
                    .map(|(province, epcs)| self.events_naming(*province, epcs, limits)),
            )
            .await;
            let mut next: BTreeMap<ProvinceCode, BTreeSet<Epc>> = BTreeMap::new();
            for ((province, epcs), answer) in asking.into_iter().zip(answers) {
                let (events, cut) = match answer {
                    Ok(found) => found,
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
        traced.lots = self.lots_of(&following).await?;
        Ok(traced)
    }

    /// The events of `province` that name any of `epcs`, that stand; and
    /// whether more than the limit were cut off.
    async fn events_naming(
        &self,
        province: ProvinceCode,
        epcs: &[Epc],
        limits: TraceLimits,
    ) -> Result<(Vec<Sourced<TraceEventRecord>>, bool), Failure> {
        let filter = TraceEventFilter {
            epcs: epcs.to_vec(),
            audience: self.audience,
            ..Default::default()
        };
        let forwarded = json!({ "epcs": epcs.iter().map(Epc::uri).collect::<Vec<_>>() });
        self.all_of::<TraceEventRecord>(province, &filter, forwarded, limits.max_events)
            .await
    }

    /// The lots among `epcs`, each from its owner; a lot whose owner cannot
    /// answer is left out (its hops say why).
    async fn lots_of(&self, epcs: &BTreeSet<Epc>) -> Result<Vec<Sourced<LotRecord>>, AppError> {
        let mut by_owner: BTreeMap<ProvinceCode, Vec<LotCode>> = BTreeMap::new();
        for code in epcs.iter().filter_map(Epc::lot) {
            by_owner.entry(code.province()).or_default().push(code);
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
        lots.sort_by_key(|l| l.record.code);
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
        let mut found = Vec::new();
        if province == self.province() {
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
        let Some(reach) = &self.reach else {
            // A partner's request is answered from our records alone.
            return Err(Failure::Partner(PartnerError::NotConfigured));
        };
        if matches!(self.audience, Audience::Partner(_)) {
            return Err(Failure::Partner(PartnerError::NotConfigured));
        }
        let mut after: Option<String> = None;
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
            found.extend(
                page.items
                    .into_iter()
                    .map(|(_, record)| Sourced::owner(record, answer.at)),
            );
            if !page.has_next || found.len() >= most || page.end_cursor.is_none() {
                let cut = page.has_next || found.len() > most;
                found.truncate(most);
                return Ok((found, cut));
            }
            after = page.end_cursor;
        }
    }
}

/// Why a province's part of a trace is missing.
enum Failure {
    Partner(PartnerError),
    Ours(AppError),
}
