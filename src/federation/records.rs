//! The shapes we ask partners for, and how their answers become our records.
//!
//! Both sides run the same schema, so each fragment names fields of our own
//! `schema.graphql`; a test runs every query here against our schema. An answer is
//! checked as it is read: every ID must belong to the partner that was asked, so a
//! partner cannot speak for a third province.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::PartnerError;
use crate::domain::{
    AlertData, AlertRecord, CertificateData, CertificateRecord, FacilityData, FacilityRecord,
    FollowUpData, FollowUpRecord, Hazard, InspectionData, InspectionRecord, Measure, ProductData,
    ProductRecord, Record, StatusChangeRecord,
};
use crate::domain::{
    AlertStatus, Classification, HazardCategory, MeasureKind, NotificationBasis, RiskDecision,
};
use crate::domain::{
    Answer, Answering, InspectionRequestData, InspectionRequestRecord, RequestState,
};
use crate::domain::{
    BizStep, Disposition, Epc, ErrorDeclaration, ErrorReason, EventAction, Item, ItemRole, LotCode,
    LotData, LotRecord, QuantityUnit, TraceEventData, TraceEventRecord, TraceEventType,
};
use crate::domain::{
    BoothRegistrationData, BoothRegistrationRecord, Exhibitor, Ineligible, Refused, Registered,
    TradeFairData, TradeFairRecord,
};
use crate::domain::{
    BusinessRegistrationNumber, CertificateKind, CertificateNumber, ChainStage, FacilityKind,
    GlobalId, Grade, InspectionResult, OcopRating, ProductCategory, ProvinceCode, RecordKind,
    Standard, Stars, StatusChange, StoredStatus,
};
use crate::domain::{
    Contact, HarvestOfferData, HarvestOfferRecord, InterestData, InterestRecord, InterestState,
    OfferShown, OfferStatus, PhoneNumber,
};

pub const FACILITY: &str = "fragment FacilityFields on Facility { id version name kind \
    businessRegistrationNumber address { commune district detail } suppliesTo { code } \
    createdAt updatedAt }";
pub const CERTIFICATE: &str = "fragment CertificateFields on Certificate { id version number \
    kind standard facilityId scope issuingAuthority issuedOn expiresOn status statusReason \
    grade replaces { id } createdAt updatedAt }";
pub const PRODUCT: &str = "fragment ProductFields on Product { id version name category \
    facilityId description ocop { stars ratedOn } specialty keyProduct createdAt updatedAt }";
pub const INSPECTION: &str = "fragment InspectionFields on Inspection { id version facilityId \
    stage inspectedOn result findings createdAt }";
pub const ALERT: &str = "fragment AlertFields on Alert { id version classification risk basis \
    subject description hazards { category agent result unit legalLimit } \
    measures { kind detail } productIds facilityIds lots provincesConcerned { code } \
    status statusReason notifiedAt createdAt updatedAt }";
pub const FOLLOW_UP: &str = "fragment FollowUpFields on FollowUp { id version alertId findings \
    measures { kind detail } results answersRequestId inspectionId createdAt }";
pub const INSPECTION_REQUEST: &str = "fragment InspectionRequestFields on InspectionRequest { \
    id version alertId facilityId stage assignee { code } dueOn state answerFollowUpId \
    answerInspectionId createdAt updatedAt }";

pub const LOT: &str = "fragment LotFields on Lot { id version code productId facilityId \
    quantity unit producedOn batch createdAt }";
pub const TRACE_EVENT: &str = "fragment TraceEventFields on TraceEvent { id version eventId \
    eventType action bizStep disposition eventTime eventTimeZoneOffset facilityId sourceId \
    destinationId items { role epc quantity unit } \
    errorDeclaration { declarationTime reason correctiveEventIds } recordedAt }";

pub const HARVEST_OFFER: &str = "fragment HarvestOfferFields on HarvestOffer { id version \
    facilityId facilityName productId productName category ocop { stars ratedOn } certified \
    quantity unit harvestFrom harvestUntil minPriceVnd maxPriceVnd collectionPoint urgent \
    contactShared contact { name phone } note status createdAt updatedAt }";
pub const INTEREST: &str = "fragment InterestFields on Interest { id version offerId \
    buyerFacilityId reference quantity message contact { name phone } state answer \
    createdAt updatedAt }";

pub const TRADE_FAIR: &str = "fragment TradeFairFields on TradeFair { id version name place \
    startsOn endsOn booths boothsTaken minStars registrationDeadline createdAt updatedAt }";
pub const BOOTH_REGISTRATION: &str = "fragment BoothRegistrationFields on BoothRegistration { \
    id version fairId exhibiting { code } booths reference exhibitors { facilityId productIds } \
    createdAt }";

