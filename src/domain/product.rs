//! Products and their OCOP ("One Commune One Product") rating.

use chrono::{DateTime, Months, NaiveDate, Utc};

use super::{GlobalId, Invalid, coded_enum};

coded_enum! {
    /// The product groups of agro-forestry-fishery food.
    pub enum ProductCategory {
        /// Crops: tea, fruit, vegetables, rice (nông sản).
        Agricultural => "agricultural",
        /// Meat, eggs, milk, honey (sản phẩm chăn nuôi).
        Livestock => "livestock",
        /// Forest products: mushrooms, bamboo shoots, medicinal plants (lâm sản).
        Forestry => "forestry",
        /// Fish, shrimp and other aquatic food (thủy sản).
        Aquatic => "aquatic",
        /// Processed food: fish sauce, pickles, vermicelli (thực phẩm chế biến).
        ProcessedFood => "processed_food",
        /// Salt (muối).
        Salt => "salt",
    }
}

/// An OCOP star rating, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stars(u8);

impl Stars {
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        match u8::try_from(value) {
            Ok(n @ 1..=5) => Ok(Self(n)),
            _ => Err(Invalid::new(format!(
                "{value} is not an OCOP rating: stars go from 1 to 5"
            ))),
        }
    }

    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// A product's OCOP rating: stars and the date of the rating decision. A rating is
/// valid for 36 months; five stars are awarded nationally, three and four by the
/// province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcopRating {
    pub stars: Stars,
    pub rated_on: NaiveDate,
}

/// How long an OCOP rating stays valid.
pub const OCOP_VALIDITY_MONTHS: u32 = 36;

impl OcopRating {
    pub fn expires_on(self) -> NaiveDate {
        self.rated_on
            .checked_add_months(Months::new(OCOP_VALIDITY_MONTHS))
            .unwrap_or(NaiveDate::MAX)
    }

    pub fn is_valid_on(self, day: NaiveDate) -> bool {
        self.rated_on <= day && day <= self.expires_on()
    }
}

/// What an operator writes about a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductData {
    pub name: String,
    pub category: ProductCategory,
    pub facility: GlobalId,
    pub description: Option<String>,
    pub ocop: Option<OcopRating>,
    /// A provincial specialty (đặc sản).
    pub specialty: bool,
    /// A key product of the province (sản phẩm chủ lực).
    pub key_product: bool,
}

/// A stored product.
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: ProductData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ratings_last_thirty_six_months() {
        let rating = OcopRating {
            stars: Stars::parse(4).unwrap(),
            rated_on: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        };
        assert_eq!(
            rating.expires_on(),
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
        assert!(rating.is_valid_on(NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()));
        assert!(!rating.is_valid_on(NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()));
    }

    proptest! {
        #[test]
        fn only_one_to_five_stars_exist(n in any::<i64>()) {
            prop_assert_eq!(Stars::parse(n).is_ok(), (1..=5).contains(&n));
        }
    }
}
