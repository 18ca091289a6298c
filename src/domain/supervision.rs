//! The split of supervision along a chain that crosses the border: the
//! agreement's fourth point. The province that produces inspects primary
//! production, preliminary processing and processing; the province whose
//! market sells the food inspects its trading. An alert on such a chain asks
//! each province for the inspections of its stages, by a deadline its risk
//! sets; the inspection that answers a request closes it.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

use super::{
    Answering, ChainStage, FacilityKind, FollowUpData, GlobalId, InspectionData, InspectionResult,
    ProvinceCode, Refusal, RiskDecision, coded_enum,
};

/// Which province of a chain inspects a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responsible {
    /// The province of the facility that works the food.
    Producing,
    /// The province where the food is sold.
    Market,
}

/// Who inspects each stage: the agreement's table.
pub const SUPERVISION: [(ChainStage, Responsible); 4] = [
    (ChainStage::PrimaryProduction, Responsible::Producing),
    (ChainStage::PreliminaryProcessing, Responsible::Producing),
    (ChainStage::Processing, Responsible::Producing),
    (ChainStage::Trading, Responsible::Market),
];

impl ChainStage {
    /// Who inspects this stage, by [`SUPERVISION`].
    pub fn responsible(self) -> Responsible {
        SUPERVISION
            .iter()
            .find(|(stage, _)| *stage == self)
            .map(|(_, who)| *who)
            .expect("SUPERVISION names every stage")
    }
}

impl FacilityKind {
    /// The stage of the chain a facility of this kind works at.
    pub fn stage(self) -> ChainStage {
        match self {
            FacilityKind::PrimaryProducer | FacilityKind::Cooperative | FacilityKind::Household => {
                ChainStage::PrimaryProduction
            }
            FacilityKind::PreliminaryProcessor => ChainStage::PreliminaryProcessing,
            FacilityKind::Processor | FacilityKind::Slaughterhouse => ChainStage::Processing,
            FacilityKind::Trader => ChainStage::Trading,
        }
    }
}

/// The stage a facility of `kind` works at, and the province that inspects
/// it there by [`SUPERVISION`]: a producing stage by the province that
/// produces, the facility's own; trading by the province whose market sells
/// the food, the one the trader stands in.
pub fn supervised_by(facility: GlobalId, kind: FacilityKind) -> (ChainStage, ProvinceCode) {
    let stage = kind.stage();
    let province = match stage.responsible() {
        Responsible::Producing => facility.province,
        Responsible::Market => facility.province,
    };
    (stage, province)
}

/// A facility of the chain an alert concerns, as its owner describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub facility: GlobalId,
    pub kind: FacilityKind,
    /// The provinces it supplies.
    pub supplies_to: Vec<ProvinceCode>,
}

/// An inspection a chain needs: of `facility`'s `stage`, by `assignee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    pub facility: GlobalId,
    pub stage: ChainStage,
    pub assignee: ProvinceCode,
}

/// The inspections an alert raised by `raiser` on the facilities `chain`,
/// concerning `provinces`, asks for. A facility's food is sold in the
/// provinces it supplies and in the raiser's, where the risk was found;
/// where one of those other than its own is concerned, the chain crosses
/// the border: the facility's own stage goes to the province
/// [`SUPERVISION`] names (a facility's stage happens where it stands), and
/// its food's trading to each market province concerned. A chain that stays
/// within one province asks for nothing: the province supervises it alone.
pub fn inspections_needed(
    chain: &[Link],
    provinces: &[ProvinceCode],
    raiser: ProvinceCode,
) -> Vec<Needed> {
    let mut needed = Vec::new();
    for link in chain {
        let home = link.facility.province;
        let markets: Vec<ProvinceCode> = provinces
            .iter()
            .copied()
            .filter(|p| *p != home && (*p == raiser || link.supplies_to.contains(p)))
            .collect();
        if markets.is_empty() {
            continue;
        }
        // The facility's own stage happens where it stands; its food's
        // trading, in each market.
        let stages = std::iter::once((link.kind.stage(), home))
            .chain(markets.into_iter().map(|m| (ChainStage::Trading, m)));
        for (stage, place) in stages {
            let assignee = match stage.responsible() {
                Responsible::Producing => home,
                Responsible::Market => place,
            };
            // A province the alert does not concern is not asked.
            if !provinces.contains(&assignee) {
                continue;
            }
            needed.push(Needed {
                facility: link.facility,
                stage,
                assignee,
            });
        }
    }
    let mut unique = Vec::with_capacity(needed.len());
    for n in needed {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    unique
}

/// Working days to answer an inspection request, by the alert's risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub serious: u32,
    pub potentially_serious: u32,
    pub not_serious: u32,
    pub undecided: u32,
}

