//! One request's calls of its partners, typed. Each asks the owner a question
//! of our own schema (`records` holds the queries) and reads the answer into
//! our records, checked, with the time it came. A call spends one of the
//! request's calls of that partner, and gives the request's turn back while
//! the partner answers.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::records::{self, Reader, RemotePage};
use super::{Budget, PartnerError, Partners, Trace};
use crate::domain::{
    AlertRecord, CertificateRecord, FacilityRecord, FollowUpRecord, HarvestOfferRecord,
    InspectionRecord, InspectionRequestRecord, InterestRecord, LotRecord, ProductRecord, Record,
    StatusChangeRecord, TraceEventRecord,
};
use crate::domain::{BoothRegistrationRecord, Registered, TradeFairRecord};
use crate::domain::{
    CertificateNumber, GlobalId, InvalidReason, LotCode, ProvinceCode, RecordKind,
};
use crate::store::MAX_PAGE;

/// What a partner answered, and when.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    pub value: T,
    pub at: DateTime<Utc>,
}

/// Whether a partner's certificate was valid on a day, as its owner says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub on: NaiveDate,
    pub valid: bool,
    pub reason: Option<InvalidReason>,
    pub certificate: Option<CertificateRecord>,
}

/// A partner certificate's status changes, oldest first, and its successor.
#[derive(Debug, Clone)]
pub struct History {
    pub changes: Vec<StatusChangeRecord>,
    pub replaced_by: Option<GlobalId>,
}

/// A list a partner answers: the query, which takes `$filter`, `$first` and
/// `$after` (or `$facility` for a facility's own list), the field that
/// answers it, and how one of its records reads.
#[derive(Clone, Copy)]
pub struct List<R> {
    pub query: fn() -> String,
    pub field: &'static str,
    pub read: fn(&Reader, &Value) -> Result<R, PartnerError>,
}

/// A partner's page, and the facilities it brought along with its records.
pub struct Listed<R> {
    pub page: RemotePage<R>,
    pub facilities: Vec<Record>,
}

/// A partner's answer at one level of a trace: a page of its events, and
/// the lots it was asked for, when it was.
pub struct TraceLevel {
    pub events: RemotePage<TraceEventRecord>,
    pub lots: Option<RemotePage<LotRecord>>,
}

/// The request's way to its partners.
pub struct Calls {
    pub partners: Partners,
    pub budget: Budget,
    pub trace: Trace,
    /// The request's turn, given back while a partner answers.
    pub turn: crate::turn::Turn,
}

impl Calls {
    /// Asks `province` `query`; its `data` and when it came.
    async fn ask(
        &self,
        province: ProvinceCode,
        query: &str,
        variables: Value,
    ) -> Result<Answered<Value>, PartnerError> {
        let partner = self.partners.get(province)?;
        self.budget.spend(province)?;
        let value = self
            .turn
            .away(partner.query(query, variables, &self.trace))
            .await?;
        Ok(Answered {
            value,
            at: Utc::now(),
        })
    }

    /// The records of `ids` (all of `province`) the partner shares with us.
    pub async fn nodes(
        &self,
        province: ProvinceCode,
        ids: &[GlobalId],
    ) -> Result<Answered<Vec<Record>>, PartnerError> {
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let answer = self
            .ask(
                province,
                &records::nodes_query(ids),
                json!({ "ids": names }),
            )
            .await?;
        let found = Reader { owner: province }
            .nodes(ids, &answer.value)?
            .into_iter()
            .flatten()
            .map(|(record, _)| record)
            .collect();
        Ok(Answered {
            value: found,
            at: answer.at,
        })
    }

    /// The certificate `number`, if its owner shares it with us.
    pub async fn certificate(
        &self,
        number: CertificateNumber,
    ) -> Result<Answered<Option<CertificateRecord>>, PartnerError> {
        let province = number.province;
        let answer = self
            .ask(
                province,
                &records::certificate_query(),
                json!({ "number": number.to_string() }),
            )
            .await?;
        let value = match &answer.value["certificate"] {
            Value::Null => None,
            found => Some(Reader { owner: province }.certificate(found)?),
        };
        Ok(Answered {
            value,
            at: answer.at,
        })
    }

