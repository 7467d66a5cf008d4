//! CI runs the simulation: 2,000 steps over 4 seeds (override with SIM_STEPS / SIM_SEED).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn two_thousand_simulated_steps_keep_every_invariant() {
    let evident = evident_sim::find_evident()
        .expect("the evident binary (cargo build -p evident, or EVIDENT_BIN)");
    let steps: usize = std::env::var("SIM_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let first: u64 = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let seeds = 4u64;
    let handles: Vec<_> = (first..first + seeds)
        .map(|seed| {
            let evident = evident.clone();
            std::thread::spawn(move || {
                evident_sim::simulate(&evident, seed, steps / seeds as usize)
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
