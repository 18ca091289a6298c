//! Any record, of whichever kind: one of ours, or a partner's as its owner
//! sent it.

use super::{
    AlertRecord, CertificateNumber, CertificateRecord, FacilityRecord, FollowUpRecord, GlobalId,
    InspectionRecord, ProductRecord,
};

/// Any record: one of ours, or a partner's as its owner sent it.
#[derive(Debug, Clone)]
pub enum Record {
    Facility(FacilityRecord),
    Certificate(CertificateRecord),
    Product(ProductRecord),
    Inspection(InspectionRecord),
    Alert(AlertRecord),
    FollowUp(FollowUpRecord),
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
        }
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
        }
    }
}
