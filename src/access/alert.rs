//! What an alert concerns, read from the records' owners: the provinces that
//! must know of it.

use std::collections::BTreeSet;

use super::{Access, Consistency, Note, Noted};
use crate::domain::{FacilityRecord, GlobalId, Link, ProvinceCode, Record};
use crate::error::AppError;
use crate::federation::PartnerError;

/// The provinces an alert's records concern, the facilities of their chain,
/// and the records that could not count.
#[derive(Debug, Default)]
pub struct Concerned {
    pub provinces: Vec<ProvinceCode>,
    /// The facilities concerned and those of the products concerned, as
    /// their owners describe them.
    pub chain: Vec<Link>,
    /// Records their owner says it does not have (or does not share with us).
    pub unknown: Vec<GlobalId>,
    /// Records of a province that is not our partner.
    pub not_partners: Vec<GlobalId>,
}

impl Access {
    /// The provinces an alert on `products` and `facilities` concerns: ours,
    /// the owner of each record and of each product's facility, and every
    /// province those facilities supply; and the facilities of that chain.
    /// A record whose owner cannot answer now (nor our replica for it)
    /// counts for its owner alone and adds no facility, and the failure is
    /// noted: an alert is not held up by a partner that is down.
    pub async fn provinces_concerned(
        &self,
        products: &[GlobalId],
        facilities: &[GlobalId],
    ) -> Result<Noted<Concerned>, AppError> {
        let mut concerned = Concerned::default();
        let mut provinces = BTreeSet::from([self.province()]);
        let mut notes = Vec::new();
        let asked: Vec<GlobalId> = products.iter().chain(facilities).copied().collect();
        let (found, failed) = self.find_noting(&asked, &mut notes).await?;
        let mut of_products = Vec::new();
        for (id, record) in asked.iter().zip(found) {
            if id.province != self.province() && !self.is_partner(id.province) {
                concerned.not_partners.push(*id);
                continue;
            }
            provinces.insert(id.province);
            match record {
                Some(Record::Facility(facility)) => {
                    provinces.extend(facility.data.supplies_to.iter().copied());
                    concerned.chain.push(link(&facility));
                }
                Some(Record::Product(product)) => of_products.push(product.data.facility),
                Some(_) => {}
                None if failed.contains(&id.province) => {}
                None => concerned.unknown.push(*id),
            }
        }
        // A product's facility only adds the provinces it supplies; one its
        // owner does not show us (an OCOP product's is not always) adds none.
        let (found, _) = self.find_noting(&of_products, &mut notes).await?;
        for record in found.into_iter().flatten() {
            if let Record::Facility(facility) = record {
                provinces.extend(facility.data.supplies_to.iter().copied());
                concerned.chain.push(link(&facility));
            }
        }
        concerned.provinces = provinces.into_iter().collect();
        Ok(Noted {
            value: concerned,
            notes,
        })
    }

    /// The records of `ids`, in order, with the provinces that could not be
    /// asked. Their failures join `notes`, but for "not a partner", which the
    /// caller tells as such.
    async fn find_noting(
        &self,
        ids: &[GlobalId],
        notes: &mut Vec<Note>,
    ) -> Result<(Vec<Option<Record>>, BTreeSet<ProvinceCode>), AppError> {
        if ids.is_empty() {
            return Ok((Vec::new(), BTreeSet::new()));
        }
        let found = self.find_many(ids, Consistency::BestEffort).await?;
        let mut failed = BTreeSet::new();
        for note in found.notes {
            if let Note::Failed { province, error } = &note {
                failed.insert(*province);
                if matches!(error, PartnerError::NotConfigured) {
                    continue;
                }
            }
            notes.push(note);
        }
        let records = found
            .value
            .into_iter()
            .map(|found| found.map(|found| found.record))
            .collect();
        Ok((records, failed))
    }

    /// When `partner`'s operators acknowledged the notice of our alert
    /// `alert`, as the partner says: `Some(None)` while they have not, `None`
    /// when it cannot be asked (noted when it failed).
    pub async fn acknowledgement(
        &self,
        partner: ProvinceCode,
        alert: GlobalId,
    ) -> Noted<Option<Option<chrono::DateTime<chrono::Utc>>>> {
        let Some(reach) = &self.reach else {
            return Noted::plain(None);
        };
        match reach.calls.acknowledgement(partner, alert).await {
            Ok(answer) => Noted::plain(Some(answer.value)),
            Err(error) => Noted::failed(None, partner, error),
        }
    }

    /// Whether `province` is a partner this gateway can ask.
    pub fn is_partner(&self, province: ProvinceCode) -> bool {
        self.reach
            .as_ref()
            .is_some_and(|reach| reach.calls.partners.get(province).is_ok())
    }
}

fn link(facility: &FacilityRecord) -> Link {
    Link {
        facility: facility.id,
        kind: facility.data.kind,
        supplies_to: facility.data.supplies_to.clone(),
    }
}
