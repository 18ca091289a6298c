//! Whether the products a business will show at a fair are eligible, asked
//! of their owners now: the products, and their businesses' certificates
//! with their histories, one request per partner for each.

use super::{Access, Consistency, Note, Noted, Sourced};
use crate::domain::{
    GlobalId, Held, Ineligible, ProvinceCode, Record, Registered, TradeFairData, eligibility,
};
use crate::error::AppError;
use crate::federation::PartnerError;

/// A product's verdict at a fair: `Ok`, or why not.
pub type Verdict = Result<(), (Ineligible, String)>;

impl Access {
    /// The verdict on each of `shown` (a business, one of its products) at
    /// `fair`, in order, from the records their owners keep now. A product
    /// whose owner cannot answer is `OWNER_UNAVAILABLE`, and the failure is
    /// noted.
    pub async fn eligibility(
        &self,
        fair: &TradeFairData,
        shown: &[(GlobalId, GlobalId)],
    ) -> Result<Noted<Vec<Verdict>>, AppError> {
        let products: Vec<GlobalId> = shown.iter().map(|(_, product)| *product).collect();
        let (found, certificates) = futures_util::future::join(
            self.find_many(&products, Consistency::Live),
            self.certificates_held(shown.iter().map(|(business, _)| *business)),
        )
        .await;
        let (found, certificates) = (found?, certificates?);
        let province_of = |note: &Note| match note {
            Note::Failed { province, .. } | Note::FromReplica { province, .. } => *province,
        };
        let mut failed: std::collections::HashSet<ProvinceCode> =
            found.notes.iter().map(province_of).collect();
        // One failure told per province, however many of its answers failed.
        let mut notes = found.notes;
        notes.extend(
            certificates
                .notes
                .into_iter()
                .filter(|note| !failed.contains(&province_of(note))),
        );
        failed.extend(certificates.failed);
        let verdicts = shown
            .iter()
            .zip(found.value)
            .map(|(&(business, product), record)| {
                if failed.contains(&product.province) || failed.contains(&business.province) {
                    return Err((
                        Ineligible::OwnerUnavailable,
                        format!("province {} could not be asked", product.province),
                    ));
                }
                let product = record.and_then(|r| match r.record {
                    Record::Product(product) => Some(product),
                    _ => None,
                });
                let held: Vec<Held> = certificates
                    .held
                    .get(&business)
                    .into_iter()
                    .flatten()
                    .map(|(certificate, history)| Held {
                        issued_on: certificate.data.issued_on,
                        expires_on: certificate.data.expires_on,
                        history: history.iter().map(|h| h.change).collect(),
                    })
                    .collect();
                eligibility(fair, business, product.as_ref(), &held)
            })
            .collect();
        Ok(Noted {
            value: verdicts,
            notes,
        })
    }

    /// Registers booths at `province`'s fair (`input`, as
    /// `receiveBoothRegistration` takes it): the registration the host
    /// keeps, if any, and the products it refused.
    pub async fn register_booths(
        &self,
        province: ProvinceCode,
        input: serde_json::Value,
    ) -> Result<Sourced<Registered>, PartnerError> {
        let answer = self.calls()?.register_booths(province, input).await?;
        Ok(Sourced::owner(answer.value, answer.at))
    }
}
