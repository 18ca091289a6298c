//! Database migrations of Cầu Nối.
//!
//! One set serves SQLite (the embedded default) and PostgreSQL: every statement is
//! built with sea-query, never written as backend-specific SQL. A migration, once
//! released, is never edited; a change is a new migration appended to the list.

pub use sea_orm_migration::prelude::*;

mod m0001_owned_records;
mod m0002_audit;
mod m0003_change_feed;
mod m0004_replica;
mod m0005_replica_number;

/// Applies this crate's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_owned_records::Migration),
            Box::new(m0002_audit::Migration),
            Box::new(m0003_change_feed::Migration),
            Box::new(m0004_replica::Migration),
            Box::new(m0005_replica_number::Migration),
        ]
    }
}
