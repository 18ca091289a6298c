//! Traceability: lots and how they move, as GS1 EPCIS 2.0 events (what,
//! when, where, why) in the words of its Core Business Vocabulary. A lot is
//! owned by the province of the facility that made or harvested it; an event
//! by the province of the facility that records it. A mistaken event is
//! never edited: an error declaration names it, and corrective events take
//! its place.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::{GlobalId, Invalid, ProvinceCode, Refusal, coded_enum};

/// The URI prefix of our lots' EPCs (an EPCIS `epcClass`: a lot is a class
/// of goods counted by quantity).
pub const LOT_URI: &str = "urn:caunoi:lot:";
/// The URI prefix of our facilities as EPCIS locations.
pub const FACILITY_URI: &str = "urn:caunoi:facility:";

/// A lot's code, `19-LO-2026-000042`: the province that owns the lot, the
/// year it was made, a serial. Any gateway reads the owner from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LotCode {
    province: ProvinceCode,
    year: i32,
    serial: u32,
}

impl LotCode {
    pub fn new(province: ProvinceCode, year: i32, serial: u32) -> Self {
        Self {
            province,
            year,
            serial,
        }
    }

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let malformed = || {
            Invalid::new(format!(
                "`{}` is not a lot code (expected the form 19-LO-2026-000042)",
                input.chars().take(40).collect::<String>()
            ))
        };
        let upper = input.trim().to_ascii_uppercase();
        let [province, "LO", year, serial] = upper.split('-').collect::<Vec<_>>()[..] else {
            return Err(malformed());
        };
        let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
            len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if province.len() != 2 || !digits(year, 4..=4) || !digits(serial, 1..=6) {
            return Err(malformed());
        }
        let province = ProvinceCode::parse(province).map_err(|_| malformed())?;
        let year: i32 = year.parse().map_err(|_| malformed())?;
        let serial: u32 = serial.parse().map_err(|_| malformed())?;
        if year < 1990 || serial == 0 {
            return Err(malformed());
        }
        Ok(Self::new(province, year, serial))
    }

    /// The province that owns the lot.
    pub fn province(&self) -> ProvinceCode {
        self.province
    }

    /// The lot as an EPCIS `epcClass`.
    pub fn uri(&self) -> String {
        format!("{LOT_URI}{self}")
    }
}

impl fmt::Display for LotCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-LO-{:04}-{:06}",
            self.province, self.year, self.serial
        )
    }
}

/// What an event is about: one of our provinces' lots, or any other EPC
/// (a GS1 identifier a business already uses), kept as its URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Epc {
    Lot(LotCode),
    Other(String),
}

impl Epc {
    /// Reads an EPC URI: ours names a lot; any other absolute URI is kept.
    pub fn parse(uri: &str) -> Result<Self, Invalid> {
        let uri = uri.trim();
        if let Some(code) = uri.strip_prefix(LOT_URI) {
            return LotCode::parse(code).map(Epc::Lot);
        }
        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
                && !rest.is_empty()
        });
        if !scheme_ok || uri.len() > 400 || uri.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Invalid::new(format!(
                "`{}` is neither a lot code nor an EPC URI",
                uri.chars().take(40).collect::<String>()
            )));
        }
        Ok(Epc::Other(uri.to_owned()))
    }

    /// The EPC as a URI.
    pub fn uri(&self) -> String {
        match self {
            Epc::Lot(code) => code.uri(),
            Epc::Other(uri) => uri.clone(),
        }
    }

    pub fn lot(&self) -> Option<LotCode> {
        match self {
            Epc::Lot(code) => Some(*code),
            Epc::Other(_) => None,
        }
    }
}

coded_enum! {
    /// A unit of quantity.
    pub enum QuantityUnit {
        Kilogram => "kilogram",
        Tonne => "tonne",
        Gram => "gram",
        Litre => "litre",
        /// Pieces: boxes, packs, bottles.
        Piece => "piece",
    }
}

impl QuantityUnit {
    /// The UN/ECE Recommendation 20 code EPCIS writes as `uom`.
    pub fn uom(self) -> &'static str {
        match self {
            QuantityUnit::Kilogram => "KGM",
            QuantityUnit::Tonne => "TNE",
            QuantityUnit::Gram => "GRM",
            QuantityUnit::Litre => "LTR",
            QuantityUnit::Piece => "H87",
        }
    }

    /// Reads an EPCIS `uom`.
    pub fn from_uom(uom: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|unit| unit.uom() == uom)
    }
}

coded_enum! {
    /// The EPCIS event type.
    pub enum TraceEventType {
        /// What happened to lots: made, shipped, received, seen.
        Object => "object",
        /// Input lots consumed into output lots.
        Transformation => "transformation",
    }
}

