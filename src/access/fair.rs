//! Whether the products a business will show at a fair are eligible, asked
//! of their owners now: the products, and their businesses' certificates
//! with their histories, one request per partner for each.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures_util::future::join_all;

use super::trace::Failure;
use super::{Access, Consistency, Note, Noted, Sourced};
use crate::domain::{
    BoothRegistrationRecord, GlobalId, Held, Ineligible, ProvinceCode, Record, StatusChange,
    TradeFairData, eligibility,
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
        let mut businesses: BTreeMap<ProvinceCode, BTreeSet<GlobalId>> = BTreeMap::new();
        for (business, _) in shown {
            businesses
                .entry(business.province)
                .or_default()
                .insert(*business);
        }
        let certificates = join_all(businesses.into_iter().map(|(province, facilities)| {
            let facilities: Vec<GlobalId> = facilities.into_iter().collect();
            async move { (province, self.certificates_of(province, facilities).await) }
        }));
        let (found, certificates) =
            futures_util::future::join(self.find_many(&products, Consistency::Live), certificates)
                .await;
        let found = found?;
        let mut notes = found.notes;
        let mut failed: HashSet<ProvinceCode> = notes
            .iter()
            .map(|note| match note {
                Note::Failed { province, .. } | Note::FromReplica { province, .. } => *province,
            })
            .collect();
        let mut held: HashMap<GlobalId, Vec<Held>> = HashMap::new();
        for (province, answer) in certificates {
            match answer {
                Ok(certificates) => {
                    for (certificate, history) in certificates {
                        held.entry(certificate.data.facility)
                            .or_default()
                            .push(Held {
                                issued_on: certificate.data.issued_on,
                                expires_on: certificate.data.expires_on,
                                history: history
                                    .iter()
                                    .map(|h| h.change)
                                    .collect::<Vec<StatusChange>>(),
                            });
                    }
                }
                Err(Failure::Partner(error)) => {
                    if failed.insert(province) {
                        notes.push(Note::Failed { province, error });
                    }
                }
                Err(Failure::Ours(error)) => return Err(error),
            }
        }
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
                let held = held.get(&business).map(Vec::as_slice).unwrap_or_default();
                eligibility(fair, business, product.as_ref(), held)
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
        let Some(reach) = &self.reach else {
            return Err(PartnerError::NotConfigured);
        };
        let answer = reach.calls.register_booths(province, input).await?;
        Ok(Sourced::owner(answer.value, answer.at))
    }
}

/// What a fair's host answered a registration: the registration it keeps,
/// if it keeps one, and each product it refused as it told it.
pub type Registered = (Option<BoothRegistrationRecord>, Vec<serde_json::Value>);
