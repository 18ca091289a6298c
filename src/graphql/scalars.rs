//! Custom scalars. Each checks its literal during validation (`is_valid`), so a bad
//! value is refused before any resolver runs, with the argument's path named.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::domain;

/// A calendar date, `YYYY-MM-DD` (ISO 8601), in Vietnamese local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a date (YYYY-MM-DD)"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A province's two-digit administrative code, as a string: `"19"`, `"40"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvinceCode(pub domain::ProvinceCode);

#[Scalar(name = "ProvinceCode")]
impl ScalarType for ProvinceCode {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => domain::ProvinceCode::parse(s)
                .map(ProvinceCode)
                .map_err(|invalid| InputValueError::custom(invalid.0)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if domain::ProvinceCode::parse(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::{Date, ProvinceCode};
    use async_graphql::{ScalarType, Value};
    use proptest::prelude::*;

    /// Any value a client may send for a scalar: strings, numbers, lists.
    fn values() -> impl Strategy<Value = Value> {
        prop_oneof![
            "\\PC{0,20}".prop_map(Value::String),
            "[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}".prop_map(Value::String),
            "[0-9]{1,3}".prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Boolean),
            Just(Value::Null),
            proptest::collection::vec("[0-9]{2}".prop_map(Value::String), 0..3)
                .prop_map(Value::List),
        ]
    }

    proptest! {
        /// Validation (`is_valid`) and parsing agree on every value, never
        /// panicking: the fast path that trusts a validated text's variables
        /// relies on it.
        #[test]
        fn validation_and_parsing_agree(value in values()) {
            prop_assert_eq!(Date::is_valid(&value), Date::parse(value.clone()).is_ok());
            prop_assert_eq!(ProvinceCode::is_valid(&value), ProvinceCode::parse(value.clone()).is_ok());
            if let Ok(date) = Date::parse(value.clone()) {
                prop_assert_eq!(Date::parse(date.to_value()).ok(), Some(date));
            }
            if let Ok(code) = ProvinceCode::parse(value) {
                prop_assert_eq!(ProvinceCode::parse(code.to_value()).ok(), Some(code));
            }
        }
    }
}
