//! Trade fairs a province hosts, and the booths a province registers at one
//! for its businesses. Each product a business will show must be eligible:
//! its owner has it, with an OCOP rating of at least the fair's least stars
//! valid on every day of the fair, and its facility holds a certificate
//! valid on every day of the fair. Eligibility is judged from the owner's
//! records as they are when asked, never from a copy.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    GlobalId, ProductRecord, ProvinceCode, Refusal, Stars, StatusChange, coded_enum, validity_on,
};

/// The longest fair, in days: eligibility is judged on each of its days.
pub const MAX_FAIR_DAYS: i64 = 31;

/// The least OCOP stars a fair asks unless it says otherwise.
pub const DEFAULT_MIN_STARS: i64 = 3;

/// What the host writes about a fair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeFairData {
    pub name: String,
    pub place: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Booths in all.
    pub booths: i32,
    /// The least OCOP rating of a product shown.
    pub min_stars: Stars,
    /// The last day to register.
    pub registration_deadline: NaiveDate,
}

impl TradeFairData {
    pub fn check(&self) -> Result<(), Refusal> {
        if self.ends_on < self.starts_on {
            return Err(Refusal::new(
                "ends_on",
                format!("the fair ends on {} before it starts", self.ends_on),
            ));
        }
        if (self.ends_on - self.starts_on).num_days() >= MAX_FAIR_DAYS {
            return Err(Refusal::new(
                "ends_on",
                format!("a fair lasts at most {MAX_FAIR_DAYS} days"),
            ));
        }
        if !(1..=10_000).contains(&self.booths) {
            return Err(Refusal::new("booths", "a fair has from 1 to 10 000 booths"));
        }
        if self.registration_deadline > self.starts_on {
            return Err(Refusal::new(
                "registration_deadline",
                "registration closes before the fair starts",
            ));
        }
        Ok(())
    }

    /// Every day of the fair.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.starts_on
            .iter_days()
            .take_while(|day| *day <= self.ends_on)
    }
}

/// A stored fair, with the booths registered so far.
#[derive(Debug, Clone)]
pub struct TradeFairRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: TradeFairData,
    pub booths_taken: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A business at a booth, and the products it will show (all of the
/// registering province).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhibitor {
    pub facility: GlobalId,
    pub products: Vec<GlobalId>,
}

/// Booths a province registers at a fair, for its businesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoothRegistrationData {
    pub fair: GlobalId,
    /// The province whose businesses exhibit.
    pub exhibiting: ProvinceCode,
    pub booths: i32,
    pub exhibitors: Vec<Exhibitor>,
}

impl BoothRegistrationData {
    pub fn check(&self) -> Result<(), Refusal> {
        if !(1..=100).contains(&self.booths) {
            return Err(Refusal::new("booths", "from 1 to 100 booths at once"));
        }
        if self.exhibitors.is_empty() || self.exhibitors.len() > 100 {
            return Err(Refusal::new("exhibitors", "from 1 to 100 businesses"));
        }
        for exhibitor in &self.exhibitors {
            if exhibitor.facility.province != self.exhibiting {
                return Err(Refusal::new(
                    "exhibitors",
                    format!(
                        "{} is not of province {}, which registers",
                        exhibitor.facility, self.exhibiting
                    ),
                ));
            }
            if exhibitor.products.is_empty() || exhibitor.products.len() > 100 {
                return Err(Refusal::new(
                    "exhibitors",
                    format!("{} shows from 1 to 100 products", exhibitor.facility),
                ));
            }
        }
        Ok(())
    }

    /// Every product shown, with its business.
    pub fn shown(&self) -> impl Iterator<Item = (GlobalId, GlobalId)> + '_ {
        self.exhibitors
            .iter()
            .flat_map(|e| e.products.iter().map(|p| (e.facility, *p)))
    }
}

/// A stored registration, which belongs to the host.
#[derive(Debug, Clone)]
pub struct BoothRegistrationRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: BoothRegistrationData,
    /// The registering province's own name for it: sent again, kept once.
    pub reference: String,
    pub created_at: DateTime<Utc>,
}

/// A product the host refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub business: GlobalId,
    pub product: GlobalId,
    pub code: Ineligible,
    pub reason: String,
}

/// What a fair's host answers a registration: the registration it keeps,
/// with the products it accepted (none when it accepted none), and each
/// product it refused.
#[derive(Debug, Clone)]
pub struct Registered {
    pub registration: Option<BoothRegistrationRecord>,
    pub refused: Vec<Refused>,
}

coded_enum! {
    /// Why a product may not be shown at a fair.
    pub enum Ineligible {
        /// Its owner has no such product, or does not show it to the host.
        UnknownProduct => "unknown_product",
        /// The product is not the business's.
        NotOfBusiness => "not_of_business",
        /// It has no OCOP rating.
        NotRated => "not_rated",
        /// Its rating has fewer stars than the fair asks.
        TooFewStars => "too_few_stars",
        /// Its rating is not valid on every day of the fair.
        RatingNotValid => "rating_not_valid",
        /// Its business holds no certificate valid on every day of the fair.
        NotCertified => "not_certified",
        /// Its owner could not be asked.
        OwnerUnavailable => "owner_unavailable",
    }
}

/// A certificate of a business, as validity on a day needs it.
#[derive(Debug, Clone)]
pub struct Held {
    pub issued_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub history: Vec<StatusChange>,
}

