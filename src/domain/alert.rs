//! Rapid alerts on unsafe food, after the EU's rapid alert system (RASFF):
//! the province that finds a risk raises an alert and owns it; every province
//! concerned adds what it finds to the alert's thread as follow-ups, each
//! owned by the province that wrote it.

use chrono::{DateTime, NaiveDate, Utc};

use super::{CertificateNumber, GlobalId, ProvinceCode, Refusal, StoredStatus, coded_enum, text};

coded_enum! {
    /// What the alert asks of the provinces it concerns.
    pub enum Classification {
        /// A serious risk in food on the market: act at once.
        Alert => "alert",
        /// A risk that needs no rapid action elsewhere, for attention.
        InformationForAttention => "information_for_attention",
        /// A risk that others may need to follow up.
        InformationForFollowUp => "information_for_follow_up",
        /// A consignment refused at a control point.
        BorderRejection => "border_rejection",
    }
}

coded_enum! {
    /// How serious the raising province judged the risk.
    pub enum RiskDecision {
        Serious => "serious",
        PotentiallySerious => "potentially_serious",
        NotSerious => "not_serious",
        Undecided => "undecided",
    }
}

coded_enum! {
    /// What brought the risk to light.
    pub enum NotificationBasis {
        OfficialControl => "official_control",
        ConsumerComplaint => "consumer_complaint",
        /// A business's own check.
        OwnCheck => "own_check",
        FoodPoisoning => "food_poisoning",
    }
}

coded_enum! {
    pub enum HazardCategory {
        PesticideResidue => "pesticide_residue",
        Microbiological => "microbiological",
        HeavyMetal => "heavy_metal",
        BannedSubstance => "banned_substance",
        Additive => "additive",
        ForeignBody => "foreign_body",
        Other => "other",
    }
}

coded_enum! {
    /// A measure taken against the risk.
    pub enum MeasureKind {
        Withdrawal => "withdrawal",
        Recall => "recall",
        Destruction => "destruction",
        /// Detention of the goods pending analysis.
        Detention => "detention",
        CertificateSuspension => "certificate_suspension",
        InformingConsumers => "informing_consumers",
        Other => "other",
    }
}

coded_enum! {
    /// Where an alert stands. Only its owner moves it.
    pub enum AlertStatus {
        /// Being written; seen by no one outside the province.
        Draft => "draft",
        /// Sent to the provinces concerned.
        Notified => "notified",
        UnderInvestigation => "under_investigation",
        Closed => "closed",
        /// Raised by mistake, kept with its reason.
        Withdrawn => "withdrawn",
    }
}

/// What was found: a substance or organism, and where measured, how much
/// against the legal limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub category: HazardCategory,
    /// The substance or organism (chlorpyrifos, Salmonella).
    pub agent: String,
    pub result: Option<f64>,
    /// The unit of `result` and `legal_limit` (mg/kg, CFU/g).
    pub unit: Option<String>,
    pub legal_limit: Option<f64>,
}

/// A measure taken, and its particulars.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub kind: MeasureKind,
    pub detail: Option<String>,
}

/// Most hazards, measures, or records concerned, in one alert or follow-up.
pub const MOST_ITEMS: usize = 50;

/// What an alert says; its owner writes it while it is a draft.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertData {
    pub classification: Classification,
    pub risk: RiskDecision,
    pub basis: NotificationBasis,
    /// A subject line.
    pub subject: String,
    pub description: String,
    pub hazards: Vec<Hazard>,
    pub measures: Vec<Measure>,
    /// Products concerned, of either province.
    pub products: Vec<GlobalId>,
    /// Facilities concerned, of either province.
    pub facilities: Vec<GlobalId>,
    /// Lots concerned, as their codes are written on the goods.
    pub lots: Vec<String>,
    /// The provinces concerned: each must know, and may add to the thread.
    pub provinces: Vec<ProvinceCode>,
}

/// A stored alert. Its owner is the province that raised it.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: AlertData,
    pub status: AlertStatus,
    /// Why it was withdrawn or closed.
    pub status_reason: Option<String>,
    /// When it was first notified; `None` for a draft.
    pub notified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Hazard {
    /// A hazard as reported; a refusal names the hazard's own field.
    pub fn new(
        category: HazardCategory,
        agent: &str,
        result: Option<f64>,
        unit: Option<String>,
        legal_limit: Option<f64>,
    ) -> Result<Self, Refusal> {
        let agent = text::line(agent, text::SHORT).map_err(|e| Refusal::new("agent", e.0))?;
        for (field, value) in [("result", result), ("legal_limit", legal_limit)] {
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(Refusal::new(field, "must be a finite number, zero or more"));
            }
        }
        if (result.is_some() || legal_limit.is_some()) && unit.is_none() {
            return Err(Refusal::new(
                "unit",
                "a result or a limit is given in a unit",
            ));
        }
        Ok(Self {
            category,
            agent,
            result,
            unit,
            legal_limit,
        })
    }

    /// Whether `other` is the same hazard: the same category and the same
    /// substance or organism, however its name was typed.
    pub fn same_as(&self, other: &Hazard) -> bool {
        self.category == other.category && text::fold(&self.agent) == text::fold(&other.agent)
    }
}

