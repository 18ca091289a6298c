//! Vietnamese provincial administrative codes (mã đơn vị hành chính cấp tỉnh).

use std::fmt;

use super::Invalid;

/// A province's two-digit administrative code: 19 is Thái Nguyên, 40 Nghệ An.
/// Nothing in Cầu Nối is specific to any code; the 2025 reorganisation kept codes as
/// numbers from 01 to 99, shown with two digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProvinceCode(u8);

impl ProvinceCode {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 2 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(format!(
                "`{}` is not a province code: expected two digits such as 19 or 40",
                super::text::preview(input)
            )));
        }
        let value: u8 = trimmed.parse().expect("one or two ASCII digits fit in u8");
        Self::from_number(i64::from(value))
    }

    /// From a stored or numeric form.
    pub fn from_number(value: i64) -> Result<Self, Invalid> {
        match u8::try_from(value) {
            Ok(code @ 1..=99) => Ok(Self(code)),
            _ => Err(Invalid::new(format!(
                "{value} is not a province code: expected 01 to 99"
            ))),
        }
    }

    pub fn number(self) -> i32 {
        i32::from(self.0)
    }
}

impl fmt::Display for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_codes_parse_and_print_with_two_digits() {
        assert_eq!(ProvinceCode::parse("19").unwrap().to_string(), "19");
        assert_eq!(ProvinceCode::parse(" 40 ").unwrap().number(), 40);
        assert_eq!(ProvinceCode::parse("1").unwrap().to_string(), "01");
    }

    #[test]
    fn non_codes_are_refused() {
        for bad in ["", "0", "00", "100", "1a", "-1", "+19", "١٩"] {
            assert!(ProvinceCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn every_valid_code_round_trips(n in 1u8..=99) {
            let code = ProvinceCode::from_number(i64::from(n)).unwrap();
            prop_assert_eq!(ProvinceCode::parse(&code.to_string()).unwrap(), code);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = ProvinceCode::parse(&s);
        }
    }
}