    /// Whether the certificate `number` was valid on `on`, as its owner says.
    pub async fn verify(
        &self,
        number: CertificateNumber,
        on: NaiveDate,
    ) -> Result<Answered<Verified>, PartnerError> {
        let province = number.province;
        let answer = self
            .ask(
                province,
                &records::verify_query(),
                json!({ "number": number.to_string(), "on": on.format("%Y-%m-%d").to_string() }),
            )
            .await?;
        let verified = &answer.value["verifyCertificate"];
        let reader = Reader { owner: province };
        let certificate = match &verified["certificate"] {
            Value::Null => None,
            found => Some(reader.certificate(found)?),
        };
        let reason = match &verified["reason"] {
            Value::Null => None,
            reason => Some(records::coded(reason, InvalidReason::from_code)?),
        };
        let valid = verified["valid"]
            .as_bool()
            .ok_or_else(|| PartnerError::BadResponse("verifyCertificate.valid".to_owned()))?;
        Ok(Answered {
            value: Verified {
                on: records::date(&verified["on"])?,
                valid,
                reason,
                certificate,
            },
            at: answer.at,
        })
    }

    /// The status history and successor of the certificate `number`; `None`
    /// when its owner does not share it with us.
    pub async fn history(
        &self,
        number: CertificateNumber,
    ) -> Result<Answered<Option<History>>, PartnerError> {
        let province = number.province;
        let answer = self
            .ask(
                province,
                records::HISTORY,
                json!({ "number": number.to_string() }),
            )
            .await?;
        let certificate = &answer.value["certificate"];
        if certificate.is_null() {
            return Ok(Answered {
                value: None,
                at: answer.at,
            });
        }
        let changes = certificate["history"]
            .as_array()
            .ok_or_else(|| PartnerError::BadResponse("no history".to_owned()))?
            .iter()
            .map(records::status_change)
            .collect::<Result<_, _>>()?;
        let replaced_by = match certificate["replacedBy"]["id"].as_str() {
            None => None,
            Some(id) => Some(
                GlobalId::parse_kind(id, RecordKind::Certificate)
                    .ok()
                    .filter(|id| id.province == province)
                    .ok_or_else(|| {
                        PartnerError::BadResponse(format!("province {province} sent {id}"))
                    })?,
            ),
        };
        Ok(Answered {
            value: Some(History {
                changes,
                replaced_by,
            }),
            at: answer.at,
        })
    }

    /// When `province`'s operators acknowledged its notice of our alert
    /// `alert`: `None` while they have not (or it has no such notice).
    pub async fn acknowledgement(
        &self,
        province: ProvinceCode,
        alert: GlobalId,
    ) -> Result<Answered<Option<DateTime<Utc>>>, PartnerError> {
        let answer = self
            .ask(
                province,
                records::ACKNOWLEDGEMENT,
                json!({ "alert": alert.to_string() }),
            )
            .await?;
        let value = match &answer.value["alertNotice"]["acknowledgedAt"] {
            Value::Null => None,
            at => Some(records::time(at)?),
        };
        Ok(Answered {
            value,
            at: answer.at,
        })
    }

    /// A page of the events of `province` that `filter` passes, from
    /// `after`; and, when `lots` names any, the partner's lots among them.
    pub async fn trace_level(
        &self,
        province: ProvinceCode,
        filter: Value,
        lots: &[LotCode],
        after: Option<String>,
    ) -> Result<Answered<TraceLevel>, PartnerError> {
        let codes: Vec<String> = lots.iter().map(ToString::to_string).collect();
        let answer = self
            .ask(
                province,
                &records::trace_level_query(),
                json!({ "filter": filter, "first": MAX_PAGE, "after": after,
                        "lots": codes, "withLots": !codes.is_empty() }),
            )
            .await?;
        let reader = Reader { owner: province };
        let lots = match lots {
            [] => None,
            _ => Some(reader.page(&answer.value["lots"], Reader::lot)?),
        };
        Ok(Answered {
            value: TraceLevel {
                events: reader.page(&answer.value["traceEvents"], Reader::trace_event)?,
                lots,
            },
            at: answer.at,
        })
    }

    /// Sends `province` a buyer's interest in its offer (`input`, a
    /// `ReceiveInterestInput`), and reads the interest it keeps.
    pub async fn send_interest(
        &self,
        province: ProvinceCode,
        input: Value,
    ) -> Result<Answered<InterestRecord>, PartnerError> {
        let answer = self
            .ask(
                province,
                &records::receive_interest_query(),
                json!({ "input": input }),
            )
            .await?;
        Ok(Answered {
            value: Reader { owner: province }.interest(&answer.value["receiveInterest"])?,
            at: answer.at,
        })
    }

