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
