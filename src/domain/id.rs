//! Global identifiers: every record's ID names its kind and its owner province, so
//! any gateway can route a lookup to the owner without a directory.

use std::fmt;

use super::{Invalid, ProvinceCode};

/// The kinds of record that have a global ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Facility,
    Certificate,
    Product,
    Inspection,
    Alert,
    FollowUp,
    InspectionRequest,
    Lot,
    TraceEvent,
    HarvestOffer,
    Interest,
    TradeFair,
    BoothRegistration,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Facility => "Facility",
            RecordKind::Certificate => "Certificate",
            RecordKind::Product => "Product",
            RecordKind::Inspection => "Inspection",
            RecordKind::Alert => "Alert",
            RecordKind::FollowUp => "FollowUp",
            RecordKind::InspectionRequest => "InspectionRequest",
            RecordKind::Lot => "Lot",
            RecordKind::TraceEvent => "TraceEvent",
            RecordKind::HarvestOffer => "HarvestOffer",
            RecordKind::Interest => "Interest",
            RecordKind::TradeFair => "TradeFair",
            RecordKind::BoothRegistration => "BoothRegistration",
        }
    }

    /// The stored form: `facility`, `certificate`, `follow_up`…
    pub fn code(self) -> &'static str {
        match self {
            RecordKind::Facility => "facility",
            RecordKind::Certificate => "certificate",
            RecordKind::Product => "product",
            RecordKind::Inspection => "inspection",
            RecordKind::Alert => "alert",
            RecordKind::FollowUp => "follow_up",
            RecordKind::InspectionRequest => "inspection_request",
            RecordKind::Lot => "lot",
            RecordKind::TraceEvent => "trace_event",
            RecordKind::HarvestOffer => "harvest_offer",
            RecordKind::Interest => "interest",
            RecordKind::TradeFair => "trade_fair",
            RecordKind::BoothRegistration => "booth_registration",
        }
    }

    /// Reads the stored form.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    pub const ALL: [RecordKind; 13] = [
        RecordKind::Facility,
        RecordKind::Certificate,
        RecordKind::Product,
        RecordKind::Inspection,
        RecordKind::Alert,
        RecordKind::FollowUp,
        RecordKind::InspectionRequest,
        RecordKind::Lot,
        RecordKind::TraceEvent,
        RecordKind::HarvestOffer,
        RecordKind::Interest,
        RecordKind::TradeFair,
        RecordKind::BoothRegistration,
    ];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// `Kind:province:number`, for example `Certificate:19:42`. Clients treat it as
/// opaque; gateways read the province from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalId {
    pub kind: RecordKind,
    pub province: ProvinceCode,
    pub local: i64,
}

impl GlobalId {
    pub fn new(kind: RecordKind, province: ProvinceCode, local: i64) -> Self {
        Self {
            kind,
            province,
            local,
        }
    }

    /// Parses any global ID.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let malformed = || {
            Invalid::new(format!(
                "`{}` is not an ID of this exchange (expected the form Certificate:19:42)",
                super::text::preview(input)
            ))
        };
        let mut parts = input.split(':');
        let (Some(kind), Some(province), Some(local), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let kind = RecordKind::from_name(kind).ok_or_else(malformed)?;
        let province = ProvinceCode::parse(province).map_err(|_| malformed())?;
        let local = match local.parse::<i64>() {
            Ok(n) if n > 0 && local.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(malformed()),
        };
        Ok(Self::new(kind, province, local))
    }

    /// Parses an ID that must be of one kind.
    pub fn parse_kind(input: &str, kind: RecordKind) -> Result<Self, Invalid> {
        let id = Self::parse(input)?;
        if id.kind != kind {
            return Err(Invalid::new(format!(
                "`{}` is the ID of a {}, not of a {}",
                super::text::preview(input),
                id.kind.name(),
                kind.name()
            )));
        }
        Ok(id)
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind.name(), self.province, self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_name_their_kind_and_owner() {
        let id = GlobalId::parse("Certificate:40:7").unwrap();
        assert_eq!(id.kind, RecordKind::Certificate);
        assert_eq!(id.province.to_string(), "40");
        assert_eq!(id.local, 7);
        assert!(GlobalId::parse_kind("Certificate:40:7", RecordKind::Facility).is_err());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "Certificate",
            "Certificate:40",
            "Certificate:40:0",
            "Certificate:40:-3",
            "Certificate:40:+3",
            "Certificate:400:3",
            "Parcel:40:3",
            "Certificate:40:3:9",
        ] {
            assert!(GlobalId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn ids_round_trip(province in 1u8..=99, local in 1i64..i64::MAX) {
            let id = GlobalId::new(
                RecordKind::Product,
                ProvinceCode::from_number(i64::from(province)).unwrap(),
                local,
            );
            prop_assert_eq!(GlobalId::parse(&id.to_string()).unwrap(), id);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = GlobalId::parse(&s);
        }
    }
}
