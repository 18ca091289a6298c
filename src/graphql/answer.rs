//! The access layer's answers made GraphQL: records wrapped in their objects
//! (and noted for the audit trail), pages made connections, and what the
//! access layer notes told as errors at the field that asked.

use std::sync::{Arc, Mutex};

use async_graphql::{Context, ServerError};

use super::pagination::Connection;
use crate::access::{Access, Note, Noted, Paged, Sourced};
use crate::domain::GlobalId;

/// The request's access to records.
pub fn access<'a>(ctx: &Context<'a>) -> &'a Access {
    ctx.data_unchecked::<Access>()
}

/// The value of `noted`, its notes told as errors at this field: a partner's
/// failure names the province and its `PARTNER_*` code; a replica's answer
/// says whose data it is and how old. The rest of the answer stands.
pub fn told<T>(ctx: &Context<'_>, noted: Noted<T>) -> T {
    for note in noted.notes {
        let error = match note {
            Note::Failed { province, error } => {
                let mut server = error.to_server_error(province);
                server.locations = vec![ctx.item.pos];
                server
            }
            Note::FromReplica {
                province,
                synced_at,
                cause,
            } => {
                let age = (chrono::Utc::now() - synced_at).num_seconds().max(0);
                let mut server = ServerError::new(
                    format!(
                        "province {province} could not answer; this is our copy from {age} seconds ago"
                    ),
                    Some(ctx.item.pos),
                );
                let extensions = server.extensions.get_or_insert_with(Default::default);
                extensions.set("code", "SERVED_FROM_REPLICA");
                extensions.set("province", province.to_string());
                extensions.set("ageSeconds", age);
                extensions.set("cause", cause.code());
                server
            }
        };
        ctx.add_error(ctx.set_error_path(error));
    }
    noted.value
}

/// An output object backed by one record.
pub trait Output: Sized {
    type Record;
    fn new(sourced: Sourced<Self::Record>) -> Self;
    fn key(&self) -> (GlobalId, i32);
}

/// Wraps a record for the answer, noting it for the audit trail.
pub fn wrap<T: Output>(ctx: &Context<'_>, sourced: Sourced<T::Record>) -> T {
    let item = T::new(sourced);
    if let Some(returned) = ctx.data_opt::<Arc<Returned>>() {
        returned
            .0
            .lock()
            .expect("returned records lock")
            .push(item.key());
    }
    item
}

/// Wraps one of our own records, read now.
pub fn local<T: Output>(ctx: &Context<'_>, record: T::Record) -> T {
    wrap(ctx, Sourced::owner(record, chrono::Utc::now()))
}

/// A record of one kind by global ID, as its object: ours batched from the
/// store, a partner's batched from its owner.
pub async fn find<T: Output>(ctx: &Context<'_>, id: GlobalId) -> async_graphql::Result<Option<T>>
where
    T::Record: crate::access::Kind,
{
    let found = access(ctx).find_kind::<T::Record>(id).await?;
    Ok(told(ctx, found).map(|found| wrap(ctx, found)))
}

/// A page of a list over provinces, as a connection.
pub async fn listed<C, K>(
    ctx: &Context<'_>,
    listing: crate::access::Listing<K>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<C>
where
    K: crate::access::Kind,
    C: Connection,
    C::Node: Output<Record = K>,
{
    let page = super::pagination::request(first, None)?;
    let found = access(ctx).list(listing, page.first, after).await?;
    Ok(connection(ctx, told(ctx, found)))
}

/// A page of the records the owner of `about` keeps about it (an offer's
/// interests, a fair's registrations), asked of that owner alone, live:
/// `forwarded` is the filter as the owner takes it.
pub async fn kept_about<C, K>(
    ctx: &Context<'_>,
    about: GlobalId,
    filter: K::Filter,
    forwarded: serde_json::Value,
    page: (Option<i32>, Option<String>),
) -> async_graphql::Result<C>
where
    K: crate::access::Kind,
    C: Connection,
    C::Node: Output<Record = K>,
{
    use crate::access::{Consistency, Listing, Scope};
    let scope = if about.province == access(ctx).province() {
        Scope::Local
    } else {
        Scope::Partners
    };
    let listing = Listing::<K>::new(Some(scope), Some(Consistency::Live), filter, forwarded);
    listed(ctx, listing, page.0, page.1).await
}

/// A page of records as a connection.
pub fn connection<C, R>(ctx: &Context<'_>, paged: Paged<R>) -> C
where
    C: Connection,
    C::Node: Output<Record = R>,
{
    super::pagination::assemble(paged, |sourced| wrap(ctx, sourced))
}

/// The records a request returned (global ID and version), for the audit trail.
#[derive(Debug, Default)]
pub struct Returned(Mutex<Vec<(GlobalId, i32)>>);

impl Returned {
    /// Each record once, in the order first returned.
    pub fn records(&self) -> Vec<(GlobalId, i32)> {
        let mut seen = std::collections::HashSet::new();
        self.0
            .lock()
            .expect("returned records lock")
            .iter()
            .filter(|(id, _)| seen.insert(*id))
            .copied()
            .collect()
    }
}

/// Declares the GraphQL object of a kind of record: the object, backed by the
/// record and where it came from; its edge and connection types; and its
/// fields — the common ones (`id`, `province`, `provenance`, `version`)
/// written here once, any given in braces beside `province`, then the kind's
/// own.
macro_rules! record_object {
    (
        $(#[$meta:meta])*
        object $object:ident($record:ty), $edge:ident, $connection:ident;
        province: $province:literal;
        $({ $($beside_province:tt)* })?
        version: $version:literal;
        $($fields:tt)*
    ) => {
        $(#[$meta])*
        pub struct $object(pub $record, pub crate::access::Provenance);

        impl super::answer::Output for $object {
            type Record = $record;
            fn new(sourced: crate::access::Sourced<$record>) -> Self {
                Self(sourced.record, sourced.provenance)
            }
            fn key(&self) -> (crate::domain::GlobalId, i32) {
                (self.0.id, self.0.version)
            }
        }

        super::pagination::connection_types!($object, $edge, $connection);

        #[async_graphql::Object]
        impl $object {
            pub async fn id(&self) -> async_graphql::ID {
                async_graphql::ID(self.0.id.to_string())
            }
            #[doc = $province]
            async fn province(&self) -> super::Province {
                super::Province(self.0.id.province)
            }
            $($($beside_province)*)?
            /// Where this answer came from.
            async fn provenance(&self) -> crate::access::Provenance {
                self.1
            }
            #[doc = $version]
            async fn version(&self) -> i32 {
                self.0.version
            }
            $($fields)*
        }
    };
}

pub(super) use record_object;
