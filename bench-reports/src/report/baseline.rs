//! Comparing a run with an earlier one (`report --baseline DIR`): every
//! ratio the report states, in both runs, and whether it moved by more than
//! the noise of the four means it is made of.
//!
//! The ratios compared are each subject's speedup over every peer measured
//! in both runs (per group and value: key size or thread count), and the
//! subject's own thread scaling where a group varies threads (the synced
//! writes' 4 writers against 1).
//!
//! Noise: criterion states each mean with a 95% interval. A ratio of two
//! means has, in log space, a half-width of about the root sum of squares
//! of the two relative half-widths; the change between two runs' ratios
//! adds both runs' terms. A ratio *moved* when `|ln(now / baseline)|`
//! exceeds that band. The band covers the sampling noise inside each run;
//! it does not cover a machine that was busier in one run than the other,
//! which is why the report also quotes both runs' load averages.

use super::load::{BenchResult, Results};
use super::{ENGINE_SUBJECT, MEMTABLE_SUBJECT};

/// One ratio in both runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    /// What is compared, e.g. `memtable_get_hit 16: art vs btree`.
    pub name: String,
    /// The ratio in the baseline run.
    pub baseline: f64,
    /// The ratio in this run.
    pub now: f64,
    /// The noise band, as a relative change (0.05 is 5%).
    pub noise: f64,
}

/// Which way a ratio went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Up by more than the noise (the subject gained).
    Up,
    /// Down by more than the noise (the subject lost).
    Down,
    /// Within the noise.
    Within,
}

impl Movement {
    /// `now / baseline`.
    pub fn change(&self) -> f64 {
        self.now / self.baseline
    }

    /// Whether the change is outside the noise band, and which way.
    pub fn direction(&self) -> Direction {
        let moved = self.change().ln();
        let band = self.noise.ln_1p();
        if moved > band {
            Direction::Up
        } else if moved < -band {
            Direction::Down
        } else {
            Direction::Within
        }
    }
}

/// The relative half-width of a mean's 95% interval.
fn half_width(b: &BenchResult) -> f64 {
    ((b.mean_upper_ns - b.mean_lower_ns) / (2.0 * b.mean_ns)).max(0.0)
}

/// A ratio `num / den` of throughputs in each run (so above 1 the first
/// bench is faster), with both runs' benches for the noise band.
fn movement(
    name: String,
    now: (&BenchResult, &BenchResult),
    base: (&BenchResult, &BenchResult),
) -> Movement {
    let ratio = |(fast, slow): (&BenchResult, &BenchResult)| slow.ns_per_op() / fast.ns_per_op();
    let squares: f64 = [now.0, now.1, base.0, base.1]
        .iter()
        .map(|b| half_width(b).powi(2))
        .sum();
    Movement {
        name,
        baseline: ratio(base),
        now: ratio(now),
        noise: squares.sqrt().exp_m1(),
    }
}

/// The subject a group's ratios are stated for.
fn subject_of(group: &str) -> &'static str {
    if group.starts_with("memtable_") {
        MEMTABLE_SUBJECT
    } else {
        ENGINE_SUBJECT
    }
}

