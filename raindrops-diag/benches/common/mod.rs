//! What the listener benches share: two functions timed interleaved.
#![allow(dead_code, unreachable_pub)]

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use std::time::{Duration, Instant};

/// Ratios measured interleaved, printed at the end.
pub static INTERLEAVED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Benchmarks two functions interleaved: every iteration times one call
/// of each, so both see the same background load (the machine is shared
/// and its speed drifts over seconds). Criterion reports each function;
/// the ratio baseline / ours of the two totals over every iteration of
/// both runs is recorded for the summary. `run(false)` is the baseline,
/// `run(true)` ours.
pub fn paired(
    g: &mut BenchmarkGroup<'_, WallTime>,
    what: &str,
    names: [&str; 2],
    run: impl FnMut(bool),
) {
    let [b, o] = paired_totals(g, names, run);
    INTERLEAVED.lock().unwrap().push(format!(
        "{what:<34} {:>24} / {:<26} = {:.3}x",
        names[0],
        names[1],
        b.as_secs_f64() / o.as_secs_f64()
    ));
}

/// The timing of [`paired`]: benchmarks `names[0]` (`run(false)`) and
/// `names[1]` (`run(true)`) interleaved and returns the total time of each
/// over every iteration of both runs.
pub fn paired_totals(
    g: &mut BenchmarkGroup<'_, WallTime>,
    names: [&str; 2],
    mut run: impl FnMut(bool),
) -> [Duration; 2] {
    let mut total = [Duration::ZERO; 2];
    for (i, name) in names.iter().enumerate() {
        g.bench_function(*name, |b| {
            b.iter_custom(|n| {
                let mut t = [Duration::ZERO; 2];
                for _ in 0..n {
                    for (k, tk) in t.iter_mut().enumerate() {
                        let s = Instant::now();
                        run(k == 1);
                        *tk += s.elapsed();
                    }
                }
                total[0] += t[0];
                total[1] += t[1];
                t[i]
            })
        });
    }
    total
}