impl Default for Deadlines {
    /// Two working days for a serious risk, as the agreement's example; an
    /// undecided one is treated as potentially serious.
    fn default() -> Self {
        Self {
            serious: 2,
            potentially_serious: 5,
            not_serious: 10,
            undecided: 5,
        }
    }
}

impl Deadlines {
    /// The last day to answer a request made on `asked_on` for an alert of
    /// `risk`: that many working days later, Saturdays and Sundays not
    /// counted (public holidays are not known here).
    pub fn due_on(&self, risk: RiskDecision, asked_on: NaiveDate) -> NaiveDate {
        let days = match risk {
            RiskDecision::Serious => self.serious,
            RiskDecision::PotentiallySerious => self.potentially_serious,
            RiskDecision::NotSerious => self.not_serious,
            RiskDecision::Undecided => self.undecided,
        };
        let mut day = asked_on;
        let mut left = days;
        while left > 0 {
            day = day.succ_opt().unwrap_or(day);
            if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                left -= 1;
            }
        }
        day
    }
}

coded_enum! {
    /// Where an inspection request stands.
    pub enum RequestState {
        /// Waiting for the assigned province's inspection.
        Open => "open",
        /// An inspection answered it.
        Answered => "answered",
        /// Its alert was closed or withdrawn first.
        Cancelled => "cancelled",
    }
}

/// What an alert's owner asks of a province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionRequestData {
    /// The alert, the asker's own.
    pub alert: GlobalId,
    pub facility: GlobalId,
    pub stage: ChainStage,
    /// The province that is to inspect.
    pub assignee: ProvinceCode,
    /// The last day to answer, in Vietnam.
    pub due_on: NaiveDate,
}

/// A stored request, owned by the alert's owner, which asked.
#[derive(Debug, Clone)]
pub struct InspectionRequestRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: InspectionRequestData,
    pub state: RequestState,
    /// The assignee's follow-up that answered it, and its inspection.
    pub answer: Option<Answer>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl InspectionData {
    /// The follow-up that this inspection, `id`, adds to the thread of the
    /// alert whose request it answers: what was inspected, when, and the
    /// result, in the words of the thread.
    pub fn answering(&self, id: GlobalId, request: &InspectionRequestRecord) -> FollowUpData {
        let result = match self.result {
            InspectionResult::Pass => "đạt",
            InspectionResult::Fail => "không đạt",
        };
        let mut findings = format!(
            "Kiểm tra khâu {} ngày {}: {result}.",
            self.stage.vietnamese(),
            self.inspected_on.format("%d/%m/%Y"),
        );
        if let Some(more) = &self.findings {
            findings.push('\n');
            findings.push_str(more);
        }
        FollowUpData {
            alert: request.data.alert,
            findings,
            measures: Vec::new(),
            results: Some(format!("Kết quả kiểm tra: {result}")),
            answers: Some(Answering {
                request: request.id,
                inspection: id,
            }),
        }
    }
}

impl ChainStage {
    /// The stage as Vietnamese rules name it.
    pub fn vietnamese(self) -> &'static str {
        match self {
            ChainStage::PrimaryProduction => "sản xuất ban đầu",
            ChainStage::PreliminaryProcessing => "sơ chế",
            ChainStage::Processing => "chế biến",
            ChainStage::Trading => "kinh doanh",
        }
    }
}

/// The records, the assignee's, that answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub follow_up: GlobalId,
    pub inspection: GlobalId,
}

