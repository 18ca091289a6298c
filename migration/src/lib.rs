//! Database migrations of Cầu Nối.
//!
//! One set serves SQLite (the embedded default) and PostgreSQL: every statement is
//! built with sea-query, except what sea-query cannot express (the audit chain's
//! trigger, `m0006`), written once per backend. A migration, once
//! released, is never edited; a change is a new migration appended to the list.

pub use sea_orm_migration::prelude::*;

mod m0001_owned_records;
mod m0002_audit;
mod m0003_change_feed;
mod m0004_replica;
mod m0005_replica_number;
mod m0006_audit_links;
mod m0007_alerts;
mod m0008_notices;
mod m0009_outbox;
mod m0010_inspection_requests;
mod m0011_alert_events;
mod m0012_notice_status;
mod m0013_traceability;
mod m0014_market;
mod m0015_fairs;

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
            Box::new(m0006_audit_links::Migration),
            Box::new(m0007_alerts::Migration),
            Box::new(m0008_notices::Migration),
            Box::new(m0009_outbox::Migration),
            Box::new(m0010_inspection_requests::Migration),
            Box::new(m0011_alert_events::Migration),
            Box::new(m0012_notice_status::Migration),
            Box::new(m0013_traceability::Migration),
            Box::new(m0014_market::Migration),
            Box::new(m0015_fairs::Migration),
        ]
    }
}
