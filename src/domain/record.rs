//! Any record, of whichever kind: one of ours, or a partner's as its owner
//! sent it.

use super::{
    AlertRecord, CertificateNumber, CertificateRecord, FacilityRecord, FollowUpRecord, GlobalId,
    HarvestOfferRecord, InspectionRecord, InspectionRequestRecord, InterestRecord, LotRecord,
    ProductRecord, ProvinceCode, Told, TraceEventRecord,
};
use super::{BoothRegistrationRecord, TradeFairRecord};

/// Any record: one of ours, or a partner's as its owner sent it.
#[derive(Debug, Clone)]
pub enum Record {
    Facility(FacilityRecord),
    Certificate(CertificateRecord),
    Product(ProductRecord),
    Inspection(InspectionRecord),
    Alert(AlertRecord),
    FollowUp(FollowUpRecord),
    InspectionRequest(InspectionRequestRecord),
    Lot(LotRecord),
    HarvestOffer(HarvestOfferRecord),
    Interest(InterestRecord),
    TradeFair(TradeFairRecord),
    BoothRegistration(BoothRegistrationRecord),
    TraceEvent(TraceEventRecord),
}

impl Record {
    /// The record's global ID.
    pub fn id(&self) -> GlobalId {
        match self {
            Record::Facility(r) => r.id,
            Record::Certificate(r) => r.id,
            Record::Product(r) => r.id,
            Record::Inspection(r) => r.id,
            Record::Alert(r) => r.id,
            Record::FollowUp(r) => r.id,
            Record::InspectionRequest(r) => r.id,
            Record::Lot(r) => r.id,
            Record::HarvestOffer(r) => r.id,
            Record::Interest(r) => r.id,
            Record::TradeFair(r) => r.id,
            Record::BoothRegistration(r) => r.id,
            Record::TraceEvent(r) => r.id,
        }
    }

    /// The notice its owner sends `province` of this record, when it sends
    /// one: of an alert notified to it (and of each later status), of a
    /// follow-up it may read, of an inspection request assigned to it, of
    /// an urgent harvest offer. A
    /// copy of one found in the owner's change feed stands for a push that
    /// was lost.
    pub fn notice_to(&self, province: ProvinceCode) -> Option<Told> {
        let (status, alert, answers) = match self {
            Record::Alert(r) => (Some(r.status), None, None),
            Record::FollowUp(r) => (None, Some(r.data.alert), r.data.answers),
            Record::InspectionRequest(r) if r.data.assignee == province => {
                (None, Some(r.data.alert), None)
            }
            Record::HarvestOffer(r) if r.data.urgent => (None, None, None),
            _ => return None,
        };
        Some(Told {
            about: self.id(),
            version: self.version(),
            status,
            alert,
            answers,
        })
    }

    /// A certificate's number.
    pub fn number(&self) -> Option<CertificateNumber> {
        match self {
            Record::Certificate(r) => Some(r.number),
            _ => None,
        }
    }

    /// The owner's version of the record.
    pub fn version(&self) -> i32 {
        match self {
            Record::Facility(r) => r.version,
            Record::Certificate(r) => r.version,
            Record::Product(r) => r.version,
            Record::Inspection(r) => r.version,
            Record::Alert(r) => r.version,
            Record::FollowUp(r) => r.version,
            Record::InspectionRequest(r) => r.version,
            Record::Lot(r) => r.version,
            Record::HarvestOffer(r) => r.version,
            Record::Interest(r) => r.version,
            Record::TradeFair(r) => r.version,
            Record::BoothRegistration(r) => r.version,
            Record::TraceEvent(r) => r.version,
        }
    }
}
