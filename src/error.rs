//! The errors every layer returns, each with the stable code a client sees.
//!
//! Resolvers turn an [`AppError`] into a GraphQL error whose `extensions.code` is
//! [`AppError::code`], with `extensions.field` naming the offending input where
//! there is one. An internal cause is logged with an incident number and never
//! returned: the client sees only "internal error" and that number.

use async_graphql::ErrorExtensions;

use crate::domain::{Invalid, ProvinceCode, Refusal};

///
/// It deliberately does not implement `Display`: async-graphql converts any
/// `Display` type into an error without extensions, so `?` in a resolver would
/// silently drop the code. Without it, `?` goes through the `From` below.
#[derive(Debug)]
pub enum AppError {
    /// A value the caller sent is wrong; `field` is its path, e.g. `input.name`.
    InvalidInput {
        field: String,
        message: String,
    },
    NotFound(String),
    Forbidden(String),
    /// The record belongs to another province; only its owner writes it.
    NotOwner {
        province: ProvinceCode,
        message: String,
    },
    /// The record changed since the caller read it, or its state forbids the change.
    Conflict(String),
    /// The database stayed locked by other writers, or had no connection free,
    /// for longer than the store waits (`store::BUSY_WAIT`); nothing was
    /// written. Try again shortly.
    StorageBusy,
    Internal(anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error again, for an error shared by several waiters (a
    /// batched read): an internal cause is carried over as its text.
    pub fn duplicate(&self) -> Self {
        match self {
            AppError::InvalidInput { field, message } => AppError::invalid(field, message),
            AppError::NotFound(message) => AppError::NotFound(message.clone()),
            AppError::Forbidden(message) => AppError::Forbidden(message.clone()),
            AppError::NotOwner { province, message } => AppError::NotOwner {
                province: *province,
                message: message.clone(),
            },
            AppError::Conflict(message) => AppError::Conflict(message.clone()),
            AppError::StorageBusy => AppError::StorageBusy,
            AppError::Internal(cause) => AppError::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidInput { .. } => "INVALID_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotOwner { .. } => "NOT_OWNER",
            AppError::Conflict(_) => "CONFLICT",
            AppError::StorageBusy => "STORAGE_BUSY",
            AppError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(error: anyhow::Error) -> Self {
        AppError::Internal(error)
    }
}

/// A domain rule's refusal, naming the field as the domain's data does; the
/// GraphQL layer names it as the caller sent it (`resolve::as_input`).
impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        AppError::invalid(refusal.field, refusal.reason)
    }
}

/// Names the field that an [`Invalid`] value came from.
pub trait FieldContext<T> {
    fn field(self, field: &str) -> Result<T, AppError>;
}

impl<T> FieldContext<T> for Result<T, Invalid> {
    fn field(self, field: &str) -> Result<T, AppError> {
        self.map_err(|invalid| AppError::invalid(field, invalid.0))
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            AppError::Internal(cause) => {
                let incident = fastrand::u64(..);
                tracing::error!(incident = format!("{incident:016x}"), error = ?cause, "internal error");
                format!("internal error (incident {incident:016x})")
            }
            AppError::InvalidInput { field, message } => format!("{field}: {message}"),
            AppError::StorageBusy => {
                "the database is busy with other writes; nothing was changed, try again in a moment"
                    .to_owned()
            }
            AppError::NotFound(message)
            | AppError::Forbidden(message)
            | AppError::NotOwner { message, .. }
            | AppError::Conflict(message) => message.clone(),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            match self {
                AppError::InvalidInput { field, .. } => extensions.set("field", field.as_str()),
                AppError::NotOwner { province, .. } => {
                    extensions.set("province", province.to_string())
                }
                _ => {}
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.extend()
    }
}
