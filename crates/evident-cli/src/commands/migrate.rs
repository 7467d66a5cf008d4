use clap::Args;
use evident_engine::{ops, Overrides, Result};

use crate::output::{print, print_json, Out};
use crate::Outcome;

const EXAMPLES: &str = "\
Examples:
  evident migrate --store postgres://evident@hub.internal/evident
                           create or upgrade the shared hub store's schema
  evident migrate --store 'postgres://u:pw@db/evident?schema=team_a'
                           one database can hold several stores, one per schema
  evident migrate          the local SQLite store (it also upgrades itself when opened)

Migrations are numbered and append-only; running this again is harmless. Several machines
may run it at once: the upgrade runs under the store's lock.";

/// Create the store's schema or bring it up to date.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct MigrateArgs {}

pub fn run(_a: MigrateArgs, ov: &Overrides, out: &Out) -> Result<Outcome> {
    let m = ops::migrate(ov)?;
    if out.json {
        print_json("migrate", &m);
    } else if m.from_version == m.to_version {
        print(&format!(
            "{} store {} is up to date (schema {}).\n",
            m.backend, m.store, m.to_version
        ));
    } else {
        print(&format!(
            "Migrated {} store {} from schema {} to {}.\n",
            m.backend, m.store, m.from_version, m.to_version
        ));
    }
    Ok(Outcome::Ok)
}
