//! Evident's engine: it finds the repository, layers configuration (defaults < `evident.toml` <
//! `EVIDENT_*` environment < flags), walks the document roots, keeps the store's index in step
//! with the files incrementally, and carries out every verb's operation. It never prints: it
//! returns data for the CLI (and later the server) to render.

pub mod claims;
mod error;
pub mod evidence;
mod fsutil;
pub mod gates;
pub mod git;
pub mod index;
pub mod merge;
pub mod ops;
mod ordered;
pub mod reconcile;
mod threads;
mod walk;
mod workspace;

pub use error::EngineError;
pub use evident_store::{
    on_new_store, stores_set_aside, Event, IndexReport, ItemFilter, ItemRow, SortKey, Summary,
};
pub use walk::{on_walk_done, WalkHelper};
pub use workspace::{Overrides, StoreLocation, Workspace};

pub type Result<T> = std::result::Result<T, EngineError>;