coded_enum! {
    /// An object event's action: lots come into being (ADD), are seen
    /// (OBSERVE), or end (DELETE).
    pub enum EventAction {
        Add => "add",
        Observe => "observe",
        Delete => "delete",
    }
}

coded_enum! {
    /// The business step, from the Core Business Vocabulary.
    pub enum BizStep {
        /// A lot is harvested or produced.
        Commissioning => "commissioning",
        Shipping => "shipping",
        Receiving => "receiving",
        Packing => "packing",
        Storing => "storing",
        Inspecting => "inspecting",
        Holding => "holding",
        RetailSelling => "retail_selling",
        Destroying => "destroying",
    }
}

coded_enum! {
    /// The state of the lots after the event, from the Core Business
    /// Vocabulary.
    pub enum Disposition {
        Active => "active",
        InTransit => "in_transit",
        InProgress => "in_progress",
        SellableAccessible => "sellable_accessible",
        NonSellableOther => "non_sellable_other",
        Recalled => "recalled",
        Destroyed => "destroyed",
        Expired => "expired",
        RetailSold => "retail_sold",
    }
}

coded_enum! {
    /// Why an event was declared in error (EPCIS `errorDeclaration.reason`).
    pub enum ErrorReason {
        /// The event did not happen.
        DidNotOccur => "did_not_occur",
        /// It happened, but was recorded wrong; corrective events say how.
        IncorrectData => "incorrect_data",
    }
}

coded_enum! {
    /// What part an EPC plays in an event.
    pub enum ItemRole {
        /// What an object event is about.
        What => "what",
        Input => "input",
        Output => "output",
    }
}

/// An EPC in an event, with how much of it when counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub role: ItemRole,
    pub epc: Epc,
    pub quantity: Option<f64>,
    pub unit: Option<QuantityUnit>,
}

/// A lot as its maker records it.
#[derive(Debug, Clone, PartialEq)]
pub struct LotData {
    pub product: GlobalId,
    /// The facility that made or harvested it.
    pub facility: GlobalId,
    pub quantity: f64,
    pub unit: QuantityUnit,
    pub produced_on: NaiveDate,
    /// The business's own lot number, if it has one.
    pub batch: Option<String>,
}

/// A stored lot. Its owner is the province its code names.
#[derive(Debug, Clone)]
pub struct LotRecord {
    pub id: GlobalId,
    pub version: i32,
    pub code: LotCode,
    pub data: LotData,
    pub created_at: DateTime<Utc>,
}

impl LotData {
    pub fn check(&self) -> Result<(), Refusal> {
        if !(self.quantity.is_finite() && self.quantity > 0.0 && self.quantity < 1e12) {
            return Err(Refusal::new(
                "quantity",
                "a lot's quantity is a positive number",
            ));
        }
        if self.product.province != self.facility.province {
            return Err(Refusal::new(
                "product_id",
                "a lot is made of a product of its facility's own province",
            ));
        }
        Ok(())
    }
}

/// An event as the facility that records it says it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEventData {
    pub event_type: TraceEventType,
    /// An object event's action; none for a transformation.
    pub action: Option<EventAction>,
    pub biz_step: BizStep,
    pub disposition: Option<Disposition>,
    pub event_time: DateTime<Utc>,
    /// The offset of local time where it happened, `+07:00`.
    pub time_zone_offset: String,
    /// Where it happened: the recording facility (EPCIS `bizLocation`).
    pub facility: GlobalId,
    /// Where the lots came from (shipped to us: the sender's facility).
    pub source: Option<GlobalId>,
    /// Where they go (shipped by us: the receiver's facility).
    pub destination: Option<GlobalId>,
    pub items: Vec<Item>,
}

/// An error declaration: the event it declares, when, why, and the events
/// that correct it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDeclaration {
    pub declared_at: DateTime<Utc>,
    pub reason: ErrorReason,
    pub corrective_event_ids: Vec<String>,
}

/// A stored event. Its owner is the province of the facility that recorded
/// it.
#[derive(Debug, Clone)]
pub struct TraceEventRecord {
    pub id: GlobalId,
    pub version: i32,
    /// The EPCIS `eventID`, a URI.
    pub event_id: String,
    pub data: TraceEventData,
    /// Set when the event has been declared in error.
    pub error: Option<ErrorDeclaration>,
    pub recorded_at: DateTime<Utc>,
}

/// The most EPCs one event names.
pub const MAX_ITEMS: usize = 100;