impl AlertData {
    /// An alert says what was found and what it concerns, and whom.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.hazards.is_empty() {
            return Err(Refusal::new("hazards", "name at least one hazard"));
        }
        if self.products.is_empty() && self.facilities.is_empty() && self.lots.is_empty() {
            return Err(Refusal::new(
                "products",
                "name at least one product, facility or lot concerned",
            ));
        }
        if self.provinces.is_empty() {
            return Err(Refusal::new(
                "provinces",
                "name at least one province concerned",
            ));
        }
        let lists = [
            ("hazards", self.hazards.len()),
            ("measures", self.measures.len()),
            ("products", self.products.len()),
            ("facilities", self.facilities.len()),
            ("lots", self.lots.len()),
        ];
        for (field, len) in lists {
            if len > MOST_ITEMS {
                return Err(Refusal::new(field, format!("lists more than {MOST_ITEMS}")));
            }
        }
        Ok(())
    }

    /// The provinces concerned other than `owner`: those it notifies.
    pub fn partners(&self, owner: ProvinceCode) -> Vec<ProvinceCode> {
        self.provinces
            .iter()
            .copied()
            .filter(|p| *p != owner)
            .collect()
    }
}

/// A certificate of ours withdrawn — suspended or revoked — from a facility
/// whose food is sold in other provinces.
#[derive(Debug, Clone)]
pub struct Withdrawal<'a> {
    pub number: &'a CertificateNumber,
    pub to: StoredStatus,
    pub effective_on: NaiveDate,
    pub reason: Option<&'a str>,
    pub facility: GlobalId,
    pub facility_name: &'a str,
}

impl AlertData {
    /// The alert that tells `provinces` (ours first) of a withdrawal: for
    /// their attention, since what the facility made under the certificate
    /// is sold on their markets. A suspension or revocation says the
    /// facility no longer keeps the conditions of food safety; that is its
    /// hazard. `None` for a certificate made active again.
    pub fn of_withdrawal(
        withdrawal: &Withdrawal<'_>,
        provinces: Vec<ProvinceCode>,
    ) -> Option<Self> {
        let Withdrawal {
            number,
            effective_on,
            facility,
            facility_name,
            ..
        } = withdrawal;
        let done = match withdrawal.to {
            StoredStatus::Suspended => "Đình chỉ",
            StoredStatus::Revoked => "Thu hồi",
            StoredStatus::Active => return None,
        };
        let mut description = format!(
            "{done} giấy chứng nhận {number} của {facility_name} từ ngày {}.",
            effective_on.format("%d/%m/%Y")
        );
        if let Some(reason) = withdrawal.reason {
            description.push_str(&format!(" Lý do: {reason}"));
        }
        Some(Self {
            classification: Classification::InformationForAttention,
            risk: RiskDecision::Undecided,
            basis: NotificationBasis::OfficialControl,
            subject: format!("{done} giấy chứng nhận {number}"),
            description,
            hazards: vec![Hazard {
                category: HazardCategory::Other,
                agent: "Không bảo đảm điều kiện an toàn thực phẩm".to_owned(),
                result: None,
                unit: None,
                legal_limit: None,
            }],
            measures: vec![Measure {
                kind: MeasureKind::CertificateSuspension,
                detail: Some(format!("{done} giấy chứng nhận {number}")),
            }],
            products: Vec::new(),
            facilities: vec![*facility],
            lots: Vec::new(),
            provinces,
        })
    }
}

/// How long back an alert looks for earlier ones like it.
pub const RECURRENCE_DAYS: i64 = 365;

impl AlertRecord {
    /// Whether `earlier` is an earlier alert on the same risk: notified in
    /// the twelve months before this one, on the same facility, or on the
    /// same product with the same hazard.
    pub fn recurs(&self, earlier: &AlertRecord) -> bool {
        let at = self.raised_at();
        let Some(then) = earlier.notified_at else {
            return false;
        };
        if earlier.id == self.id
            || then >= at
            || at - then > chrono::Duration::days(RECURRENCE_DAYS)
        {
            return false;
        }
        let same_facility = self
            .data
            .facilities
            .iter()
            .any(|f| earlier.data.facilities.contains(f));
        let same_product_and_hazard = self
            .data
            .products
            .iter()
            .any(|p| earlier.data.products.contains(p))
            && self
                .data
                .hazards
                .iter()
                .any(|h| earlier.data.hazards.iter().any(|e| h.same_as(e)));
        same_facility || same_product_and_hazard
    }

