//! The access policy against every root field of the schema, for every caller.

use async_graphql::parser::types::{OperationType, TypeKind, TypeSystemDefinition};
use caunoi::domain::Caller;
use caunoi::domain::{ProvinceCode, Role};
use caunoi::policy::authorize;

/// Every field of the schema's `Query`, `Mutation` and `Subscription` types.
fn root_fields() -> Vec<(OperationType, String)> {
    let document = async_graphql::parser::parse_schema(caunoi::graphql::sdl()).unwrap();
    let mut fields = Vec::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let operation = match ty.node.name.node.as_str() {
            "Query" => OperationType::Query,
            "Mutation" => OperationType::Mutation,
            "Subscription" => OperationType::Subscription,
            _ => continue,
        };
        if let TypeKind::Object(object) = &ty.node.kind {
            for field in &object.fields {
                fields.push((operation, field.node.name.node.to_string()));
            }
        }
    }
    fields
}

#[test]
fn every_caller_against_every_query_and_mutation() {
    let fields = root_fields();
    assert!(fields.len() > 20, "{fields:?}");
    let operator_only = ["auditLog", "auditHead"];
    let internal_only = ["provinces", "alertNotices", "alertEvents", "marketEvents"];
    let for_partners = [
        "receiveAlertNotice",
        "receiveFollowUpNotice",
        "receiveInspectionRequestNotice",
        "receiveHarvestOfferNotice",
        "receiveInterest",
        "receiveBoothRegistration",
    ];
    let partner = Caller::Partner(ProvinceCode::parse("40").unwrap());
    for (operation, field) in &fields {
        let query = *operation == OperationType::Query;
        let subscription = *operation == OperationType::Subscription;
        let audit = operator_only.contains(&field.as_str());
        let internal = internal_only.contains(&field.as_str());
        let partners_only = for_partners.contains(&field.as_str());
        for (caller, expected) in [
            (Caller::Internal(Role::Operator), !partners_only),
            (
                Caller::Internal(Role::Dashboard),
                (query && !audit) || subscription,
            ),
            (partner, (query && !audit && !internal) || partners_only),
            (Caller::Internal(Role::Sync), field == "changes"),
            (Caller::Internal(Role::Gateway), false),
        ] {
            assert_eq!(
                authorize(caller, *operation, std::slice::from_ref(field)).is_ok(),
                expected,
                "{caller:?} asking {operation:?} {field}"
            );
        }
    }
}
