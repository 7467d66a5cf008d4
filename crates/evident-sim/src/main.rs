//! `evident-sim`: run the multi-machine simulation from the command line.
//!
//! Usage: evident-sim [--steps 2000] [--seed 1] [--seeds N] [--evident PATH]
//!                    [--store sqlite|postgres|postgres://USER@HOST/DB]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut steps = 2000usize;
    let mut seed = 1u64;
    let mut seeds = 1u64;
    let mut evident = evident_sim::find_evident();
    let mut backend = evident_sim::SimStore::Sqlite;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        let parsed = match (a.as_str(), v.as_deref()) {
            ("--steps", Some(v)) => v.parse().map(|n| steps = n).is_ok(),
            ("--seed", Some(v)) => v.parse().map(|n| seed = n).is_ok(),
            ("--seeds", Some(v)) => v.parse().map(|n| seeds = n).is_ok(),
            ("--store", Some("sqlite")) => true,
            ("--store", Some("postgres")) => {
                backend =
                    evident_sim::SimStore::Postgres(evident_store::testing::test_server_url());
                true
            }
            ("--store", Some(url)) if url.starts_with("postgres") => {
                backend = evident_sim::SimStore::Postgres(url.to_string());
                true
            }
            ("--evident", Some(v)) => {
                evident = Some(
                    std::path::PathBuf::from(v)
                        .canonicalize()
                        .unwrap_or_else(|_| v.into()),
                );
                true
            }
            _ => false,
        };
        if !parsed {
            eprintln!("usage: evident-sim [--steps 2000] [--seed 1] [--seeds N] [--evident PATH] [--store sqlite|postgres|postgres://...]");
            return ExitCode::from(1);
        }
    }
    let Some(evident) = evident else {
        eprintln!("evident-sim: cannot find the evident binary; build it (cargo build -p evident) or pass --evident PATH");
        return ExitCode::from(1);
    };
    let per_seed = steps.div_ceil(seeds as usize);
    for s in seed..seed + seeds {
        let t = std::time::Instant::now();
        match evident_sim::simulate(&evident, &backend, s, per_seed) {
            Ok(sum) => println!(
                "[{}] seed {}: {} steps, invariants held ({:.1}s)",
                backend.name(),
                sum.seed,
                sum.steps,
                t.elapsed().as_secs_f64()
            ),
            Err(report) => {
                eprintln!("{report}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
