//! What each caller may do: the one place that decides, before any resolver runs.
//!
//! Deny by default. Operators read and write their province's records and read
//! the audit trail; dashboards read the records; both follow the alert events
//! by subscription; sync jobs read the change feed and nothing else; partner
//! gateways read what is shared with
//! them — the store filters records by [`crate::store::Audience`] and personal data
//! fields refuse them — and call only the mutations made for partners, which
//! no one else calls. A refused request is `FORBIDDEN` and runs no resolver.

use async_graphql::parser::types::OperationType;

use crate::domain::Caller;
use crate::domain::Role;

/// Root fields only operators may ask for.
const OPERATOR_FIELDS: &[&str] = &["auditLog", "auditHead"];
/// Root fields only our own callers may ask for: they describe our partnerships.
const INTERNAL_FIELDS: &[&str] = &["provinces", "alertNotices", "alertEvents", "marketEvents"];
/// The mutations made for partners' gateways, and only for them.
const PARTNER_MUTATIONS: &[&str] = &[
    "receiveAlertNotice",
    "receiveFollowUpNotice",
    "receiveInspectionRequestNotice",
    "receiveHarvestOfferNotice",
    "receiveInterest",
    "receiveBoothRegistration",
];
/// The mutation made for partners that asks its sender back, and only it:
/// a fair's host checks the products a partner registers with their owner,
/// the sender, whose request to answer that asks no one.
const CALLS_BACK: &[&str] = &["receiveBoothRegistration"];
/// Root fields a sync job may ask for.
const FEED_FIELDS: &[&str] = &["changes"];

/// Whether `caller` may run an operation of type `operation` selecting
/// `root_fields` at its root; `Err` says why not.
pub fn authorize(
    caller: Caller,
    operation: OperationType,
    root_fields: &[String],
) -> Result<(), String> {
    use OperationType::{Mutation, Query, Subscription};
    let operator_only = root_fields
        .iter()
        .find(|field| OPERATOR_FIELDS.contains(&field.as_str()));
    let for_partners = root_fields
        .iter()
        .find(|field| PARTNER_MUTATIONS.contains(&field.as_str()));
    match (caller, operation) {
        (Caller::Internal(Role::Operator | Role::Dashboard), Subscription) => Ok(()),
        (_, Subscription) => Err("subscriptions are for dashboards and operators".to_owned()),
        (Caller::Internal(Role::Operator), Mutation) => match for_partners {
            Some(field) => Err(format!("`{field}` is for partners' gateways")),
            None => Ok(()),
        },
        (Caller::Internal(Role::Operator), Query) => Ok(()),
        (Caller::Internal(Role::Dashboard), Query) => match operator_only {
            Some(field) => Err(format!("`{field}` is for operators")),
            None => Ok(()),
        },
        (Caller::Partner(_), Query) => {
            // `alertNotice` answers a partner about its own alerts only.
            let internal = root_fields
                .iter()
                .find(|field| INTERNAL_FIELDS.contains(&field.as_str()));
            match operator_only.or(internal) {
                Some(field) => Err(format!("`{field}` is not for partners")),
                None => Ok(()),
            }
        }
        (Caller::Internal(Role::Dashboard), Mutation) => {
            Err("dashboards read; only operators write".to_owned())
        }
        (Caller::Partner(_), Mutation) => match root_fields
            .iter()
            .find(|field| !PARTNER_MUTATIONS.contains(&field.as_str()))
        {
            Some(field) => Err(format!(
                "`{field}` is not for partners; they may call {}",
                PARTNER_MUTATIONS.join(", ")
            )),
            None => Ok(()),
        },
        (Caller::Internal(Role::Sync), Query)
            if !root_fields.is_empty()
                && root_fields
                    .iter()
                    .all(|f| FEED_FIELDS.contains(&f.as_str())) =>
        {
            Ok(())
        }
        (Caller::Internal(Role::Sync), _) => Err("sync jobs read the change feed only".to_owned()),
        (Caller::Internal(Role::Gateway), _) => {
            Err("a gateway certificate of our own province does not call us".to_owned())
        }
    }
}

/// Whether a partner's request selecting `root_fields` may ask its sender
/// back.
pub fn calls_back(root_fields: &[String]) -> bool {
    !root_fields.is_empty() && root_fields.iter().all(|f| CALLS_BACK.contains(&f.as_str()))
}

/// Whether `caller` may see personal data (names, phones and identity numbers of
/// household producers and contacts, Decree 13/2023) and internal notes.
pub fn sees_internal_fields(caller: Caller) -> bool {
    matches!(caller, Caller::Internal(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProvinceCode;

    /// Only a registration of booths, alone in its request, asks its sender
    /// back.
    #[test]
    fn one_partner_mutation_alone_calls_back() {
        let fields = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert!(calls_back(&fields(&["receiveBoothRegistration"])));
        assert!(!calls_back(&fields(&[
            "receiveBoothRegistration",
            "receiveInterest"
        ])));
        assert!(!calls_back(&fields(&["receiveInterest"])));
        assert!(!calls_back(&fields(&[])));
    }

    /// Every caller against every kind of operation: the whole policy, as a table.
    #[test]
    fn the_policy_table() {
        use OperationType::{Mutation, Query, Subscription};
        let partner = Caller::Partner(ProvinceCode::parse("40").unwrap());
        let records = vec!["certificates".to_owned()];
        let audit = vec!["facilities".to_owned(), "auditLog".to_owned()];
        let notice = vec!["receiveAlertNotice".to_owned()];
        let notices = vec!["alertNotices".to_owned()];
        // query records, query the audit log, mutate, subscribe, deliver a
        // notice, list notices received
        let table = [
            (
                Caller::Internal(Role::Operator),
                [true, true, true, true, false, true],
            ),
            (
                Caller::Internal(Role::Dashboard),
                [true, false, false, true, false, true],
            ),
            (Caller::Internal(Role::Sync), [false; 6]),
            (Caller::Internal(Role::Gateway), [false; 6]),
            (partner, [true, false, false, false, true, false]),
        ];
        for (caller, allowed) in table {
            let asked = [
                (Query, &records),
                (Query, &audit),
                (Mutation, &records),
                (Subscription, &records),
                (Mutation, &notice),
                (Query, &notices),
            ];
            for ((operation, fields), allowed) in asked.into_iter().zip(allowed) {
                assert_eq!(
                    authorize(caller, operation, fields).is_ok(),
                    allowed,
                    "{caller:?} {operation:?} {fields:?}"
                );
            }
            assert_eq!(sees_internal_fields(caller), caller != partner);
        }
    }
}
