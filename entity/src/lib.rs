//! The database's shape, as sea-orm entities.
//!
//! These types describe rows and nothing else: no GraphQL, no serde for the API, no
//! rules. Enumerations are stored as lower-case text so that SQLite and PostgreSQL
//! hold the same values; the `domain` module of the `caunoi` crate owns their
//! meaning. Every owned row carries its owner `province` and a `version` that grows
//! by one on each write.

pub mod alert;
pub mod alert_concern;
pub mod alert_event;
pub mod alert_province;
pub mod audit_head;
pub mod audit_log;
pub mod booth_product;
pub mod booth_registration;
pub mod certificate;
pub mod certificate_status_change;
pub mod change_head;
pub mod change_log;
pub mod facility;
pub mod facility_market;
pub mod follow_up;
pub mod harvest_offer;
pub mod inspection;
pub mod inspection_request;
pub mod interest;
pub mod lot;
pub mod notice;
pub mod number_counter;
pub mod outbox;
pub mod product;
pub mod replica_record;
pub mod sync_state;
pub mod trace_error;
pub mod trace_event;
pub mod trace_event_item;
pub mod trade_fair;
