//! The GraphQL API: one module per domain, merged at the root.
//!
//! Resolvers are short: they parse arguments into domain types (naming the field
//! of any bad value), ask the record-access layer (`crate::access`) or, to
//! write, the store, and wrap records in output types (`answer`). Building
//! the schema ([`schema`]) touches nothing outside memory, so `caunoi schema`
//! needs no database. `request` runs one request; `resolve` holds what resolvers
//! share.

mod alert;
mod answer;
mod audit;
mod certificate;
mod changes;
mod cost;
mod events;
mod facility;
mod fair;
mod inspection;
mod market;
mod node;
mod objects;
mod pagination;
mod product;
mod province;
mod provinces;
mod request;
mod resolve;
pub mod scalars;
mod shape;
mod supervision;
mod trace;

pub use answer::Returned;
pub use objects::{Certificate, Facility, Inspection, Product};
pub use province::Province;
pub use request::{
    Executed, MOST_ERRORS, Prepared, Schemas, Text, Transport, coded_error, forbidden, prepare,
    run, subscribe,
};
pub(crate) use resolve::{
    InternalOnly, api_name, as_argument, as_input, audience, check, facility_filter, facility_ids,
    forward, heavy, ids_of, opt_check, optional_id, refused_at, store, writable_id,
};

use async_graphql::{MergedObject, MergedSubscription, Schema};

#[derive(MergedObject, Default)]
pub struct Query(
    node::NodeQuery,
    provinces::ProvincesQuery,
    changes::ChangesQuery,
    audit::AuditQuery,
    facility::FacilityQuery,
    certificate::CertificateQuery,
    product::ProductQuery,
    inspection::InspectionQuery,
    alert::AlertQuery,
    supervision::SupervisionQuery,
    events::EventsQuery,
    trace::TraceQuery,
    market::MarketQuery,
    fair::FairQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    facility::FacilityMutation,
    certificate::CertificateMutation,
    product::ProductMutation,
    inspection::InspectionMutation,
    alert::AlertMutation,
    supervision::SupervisionMutation,
    trace::TraceMutation,
    market::MarketMutation,
    fair::FairMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(events::EventsSubscription);

pub type CauNoiSchema = Schema<Query, Mutation, Subscription>;
pub type SchemaBuilder = async_graphql::SchemaBuilder<Query, Mutation, Subscription>;

/// The schema without any data attached. Depth and complexity are not
/// async-graphql's to judge: `cost` measures them, with list sizes.
pub fn schema() -> SchemaBuilder {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema().finish().sdl()
}

#[cfg(test)]
mod tests {
    use super::{Certificate, Facility, Inspection, Product};
    use async_graphql::{ContainerType, Context};

    /// The size of the future `T::resolve_field` returns: the state each of
    /// a `T`'s fields holds while it resolves.
    fn field_future<T: ContainerType + 'static>() -> usize {
        fn returned<A, B, R>(_: fn(A, B) -> R) -> usize {
            std::mem::size_of::<R>()
        }
        returned(T::resolve_field as fn(&'static T, &'static Context<'static>) -> _)
    }

    #[test]
    fn record_fields_stay_small() {
        // Every field of a record is resolved in a box the size of its
        // object's largest field future, which `heavy` keeps under a kilobyte
        // (async-graphql adds about 500 bytes of its own); before `heavy`,
        // 4.2 KB, copied into every field's box.
        let sizes = [
            ("Certificate", field_future::<Certificate>()),
            ("Facility", field_future::<Facility>()),
            ("Product", field_future::<Product>()),
            ("Inspection", field_future::<Inspection>()),
        ];
        for (object, size) in sizes {
            assert!(size <= 1024, "a {object} field's future holds {size} bytes");
        }
    }
}
