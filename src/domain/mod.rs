//! The vocabulary and the rules of food-safety data exchange, without I/O.
//!
//! Everything a user can type is parsed here into a type that cannot hold a bad
//! value ("parse, don't validate"): a [`ProvinceCode`], a [`CertificateNumber`], a
//! [`GlobalId`], a checked piece of [`text`]. Parsers return an [`Invalid`] that
//! says what is wrong; the caller names the field. Enumerations are stored as
//! lower-case text and shown to GraphQL in upper case, both defined once by
//! [`coded_enum!`].

mod alert;
pub mod audit;
mod certificate;
pub mod epcis;
mod event;
mod facility;
mod fair;
mod id;
mod identity;
mod inspection;
mod market;
mod product;
mod province;
mod record;
mod supervision;
pub mod text;
mod trace;

pub use alert::{
    AlertData, AlertRecord, AlertStatus, AlertStatusChange, Answering, Classification, Delivery,
    FollowUpData, FollowUpRecord, Hazard, HazardCategory, Measure, MeasureKind, Notice,
    NotificationBasis, RECURRENCE_DAYS, RiskDecision, Told, Withdrawal, redelivery_delay,
};
pub use certificate::{
    CertificateData, CertificateKind, CertificateNumber, CertificateRecord, CertificateStatus,
    Grade, InvalidReason, Renewal, Standard, StatusAction, StatusChange, StatusChangeRecord,
    StoredStatus, default_expiry, validity_on,
};
pub use event::{AlertEvent, AlertEventKind, Event, FeedKind, MarketEvent, MarketEventKind};
pub use facility::{
    BusinessRegistrationNumber, FacilityData, FacilityKind, FacilityRecord, IdNumber, PhoneNumber,
};
pub use fair::{
    BoothRegistrationData, BoothRegistrationRecord, DEFAULT_MIN_STARS, Exhibitor, Held, Ineligible,
    MAX_FAIR_DAYS, Refused, Registered, TradeFairData, TradeFairRecord, eligibility,
};
pub use id::{GlobalId, RecordKind};
pub use identity::{Caller, Principal, Role};
pub use inspection::{ChainStage, InspectionData, InspectionRecord, InspectionResult};
pub use market::{
    Contact, HarvestOfferData, HarvestOfferRecord, InterestData, InterestRecord, InterestState,
    OfferShown, OfferStatus, buys_harvests,
};
pub use product::{OcopRating, ProductCategory, ProductData, ProductRecord, Stars};
pub use province::ProvinceCode;
pub use record::Record;
pub use supervision::{
    Answer, Deadlines, InspectionRequestData, InspectionRequestRecord, Link, Needed, RequestState,
    Responsible, SUPERVISION, inspections_needed, supervised_by,
};
pub use trace::{
    BizStep, Direction, Disposition, Epc, ErrorDeclaration, ErrorReason, EventAction, FACILITY_URI,
    Item, ItemRole, LOT_URI, LotCode, LotData, LotRecord, QuantityUnit, TraceEventData,
    TraceEventRecord, TraceEventType, next_steps,
};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// A value a rule of the domain refuses: the field of the record's data that
/// holds it (as the data names it, `issued_on`), and why. Whoever reports it
/// names the field as its caller sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub reason: String,
}

impl Refusal {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Why a value was refused, in words a user can act on. The caller adds the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Today's date in Vietnam (UTC+7 all year): certificate and rating dates are
/// Vietnamese calendar dates, so "expired" turns at local midnight.
pub fn today() -> NaiveDate {
    date_in_vietnam(Utc::now())
}

/// The Vietnamese calendar date at the instant `at`.
pub fn date_in_vietnam(at: DateTime<Utc>) -> NaiveDate {
    let vietnam = FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset");
    at.with_timezone(&vietnam).date_naive()
}

/// Defines an enumeration stored as lower-case text and exposed to GraphQL, with
/// one list of variants serving both.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $code:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored form.
            pub fn code(self) -> &'static str {
                match self {
                    $( $name::$variant => $code ),+
                }
            }

            /// Reads the stored form.
            pub fn from_code(code: &str) -> Result<Self, $crate::domain::Invalid> {
                match code {
                    $( $code => Ok($name::$variant), )+
                    other => Err($crate::domain::Invalid(format!(
                        "unknown {} `{other}`",
                        stringify!($name)
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use coded_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_enums_round_trip_through_their_stored_form() {
        for kind in FacilityKind::ALL {
            assert_eq!(FacilityKind::from_code(kind.code()), Ok(*kind));
        }
        for stage in ChainStage::ALL {
            assert_eq!(ChainStage::from_code(stage.code()), Ok(*stage));
        }
        assert!(FacilityKind::from_code("PROCESSOR").is_err());
    }
}