impl InspectionRequestRecord {
    /// Whether the request is open past its last day, on `today`.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.state == RequestState::Open && self.data.due_on < today
    }

    /// Whether `inspection`, recorded by `inspector`, answers this request:
    /// the assignee's inspection of the facility and stage asked, while the
    /// request is open.
    pub fn answered_by(
        &self,
        inspector: ProvinceCode,
        inspection: &InspectionData,
    ) -> Result<(), Refusal> {
        let field = "answers_request_id";
        if self.state != RequestState::Open {
            return Err(Refusal::new(
                field,
                format!("{} is {}, not open", self.id, self.state),
            ));
        }
        if self.data.assignee != inspector {
            return Err(Refusal::new(
                field,
                format!("{} is assigned to province {}", self.id, self.data.assignee),
            ));
        }
        if self.data.facility != inspection.facility || self.data.stage != inspection.stage {
            return Err(Refusal::new(
                field,
                format!(
                    "{} asks for the {} of {}; this inspection is of the {} of {}",
                    self.id,
                    self.data.stage,
                    self.data.facility,
                    inspection.stage,
                    inspection.facility
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecordKind;

    fn province(code: i64) -> ProvinceCode {
        ProvinceCode::from_number(code).unwrap()
    }

    #[test]
    fn the_producing_province_inspects_production_and_the_market_trading() {
        let table = [
            (ChainStage::PrimaryProduction, Responsible::Producing),
            (ChainStage::PreliminaryProcessing, Responsible::Producing),
            (ChainStage::Processing, Responsible::Producing),
            (ChainStage::Trading, Responsible::Market),
        ];
        for (stage, who) in table {
            assert_eq!(stage.responsible(), who, "{stage}");
        }
        for stage in ChainStage::ALL {
            assert_eq!(SUPERVISION.iter().filter(|(s, _)| s == stage).count(), 1);
        }
    }

    #[test]
    fn a_chain_across_the_border_asks_each_province_for_its_stages() {
        let (thai_nguyen, nghe_an) = (province(19), province(40));
        let cooperative = GlobalId::new(RecordKind::Facility, nghe_an, 3);
        let processor = GlobalId::new(RecordKind::Facility, thai_nguyen, 8);
        let link = |facility: GlobalId, kind, supplies_to: &[ProvinceCode]| Link {
            facility,
            kind,
            supplies_to: supplies_to.to_vec(),
        };
        let needed = |facility, stage, assignee| Needed {
            facility,
            stage,
            assignee,
        };
        let market = GlobalId::new(RecordKind::Facility, thai_nguyen, 9);
        let both = vec![thai_nguyen, nghe_an];
        // The chain, the provinces concerned, the raiser, the inspections asked.
        type Case = (Vec<Link>, Vec<ProvinceCode>, ProvinceCode, Vec<Needed>);
        let cases: Vec<Case> = vec![
            // cam Vinh of a Nghệ An cooperative, found on a Thái Nguyên
            // market, which sells in Thái Nguyên only.
            (
                vec![
                    link(cooperative, FacilityKind::Cooperative, &[]),
                    link(market, FacilityKind::Trader, &[]),
                ],
                both.clone(),
                thai_nguyen,
                vec![
                    needed(cooperative, ChainStage::PrimaryProduction, nghe_an),
                    needed(cooperative, ChainStage::Trading, thai_nguyen),
                ],
            ),
            // A Thái Nguyên processor whose tea is sold in Nghệ An, raised
            // at home.
            (
                vec![link(processor, FacilityKind::Processor, &[nghe_an])],
                both.clone(),
                thai_nguyen,
                vec![
                    needed(processor, ChainStage::Processing, thai_nguyen),
                    needed(processor, ChainStage::Trading, nghe_an),
                ],
            ),
            // The same, its market not among the provinces concerned.
            (
                vec![link(processor, FacilityKind::Processor, &[nghe_an])],
                vec![thai_nguyen],
                thai_nguyen,
                vec![],
            ),
            // The grower's province left out of those concerned: only the
            // market is asked.
            (
                vec![link(cooperative, FacilityKind::Cooperative, &[])],
                vec![thai_nguyen],
                thai_nguyen,
                vec![needed(cooperative, ChainStage::Trading, thai_nguyen)],
            ),
            // Within one province: nothing to split.
            (
                vec![link(cooperative, FacilityKind::Cooperative, &[])],
                both.clone(),
                nghe_an,
                vec![],
            ),
            // The same facility twice is asked for once.
            (
                vec![
                    link(cooperative, FacilityKind::Trader, &[thai_nguyen]),
                    link(cooperative, FacilityKind::Trader, &[thai_nguyen]),
                ],
                both.clone(),
                nghe_an,
                vec![
                    needed(cooperative, ChainStage::Trading, nghe_an),
                    needed(cooperative, ChainStage::Trading, thai_nguyen),
                ],
            ),
        ];
        for (chain, provinces, raiser, expected) in cases {
            assert_eq!(
                inspections_needed(&chain, &provinces, raiser),
                expected,
                "{chain:?} raised by {raiser}"
            );
        }
    }

    #[test]
    fn deadlines_count_working_days_by_risk() {
        let deadlines = Deadlines::default();
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        // 2026-12-03 is a Thursday.
        let cases = [
            (RiskDecision::Serious, day(3), day(7)),
            (RiskDecision::Serious, day(5), day(8)),
            (RiskDecision::PotentiallySerious, day(3), day(10)),
            (RiskDecision::NotSerious, day(3), day(17)),
            (RiskDecision::Undecided, day(7), day(14)),
        ];
        for (risk, asked, due) in cases {
            assert_eq!(deadlines.due_on(risk, asked), due, "{risk} asked {asked}");
        }
        let none = Deadlines {
            serious: 0,
            ..deadlines
        };
        assert_eq!(none.due_on(RiskDecision::Serious, day(5)), day(5));
    }

    #[test]
    fn only_the_assignees_inspection_of_the_stage_asked_answers_a_request() {
        let (thai_nguyen, nghe_an) = (province(19), province(40));
        let facility = GlobalId::new(RecordKind::Facility, nghe_an, 3);
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let request = InspectionRequestRecord {
            id: GlobalId::new(RecordKind::InspectionRequest, thai_nguyen, 1),
            version: 1,
            data: InspectionRequestData {
                alert: GlobalId::new(RecordKind::Alert, thai_nguyen, 1),
                facility,
                stage: ChainStage::PrimaryProduction,
                assignee: nghe_an,
                due_on: day,
            },
            state: RequestState::Open,
            answer: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let inspection = |facility, stage| InspectionData {
            facility,
            stage,
            inspected_on: day,
            result: crate::domain::InspectionResult::Fail,
            findings: None,
            internal_notes: None,
        };
        let other = GlobalId::new(RecordKind::Facility, nghe_an, 4);
        let cases = [
            (nghe_an, facility, ChainStage::PrimaryProduction, true),
            (thai_nguyen, facility, ChainStage::PrimaryProduction, false),
            (nghe_an, other, ChainStage::PrimaryProduction, false),
            (nghe_an, facility, ChainStage::Processing, false),
        ];
        for (inspector, facility, stage, answers) in cases {
            let verdict = request.answered_by(inspector, &inspection(facility, stage));
            assert_eq!(verdict.is_ok(), answers, "{inspector} {facility} {stage}");
        }
        let answered = InspectionRequestRecord {
            state: RequestState::Answered,
            ..request.clone()
        };
        let verdict = answered.answered_by(
            nghe_an,
            &inspection(facility, ChainStage::PrimaryProduction),
        );
        assert!(verdict.unwrap_err().reason.contains("not open"));
        assert!(request.overdue(day.succ_opt().unwrap()));
        assert!(!request.overdue(day));
        assert!(!answered.overdue(day.succ_opt().unwrap()));

        // Its owner tells the assignee of a request, and no one else; a
        // follow-up's notice says what it answers.
        let told = crate::domain::Record::InspectionRequest(request.clone());
        assert_eq!(told.notice_to(nghe_an).map(|t| t.about), Some(request.id));
        assert_eq!(told.notice_to(thai_nguyen), None);
        let answering = Answering {
            request: request.id,
            inspection: GlobalId::new(RecordKind::Inspection, nghe_an, 7),
        };
        let follow_up = crate::domain::FollowUpRecord {
            id: GlobalId::new(RecordKind::FollowUp, nghe_an, 2),
            version: 1,
            data: inspection(facility, ChainStage::PrimaryProduction)
                .answering(answering.inspection, &request),
            created_at: Utc::now(),
        };
        assert_eq!(follow_up.data.answers, Some(answering));
        let told = crate::domain::Record::FollowUp(follow_up).notice_to(thai_nguyen);
        assert_eq!(told.and_then(|t| t.answers), Some(answering));
    }
}
