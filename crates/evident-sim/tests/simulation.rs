//! CI runs the simulation on both stores: 2,000 steps over 4 seeds with a shared SQLite file,
//! and 1,000 steps over 2 seeds with a PostgreSQL hub (override with SIM_STEPS / SIM_SEED).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_sim::SimStore;

fn run(backend: SimStore, default_steps: usize, seeds: u64) {
    let evident = evident_sim::find_evident()
        .expect("the evident binary (cargo build -p evident, or EVIDENT_BIN)");
    let steps: usize = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_steps);
    let first: u64 = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let handles: Vec<_> = (first..first + seeds)
        .map(|seed| {
            let evident = evident.clone();
            let backend = backend.clone();
            std::thread::spawn(move || {
                evident_sim::simulate(&evident, &backend, seed, steps / seeds as usize)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        match h.join().unwrap() {
            Ok(s) => total += s.steps,
            Err(report) => panic!("{report}"),
        }
    }
    assert_eq!(total, steps);
}

#[test]
fn two_thousand_simulated_steps_keep_every_invariant() {
    run(SimStore::Sqlite, 2000, 4);
}

#[test]
fn the_simulation_keeps_every_invariant_on_a_postgres_hub() {
    // Skips locally without PostgreSQL; fails in CI.
    if evident_store::testing::pg_schema("sim_probe").is_none() {
        return;
    }
    run(
        SimStore::Postgres(evident_store::testing::test_server_url()),
        1000,
        2,
    );
}