/// Every ratio both runs measured, in the order of this run's groups.
pub fn compare(now: &Results, base: &Results) -> Vec<Movement> {
    let mut groups: Vec<&str> = now.benches.iter().map(|b| b.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut out = Vec::new();
    for group in groups {
        let subject = subject_of(group);
        let mut peers: Vec<&str> = now
            .in_group(group)
            .map(|b| b.function.as_str())
            .filter(|f| *f != subject)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        for value in now.values(group) {
            let v = value.as_deref();
            let label = v.map_or_else(|| group.to_string(), |v| format!("{group} {v}"));
            let (Some(s_now), Some(s_base)) =
                (now.get(group, subject, v), base.get(group, subject, v))
            else {
                continue;
            };
            for peer in &peers {
                if let (Some(p_now), Some(p_base)) =
                    (now.get(group, peer, v), base.get(group, peer, v))
                {
                    out.push(movement(
                        format!("{label}: {subject} vs {peer}"),
                        (s_now, p_now),
                        (s_base, p_base),
                    ));
                }
            }
        }
        if group == "durability_synced_writes" {
            let pick = |r: &'_ Results, t: &str| r.get(group, subject, Some(t)).cloned();
            if let (Some(f_now), Some(o_now), Some(f_base), Some(o_base)) = (
                pick(now, "4"),
                pick(now, "1"),
                pick(base, "4"),
                pick(base, "1"),
            ) {
                out.push(movement(
                    format!("{group}: {subject} 4 writers vs 1"),
                    (&f_now, &o_now),
                    (&f_base, &o_base),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::load::load_criterion;
    use super::super::load::tests::write_bench;
    use super::*;

    fn run(dir: &std::path::Path, art_hit: f64, strata_fill: f64) -> Results {
        write_bench(dir, "memtable_get_hit", "art", Some("16"), art_hit, 1);
        write_bench(dir, "memtable_get_hit", "btree", Some("16"), 300.0, 1);
        write_bench(dir, "engine_fill_random", "strata", None, strata_fill, 1000);
        write_bench(dir, "engine_fill_random", "fjall", None, 2000.0, 1000);
        write_bench(
            dir,
            "durability_synced_writes",
            "strata",
            Some("1"),
            200.0,
            1,
        );
        write_bench(
            dir,
            "durability_synced_writes",
            "strata",
            Some("4"),
            60.0,
            1,
        );
        Results::new(load_criterion(dir).unwrap())
    }

    #[test]
    fn a_ratio_moves_only_beyond_the_noise_of_its_four_means() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // The fixture's intervals are +-10% of each mean: a band of
        // exp(sqrt(4 * 0.01)) - 1 = 22.1%.
        let base = run(a.path(), 100.0, 1000.0);
        let now = run(b.path(), 50.0, 1150.0);
        let m = compare(&now, &base);
        let names: Vec<&str> = m.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "durability_synced_writes: strata 4 writers vs 1",
                "engine_fill_random: strata vs fjall",
                "memtable_get_hit 16: art vs btree",
            ]
        );
        let find = |n: &str| m.iter().find(|x| x.name.starts_with(n)).unwrap();
        let hits = find("memtable_get_hit");
        assert!((hits.baseline - 3.0).abs() < 1e-9 && (hits.now - 6.0).abs() < 1e-9);
        assert!((hits.noise - 0.2214).abs() < 1e-3, "{}", hits.noise);
        assert_eq!(hits.direction(), Direction::Up);
        // 2.0x to 1.74x: 13% down, inside the 22% band.
        let fill = find("engine_fill_random");
        assert!((fill.change() - 1000.0 / 1150.0).abs() < 1e-9);
        assert_eq!(fill.direction(), Direction::Within);
        let scaling = find("durability_synced_writes");
        assert!((scaling.now - 200.0 / 60.0).abs() < 1e-9);
        assert_eq!(scaling.direction(), Direction::Within);
        // Slower by more than the band: down.
        let c = tempfile::tempdir().unwrap();
        let worse = run(c.path(), 100.0, 1500.0);
        assert_eq!(
            compare(&worse, &base)[1].direction(),
            Direction::Down,
            "2.0x to 1.33x"
        );
    }

    #[test]
    fn ratios_one_run_lacks_are_not_compared() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let base = run(a.path(), 100.0, 1000.0);
        write_bench(b.path(), "memtable_get_hit", "art", Some("16"), 90.0, 1);
        write_bench(b.path(), "memtable_get_hit", "art", Some("64"), 90.0, 1);
        write_bench(b.path(), "memtable_get_hit", "btree", Some("64"), 90.0, 1);
        let now = Results::new(load_criterion(b.path()).unwrap());
        assert!(compare(&now, &base).is_empty());
    }
}