/// The fragment that reads a kind of record, and its name.
fn fragment(kind: RecordKind) -> (&'static str, &'static str) {
    match kind {
        RecordKind::Facility => ("FacilityFields", FACILITY),
        RecordKind::Certificate => ("CertificateFields", CERTIFICATE),
        RecordKind::Product => ("ProductFields", PRODUCT),
        RecordKind::Inspection => ("InspectionFields", INSPECTION),
        RecordKind::Alert => ("AlertFields", ALERT),
        RecordKind::FollowUp => ("FollowUpFields", FOLLOW_UP),
        RecordKind::InspectionRequest => ("InspectionRequestFields", INSPECTION_REQUEST),
        RecordKind::Lot => ("LotFields", LOT),
        RecordKind::TraceEvent => ("TraceEventFields", TRACE_EVENT),
        RecordKind::HarvestOffer => ("HarvestOfferFields", HARVEST_OFFER),
        RecordKind::Interest => ("InterestFields", INTEREST),
        RecordKind::TradeFair => ("TradeFairFields", TRADE_FAIR),
        RecordKind::BoothRegistration => ("BoothRegistrationFields", BOOTH_REGISTRATION),
    }
}

/// Records of `ids` by ID, in the order asked, with the fragments of their
/// kinds only: the partner parses and validates no more than it answers.
pub fn nodes_query(ids: &[GlobalId]) -> String {
    let kinds: Vec<RecordKind> = RecordKind::ALL
        .into_iter()
        .filter(|kind| ids.iter().any(|id| id.kind == *kind))
        .collect();
    nodes_query_of(&kinds)
}

/// Records by ID, of `kinds`.
fn nodes_query_of(kinds: &[RecordKind]) -> String {
    let (mut spreads, mut fragments) = (String::new(), String::new());
    for kind in kinds {
        let (name, text) = fragment(*kind);
        spreads.push_str(&format!(" ...{name}"));
        fragments.push_str(&format!(" {text}"));
    }
    format!("query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ __typename{spreads} }} }}{fragments}")
}

/// A certificate by number.
pub fn certificate_query() -> String {
    format!(
        "query Certificate($number: String!) {{ certificate(number: $number) {{ ...CertificateFields }} }} {CERTIFICATE}"
    )
}

/// Whether a certificate was valid on a date.
pub fn verify_query() -> String {
    format!(
        "query Verify($number: String!, $on: Date) {{ verifyCertificate(number: $number, on: $on) {{ \
         number on valid reason certificate {{ ...CertificateFields }} }} }} {CERTIFICATE}"
    )
}

/// A certificate's status history.
pub const HISTORY: &str = "query History($number: String!) { certificate(number: $number) { \
    history { status effectiveOn reason recordedAt } replacedBy { id } } }";

/// A buyer of ours is interested in the partner's offer: the partner keeps
/// the interest, once for each `reference`.
pub fn receive_interest_query() -> String {
    format!(
        "mutation Interest($input: ReceiveInterestInput!) {{ \
         receiveInterest(input: $input) {{ ...InterestFields }} }} {INTEREST}"
    )
}

/// When a partner acknowledged its notice of our alert.
pub const ACKNOWLEDGEMENT: &str =
    "query Acknowledgement($alert: ID!) { alertNotice(alertId: $alert) { acknowledgedAt } }";

/// Every query sent to partners, for the test that checks them against our schema.
pub fn all_queries() -> Vec<String> {
    vec![
        nodes_query_of(&RecordKind::ALL),
        certificate_query(),
        verify_query(),
        HISTORY.to_owned(),
        ACKNOWLEDGEMENT.to_owned(),
        facility_certificates_query(),
        facility_products_query(),
        facilities_query(),
        certificates_query(),
        products_query(),
        inspections_query(),
        alerts_query(),
        follow_ups_query(),
        inspection_requests_query(),
        lots_query(),
        trace_events_query(),
        trace_level_query(),
        harvest_offers_query(),
        interests_query(),
        trade_fairs_query(),
        booth_registrations_query(),
        certificates_with_history_query(),
        FEED.to_owned(),
        EPOCH.to_owned(),
    ]
}

/// Reads a partner's answer, checking it as it goes.
pub struct Reader {
    pub owner: ProvinceCode,
}

fn bad(what: impl Into<String>) -> PartnerError {
    PartnerError::BadResponse(what.into())
}

impl Reader {
    pub fn node(&self, value: &Value) -> Result<Option<Record>, PartnerError> {
        if value.is_null() {
            return Ok(None);
        }
        Ok(Some(match value["__typename"].as_str() {
            Some("Facility") => Record::Facility(self.facility(value)?),
            Some("Certificate") => Record::Certificate(self.certificate(value)?),
            Some("Product") => Record::Product(self.product(value)?),
            Some("Inspection") => Record::Inspection(self.inspection(value)?),
            Some("Alert") => Record::Alert(self.alert(value)?),
            Some("FollowUp") => Record::FollowUp(self.follow_up(value)?),
            Some("InspectionRequest") => Record::InspectionRequest(self.inspection_request(value)?),
            Some("Lot") => Record::Lot(self.lot(value)?),
            Some("TraceEvent") => Record::TraceEvent(self.trace_event(value)?),
            Some("HarvestOffer") => Record::HarvestOffer(self.harvest_offer(value)?),
            Some("Interest") => Record::Interest(self.interest(value)?),
            Some("TradeFair") => Record::TradeFair(self.trade_fair(value)?),
            Some("BoothRegistration") => Record::BoothRegistration(self.booth_registration(value)?),
            other => return Err(bad(format!("unknown type {other:?}"))),
        }))
    }

