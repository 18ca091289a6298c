//! What each caller may do: the one place that decides, before any resolver runs.
//!
//! Deny by default. Operators read and write their province's records; dashboards
//! read them; sync jobs read change feeds (none are served yet, so they get
//! nothing); partners get nothing until the sharing rules are in place. A refused
//! request is `FORBIDDEN` and runs no resolver.

use async_graphql::parser::types::OperationType;

use crate::domain::Role;
use crate::server::identity::Caller;

/// Whether `caller` may run an operation of type `operation`; `Err` says why not.
pub fn authorize(caller: Caller, operation: OperationType) -> Result<(), String> {
    use OperationType::{Mutation, Query, Subscription};
    match (caller, operation) {
        (_, Subscription) => Err("subscriptions are not served".to_owned()),
        (Caller::Internal(Role::Operator), Query | Mutation) => Ok(()),
        (Caller::Internal(Role::Dashboard), Query) => Ok(()),
        (Caller::Internal(Role::Dashboard), Mutation) => {
            Err("dashboards read; only operators write".to_owned())
        }
        (Caller::Internal(Role::Sync), _) => {
            Err("sync clients read change feeds, which this gateway does not serve yet".to_owned())
        }
        (Caller::Internal(Role::Gateway), _) => {
            Err("a gateway certificate of our own province does not call us".to_owned())
        }
        (Caller::Partner(_), _) => Err(
            "partner access opens with the sharing rules, which this gateway does not have yet"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProvinceCode;

    /// Every caller against every operation type: the whole policy, as a table.
    #[test]
    fn the_policy_table() {
        use OperationType::{Mutation, Query, Subscription};
        let partner = Caller::Partner(ProvinceCode::parse("40").unwrap());
        let table = [
            (Caller::Internal(Role::Operator), [true, true, false]),
            (Caller::Internal(Role::Dashboard), [true, false, false]),
            (Caller::Internal(Role::Sync), [false, false, false]),
            (Caller::Internal(Role::Gateway), [false, false, false]),
            (partner, [false, false, false]),
        ];
        for (caller, allowed) in table {
            for (operation, allowed) in [Query, Mutation, Subscription].into_iter().zip(allowed) {
                assert_eq!(
                    authorize(caller, operation).is_ok(),
                    allowed,
                    "{caller:?} {operation:?}"
                );
            }
        }
    }
}
