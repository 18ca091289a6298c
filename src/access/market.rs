//! The market's one write across the border: a buyer's interest, sent to
//! the province that owns the offer, which keeps it.

use super::{Access, Sourced};
use crate::domain::{InterestRecord, ProvinceCode};
use crate::federation::PartnerError;

impl Access {
    /// Sends `province` a buyer's interest in its offer (`input`, as
    /// `receiveInterest` takes it): the interest as its owner keeps it.
    pub async fn send_interest(
        &self,
        province: ProvinceCode,
        input: serde_json::Value,
    ) -> Result<Sourced<InterestRecord>, PartnerError> {
        let answer = self.calls()?.send_interest(province, input).await?;
        Ok(Sourced::owner(answer.value, answer.at))
    }
}
