//! `provinces`: this gateway and each partner, as we see them from here.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::{Province, store};
use crate::federation::{Circuit, Partners};

/// A province this gateway serves or asks, and how asking it has gone.
#[derive(SimpleObject)]
pub struct ProvinceStatus {
    pub province: Province,
    /// This gateway's own province.
    pub this_gateway: bool,
    /// Whether the last call to it succeeded; null before the first call.
    pub reachable: Option<bool>,
    /// A partner's circuit: `OPEN` while repeated failures keep us from asking.
    pub circuit: Option<Circuit>,
    pub last_latency_ms: Option<f64>,
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The code of the last failure, e.g. `PARTNER_TIMEOUT`.
    pub last_error: Option<String>,
    /// When the certificate its gateway presented to us expires.
    pub certificate_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How our replica of a partner stands; null for this gateway.
    pub sync: Option<SyncStatus>,
}

/// The state of our replica of a partner's shared records.
#[derive(SimpleObject)]
pub struct SyncStatus {
    /// When a sync pass last succeeded.
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds since then.
    pub lag_seconds: Option<i64>,
    /// Why the last pass failed, if it did.
    pub last_error: Option<String>,
    /// Replica rows written or removed so far.
    pub rows_applied: i64,
}

#[derive(Default)]
pub struct ProvincesQuery;

#[Object]
impl ProvincesQuery {
    /// This gateway's province and every partner it can ask (internal callers).
    async fn provinces(&self, ctx: &Context<'_>) -> Result<Vec<ProvinceStatus>> {
        let mut all = vec![ProvinceStatus {
            province: Province(store(ctx).province()),
            this_gateway: true,
            reachable: Some(true),
            circuit: None,
            last_latency_ms: None,
            last_success_at: None,
            last_error: None,
            certificate_expires_at: None,
            sync: None,
        }];
        for partner in ctx.data::<Partners>()?.iter() {
            let status = partner.status();
            let sync = store(ctx).sync_state(partner.province).await?;
            all.push(ProvinceStatus {
                province: Province(partner.province),
                this_gateway: false,
                reachable: status.reachable,
                circuit: Some(status.circuit),
                last_latency_ms: status.last_latency.map(|d| d.as_secs_f64() * 1000.0),
                last_success_at: status.last_success,
                last_error: status.last_error.map(str::to_owned),
                certificate_expires_at: status.certificate_expires,
                sync: Some(SyncStatus {
                    lag_seconds: sync
                        .last_success
                        .map(|at| (chrono::Utc::now() - at).num_seconds()),
                    last_success_at: sync.last_success,
                    last_error: sync.last_error,
                    rows_applied: sync.rows_applied,
                }),
            });
        }
        Ok(all)
    }
}
