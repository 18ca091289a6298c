//! The market between the provinces: the harvest offers a facility makes
//! when its harvest needs buyers, and the interest a buying facility of
//! either province registers in one. Both belong to the offering province.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    GlobalId, OcopRating, PhoneNumber, ProductCategory, QuantityUnit, Refusal, coded_enum,
};

coded_enum! {
    /// Whether an offer still looks for buyers.
    pub enum OfferStatus {
        /// Open to interest.
        Open => "open",
        /// Sold, harvested or withdrawn: kept, and no longer open to interest.
        Closed => "closed",
    }
}

coded_enum! {
    /// Where a buyer's interest stands with the offering province.
    pub enum InterestState {
        /// Registered, not yet answered.
        Pending => "pending",
        /// The offering facility will deal with the buyer.
        Accepted => "accepted",
        /// The offering facility will not.
        Declined => "declined",
    }
}

/// Someone to call about an offer or an interest: personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub phone: PhoneNumber,
}

/// What an operator writes about a harvest offer.
#[derive(Debug, Clone, PartialEq)]
pub struct HarvestOfferData {
    pub facility: GlobalId,
    pub product: GlobalId,
    pub quantity: f64,
    pub unit: QuantityUnit,
    /// The harvest window, first and last day.
    pub harvest_from: NaiveDate,
    pub harvest_until: NaiveDate,
    /// The indicative price range, in đồng per unit.
    pub min_price_vnd: i64,
    pub max_price_vnd: i64,
    /// Where buyers collect.
    pub collection_point: String,
    /// The harvest is at risk of going unsold: partners are told at once.
    pub urgent: bool,
    pub contact: Option<Contact>,
    /// The facility consents to its contact being shown to other provinces.
    pub contact_shared: bool,
    pub note: Option<String>,
}

impl HarvestOfferData {
    /// The rules an offer keeps, the first it breaks named by its field.
    pub fn check(&self) -> Result<(), Refusal> {
        if !(self.quantity.is_finite() && self.quantity > 0.0) {
            return Err(Refusal::new("quantity", "a quantity is more than nothing"));
        }
        if self.harvest_until < self.harvest_from {
            return Err(Refusal::new(
                "harvest_until",
                format!(
                    "the harvest ends on {} before it starts on {}",
                    self.harvest_until, self.harvest_from
                ),
            ));
        }
        if self.min_price_vnd < 0 {
            return Err(Refusal::new("min_price_vnd", "a price is not negative"));
        }
        if self.max_price_vnd < self.min_price_vnd {
            return Err(Refusal::new(
                "max_price_vnd",
                format!(
                    "the highest price {} is below the lowest {}",
                    self.max_price_vnd, self.min_price_vnd
                ),
            ));
        }
        if self.contact_shared && self.contact.is_none() {
            return Err(Refusal::new(
                "contact_shared",
                "there is no contact to share: give one, or share none",
            ));
        }
        Ok(())
    }
}

/// A stored offer, with what its owner says of it when it is read.
#[derive(Debug, Clone)]
pub struct HarvestOfferRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: HarvestOfferData,
    pub status: OfferStatus,
    pub shown: OfferShown,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an offer shows of its product and facility, read with it from the
/// owner's records as they are (an offer is shown to every partner, its
/// product and facility perhaps not), and whether the facility holds a
/// certificate valid today.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferShown {
    pub product_name: String,
    pub category: ProductCategory,
    pub ocop: Option<OcopRating>,
    pub facility_name: String,
    pub certified: bool,
}

/// A buyer's interest in an offer, as the buyer's province sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct InterestData {
    pub offer: GlobalId,
    /// The buying facility, of the province that sent the interest.
    pub buyer: GlobalId,
    /// How much the buyer would take, in the offer's unit.
    pub quantity: Option<f64>,
    pub message: Option<String>,
    /// Whom the offering facility calls back: given by the buyer's province
    /// to the offer's owner, and to no one else.
    pub contact: Option<Contact>,
}

impl InterestData {
    pub fn check(&self) -> Result<(), Refusal> {
        if self.quantity.is_some_and(|q| !(q.is_finite() && q > 0.0)) {
            return Err(Refusal::new("quantity", "a quantity is more than nothing"));
        }
        Ok(())
    }
}

/// A stored interest, which belongs to the offer's province. `reference`
/// is the buyer's province's own name for it, so that an interest sent
/// twice is kept once.
#[derive(Debug, Clone)]
pub struct InterestRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: InterestData,
    pub reference: String,
    pub state: InterestState,
    /// The offering province's answer, in words.
    pub answer: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a buying facility may be: one that trades or processes food.
pub fn buys_harvests(kind: super::FacilityKind) -> bool {
    use super::FacilityKind as K;
    matches!(kind, K::Trader | K::Processor | K::PreliminaryProcessor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProvinceCode, RecordKind};

    fn offer() -> HarvestOfferData {
        let province = ProvinceCode::parse("40").unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
        HarvestOfferData {
            facility: GlobalId::new(RecordKind::Facility, province, 1),
            product: GlobalId::new(RecordKind::Product, province, 1),
            quantity: 20_000.0,
            unit: QuantityUnit::Kilogram,
            harvest_from: day(10),
            harvest_until: day(30),
            min_price_vnd: 15_000,
            max_price_vnd: 22_000,
            collection_point: "Xã Xuân Hồng, Nghi Lộc".to_owned(),
            urgent: true,
            contact: None,
            contact_shared: false,
            note: None,
        }
    }

    #[test]
    fn an_offer_keeps_its_window_prices_and_consent_in_order() {
        assert_eq!(offer().check(), Ok(()));
        let field = |change: fn(&mut HarvestOfferData)| {
            let mut data = offer();
            change(&mut data);
            data.check().unwrap_err().field
        };
        assert_eq!(field(|d| d.quantity = 0.0), "quantity");
        assert_eq!(field(|d| d.quantity = f64::NAN), "quantity");
        assert_eq!(
            field(|d| std::mem::swap(&mut d.harvest_from, &mut d.harvest_until)),
            "harvest_until"
        );
        assert_eq!(field(|d| d.min_price_vnd = -1), "min_price_vnd");
        assert_eq!(field(|d| d.max_price_vnd = 10_000), "max_price_vnd");
        assert_eq!(field(|d| d.contact_shared = true), "contact_shared");
    }
}
