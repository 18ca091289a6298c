//! Facilities (cơ sở) and the identifying numbers that come with them.

use chrono::{DateTime, Utc};

use super::{GlobalId, Invalid, ProvinceCode, coded_enum, text::preview};

coded_enum! {
    /// What a facility does in the food chain.
    pub enum FacilityKind {
        /// Grows, raises or catches food (sản xuất ban đầu).
        PrimaryProducer => "primary_producer",
        /// Cleans, sorts and packs without changing the food (sơ chế).
        PreliminaryProcessor => "preliminary_processor",
        /// Turns raw food into processed food (chế biến).
        Processor => "processor",
        /// Trades food (kinh doanh).
        Trader => "trader",
        /// An agricultural cooperative (hợp tác xã).
        Cooperative => "cooperative",
        /// A household producer (hộ sản xuất); its contact is personal data.
        Household => "household",
        /// A slaughterhouse (cơ sở giết mổ).
        Slaughterhouse => "slaughterhouse",
    }
}

/// A business registration number (mã số doanh nghiệp, hợp tác xã or hộ kinh
/// doanh): letters, digits, `-` and `/`, 6 to 20 characters, kept in upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessRegistrationNumber(String);

impl BusinessRegistrationNumber {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim().to_ascii_uppercase();
        let shape_ok = (6..=20).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/');
        if !shape_ok {
            return Err(Invalid::new(format!(
                "`{}` is not a business registration number (6 to 20 letters, digits, - or /)",
                preview(input)
            )));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A Vietnamese phone number, kept in national form (`0` and 9 or 10 digits).
/// Spaces, dots and dashes are dropped; `+84` becomes `0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let compact: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-'))
            .collect();
        let national = match compact.strip_prefix("+84") {
            Some(rest) => format!("0{rest}"),
            None => compact,
        };
        let shape_ok = national.starts_with('0')
            && (10..=11).contains(&national.len())
            && national.bytes().all(|b| b.is_ascii_digit());
        if !shape_ok {
            return Err(Invalid::new(format!(
                "`{}` is not a Vietnamese phone number (0 and 9 or 10 digits, or +84…)",
                preview(input)
            )));
        }
        Ok(Self(national))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A citizen identity number: 12 digits (căn cước), or 9 for an old identity card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let value = input.trim();
        if !(value.len() == 12 || value.len() == 9) || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "an identity number has 12 digits (or 9 for an old card)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What an operator writes about a facility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityData {
    pub name: String,
    pub kind: FacilityKind,
    pub business_registration_number: Option<BusinessRegistrationNumber>,
    pub commune: String,
    pub district: Option<String>,
    pub address_detail: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<PhoneNumber>,
    pub contact_id_number: Option<IdNumber>,
    /// Provinces its products are supplied to, sorted, without repeats.
    pub supplies_to: Vec<ProvinceCode>,
}

/// A stored facility.
#[derive(Debug, Clone)]
pub struct FacilityRecord {
    pub id: GlobalId,
    pub version: i32,
    pub data: FacilityData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phone_numbers_are_kept_in_national_form() {
        assert_eq!(
            PhoneNumber::parse("0912 345 678").unwrap().into_inner(),
            "0912345678"
        );
        assert_eq!(
            PhoneNumber::parse("+84 208.3855.123").unwrap().into_inner(),
            "02083855123"
        );
        for bad in ["912345678", "09123", "0912x45678", "", "+1 202 555 0100"] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn registration_and_identity_numbers_have_their_shapes() {
        assert_eq!(
            BusinessRegistrationNumber::parse(" 4600123456-001 ")
                .unwrap()
                .as_str(),
            "4600123456-001"
        );
        assert!(BusinessRegistrationNumber::parse("12 34").is_err());
        assert!(IdNumber::parse("019201000123").is_ok());
        assert!(IdNumber::parse("01920100012").is_err());
    }

    proptest! {
        #[test]
        fn accepted_phone_numbers_are_national_digits(s in "[+0-9 .-]{0,16}") {
            if let Ok(phone) = PhoneNumber::parse(&s) {
                let phone = phone.into_inner();
                prop_assert!(phone.starts_with('0'));
                prop_assert!(phone.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
