//! The integration suite: one binary, one module per area.
//!
//! Every test starts its own gateway on `127.0.0.1:0` with its own database: a
//! SQLite file in a temporary directory, or, when `TEST_POSTGRES_URL`
//! names a PostgreSQL server, a fresh database created on it for that test.

// The schema's merged roots nest deeper than the compiler's default
// query depth when a binary lays out their resolvers' futures.
#![recursion_limit = "256"]

mod helpers;

mod alerts;
mod audit;
mod certificates;
mod cli;
mod connections;
mod delivery;
mod demo;
mod facilities;
mod fairs;
mod federation;
mod feed;
mod http;
mod inspections;
mod market;
mod modules;
mod overload;
mod pagination;
mod partner_faults;
mod policy;
mod processes;
mod products;
mod properties;
mod provinces;
mod schema;
mod sharing;
mod storage;
mod subscriptions;
mod supervision;
mod sync;
mod tls;
mod trace;
mod validation;
