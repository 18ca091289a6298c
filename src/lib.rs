//! Cầu Nối ("the bridge"): a GraphQL data-exchange gateway between provincial
//! food-safety agencies. See ARCHITECTURE.md for the map.

pub mod access;
pub mod allocator;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod domain;
pub mod error;
pub mod federation;
pub mod graphql;
pub mod pki;
pub mod policy;
pub mod rate;
pub mod seed;
pub mod server;
pub mod store;
pub mod subscriptions;
pub mod sync;
pub mod turn;
