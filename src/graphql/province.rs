//! Provinces as the API shows them: code and name.

use std::collections::BTreeMap;

use async_graphql::{Context, Object};

use super::scalars;
use crate::domain::ProvinceCode;

/// The names of the provinces this gateway knows, from configuration.
#[derive(Debug, Clone, Default)]
pub struct ProvinceNames(pub BTreeMap<ProvinceCode, String>);

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
