//! Telling a partner of one of our records: the mutations made for partners,
//! which store a notice once however often it is sent, so sending one again
//! (a retry, a deliverer that crashed before recording it) is safe.

use serde_json::json;

use super::{Partner, PartnerError, Trace};
use crate::domain::{GlobalId, RecordKind};

/// Our alert `$alert`, at `$version`, concerns the partner.
pub const RECEIVE_ALERT_NOTICE: &str = "mutation Notice($alert: ID!, $version: Int!) { \
    receiveAlertNotice(alertId: $alert, version: $version) { alertId duplicate } }";

/// Tells `partner` of our record `about` at `version`; `Ok` once the partner
/// has stored the notice.
pub async fn send(partner: &Partner, about: GlobalId, version: i32) -> Result<(), PartnerError> {
    let (query, field) = match about.kind {
        RecordKind::Alert => (RECEIVE_ALERT_NOTICE, "receiveAlertNotice"),
        other => {
            return Err(PartnerError::BadResponse(format!(
                "no notice is made for a {}",
                other.name()
            )));
        }
    };
    let variables = json!({ "alert": about.to_string(), "version": version });
    let data = partner
        .query(query, variables, &Trace::from_headers(None, None))
        .await?;
    match data[field]["alertId"].as_str() {
        Some(id) if id == about.to_string() => Ok(()),
        _ => Err(PartnerError::BadResponse(format!(
            "province {} did not confirm the notice of {about}",
            partner.province
        ))),
    }
}
