//! Telling a partner of one of our records: the mutations made for partners,
//! which store a notice once however often it is sent, so sending one again
//! (a retry, a deliverer that crashed before recording it) is safe.

use serde_json::json;

use super::{Partner, PartnerError, Trace};
use crate::domain::{RecordKind, Told};

/// Our alert `$id`, at `$version` and in `$status`, concerns the partner.
pub const RECEIVE_ALERT_NOTICE: &str = "mutation Notice($id: ID!, $version: Int!, \
    $status: AlertStatus) { receiveAlertNotice(alertId: $id, version: $version, \
    status: $status) { recordId duplicate } }";

/// We wrote the follow-up `$id` in the thread of an alert that concerns the
/// partner, perhaps answering its request `$request` with our inspection.
pub const RECEIVE_FOLLOW_UP_NOTICE: &str = "mutation Notice($id: ID!, $version: Int!, \
    $alert: ID!, $request: ID, $inspection: ID) { receiveFollowUpNotice(followUpId: $id, \
    version: $version, alertId: $alert, answersRequestId: $request, inspectionId: $inspection) \
    { recordId duplicate } }";

/// Our inspection request `$id` is assigned to the partner.
pub const RECEIVE_INSPECTION_REQUEST_NOTICE: &str = "mutation Notice($id: ID!, $version: Int!, \
    $alert: ID!) { receiveInspectionRequestNotice(requestId: $id, version: $version, \
    alertId: $alert) { recordId duplicate } }";

/// Our harvest offer `$id` is urgent: its harvest may go unsold.
pub const RECEIVE_HARVEST_OFFER_NOTICE: &str = "mutation Notice($id: ID!, $version: Int!) { \
    receiveHarvestOfferNotice(offerId: $id, version: $version) { recordId duplicate } }";

/// Tells `partner` what `told` says of our record; `Ok` once the partner
/// has stored the notice.
pub async fn send(partner: &Partner, told: &Told) -> Result<(), PartnerError> {
    let about = told.about;
    let (query, field) = match about.kind {
        RecordKind::Alert => (RECEIVE_ALERT_NOTICE, "receiveAlertNotice"),
        RecordKind::FollowUp => (RECEIVE_FOLLOW_UP_NOTICE, "receiveFollowUpNotice"),
        RecordKind::InspectionRequest => (
            RECEIVE_INSPECTION_REQUEST_NOTICE,
            "receiveInspectionRequestNotice",
        ),
        RecordKind::HarvestOffer => (RECEIVE_HARVEST_OFFER_NOTICE, "receiveHarvestOfferNotice"),
        other => {
            return Err(PartnerError::BadResponse(format!(
                "no notice is made for a {}",
                other.name()
            )));
        }
    };
    let mut variables = json!({ "id": about.to_string(), "version": told.version });
    if let Some(status) = told.status {
        variables["status"] = async_graphql::InputType::to_value(&status)
            .into_json()
            .map_err(|e| PartnerError::BadResponse(e.to_string()))?;
    }
    if let Some(alert) = told.alert {
        variables["alert"] = json!(alert.to_string());
    }
    if let Some(answers) = told.answers {
        variables["request"] = json!(answers.request.to_string());
        variables["inspection"] = json!(answers.inspection.to_string());
    }
    let data = partner
        .query(query, variables, &Trace::from_headers(None, None))
        .await?;
    match data[field]["recordId"].as_str() {
        Some(id) if id == about.to_string() => Ok(()),
        _ => Err(PartnerError::BadResponse(format!(
            "province {} did not confirm the notice of {about}",
            partner.province
        ))),
    }
}

/// Every mutation sent to partners, for the test that runs them on our
/// schema.
pub const ALL: [&str; 4] = [
    RECEIVE_ALERT_NOTICE,
    RECEIVE_FOLLOW_UP_NOTICE,
    RECEIVE_INSPECTION_REQUEST_NOTICE,
    RECEIVE_HARVEST_OFFER_NOTICE,
];