    /// When the alert counts from: its notification, or for a draft, now.
    pub fn raised_at(&self) -> DateTime<Utc> {
        self.notified_at.unwrap_or_else(Utc::now)
    }
}

/// A change of an alert's status, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertStatusChange {
    pub to: AlertStatus,
    pub reason: Option<String>,
}

impl AlertStatus {
    /// Whether an alert may go from this status to `to`: a draft is notified
    /// or withdrawn; a notified alert is investigated, closed or withdrawn;
    /// one under investigation is closed or withdrawn. Closed and withdrawn
    /// are final.
    pub fn may_become(self, to: AlertStatus) -> bool {
        use AlertStatus::*;
        matches!(
            (self, to),
            (Draft, Notified | Withdrawn)
                | (Notified, UnderInvestigation | Closed | Withdrawn)
                | (UnderInvestigation, Closed | Withdrawn)
        )
    }

    /// Whether the provinces concerned may still add to the thread.
    pub fn open(self) -> bool {
        matches!(
            self,
            AlertStatus::Notified | AlertStatus::UnderInvestigation
        )
    }
}

impl AlertStatusChange {
    /// Whether an alert in `from` may change so; a withdrawal says why.
    pub fn check(&self, from: AlertStatus) -> Result<(), Refusal> {
        if !from.may_become(self.to) {
            return Err(Refusal::new(
                "status",
                format!("an alert that is {from} cannot become {}", self.to),
            ));
        }
        if self.to == AlertStatus::Withdrawn && self.reason.is_none() {
            return Err(Refusal::new(
                "reason",
                "a withdrawal says why the alert was mistaken",
            ));
        }
        Ok(())
    }
}

/// What a province adds to an alert's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUpData {
    /// The alert followed up, of either province.
    pub alert: GlobalId,
    /// What was found.
    pub findings: String,
    pub measures: Vec<Measure>,
    /// Results of analyses or of the measures.
    pub results: Option<String>,
    /// The inspection request this follow-up answers, with its inspection.
    pub answers: Option<Answering>,
}

/// What a follow-up answers: an inspection request of the alert's owner,
/// with the writer's inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answering {
    pub request: GlobalId,
    pub inspection: GlobalId,
}

/// A stored follow-up. Its owner is the province that wrote it.
#[derive(Debug, Clone)]
pub struct FollowUpRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: FollowUpData,
    pub created_at: DateTime<Utc>,
}

impl FollowUpData {
    /// A follow-up may be added only while its alert is open.
    pub fn check(&self, alert: &AlertRecord) -> Result<(), Refusal> {
        if !alert.status.open() {
            return Err(Refusal::new(
                "alert",
                format!(
                    "{} is {}; follow-ups are added while an alert is notified or under investigation",
                    alert.id, alert.status
                ),
            ));
        }
        if self.measures.len() > MOST_ITEMS {
            return Err(Refusal::new(
                "measures",
                format!("lists more than {MOST_ITEMS}"),
            ));
        }
        Ok(())
    }
}

/// A partner's notice of one of its records (an alert), as we keep it: the
/// record stays its owner's, read live; we keep that we were told.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The record, which names its owner, the sender.
    pub about: GlobalId,
    /// The latest version a delivery named.
    pub version: i32,
    /// An alert's status at that version, as its owner told it.
    pub status: Option<AlertStatus>,
    pub received_at: DateTime<Utc>,
    /// When one of our operators acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A notice as its sender tells it: of its record `about` at `version`; an
/// alert's says its status, a follow-up's which request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    pub about: GlobalId,
    pub version: i32,
    /// An alert's status at `version`.
    pub status: Option<AlertStatus>,
    /// The alert a follow-up or a request belongs to.
    pub alert: Option<GlobalId>,
    pub answers: Option<Answering>,
}