    /// Reads the answer to [`nodes_query`] for `ids`: one entry per ID, in order,
    /// each the record with exactly that ID (with the JSON it was read from), or
    /// `None` where the partner has none it shares with us.
    pub fn nodes<'v>(
        &self,
        ids: &[GlobalId],
        data: &'v Value,
    ) -> Result<Vec<Option<(Record, &'v Value)>>, PartnerError> {
        let nodes = data["nodes"].as_array().ok_or_else(|| bad("no nodes"))?;
        if nodes.len() != ids.len() {
            return Err(bad(format!(
                "asked {} records, got {}",
                ids.len(),
                nodes.len()
            )));
        }
        ids.iter()
            .zip(nodes)
            .map(|(id, node)| match self.node(node)? {
                None => Ok(None),
                Some(record) if record.id() == *id => Ok(Some((record, node))),
                Some(record) => Err(bad(format!("asked {id}, got {}", record.id()))),
            })
            .collect()
    }

    fn id(&self, value: &Value, kind: RecordKind) -> Result<GlobalId, PartnerError> {
        let id = GlobalId::parse_kind(str(value)?, kind).map_err(|e| bad(e.0))?;
        if id.province != self.owner {
            return Err(bad(format!("province {} sent {id}", self.owner)));
        }
        Ok(id)
    }

    /// An ID of a record of the partner's (the record itself, or one it points to
    /// that the partner owns).
    fn owned_id(&self, value: &Value, kind: RecordKind) -> Result<GlobalId, PartnerError> {
        self.id(value, kind)
    }

    pub fn facility(&self, v: &Value) -> Result<FacilityRecord, PartnerError> {
        let supplies_to = v["suppliesTo"]
            .as_array()
            .ok_or_else(|| bad("suppliesTo"))?
            .iter()
            .map(|p| ProvinceCode::parse(str(&p["code"])?).map_err(|e| bad(e.0)))
            .collect::<Result<_, _>>()?;
        Ok(FacilityRecord {
            id: self.id(&v["id"], RecordKind::Facility)?,
            version: int(&v["version"])?,
            data: FacilityData {
                name: string(&v["name"])?,
                kind: coded(&v["kind"], FacilityKind::from_code)?,
                business_registration_number: optional(&v["businessRegistrationNumber"])?
                    .map(|n| BusinessRegistrationNumber::parse(&n).map_err(|e| bad(e.0)))
                    .transpose()?,
                commune: string(&v["address"]["commune"])?,
                district: optional(&v["address"]["district"])?,
                address_detail: optional(&v["address"]["detail"])?,
                contact_name: None,
                contact_phone: None,
                contact_id_number: None,
                supplies_to,
            },
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn certificate(&self, v: &Value) -> Result<CertificateRecord, PartnerError> {
        let id = self.id(&v["id"], RecordKind::Certificate)?;
        let number = CertificateNumber::parse(str(&v["number"])?).map_err(|e| bad(e.0))?;
        if number.province != self.owner {
            return Err(bad(format!(
                "province {} sent certificate {number}",
                self.owner
            )));
        }
        let status = match str(&v["status"])? {
            // Expiry is derived from the date, here as there.
            "EXPIRED" => StoredStatus::Active,
            other => coded(&Value::from(other), StoredStatus::from_code)?,
        };
        Ok(CertificateRecord {
            id,
            version: int(&v["version"])?,
            number,
            data: CertificateData {
                kind: coded(&v["kind"], CertificateKind::from_code)?,
                standard: optional_coded(&v["standard"], Standard::from_code)?,
                facility: self.owned_id(&v["facilityId"], RecordKind::Facility)?,
                scope: v["scope"]
                    .as_array()
                    .ok_or_else(|| bad("scope"))?
                    .iter()
                    .map(string)
                    .collect::<Result<_, _>>()?,
                issuing_authority: string(&v["issuingAuthority"])?,
                issued_on: date(&v["issuedOn"])?,
                expires_on: optional_date(&v["expiresOn"])?,
                grade: optional_coded(&v["grade"], Grade::from_code)?,
            },
            status,
            status_reason: optional(&v["statusReason"])?,
            replaces: match &v["replaces"] {
                Value::Null => None,
                replaces => Some(self.owned_id(&replaces["id"], RecordKind::Certificate)?),
            },
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn product(&self, v: &Value) -> Result<ProductRecord, PartnerError> {
        let ocop = ocop(&v["ocop"])?;
        Ok(ProductRecord {
            id: self.id(&v["id"], RecordKind::Product)?,
            version: int(&v["version"])?,
            data: ProductData {
                name: string(&v["name"])?,
                category: coded(&v["category"], ProductCategory::from_code)?,
                facility: self.owned_id(&v["facilityId"], RecordKind::Facility)?,
                description: optional(&v["description"])?,
                ocop,
                specialty: boolean(&v["specialty"])?,
                key_product: boolean(&v["keyProduct"])?,
            },
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn inspection(&self, v: &Value) -> Result<InspectionRecord, PartnerError> {
        // An inspection may be of another province's facility.
        let facility = GlobalId::parse_kind(str(&v["facilityId"])?, RecordKind::Facility)
            .map_err(|e| bad(e.0))?;
        let created_at = time(&v["createdAt"])?;
        Ok(InspectionRecord {
            id: self.id(&v["id"], RecordKind::Inspection)?,
            version: int(&v["version"])?,
            data: InspectionData {
                facility,
                stage: coded(&v["stage"], ChainStage::from_code)?,
                inspected_on: date(&v["inspectedOn"])?,
                result: coded(&v["result"], InspectionResult::from_code)?,
                findings: optional(&v["findings"])?,
                internal_notes: None,
            },
            created_at,
            updated_at: created_at,
        })
    }
}

impl Reader {
    pub fn alert(&self, v: &Value) -> Result<AlertRecord, PartnerError> {
        // What an alert concerns may be of any province.
        let ids = |v: &Value, kind| {
            list(v)?
                .iter()
                .map(|id| GlobalId::parse_kind(str(id)?, kind).map_err(|e| bad(e.0)))
                .collect::<Result<Vec<_>, _>>()
        };
        let hazards = list(&v["hazards"])?
            .iter()
            .map(|h| {
                Ok(Hazard {
                    category: coded(&h["category"], HazardCategory::from_code)?,
                    agent: string(&h["agent"])?,
                    result: number(&h["result"])?,
                    unit: optional(&h["unit"])?,
                    legal_limit: number(&h["legalLimit"])?,
                })
            })
            .collect::<Result<_, PartnerError>>()?;
        Ok(AlertRecord {
            id: self.id(&v["id"], RecordKind::Alert)?,
            version: int(&v["version"])?,
            data: AlertData {
                classification: coded(&v["classification"], Classification::from_code)?,
                risk: coded(&v["risk"], RiskDecision::from_code)?,
                basis: coded(&v["basis"], NotificationBasis::from_code)?,
                subject: string(&v["subject"])?,
                description: string(&v["description"])?,
                hazards,
                measures: measures(&v["measures"])?,
                products: ids(&v["productIds"], RecordKind::Product)?,
                facilities: ids(&v["facilityIds"], RecordKind::Facility)?,
                lots: list(&v["lots"])?
                    .iter()
                    .map(string)
                    .collect::<Result<_, _>>()?,
                provinces: list(&v["provincesConcerned"])?
                    .iter()
                    .map(|p| ProvinceCode::parse(str(&p["code"])?).map_err(|e| bad(e.0)))
                    .collect::<Result<_, _>>()?,
            },
            status: coded(&v["status"], AlertStatus::from_code)?,
            status_reason: optional(&v["statusReason"])?,
            notified_at: match &v["notifiedAt"] {
                Value::Null => None,
                at => Some(time(at)?),
            },
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn follow_up(&self, v: &Value) -> Result<FollowUpRecord, PartnerError> {
        // A follow-up may be on another province's alert.
        let alert =
            GlobalId::parse_kind(str(&v["alertId"])?, RecordKind::Alert).map_err(|e| bad(e.0))?;
        Ok(FollowUpRecord {
            id: self.id(&v["id"], RecordKind::FollowUp)?,
            version: int(&v["version"])?,
            data: FollowUpData {
                alert,
                findings: string(&v["findings"])?,
                measures: measures(&v["measures"])?,
                results: optional(&v["results"])?,
                // A request is the alert's owner's; the inspection, ours.
                answers: match (&v["answersRequestId"], &v["inspectionId"]) {
                    (Value::Null, Value::Null) => None,
                    (request, inspection) => Some(Answering {
                        request: GlobalId::parse_kind(str(request)?, RecordKind::InspectionRequest)
                            .ok()
                            .filter(|r| r.province == alert.province)
                            .ok_or_else(|| bad(format!("answersRequestId {request}")))?,
                        inspection: self.owned_id(inspection, RecordKind::Inspection)?,
                    }),
                },
            },
            created_at: time(&v["createdAt"])?,
        })
    }

    pub fn inspection_request(&self, v: &Value) -> Result<InspectionRequestRecord, PartnerError> {
        // The facility may be of any province; the alert and the request are
        // the asker's, the answer the assignee's.
        let facility = GlobalId::parse_kind(str(&v["facilityId"])?, RecordKind::Facility)
            .map_err(|e| bad(e.0))?;
        let assignee = ProvinceCode::parse(str(&v["assignee"]["code"])?).map_err(|e| bad(e.0))?;
        let of_assignee = |value: &Value, kind| match value {
            Value::Null => Ok(None),
            value => GlobalId::parse_kind(str(value)?, kind)
                .ok()
                .filter(|id| id.province == assignee)
                .map(Some)
                .ok_or_else(|| bad(format!("{} {value}", kind.name()))),
        };
        let answer = match (
            of_assignee(&v["answerFollowUpId"], RecordKind::FollowUp)?,
            of_assignee(&v["answerInspectionId"], RecordKind::Inspection)?,
        ) {
            (Some(follow_up), Some(inspection)) => Some(Answer {
                follow_up,
                inspection,
            }),
            _ => None,
        };
        Ok(InspectionRequestRecord {
            id: self.id(&v["id"], RecordKind::InspectionRequest)?,
            version: int(&v["version"])?,
            data: InspectionRequestData {
                alert: self.owned_id(&v["alertId"], RecordKind::Alert)?,
                facility,
                stage: coded(&v["stage"], ChainStage::from_code)?,
                assignee,
                due_on: date(&v["dueOn"])?,
            },
            state: coded(&v["state"], RequestState::from_code)?,
            answer,
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }
}

impl Reader {
    /// A certificate with its status history, oldest first.
    pub fn certificate_with_history(
        &self,
        v: &Value,
    ) -> Result<(CertificateRecord, Vec<StatusChangeRecord>), PartnerError> {
        let history = list(&v["history"])?
            .iter()
            .map(status_change)
            .collect::<Result<_, _>>()?;
        Ok((self.certificate(v)?, history))
    }

    pub fn harvest_offer(&self, v: &Value) -> Result<HarvestOfferRecord, PartnerError> {
        Ok(HarvestOfferRecord {
            id: self.id(&v["id"], RecordKind::HarvestOffer)?,
            version: int(&v["version"])?,
            data: HarvestOfferData {
                facility: self.owned_id(&v["facilityId"], RecordKind::Facility)?,
                product: self.owned_id(&v["productId"], RecordKind::Product)?,
                quantity: number(&v["quantity"])?
                    .ok_or_else(|| bad("an offer without quantity"))?,
                unit: coded(&v["unit"], QuantityUnit::from_code)?,
                harvest_from: date(&v["harvestFrom"])?,
                harvest_until: date(&v["harvestUntil"])?,
                min_price_vnd: whole(&v["minPriceVnd"])?,
                max_price_vnd: whole(&v["maxPriceVnd"])?,
                collection_point: string(&v["collectionPoint"])?,
                urgent: boolean(&v["urgent"])?,
                contact: contact(&v["contact"])?,
                contact_shared: boolean(&v["contactShared"])?,
                note: optional(&v["note"])?,
            },
            status: coded(&v["status"], OfferStatus::from_code)?,
            shown: OfferShown {
                product_name: string(&v["productName"])?,
                category: coded(&v["category"], ProductCategory::from_code)?,
                ocop: ocop(&v["ocop"])?,
                facility_name: string(&v["facilityName"])?,
                certified: boolean(&v["certified"])?,
            },
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn interest(&self, v: &Value) -> Result<InterestRecord, PartnerError> {
        // The buyer is of any province; the offer, the partner's.
        let buyer = GlobalId::parse_kind(str(&v["buyerFacilityId"])?, RecordKind::Facility)
            .map_err(|e| bad(e.0))?;
        Ok(InterestRecord {
            id: self.id(&v["id"], RecordKind::Interest)?,
            version: int(&v["version"])?,
            data: InterestData {
                offer: self.owned_id(&v["offerId"], RecordKind::HarvestOffer)?,
                buyer,
                quantity: number(&v["quantity"])?,
                message: optional(&v["message"])?,
                contact: contact(&v["contact"])?,
            },
            reference: string(&v["reference"])?,
            state: coded(&v["state"], InterestState::from_code)?,
            answer: optional(&v["answer"])?,
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn trade_fair(&self, v: &Value) -> Result<TradeFairRecord, PartnerError> {
        Ok(TradeFairRecord {
            id: self.id(&v["id"], RecordKind::TradeFair)?,
            version: int(&v["version"])?,
            data: TradeFairData {
                name: string(&v["name"])?,
                place: string(&v["place"])?,
                starts_on: date(&v["startsOn"])?,
                ends_on: date(&v["endsOn"])?,
                booths: int(&v["booths"])?,
                min_stars: Stars::parse(int(&v["minStars"])?.into()).map_err(|e| bad(e.0))?,
                registration_deadline: date(&v["registrationDeadline"])?,
            },
            booths_taken: int(&v["boothsTaken"])?,
            created_at: time(&v["createdAt"])?,
            updated_at: time(&v["updatedAt"])?,
        })
    }

    pub fn booth_registration(&self, v: &Value) -> Result<BoothRegistrationRecord, PartnerError> {
        // The businesses and products are the exhibiting province's.
        let exhibiting =
            ProvinceCode::parse(str(&v["exhibiting"]["code"])?).map_err(|e| bad(e.0))?;
        let of = |value: &Value, kind| -> Result<GlobalId, PartnerError> {
            let id = GlobalId::parse_kind(str(value)?, kind).map_err(|e| bad(e.0))?;
            if id.province != exhibiting {
                return Err(bad(format!("{id} is not of province {exhibiting}")));
            }
            Ok(id)
        };
        let exhibitors = list(&v["exhibitors"])?
            .iter()
            .map(|e| {
                Ok(Exhibitor {
                    facility: of(&e["facilityId"], RecordKind::Facility)?,
                    products: list(&e["productIds"])?
                        .iter()
                        .map(|p| of(p, RecordKind::Product))
                        .collect::<Result<_, PartnerError>>()?,
                })
            })
            .collect::<Result<_, PartnerError>>()?;
        Ok(BoothRegistrationRecord {
            id: self.id(&v["id"], RecordKind::BoothRegistration)?,
            version: int(&v["version"])?,
            data: BoothRegistrationData {
                fair: self.owned_id(&v["fairId"], RecordKind::TradeFair)?,
                exhibiting,
                booths: int(&v["booths"])?,
                exhibitors,
            },
            reference: string(&v["reference"])?,
            created_at: time(&v["createdAt"])?,
        })
    }

    /// A host's answer to a registration of booths: the registration it
    /// keeps, if any, and each product it refused, with a code we know.
    pub fn registered(&self, v: &Value) -> Result<Registered, PartnerError> {
        let registration = match &v["registration"] {
            Value::Null => None,
            kept => Some(self.booth_registration(kept)?),
        };
        let id =
            |value: &Value, kind| GlobalId::parse_kind(str(value)?, kind).map_err(|e| bad(e.0));
        let refused = list(&v["refused"])?
            .iter()
            .map(|r| {
                Ok(Refused {
                    business: id(&r["facilityId"], RecordKind::Facility)?,
                    product: id(&r["productId"], RecordKind::Product)?,
                    code: coded(&r["code"], Ineligible::from_code)?,
                    reason: string(&r["reason"])?,
                })
            })
            .collect::<Result<_, PartnerError>>()?;
        Ok(Registered {
            registration,
            refused,
        })
    }

    pub fn lot(&self, v: &Value) -> Result<LotRecord, PartnerError> {
        let id = self.id(&v["id"], RecordKind::Lot)?;
        let code = LotCode::parse(str(&v["code"])?).map_err(|e| bad(e.0))?;
        if code.province() != self.owner {
            return Err(bad(format!("province {} sent the lot {code}", self.owner)));
        }
        Ok(LotRecord {
            id,
            version: int(&v["version"])?,
            code,
            data: LotData {
                product: self.owned_id(&v["productId"], RecordKind::Product)?,
                facility: self.owned_id(&v["facilityId"], RecordKind::Facility)?,
                quantity: number(&v["quantity"])?.ok_or_else(|| bad("a lot without quantity"))?,
                unit: coded(&v["unit"], QuantityUnit::from_code)?,
                produced_on: date(&v["producedOn"])?,
                batch: optional(&v["batch"])?,
            },
            created_at: time(&v["createdAt"])?,
        })
    }

    pub fn trace_event(&self, v: &Value) -> Result<TraceEventRecord, PartnerError> {
        let facility = |v: &Value| -> Result<Option<GlobalId>, PartnerError> {
            match v {
                Value::Null => Ok(None),
                other => GlobalId::parse_kind(str(other)?, RecordKind::Facility)
                    .map(Some)
                    .map_err(|e| bad(e.0)),
            }
        };
        let items = list(&v["items"])?
            .iter()
            .map(|item| {
                Ok(Item {
                    role: coded(&item["role"], ItemRole::from_code)?,
                    epc: Epc::parse(str(&item["epc"])?).map_err(|e| bad(e.0))?,
                    quantity: number(&item["quantity"])?,
                    unit: optional_coded(&item["unit"], QuantityUnit::from_code)?,
                })
            })
            .collect::<Result<_, PartnerError>>()?;
        let error = match &v["errorDeclaration"] {
            Value::Null => None,
            declared => Some(ErrorDeclaration {
                declared_at: time(&declared["declarationTime"])?,
                reason: coded(&declared["reason"], ErrorReason::from_code)?,
                corrective_event_ids: list(&declared["correctiveEventIds"])?
                    .iter()
                    .map(string)
                    .collect::<Result<_, _>>()?,
            }),
        };
        Ok(TraceEventRecord {
            id: self.id(&v["id"], RecordKind::TraceEvent)?,
            version: int(&v["version"])?,
            event_id: string(&v["eventId"])?,
            data: TraceEventData {
                event_type: coded(&v["eventType"], TraceEventType::from_code)?,
                action: optional_coded(&v["action"], EventAction::from_code)?,
                biz_step: coded(&v["bizStep"], BizStep::from_code)?,
                disposition: optional_coded(&v["disposition"], Disposition::from_code)?,
                event_time: time(&v["eventTime"])?,
                time_zone_offset: string(&v["eventTimeZoneOffset"])?,
                facility: self.owned_id(&v["facilityId"], RecordKind::Facility)?,
                source: facility(&v["sourceId"])?,
                destination: facility(&v["destinationId"])?,
                items,
            },
            error,
            recorded_at: time(&v["recordedAt"])?,
        })
    }
}

fn ocop(v: &Value) -> Result<Option<OcopRating>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        ocop => Ok(Some(OcopRating {
            stars: Stars::parse(int(&ocop["stars"])?.into()).map_err(|e| bad(e.0))?,
            rated_on: date(&ocop["ratedOn"])?,
        })),
    }
}

fn contact(v: &Value) -> Result<Option<Contact>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        contact => Ok(Some(Contact {
            name: string(&contact["name"])?,
            phone: PhoneNumber::parse(str(&contact["phone"])?).map_err(|e| bad(e.0))?,
        })),
    }
}

fn whole(v: &Value) -> Result<i64, PartnerError> {
    v.as_i64()
        .ok_or_else(|| bad(format!("expected a whole number, got {v}")))
}

fn list(v: &Value) -> Result<&Vec<Value>, PartnerError> {
    v.as_array()
        .ok_or_else(|| bad(format!("expected a list, got {v}")))
}

fn number(v: &Value) -> Result<Option<f64>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        other => other
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(format!("expected a number, got {v}"))),
    }
}

fn measures(v: &Value) -> Result<Vec<Measure>, PartnerError> {
    list(v)?
        .iter()
        .map(|m| {
            Ok(Measure {
                kind: coded(&m["kind"], MeasureKind::from_code)?,
                detail: optional(&m["detail"])?,
            })
        })
        .collect()
}

/// A partner's page of a list.
pub struct RemotePage<R> {
    /// Each record with the partner's cursor after it.
    pub items: Vec<(String, R)>,
    pub has_next: bool,
    pub end_cursor: Option<String>,
}

impl Reader {
    /// Reads a connection (`edges { cursor node }`, `pageInfo`) with `read`.
    /// The facilities a partner's page brought along with its records: each
    /// read and checked as any record of the partner's, the unreadable left out
    /// (they will be asked for if wanted).
    pub fn facilities_in(&self, list: &Value) -> Vec<Record> {
        list["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|edge| &edge["node"]["facility"])
            .filter(|facility| facility.is_object())
            .filter_map(|facility| self.facility(facility).ok())
            .map(Record::Facility)
            .collect()
    }

    pub fn page<R>(
        &self,
        list: &Value,
        read: fn(&Reader, &Value) -> Result<R, PartnerError>,
    ) -> Result<RemotePage<R>, PartnerError> {
        let edges = list["edges"].as_array().ok_or_else(|| bad("no edges"))?;
        let mut items = Vec::with_capacity(edges.len());
        for edge in edges {
            items.push((string(&edge["cursor"])?, read(self, &edge["node"])?));
        }
        let info = &list["pageInfo"];
        Ok(RemotePage {
            items,
            has_next: boolean(&info["hasNextPage"])?,
            end_cursor: optional(&info["endCursor"])?,
        })
    }
}

fn str(v: &Value) -> Result<&str, PartnerError> {
    v.as_str()
        .ok_or_else(|| bad(format!("expected a string, got {v}")))
}

fn string(v: &Value) -> Result<String, PartnerError> {
    str(v).map(str::to_owned)
}

fn optional(v: &Value) -> Result<Option<String>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        other => string(other).map(Some),
    }
}

fn int(v: &Value) -> Result<i32, PartnerError> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| bad(format!("expected an integer, got {v}")))
}

fn boolean(v: &Value) -> Result<bool, PartnerError> {
    v.as_bool()
        .ok_or_else(|| bad(format!("expected a boolean, got {v}")))
}

pub fn date(v: &Value) -> Result<NaiveDate, PartnerError> {
    NaiveDate::parse_from_str(str(v)?, "%Y-%m-%d").map_err(|_| bad(format!("not a date: {v}")))
}

fn optional_date(v: &Value) -> Result<Option<NaiveDate>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        other => date(other).map(Some),
    }
}

pub fn time(v: &Value) -> Result<DateTime<Utc>, PartnerError> {
    DateTime::parse_from_rfc3339(str(v)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(format!("not a time: {v}")))
}

/// An enumeration value as GraphQL writes it (`PRIMARY_PRODUCER`).
pub fn coded<T>(
    v: &Value,
    from_code: fn(&str) -> Result<T, crate::domain::Invalid>,
) -> Result<T, PartnerError> {
    from_code(&str(v)?.to_ascii_lowercase()).map_err(|e| bad(e.0))
}

fn optional_coded<T>(
    v: &Value,
    from_code: fn(&str) -> Result<T, crate::domain::Invalid>,
) -> Result<Option<T>, PartnerError> {
    match v {
        Value::Null => Ok(None),
        other => coded(other, from_code).map(Some),
    }
}

/// One step of a partner certificate's status history, as its owner wrote it.
pub fn status_change(change: &Value) -> Result<StatusChangeRecord, PartnerError> {
    Ok(StatusChangeRecord {
        change: StatusChange {
            status: coded(&change["status"], StoredStatus::from_code)?,
            effective_on: date(&change["effectiveOn"])?,
        },
        reason: change["reason"].as_str().map(str::to_owned),
        recorded_at: time(&change["recordedAt"])?,
    })
}

/// A page of a facility's certificates.
pub fn facility_certificates_query() -> String {
    format!(
        "query FacilityCertificates($facility: ID!, $first: Int, $after: String) {{ \
         certificates(filter: {{ facilityId: $facility }}, first: $first, after: $after) {{ \
         edges {{ cursor node {{ ...CertificateFields }} }} pageInfo {{ hasNextPage endCursor }} }} }} {CERTIFICATE}"
    )
}

/// A page of a facility's products.
pub fn facility_products_query() -> String {
    format!(
        "query FacilityProducts($facility: ID!, $first: Int, $after: String) {{ \
         products(filter: {{ facilityId: $facility }}, first: $first, after: $after) {{ \
         edges {{ cursor node {{ ...ProductFields }} }} pageInfo {{ hasNextPage endCursor }} }} }} {PRODUCT}"
    )
}

/// A page of a partner's root list of `kind`, answered from its own records
/// (`field`, filtered by `<Kind>FilterInput`). Records that belong to a
/// facility bring the facility along (when the partner shares it), so that a
/// page and its facilities cost one request.
fn list_query(kind: RecordKind, field: &str, of_facility: bool) -> String {
    let (spread, fragment) = fragment(kind);
    let (facility, facility_fragment) = if of_facility {
        (" facility { ...FacilityFields }", FACILITY)
    } else {
        ("", "")
    };
    format!(
        "query List($filter: {kind}FilterInput, $first: Int, $after: String) {{ \
         {field}(filter: $filter, first: $first, after: $after, scope: LOCAL) {{ \
         edges {{ cursor node {{ ...{spread}{facility} }} }} pageInfo {{ hasNextPage endCursor }} }} }} \
         {fragment} {facility_fragment}",
        kind = kind.name(),
    )
}

pub fn facilities_query() -> String {
    list_query(RecordKind::Facility, "facilities", false)
}

pub fn certificates_query() -> String {
    list_query(RecordKind::Certificate, "certificates", true)
}

pub fn products_query() -> String {
    list_query(RecordKind::Product, "products", true)
}

pub fn inspections_query() -> String {
    list_query(RecordKind::Inspection, "inspections", true)
}

pub fn alerts_query() -> String {
    list_query(RecordKind::Alert, "alerts", false)
}

pub fn follow_ups_query() -> String {
    list_query(RecordKind::FollowUp, "followUps", false)
}

/// A page of a partner's certificates, each with its status history: what
/// the validity of its facilities on past days needs, in one request.
pub fn certificates_with_history_query() -> String {
    format!(
        "query List($filter: CertificateFilterInput, $first: Int, $after: String) {{ \
         certificates(filter: $filter, first: $first, after: $after, scope: LOCAL) {{ \
         edges {{ cursor node {{ ...CertificateFields \
         history {{ status effectiveOn reason recordedAt }} }} }} \
         pageInfo {{ hasNextPage endCursor }} }} }} {CERTIFICATE}"
    )
}

pub fn lots_query() -> String {
    list_query(RecordKind::Lot, "lots", false)
}

pub fn trace_events_query() -> String {
    list_query(RecordKind::TraceEvent, "traceEvents", false)
}

/// One level of a trace in one request: a page of the partner's events
/// that `$filter` passes and, with `$withLots`, its lots `$lots` (those it
/// is asked about anyway, which it owns), so that the lots cost no request
/// of their own after the walk.
pub fn trace_level_query() -> String {
    format!(
        "query TraceLevel($filter: TraceEventFilterInput, $first: Int, $after: String, \
         $lots: [String!], $withLots: Boolean! = false) {{ \
         traceEvents(filter: $filter, first: $first, after: $after, scope: LOCAL) {{ \
         edges {{ cursor node {{ ...TraceEventFields }} }} pageInfo {{ hasNextPage endCursor }} }} \
         lots(filter: {{ codes: $lots }}, first: $first, scope: LOCAL) @include(if: $withLots) {{ \
         edges {{ cursor node {{ ...LotFields }} }} pageInfo {{ hasNextPage endCursor }} }} }} \
         {TRACE_EVENT} {LOT}"
    )
}

pub fn harvest_offers_query() -> String {
    list_query(RecordKind::HarvestOffer, "harvestOffers", false)
}

pub fn interests_query() -> String {
    list_query(RecordKind::Interest, "interests", false)
}

pub fn trade_fairs_query() -> String {
    list_query(RecordKind::TradeFair, "tradeFairs", false)
}

pub fn booth_registrations_query() -> String {
    list_query(RecordKind::BoothRegistration, "boothRegistrations", false)
}

/// Booths our businesses would have at the partner's fair: the partner
/// checks their products with us, keeps the registration once per
/// `reference`, and says which products it refused and why.
pub fn receive_booth_registration_query() -> String {
    format!(
        "mutation Booths($input: ReceiveBoothRegistrationInput!) {{ \
         receiveBoothRegistration(input: $input) {{ \
         registration {{ ...BoothRegistrationFields }} \
         refused {{ facilityId productId code reason }} }} }} {BOOTH_REGISTRATION}"
    )
}

pub fn inspection_requests_query() -> String {
    list_query(RecordKind::InspectionRequest, "inspectionRequests", false)
}

/// The epoch of a partner's change feed.
pub const EPOCH: &str = "query Epoch { changes(first: 0) { epoch } }";

/// A page of a partner's change feed: which records changed, and where the page
/// ends (the records themselves are fetched once each, in their latest form).
pub const FEED: &str = "query Feed($after: String, $first: Int) { changes(after: $after, first: $first) { \
    edges { node { id } } pageInfo { hasNextPage endCursor } epoch } }";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_asks_for_the_fragments_of_its_kinds_only() {
        let province = ProvinceCode::from_number(40).unwrap();
        let certificate = |n| GlobalId::new(RecordKind::Certificate, province, n);
        let query = nodes_query(&[certificate(1), certificate(2)]);
        assert!(query.contains("...CertificateFields"), "{query}");
        assert!(query.contains("fragment CertificateFields"), "{query}");
        assert!(!query.contains("Alert"), "{query}");
        let every = all_queries().remove(0);
        for kind in RecordKind::ALL {
            assert!(
                every.contains(&format!("...{}Fields", kind.name())),
                "{kind:?}"
            );
        }
    }
}