    /// Registers booths at `province`'s fair (`input`, a
    /// `ReceiveBoothRegistrationInput`): the registration it keeps, if it
    /// keeps one, and the products it refused.
    pub async fn register_booths(
        &self,
        province: ProvinceCode,
        input: Value,
    ) -> Result<Answered<Registered>, PartnerError> {
        let answer = self
            .ask(
                province,
                &records::receive_booth_registration_query(),
                json!({ "input": input }),
            )
            .await?;
        Ok(Answered {
            value: Reader { owner: province }
                .registered(&answer.value["receiveBoothRegistration"])?,
            at: answer.at,
        })
    }

    /// A page of `list` on `province`, with `variables` (`filter` or
    /// `facility`, `first`, `after`).
    pub async fn list<R>(
        &self,
        province: ProvinceCode,
        list: List<R>,
        variables: Value,
    ) -> Result<Answered<Listed<R>>, PartnerError> {
        let answer = self.ask(province, &(list.query)(), variables).await?;
        let reader = Reader { owner: province };
        let page = &answer.value[list.field];
        Ok(Answered {
            value: Listed {
                facilities: reader.facilities_in(page),
                page: reader.page(page, list.read)?,
            },
            at: answer.at,
        })
    }
}

/// The root lists partners answer, one per kind of record.
pub const FACILITIES: List<FacilityRecord> = List {
    query: records::facilities_query,
    field: "facilities",
    read: Reader::facility,
};
pub const CERTIFICATES: List<CertificateRecord> = List {
    query: records::certificates_query,
    field: "certificates",
    read: Reader::certificate,
};
pub const PRODUCTS: List<ProductRecord> = List {
    query: records::products_query,
    field: "products",
    read: Reader::product,
};
pub const INSPECTIONS: List<InspectionRecord> = List {
    query: records::inspections_query,
    field: "inspections",
    read: Reader::inspection,
};

pub const ALERTS: List<AlertRecord> = List {
    query: records::alerts_query,
    field: "alerts",
    read: Reader::alert,
};
pub const FOLLOW_UPS: List<FollowUpRecord> = List {
    query: records::follow_ups_query,
    field: "followUps",
    read: Reader::follow_up,
};
pub const INSPECTION_REQUESTS: List<InspectionRequestRecord> = List {
    query: records::inspection_requests_query,
    field: "inspectionRequests",
    read: Reader::inspection_request,
};

/// Certificates with their status histories (for validity on past days).
pub const CERTIFICATES_WITH_HISTORY: List<(CertificateRecord, Vec<StatusChangeRecord>)> = List {
    query: records::certificates_with_history_query,
    field: "certificates",
    read: Reader::certificate_with_history,
};

pub const LOTS: List<LotRecord> = List {
    query: records::lots_query,
    field: "lots",
    read: Reader::lot,
};
pub const TRACE_EVENTS: List<TraceEventRecord> = List {
    query: records::trace_events_query,
    field: "traceEvents",
    read: Reader::trace_event,
};

pub const HARVEST_OFFERS: List<HarvestOfferRecord> = List {
    query: records::harvest_offers_query,
    field: "harvestOffers",
    read: Reader::harvest_offer,
};
pub const INTERESTS: List<InterestRecord> = List {
    query: records::interests_query,
    field: "interests",
    read: Reader::interest,
};

pub const TRADE_FAIRS: List<TradeFairRecord> = List {
    query: records::trade_fairs_query,
    field: "tradeFairs",
    read: Reader::trade_fair,
};
pub const BOOTH_REGISTRATIONS: List<BoothRegistrationRecord> = List {
    query: records::booth_registrations_query,
    field: "boothRegistrations",
    read: Reader::booth_registration,
};

/// A partner facility's own lists, which take `$facility`.
pub const FACILITY_CERTIFICATES: List<CertificateRecord> = List {
    query: records::facility_certificates_query,
    field: "certificates",
    read: Reader::certificate,
};
pub const FACILITY_PRODUCTS: List<ProductRecord> = List {
    query: records::facility_products_query,
    field: "products",
    read: Reader::product,
};
