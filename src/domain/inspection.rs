//! Inspections along the production chain. The cooperation agreement splits them:
//! the producing province inspects primary production, preliminary processing and
//! processing of its facilities; the receiving province inspects trading.

use chrono::{DateTime, NaiveDate, Utc};

use super::{GlobalId, ProvinceCode, Refusal, coded_enum};

coded_enum! {
    /// A stage of a production chain.
    pub enum ChainStage {
        PrimaryProduction => "primary_production",
        PreliminaryProcessing => "preliminary_processing",
        Processing => "processing",
        Trading => "trading",
    }
}

coded_enum! {
    /// The outcome of an inspection (Circular 17/2024 grades pass or fail).
    pub enum InspectionResult {
        Pass => "pass",
        Fail => "fail",
    }
}

/// What an inspector records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionData {
    pub facility: GlobalId,
    pub stage: ChainStage,
    pub inspected_on: NaiveDate,
    pub result: InspectionResult,
    pub findings: Option<String>,
    /// Internal working notes: never shown outside the province.
    pub internal_notes: Option<String>,
}

/// A stored inspection. Its owner is the inspecting province.
#[derive(Debug, Clone)]
pub struct InspectionRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: InspectionData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl InspectionData {
    /// The split of supervision: a province inspects every stage of its own
    /// facilities' chain, and a partner's facility only where it trades in
    /// the province, `inspector`.
    pub fn check(&self, inspector: ProvinceCode) -> Result<(), Refusal> {
        if self.facility.province != inspector && self.stage != ChainStage::Trading {
            return Err(Refusal::new(
                "stage",
                format!(
                    "province {} inspects the production and processing of its own facilities; \
                     a partner's facility is inspected here at the trading stage",
                    self.facility.province
                ),
            ));
        }
        Ok(())
    }
}
