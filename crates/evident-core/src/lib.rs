//! Evident's pure domain: what an item is, how kinds and workflows rank statuses, how
//! proposed status changes merge without regressing (the truth model), and the stable
//! diagnostic codes every layer reports with. Nothing in this crate touches the file system,
//! the network, the clock or a database, so every rule here can be unit- and property-tested.

pub mod config;
pub mod diag;
pub mod evidence;
pub mod gate;
pub mod graph;
pub mod item;
pub mod priority;
pub mod status;
pub mod suggest;
pub mod truth;
pub mod workflow;

pub use config::Config;
pub use diag::{DiagCode, Diagnostic, Severity};
pub use item::Item;
pub use workflow::{StatusDef, Workflow};