/// A notice of one of our records owed to a partner, and how delivering it
/// has gone.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub partner: ProvinceCode,
    /// The record, ours.
    pub about: GlobalId,
    /// The version of the record the notice names.
    pub version: i32,
    pub attempts: i32,
    /// The code of the last failure (`PARTNER_UNAVAILABLE`…).
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How long a deliverer waits before attempt `attempts + 1`, having failed
/// `attempts` times: a second, doubling, at most half a minute (a partner's
/// open circuit refuses attempts without a call, so a short cap costs a
/// partner that is down nothing), and a quarter more or less at random
/// (`jitter` in 0..1) so that entries and gateways do not retry in step.
pub fn redelivery_delay(attempts: i32, jitter: f64) -> chrono::Duration {
    let base = 1000_i64 << attempts.clamp(0, 20);
    let capped = base.min(30 * 1000) as f64;
    let spread = capped * (0.75 + 0.5 * jitter.clamp(0.0, 1.0));
    chrono::Duration::milliseconds(spread as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecordKind;

    /// Every status against every other: the whole life of an alert.
    #[test]
    fn the_status_table() {
        use AlertStatus::*;
        let table = [
            (Draft, [false, true, false, false, true]),
            (Notified, [false, false, true, true, true]),
            (UnderInvestigation, [false, false, false, true, true]),
            (Closed, [false; 5]),
            (Withdrawn, [false; 5]),
        ];
        for (from, allowed) in table {
            for (to, allowed) in AlertStatus::ALL.iter().zip(allowed) {
                assert_eq!(from.may_become(*to), allowed, "{from} → {to}");
            }
        }
        let withdraw = AlertStatusChange {
            to: Withdrawn,
            reason: None,
        };
        assert_eq!(withdraw.check(Notified).unwrap_err().field, "reason");
        assert_eq!(withdraw.check(Closed).unwrap_err().field, "status");
    }

    #[test]
    fn redelivery_backs_off_to_half_a_minute_with_a_quarter_of_jitter() {
        let ms = |attempts, jitter| redelivery_delay(attempts, jitter).num_milliseconds();
        assert_eq!(ms(0, 0.5), 1000);
        assert_eq!(ms(3, 0.5), 8000);
        assert_eq!(ms(30, 0.5), 30_000);
        assert_eq!(ms(3, 0.0), 6000);
        assert_eq!(ms(3, 1.0), 10_000);
    }

    #[test]
    fn a_hazard_states_its_unit_and_sane_numbers() {
        let category = HazardCategory::PesticideResidue;
        assert_eq!(
            Hazard::new(category, "Chlorpyrifos", Some(0.5), None, None)
                .unwrap_err()
                .field,
            "unit"
        );
        assert_eq!(
            Hazard::new(category, "x", Some(f64::NAN), Some("mg/kg".into()), None)
                .unwrap_err()
                .field,
            "result"
        );
        assert_eq!(
            Hazard::new(category, "x", None, Some("mg/kg".into()), Some(-1.0))
                .unwrap_err()
                .field,
            "legal_limit"
        );
        let a = Hazard::new(category, "Chlorpyrifos", None, None, None).unwrap();
        let b = Hazard::new(category, " CHLORPYRIFOS ", None, None, None).unwrap();
        assert!(a.same_as(&b));
    }

    fn alert(local: i64, days_ago: i64, products: &[i64], facilities: &[i64]) -> AlertRecord {
        let province = ProvinceCode::from_number(19).unwrap();
        let id = |kind, n| GlobalId::new(kind, province, n);
        let now = Utc::now();
        AlertRecord {
            id: id(RecordKind::Alert, local),
            version: 1,
            data: AlertData {
                classification: Classification::Alert,
                risk: RiskDecision::Serious,
                basis: NotificationBasis::OfficialControl,
                subject: "Dư lượng".into(),
                description: "Dư lượng".into(),
                hazards: vec![
                    Hazard::new(
                        HazardCategory::PesticideResidue,
                        "Chlorpyrifos",
                        None,
                        None,
                        None,
                    )
                    .unwrap(),
                ],
                measures: vec![],
                products: products
                    .iter()
                    .map(|n| id(RecordKind::Product, *n))
                    .collect(),
                facilities: facilities
                    .iter()
                    .map(|n| id(RecordKind::Facility, *n))
                    .collect(),
                lots: vec![],
                provinces: vec![province],
            },
            status: AlertStatus::Notified,
            status_reason: None,
            notified_at: Some(now - chrono::Duration::days(days_ago)),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn an_alert_recurs_on_the_same_facility_or_product_and_hazard_within_a_year() {
        let now = alert(1, 0, &[7], &[3]);
        assert!(now.recurs(&alert(2, 30, &[], &[3])), "same facility");
        assert!(
            now.recurs(&alert(3, 300, &[7], &[])),
            "same product, hazard"
        );
        assert!(!now.recurs(&alert(4, 400, &[], &[3])), "over a year ago");
        assert!(!now.recurs(&alert(5, 10, &[8], &[4])), "nothing shared");
        assert!(!now.recurs(&now.clone()), "itself");
        let mut other_hazard = alert(6, 10, &[7], &[]);
        other_hazard.data.hazards[0].agent = "Cypermethrin".into();
        assert!(!now.recurs(&other_hazard), "same product, other hazard");
        assert!(
            !alert(7, 40, &[7], &[3]).recurs(&alert(8, 10, &[7], &[3])),
            "later"
        );
    }
}