/// Whether `product`, shown by `business` at `fair`, is eligible; why not,
/// in words, if it is not. `held` are the business's certificates.
pub fn eligibility(
    fair: &TradeFairData,
    business: GlobalId,
    product: Option<&ProductRecord>,
    held: &[Held],
) -> Result<(), (Ineligible, String)> {
    let Some(product) = product else {
        return Err((
            Ineligible::UnknownProduct,
            "its owner shows no such product".to_owned(),
        ));
    };
    if product.data.facility != business {
        return Err((
            Ineligible::NotOfBusiness,
            format!(
                "it is a product of {}, not of {business}",
                product.data.facility
            ),
        ));
    }
    let Some(rating) = product.data.ocop else {
        return Err((Ineligible::NotRated, "it has no OCOP rating".to_owned()));
    };
    if rating.stars < fair.min_stars {
        return Err((
            Ineligible::TooFewStars,
            format!(
                "it is rated {} stars; the fair asks at least {}",
                rating.stars.get(),
                fair.min_stars.get()
            ),
        ));
    }
    if !fair.days().all(|day| rating.is_valid_on(day)) {
        return Err((
            Ineligible::RatingNotValid,
            format!(
                "its rating of {} runs out on {}, before the fair ends",
                rating.rated_on,
                rating.expires_on()
            ),
        ));
    }
    let certified = held.iter().any(|c| {
        fair.days()
            .all(|day| validity_on(c.issued_on, c.expires_on, &c.history, day).is_ok())
    });
    if !certified {
        return Err((
            Ineligible::NotCertified,
            format!(
                "{business} holds no certificate valid from {} to {}",
                fair.starts_on, fair.ends_on
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OcopRating, ProductCategory, ProductData, RecordKind, StoredStatus};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 11, d).unwrap()
    }

    fn fair() -> TradeFairData {
        TradeFairData {
            name: "Kết nối cùng phát triển – Link to grow".to_owned(),
            place: "Quảng trường Võ Nguyên Giáp, thành phố Thái Nguyên".to_owned(),
            starts_on: day(20),
            ends_on: day(24),
            booths: 120,
            min_stars: Stars::parse(3).unwrap(),
            registration_deadline: day(10),
        }
    }

    fn province() -> ProvinceCode {
        ProvinceCode::parse("40").unwrap()
    }

    fn business() -> GlobalId {
        GlobalId::new(RecordKind::Facility, province(), 7)
    }

    fn product(stars: Option<(i64, NaiveDate)>) -> ProductRecord {
        ProductRecord {
            id: GlobalId::new(RecordKind::Product, province(), 3),
            version: 1,
            data: ProductData {
                name: "Nhút Thanh Chương".to_owned(),
                category: ProductCategory::ProcessedFood,
                facility: business(),
                description: None,
                ocop: stars.map(|(stars, rated_on)| OcopRating {
                    stars: Stars::parse(stars).unwrap(),
                    rated_on,
                }),
                specialty: true,
                key_product: false,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn held(history: Vec<StatusChange>) -> Held {
        Held {
            issued_on: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            expires_on: NaiveDate::from_ymd_opt(2026, 1, 1),
            history,
        }
    }

    #[test]
    fn each_rule_of_a_fair_refuses_with_its_own_code() {
        let fair = fair();
        let rated = Some((4, NaiveDate::from_ymd_opt(2023, 6, 1).unwrap()));
        let verdict = |product: Option<ProductRecord>, held: &[Held]| {
            eligibility(&fair, business(), product.as_ref(), held).map_err(|(code, _)| code)
        };
        assert_eq!(verdict(Some(product(rated)), &[held(vec![])]), Ok(()));
        assert_eq!(verdict(None, &[]), Err(Ineligible::UnknownProduct));
        assert_eq!(
            verdict(Some(product(None)), &[held(vec![])]),
            Err(Ineligible::NotRated)
        );
        let two = Some((2, NaiveDate::from_ymd_opt(2023, 6, 1).unwrap()));
        assert_eq!(
            verdict(Some(product(two)), &[held(vec![])]),
            Err(Ineligible::TooFewStars)
        );
        // Rated on 2021-11-22, the rating lapses during the fair.
        let lapsing = Some((4, NaiveDate::from_ymd_opt(2021, 11, 22).unwrap()));
        assert_eq!(
            verdict(Some(product(lapsing)), &[held(vec![])]),
            Err(Ineligible::RatingNotValid)
        );
        assert_eq!(
            verdict(Some(product(rated)), &[]),
            Err(Ineligible::NotCertified)
        );
        // Suspended from the fair's third day.
        let suspended = StatusChange {
            status: StoredStatus::Suspended,
            effective_on: day(22),
        };
        assert_eq!(
            verdict(Some(product(rated)), &[held(vec![suspended])]),
            Err(Ineligible::NotCertified)
        );
        let mut other = product(rated);
        other.data.facility = GlobalId::new(RecordKind::Facility, province(), 8);
        assert_eq!(
            verdict(Some(other), &[held(vec![])]),
            Err(Ineligible::NotOfBusiness)
        );
    }

    #[test]
    fn a_fair_keeps_its_dates_and_booths_in_order() {
        assert_eq!(fair().check(), Ok(()));
        let field = |change: fn(&mut TradeFairData)| {
            let mut data = fair();
            change(&mut data);
            data.check().unwrap_err().field
        };
        assert_eq!(field(|f| f.ends_on = day(19)), "ends_on");
        assert_eq!(field(|f| f.booths = 0), "booths");
        assert_eq!(
            field(|f| f.registration_deadline = day(21)),
            "registration_deadline"
        );
        assert_eq!(fair().days().count(), 5);
    }
}