impl TraceEventData {
    /// The rules of an event recorded by province `recorder`.
    pub fn check(&self, recorder: ProvinceCode) -> Result<(), Refusal> {
        if self.facility.province != recorder {
            return Err(Refusal::new(
                "facility_id",
                format!(
                    "an event is recorded by its facility's province, {}",
                    self.facility.province
                ),
            ));
        }
        let count = |role| self.items.iter().filter(|i| i.role == role).count();
        let (what, inputs, outputs) = (
            count(ItemRole::What),
            count(ItemRole::Input),
            count(ItemRole::Output),
        );
        if self.items.len() > MAX_ITEMS {
            return Err(Refusal::new(
                "items",
                format!("an event names at most {MAX_ITEMS} lots"),
            ));
        }
        match self.event_type {
            TraceEventType::Object => {
                if self.action.is_none() {
                    return Err(Refusal::new("action", "an object event has an action"));
                }
                if what == 0 || inputs + outputs > 0 {
                    return Err(Refusal::new(
                        "items",
                        "an object event names the lots it is about, and no inputs or outputs",
                    ));
                }
            }
            TraceEventType::Transformation => {
                if self.action.is_some() {
                    return Err(Refusal::new("action", "a transformation has no action"));
                }
                if what > 0 || inputs == 0 || outputs == 0 {
                    return Err(Refusal::new(
                        "items",
                        "a transformation names its input and output lots",
                    ));
                }
            }
        }
        for item in &self.items {
            if let Some(quantity) = item.quantity
                && !(0.0..1e12).contains(&quantity)
            {
                return Err(Refusal::new(
                    "quantity",
                    "a quantity is a number of 0 or more",
                ));
            }
            if item.unit.is_some() && item.quantity.is_none() {
                return Err(Refusal::new("unit", "a unit goes with a quantity"));
            }
        }
        let there = |at: Option<GlobalId>| at.is_some_and(|f| f.province != recorder);
        if self.source == Some(self.facility) || self.destination == Some(self.facility) {
            return Err(Refusal::new(
                "destination_id",
                "lots move between two different facilities",
            ));
        }
        if there(self.source) && there(self.destination) {
            return Err(Refusal::new(
                "source_id",
                "an event records what passes through its own facility",
            ));
        }
        Ok(())
    }

    /// The EPCs of `role`.
    pub fn epcs(&self, role: ItemRole) -> impl Iterator<Item = &Epc> {
        self.items
            .iter()
            .filter(move |i| i.role == role)
            .map(|i| &i.epc)
    }

    /// The other province this event names (a shipment's destination, a
    /// receipt's source), if any.
    pub fn counterpart(&self) -> Option<ProvinceCode> {
        [self.source, self.destination]
            .into_iter()
            .flatten()
            .map(|f| f.province)
            .find(|p| *p != self.facility.province)
    }
}

/// Which way a trace walks from a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "TraceDirection")]
pub enum Direction {
    /// Where the lot came from: its sources and inputs (one step back, and
    /// the steps before).
    Backward,
    /// Where it went: its destinations and outputs.
    Forward,
    Both,
}

impl Direction {
    pub fn backward(self) -> bool {
        self != Direction::Forward
    }
    pub fn forward(self) -> bool {
        self != Direction::Backward
    }
}

