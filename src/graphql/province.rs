//! Provinces as the API shows them: code and name.

use async_graphql::{Context, Object};

use super::scalars;
use crate::config::ProvinceNames;
use crate::domain::ProvinceCode;

/// A province, by its administrative code.
#[derive(Debug, Clone, Copy)]
pub struct Province(pub ProvinceCode);

#[Object]
impl Province {
    /// The two-digit administrative code.
    async fn code(&self) -> scalars::ProvinceCode {
        scalars::ProvinceCode(self.0)
    }

    /// The province's name, if this gateway's configuration knows it.
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        ctx.data_opt::<ProvinceNames>()
            .and_then(|names| names.0.get(&self.0).cloned())
    }
}
