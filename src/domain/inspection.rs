//! Inspections along the production chain. The cooperation agreement splits them:
//! the producing province inspects primary production, preliminary processing and
//! processing of its facilities; the receiving province inspects trading.

use super::coded_enum;

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