/// What a trace walk learns from one event about the lots it follows
/// (`following`): the lots it must follow too, and the provinces it must
/// ask about which lots.
pub fn next_steps(
    event: &TraceEventData,
    following: &dyn Fn(&Epc) -> bool,
    direction: Direction,
) -> Vec<(ProvinceCode, Epc)> {
    let mut steps = Vec::new();
    let here = event.facility.province;
    match event.event_type {
        TraceEventType::Object => {
            for epc in event.epcs(ItemRole::What).filter(|e| following(e)) {
                let mut towards = Vec::new();
                if direction.backward() {
                    towards.extend(event.source);
                }
                if direction.forward() {
                    towards.extend(event.destination);
                }
                for facility in towards {
                    steps.push((facility.province, epc.clone()));
                }
            }
        }
        TraceEventType::Transformation => {
            let from_to = [
                (direction.backward(), ItemRole::Output, ItemRole::Input),
                (direction.forward(), ItemRole::Input, ItemRole::Output),
            ];
            for (on, seen, then) in from_to {
                if on && event.epcs(seen).any(following) {
                    for epc in event.epcs(then) {
                        steps.push((here, epc.clone()));
                        if let Some(owner) = epc.lot().map(|l| l.province())
                            && owner != here
                        {
                            steps.push((owner, epc.clone()));
                        }
                    }
                }
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecordKind;

    fn p(code: &str) -> ProvinceCode {
        ProvinceCode::parse(code).unwrap()
    }

    #[test]
    fn a_lot_code_names_its_owner_and_reads_back() {
        let code = LotCode::parse(" 19-lo-2026-42 ").unwrap();
        assert_eq!(code.province(), p("19"));
        assert_eq!(code.to_string(), "19-LO-2026-000042");
        assert_eq!(LotCode::parse(&code.to_string()).unwrap(), code);
        assert_eq!(
            Epc::parse(&code.uri()).unwrap(),
            Epc::Lot(code),
            "our URI is a lot"
        );
        for bad in [
            "",
            "19-LO-2026",
            "19-ATTP-2026-000001",
            "199-LO-2026-1",
            "19-LO-26-1",
            "19-LO-2026-0",
            "19-LO-2026-1234567",
        ] {
            assert!(LotCode::parse(bad).is_err(), "{bad}");
        }
        assert!(Epc::parse("urn:caunoi:lot:nonsense").is_err());
        assert!(Epc::parse("not a uri").is_err());
        assert_eq!(
            Epc::parse("urn:epc:class:lgtin:4012345.012345.998877").unwrap(),
            Epc::Other("urn:epc:class:lgtin:4012345.012345.998877".to_owned())
        );
    }

    fn facility(province: &str, local: i64) -> GlobalId {
        GlobalId::new(RecordKind::Facility, p(province), local)
    }

    fn lot(province: &str, serial: u32) -> Epc {
        Epc::Lot(LotCode::new(p(province), 2026, serial))
    }

    fn item(role: ItemRole, epc: Epc) -> Item {
        Item {
            role,
            epc,
            quantity: Some(10.0),
            unit: Some(QuantityUnit::Kilogram),
        }
    }

    fn shipment(from: GlobalId, to: GlobalId, epc: Epc) -> TraceEventData {
        TraceEventData {
            event_type: TraceEventType::Object,
            action: Some(EventAction::Observe),
            biz_step: BizStep::Shipping,
            disposition: Some(Disposition::InTransit),
            event_time: Utc::now(),
            time_zone_offset: "+07:00".to_owned(),
            facility: from,
            source: None,
            destination: Some(to),
            items: vec![item(ItemRole::What, epc)],
        }
    }

    #[test]
    fn an_event_is_its_facilitys_provinces_and_names_what_it_moves() {
        let shipped = shipment(facility("19", 1), facility("40", 2), lot("19", 1));
        assert_eq!(shipped.check(p("19")), Ok(()));
        assert_eq!(shipped.counterpart(), Some(p("40")));
        assert_eq!(shipped.check(p("40")).unwrap_err().field, "facility_id");
        let to_itself = TraceEventData {
            destination: Some(facility("19", 1)),
            ..shipped.clone()
        };
        assert_eq!(
            to_itself.check(p("19")).unwrap_err().field,
            "destination_id"
        );
        let empty = TraceEventData {
            items: vec![],
            ..shipped.clone()
        };
        assert_eq!(empty.check(p("19")).unwrap_err().field, "items");
        let half = TraceEventData {
            event_type: TraceEventType::Transformation,
            action: None,
            items: vec![item(ItemRole::Input, lot("19", 1))],
            ..shipped
        };
        assert_eq!(half.check(p("19")).unwrap_err().field, "items");
    }

    #[test]
    fn a_walk_follows_sources_back_destinations_forward_and_transformations_both_ways() {
        let fresh = lot("19", 1);
        let packed = lot("19", 2);
        let following = |wanted: Epc| move |e: &Epc| *e == wanted;
        let shipped = shipment(facility("19", 1), facility("40", 2), packed.clone());
        assert_eq!(
            next_steps(&shipped, &following(packed.clone()), Direction::Forward),
            [(p("40"), packed.clone())]
        );
        assert!(next_steps(&shipped, &following(packed.clone()), Direction::Backward).is_empty());
        let received = TraceEventData {
            biz_step: BizStep::Receiving,
            facility: facility("40", 2),
            source: Some(facility("19", 1)),
            destination: None,
            ..shipped
        };
        assert_eq!(
            next_steps(&received, &following(packed.clone()), Direction::Backward),
            [(p("19"), packed.clone())]
        );
        let made = lot("40", 7);
        let transformed = TraceEventData {
            event_type: TraceEventType::Transformation,
            action: None,
            biz_step: BizStep::Commissioning,
            facility: facility("40", 3),
            source: None,
            items: vec![
                item(ItemRole::Input, packed.clone()),
                item(ItemRole::Output, made.clone()),
            ],
            ..received
        };
        // The input is a Thái Nguyên lot processed in Nghệ An: both are asked.
        assert_eq!(
            next_steps(&transformed, &following(made.clone()), Direction::Backward),
            [(p("40"), packed.clone()), (p("19"), packed.clone())]
        );
        assert!(next_steps(&transformed, &following(made), Direction::Forward).is_empty());
        assert_eq!(
            next_steps(&transformed, &following(packed), Direction::Both),
            [(p("40"), lot("40", 7))],
            "the output is Nghệ An's lot, asked once"
        );
        assert!(next_steps(&transformed, &following(fresh), Direction::Both).is_empty());
    }
}
