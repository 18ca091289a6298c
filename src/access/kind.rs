//! What varies by kind of record, for the access layer: how one is told
//! apart in a [`Record`], how our store lists it, and the list partners
//! answer for it. Routing, batching, fan-out and the replica's stand-in are
//! written once, over this trait.

use futures_util::future::BoxFuture;

use crate::domain::{
    AlertRecord, CertificateRecord, FacilityRecord, FollowUpRecord, HarvestOfferRecord,
    InspectionRecord, InspectionRequestRecord, InterestRecord, LotRecord, ProductRecord, Record,
    TraceEventRecord,
};
use crate::domain::{BoothRegistrationRecord, TradeFairRecord};
use crate::domain::{GlobalId, RecordKind};
use crate::error::AppError;
use crate::federation::calls::{self, List};
use crate::store::{
    Admits, AlertFilter, Audience, CertificateFilter, FacilityFilter, FollowUpFilter,
    HarvestOfferFilter, InspectionFilter, InspectionRequestFilter, InterestFilter, LotFilter, Page,
    PageRequest, ProductFilter, Store, TraceEventFilter,
};
use crate::store::{BoothRegistrationFilter, TradeFairFilter};

/// A kind of record.
pub trait Kind: Sized + Send + Sync + 'static {
    const KIND: RecordKind;
    /// What our store lists by; our copies of a partner's records pass it too.
    type Filter: Admits<Self> + Send + Sync;
    /// The list of this kind partners answer.
    const LIST: List<Self>;

    fn id(&self) -> GlobalId;

    fn from_record(record: Record) -> Option<Self>;

    /// A page of ours that passes `filter`.
    fn page<'a>(
        store: &'a Store,
        filter: &'a Self::Filter,
        request: PageRequest,
    ) -> BoxFuture<'a, Result<Page<Self>, AppError>>;
}

/// A kind of record that belongs to a facility, which lists its own.
pub trait OfFacility: Kind {
    /// The list of a partner's facility's records of this kind.
    const OF_FACILITY: List<Self>;

    /// Our records of `facility` that `audience` may see.
    fn of_facility(facility: GlobalId, audience: Audience) -> Self::Filter;
}

impl OfFacility for CertificateRecord {
    const OF_FACILITY: List<Self> = calls::FACILITY_CERTIFICATES;

    fn of_facility(facility: GlobalId, audience: Audience) -> CertificateFilter {
        CertificateFilter {
            facility: Some(facility),
            audience,
            ..Default::default()
        }
    }
}

impl OfFacility for ProductRecord {
    const OF_FACILITY: List<Self> = calls::FACILITY_PRODUCTS;

    fn of_facility(facility: GlobalId, audience: Audience) -> ProductFilter {
        ProductFilter {
            facility: Some(facility),
            audience,
            ..Default::default()
        }
    }
}

macro_rules! kind {
    ($record:ident, $kind:ident, $filter:ident, $list:ident, $page:ident) => {
        impl Kind for $record {
            const KIND: RecordKind = RecordKind::$kind;
            type Filter = $filter;
            const LIST: List<Self> = calls::$list;

            fn id(&self) -> GlobalId {
                self.id
            }

            fn from_record(record: Record) -> Option<Self> {
                match record {
                    Record::$kind(record) => Some(record),
                    _ => None,
                }
            }

            fn page<'a>(
                store: &'a Store,
                filter: &'a Self::Filter,
                request: PageRequest,
            ) -> BoxFuture<'a, Result<Page<Self>, AppError>> {
                Box::pin(store.$page(filter, request))
            }
        }
    };
}

kind!(
    FacilityRecord,
    Facility,
    FacilityFilter,
    FACILITIES,
    facilities
);
kind!(
    CertificateRecord,
    Certificate,
    CertificateFilter,
    CERTIFICATES,
    certificates
);
kind!(ProductRecord, Product, ProductFilter, PRODUCTS, products);
kind!(
    InspectionRecord,
    Inspection,
    InspectionFilter,
    INSPECTIONS,
    inspections
);
kind!(AlertRecord, Alert, AlertFilter, ALERTS, alerts);
kind!(
    FollowUpRecord,
    FollowUp,
    FollowUpFilter,
    FOLLOW_UPS,
    follow_ups
);
kind!(
    InspectionRequestRecord,
    InspectionRequest,
    InspectionRequestFilter,
    INSPECTION_REQUESTS,
    inspection_requests
);
kind!(LotRecord, Lot, LotFilter, LOTS, lots);
kind!(
    HarvestOfferRecord,
    HarvestOffer,
    HarvestOfferFilter,
    HARVEST_OFFERS,
    harvest_offers
);
kind!(
    InterestRecord,
    Interest,
    InterestFilter,
    INTERESTS,
    interests
);
kind!(
    TraceEventRecord,
    TraceEvent,
    TraceEventFilter,
    TRACE_EVENTS,
    trace_events
);
kind!(
    TradeFairRecord,
    TradeFair,
    TradeFairFilter,
    TRADE_FAIRS,
    trade_fairs
);
kind!(
    BoothRegistrationRecord,
    BoothRegistration,
    BoothRegistrationFilter,
    BOOTH_REGISTRATIONS,
    booth_registrations
);
