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
//! adds both runs' terms. That covers the sampling noise inside each run,
//! not the machine's drift between runs, which is larger: a noise file
//! (`report noise`, from two or more runs of one commit on one machine)
//! gives each ratio's spread between runs, and the band is the wider of
//! the two. A ratio *moved* when `|ln(now / baseline)|` exceeds the band.

use std::collections::BTreeMap;

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

/// One ratio of one run: its value and the sum of the squared relative
/// half-widths of the two means it is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    /// What is compared, e.g. `memtable_get_hit 16: art vs btree`.
    pub name: String,
    /// The slower bench's time over the faster one's, per operation.
    pub value: f64,
    /// Squared relative half-widths of both means, added.
    pub squares: f64,
}

fn ratio(name: String, fast: &BenchResult, slow: &BenchResult) -> Ratio {
    Ratio {
        name,
        value: slow.ns_per_op() / fast.ns_per_op(),
        squares: half_width(fast).powi(2) + half_width(slow).powi(2),
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

/// Every ratio one run states: each subject's speedup over each peer per
/// value, and the synced writes' 4-writer scaling.
pub fn ratios(res: &Results) -> Vec<Ratio> {
    let mut groups: Vec<&str> = res.benches.iter().map(|b| b.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut out = Vec::new();
    for group in groups {
        let subject = subject_of(group);
        let mut peers: Vec<&str> = res
            .in_group(group)
            .map(|b| b.function.as_str())
            .filter(|f| *f != subject)
            .collect();
        peers.sort_unstable();
        peers.dedup();
        for value in res.values(group) {
            let v = value.as_deref();
            let label = v.map_or_else(|| group.to_string(), |v| format!("{group} {v}"));
            let Some(s) = res.get(group, subject, v) else {
                continue;
            };
            for peer in &peers {
                if let Some(p) = res.get(group, peer, v) {
                    out.push(ratio(format!("{label}: {subject} vs {peer}"), s, p));
                }
            }
        }
        if group == "durability_synced_writes" {
            let pick = |t: &str| res.get(group, subject, Some(t));
            if let (Some(four), Some(one)) = (pick("4"), pick("1")) {
                out.push(ratio(
                    format!("{group}: {subject} 4 writers vs 1"),
                    four,
                    one,
                ));
            }
        }
    }
    out
}

/// Every ratio both runs measured, in the order of this run's groups.
/// `bands` (from [`run_to_run_bands`]) widens a ratio's noise band to the
/// spread measured between runs of one commit, where it is wider than the
/// two runs' sampling noise.
pub fn compare(now: &Results, base: &Results, bands: &BTreeMap<String, f64>) -> Vec<Movement> {
    let before = ratios(base);
    ratios(now)
        .into_iter()
        .filter_map(|r| {
            let b = before.iter().find(|b| b.name == r.name)?;
            let sampling = (r.squares + b.squares).sqrt().exp_m1();
            let between = bands.get(&r.name).copied().unwrap_or(0.0);
            Some(Movement {
                baseline: b.value,
                now: r.value,
                noise: sampling.max(between),
                name: r.name,
            })
        })
        .collect()
}

/// The run-to-run band of every ratio the runs (of one commit, on one
/// machine) all state: the largest relative difference between two of
/// them, `exp(max |ln(r_i / r_j)|) - 1`.
pub fn run_to_run_bands(runs: &[Results]) -> BTreeMap<String, f64> {
    let per_run: Vec<Vec<Ratio>> = runs.iter().map(ratios).collect();
    let mut out = BTreeMap::new();
    let Some((first, rest)) = per_run.split_first() else {
        return out;
    };
    if rest.is_empty() {
        return out;
    }
    for r in first {
        let values: Option<Vec<f64>> = rest
            .iter()
            .map(|run| run.iter().find(|x| x.name == r.name).map(|x| x.value))
            .collect();
        let Some(mut values) = values else { continue };
        values.push(r.value);
        let (lo, hi) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        out.insert(r.name.clone(), (hi / lo).ln().exp_m1());
    }
    out
}

/// Writes run-to-run bands as JSON: `{"runs": [DIR...], "bands": {NAME:
/// BAND}}`, bands as relative changes (0.05 is 5%).
pub fn bands_to_json(dirs: &[String], bands: &BTreeMap<String, f64>) -> serde_json::Value {
    serde_json::json!({ "runs": dirs, "bands": bands })
}

/// Reads a file [`bands_to_json`] wrote; errors name the file.
pub fn load_bands(path: &std::path::Path) -> super::Result<BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| super::err(format!("reading {}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| super::err(format!("parsing {}: {e}", path.display())))?;
    let bands = v
        .get("bands")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| super::err(format!("{}: missing bands", path.display())))?;
    bands
        .iter()
        .map(|(k, x)| {
            x.as_f64()
                .filter(|b| b.is_finite() && *b >= 0.0)
                .map(|b| (k.clone(), b))
                .ok_or_else(|| {
                    super::err(format!("{}: band {k} is not a number >= 0", path.display()))
                })
        })
        .collect()
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
        let m = compare(&now, &base, &BTreeMap::new());
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
            compare(&worse, &base, &BTreeMap::new())[1].direction(),
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
        assert!(compare(&now, &base, &BTreeMap::new()).is_empty());
    }
}

#[cfg(test)]
mod band_tests {
    use super::super::load::load_criterion;
    use super::super::load::tests::write_bench;
    use super::*;

    fn run(dir: &std::path::Path, art: f64) -> Results {
        write_bench(dir, "memtable_get_hit", "art", Some("16"), art, 1);
        write_bench(dir, "memtable_get_hit", "btree", Some("16"), 300.0, 1);
        Results::new(load_criterion(dir).unwrap())
    }

    #[test]
    fn the_band_between_runs_widens_the_sampling_band() {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        // Three runs of one commit: 3.0x, 2.5x, 2.7x; the spread is 20%.
        let same: Vec<Results> = [100.0, 120.0, 300.0 / 2.7]
            .iter()
            .zip(&dirs)
            .map(|(art, d)| run(d.path(), *art))
            .collect();
        let bands = run_to_run_bands(&same);
        let name = "memtable_get_hit 16: art vs btree";
        assert!((bands[name] - 0.2).abs() < 1e-9, "{bands:?}");
        assert!(
            run_to_run_bands(&same[..1]).is_empty(),
            "one run has no spread"
        );
        // 3.0x to 2.0x is -33%: beyond the fixture's 22% sampling band, so
        // down without a run-to-run band, within a 60% one.
        let now = run(dirs[3].path(), 150.0);
        let plain = &compare(&now, &same[0], &BTreeMap::new())[0];
        assert!((plain.noise - 0.2214).abs() < 1e-3);
        assert_eq!(plain.direction(), Direction::Down);
        let wide: BTreeMap<String, f64> = [(name.to_string(), 0.6)].into();
        let m = &compare(&now, &same[0], &wide)[0];
        assert_eq!(m.noise, 0.6);
        assert_eq!(m.direction(), Direction::Within);
        // A band narrower than the sampling band does not narrow it.
        let narrow: BTreeMap<String, f64> = [(name.to_string(), 0.01)].into();
        assert_eq!(compare(&now, &same[0], &narrow)[0].noise, plain.noise);
        // The bands survive a round trip through their file.
        let f = dirs[0].path().join("noise.json");
        std::fs::write(&f, bands_to_json(&["a".into()], &bands).to_string()).unwrap();
        assert_eq!(load_bands(&f).unwrap(), bands);
        std::fs::write(&f, r#"{"bands": {"x": -1}}"#).unwrap();
        assert!(load_bands(&f).unwrap_err().0.contains("noise.json"));
    }
}
