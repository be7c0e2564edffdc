//! Judging: speedups between loaded results and the targets of the issue
//! they are held to, each with a measured ratio, a requirement and a verdict.

use super::format::fmt_ratio;
use super::load::Results;
use super::{
    ENGINE_PEER, ENGINE_PEER_ROCKSDB, ENGINE_SUBJECT, MEMTABLE_BASELINE, MEMTABLE_SUBJECT,
};

impl Results {
    /// `peer / subject` time per iteration for the same group and value.
    pub fn speedup(
        &self,
        group: &str,
        subject: &str,
        peer: &str,
        value: Option<&str>,
    ) -> Option<f64> {
        let s = self.get(group, subject, value)?;
        let p = self.get(group, peer, value)?;
        Some(p.mean_ns / s.mean_ns)
    }
}

/// A target from the issue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Requirement {
    /// The measured ratio must be at least this.
    AtLeast(f64),
    /// The measured ratio must be at most this.
    AtMost(f64),
}

/// How one target came out.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetOutcome {
    /// What is compared, as the report's table names it.
    pub name: String,
    /// The measured ratio; `None` when the run lacks the benchmarks.
    pub measured: Option<f64>,
    /// What the ratio must reach.
    pub requirement: Requirement,
    /// How the figure was formed, e.g. the per-key-size ratios.
    pub detail: String,
}

impl TargetOutcome {
    /// Whether the measured ratio meets the requirement; `None` when the
    /// run did not measure it.
    pub fn met(&self) -> Option<bool> {
        self.measured.map(|m| match self.requirement {
            Requirement::AtLeast(t) => m >= t,
            Requirement::AtMost(t) => m <= t,
        })
    }

    /// The verdict column: `met`, `**MISSED**` or `**NOT MEASURED**`.
    pub fn verdict(&self) -> &'static str {
        match self.met() {
            Some(true) => "met",
            Some(false) => "**MISSED**",
            None => "**NOT MEASURED**",
        }
    }

    /// The requirement as the report prints it, e.g. `>= 3.0x`.
    pub(super) fn requirement_text(&self) -> String {
        match self.requirement {
            Requirement::AtLeast(t) => format!(">= {t:.1}x"),
            Requirement::AtMost(t) => format!("<= {t:.1}x"),
        }
    }
}

/// The worst (smallest for AtLeast, largest for AtMost) of a ratio over the
/// values (key sizes) of a group.
fn worst_over_values(
    res: &Results,
    group: &str,
    ratio: impl Fn(Option<&str>) -> Option<f64>,
    requirement: Requirement,
) -> (Option<f64>, String) {
    let mut parts = Vec::new();
    let mut worst: Option<f64> = None;
    for v in res.values(group) {
        if let Some(r) = ratio(v.as_deref()) {
            parts.push(format!(
                "{}: {}",
                v.as_deref()
                    .map_or("-".to_string(), |s| format!("{s} B keys")),
                fmt_ratio(r)
            ));
            worst = Some(match (worst, requirement) {
                (None, _) => r,
                (Some(w), Requirement::AtLeast(_)) => w.min(r),
                (Some(w), Requirement::AtMost(_)) => w.max(r),
            });
        }
    }
    (worst, parts.join(", "))
}

/// Evaluates every target of the issue.
pub fn evaluate_targets(res: &Results) -> Vec<TargetOutcome> {
    let mut out = Vec::new();
    memtable_targets(res, &mut out);
    engine_targets(res, &mut out);
    durability_targets(res, &mut out);
    out
}

/// The ART against `RwLock<BTreeMap>`: lookups, inserts, mixed, scans.
fn memtable_targets(res: &Results, out: &mut Vec<TargetOutcome>) {
    let (s, b) = (MEMTABLE_SUBJECT, MEMTABLE_BASELINE);
    // Lookup hits: a target per key size (the longer keys cost both more).
    for (ks, t) in [("8", 4.0), ("16", 4.0), ("64", 3.0)] {
        out.push(TargetOutcome {
            name: format!("ART vs RwLock<BTreeMap>: lookups, hits, {ks} B keys"),
            measured: res.speedup("memtable_get_hit", s, b, Some(ks)),
            requirement: Requirement::AtLeast(t),
            detail: format!("memtable_get_hit/{ks}, btree time / art time"),
        });
    }
    let hit = res.get("memtable_get_hit", s, Some("16"));
    let miss = res.get("memtable_get_miss", s, Some("16"));
    out.push(TargetOutcome {
        name: "ART lookup hit time / miss time, 16 B keys".into(),
        measured: hit.zip(miss).map(|(h, m)| h.ns_per_op() / m.ns_per_op()),
        requirement: Requirement::AtMost(2.0),
        detail: "a hit should cost little more than the descent a miss also makes".into(),
    });
    let mut speedup_target = |name: &str, group: &str, t: f64| {
        let req = Requirement::AtLeast(t);
        let (measured, detail) =
            worst_over_values(res, group, |v| res.speedup(group, s, b, v), req);
        out.push(TargetOutcome {
            name: name.to_string(),
            measured,
            requirement: req,
            detail: format!("worst over key sizes; {detail}"),
        });
    };
    speedup_target(
        "ART vs RwLock<BTreeMap>: lookups, misses",
        "memtable_get_miss",
        3.0,
    );
    speedup_target(
        "ART vs RwLock<BTreeMap>: inserts, random keys",
        "memtable_insert_random",
        1.3,
    );
    speedup_target(
        "ART vs RwLock<BTreeMap>: inserts, sequential keys",
        "memtable_insert_sequential",
        1.3,
    );
    let mixed = res.speedup("memtable_mixed", s, b, Some("2"));
    out.push(TargetOutcome {
        name: "ART vs RwLock<BTreeMap>: 1 writer + 1 reader".into(),
        measured: mixed,
        requirement: Requirement::AtLeast(3.0),
        detail: "memtable_mixed with 2 threads, 16 B keys".into(),
    });
    // Scans: the ART's time over the baseline's, i.e. 1 / speedup.
    let req = Requirement::AtMost(1.0);
    let (measured, detail) = worst_over_values(
        res,
        "memtable_scan100",
        |v| res.speedup("memtable_scan100", s, b, v).map(|x| 1.0 / x),
        req,
    );
    out.push(TargetOutcome {
        name: "ART time / RwLock<BTreeMap> time: 100-key scans".into(),
        measured,
        requirement: req,
        detail: format!("worst over key sizes; {detail}"),
    });
}

/// Strata against its peers: random fill, random reads, 100-key scans.
fn engine_targets(res: &Results, out: &mut Vec<TargetOutcome>) {
    for (peer, what, group, t) in [
        (ENGINE_PEER, "random fill", "engine_fill_random", 1.2),
        (ENGINE_PEER, "random reads", "engine_read_random", 1.5),
        (ENGINE_PEER, "100-key scans", "engine_scan100", 1.1),
        (
            ENGINE_PEER_ROCKSDB,
            "random fill",
            "engine_fill_random",
            1.0,
        ),
        (
            ENGINE_PEER_ROCKSDB,
            "random reads",
            "engine_read_random",
            1.0,
        ),
    ] {
        out.push(TargetOutcome {
            name: format!("Strata vs {peer}: {what}"),
            measured: res.speedup(group, ENGINE_SUBJECT, peer, None),
            requirement: Requirement::AtLeast(t),
            detail: format!("{group}, {peer} time / Strata time"),
        });
    }
}

/// Synced writes: group commit across writers, and the cost over a raw
/// synced write.
fn durability_targets(res: &Results, out: &mut Vec<TargetOutcome>) {
    let g = "durability_synced_writes";
    let one = res.get(g, ENGINE_SUBJECT, Some("1"));
    let four = res.get(g, ENGINE_SUBJECT, Some("4"));
    out.push(TargetOutcome {
        name: "Synced writes: 4 writers vs 1 writer (Strata, writes/s)".into(),
        measured: one
            .zip(four)
            .map(|(o, f)| f.ops_per_sec() / o.ops_per_sec()),
        requirement: Requirement::AtLeast(3.5),
        detail: "group commit: one fdatasync covers the writes queued behind it".into(),
    });
    let raw = res.get("durability_raw_fsync_4k", "loop", None);
    out.push(TargetOutcome {
        name: "Synced writes: 1 writer time / raw synced 4 KiB write time".into(),
        measured: one.zip(raw).map(|(o, r)| o.ns_per_op() / r.ns_per_op()),
        requirement: Requirement::AtMost(2.0),
        detail: "the raw loop is write(4 KiB) + fdatasync on the same disk".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::super::load::load_criterion;
    use super::super::load::tests::write_bench;
    use super::*;

    #[test]
    fn targets_follow_the_measurements() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for ks in ["8", "16"] {
            write_bench(r, "memtable_get_hit", "art", Some(ks), 10.0, 1);
            write_bench(
                r,
                "memtable_get_hit",
                "btree",
                Some(ks),
                if ks == "8" { 40.0 } else { 25.0 },
                1,
            );
            write_bench(r, "memtable_scan100", "art", Some(ks), 300.0, 100);
            write_bench(r, "memtable_scan100", "btree", Some(ks), 100.0, 100);
        }
        write_bench(
            r,
            "durability_synced_writes",
            "strata",
            Some("1"),
            200_000.0,
            1,
        );
        write_bench(
            r,
            "durability_synced_writes",
            "strata",
            Some("4"),
            50_000.0,
            1,
        );
        write_bench(r, "durability_raw_fsync_4k", "loop", None, 150_000.0, 1);
        let res = Results::new(load_criterion(r).unwrap());
        let t = evaluate_targets(&res);
        let find = |prefix: &str| t.iter().find(|x| x.name.starts_with(prefix)).unwrap();
        let hits8 = find("ART vs RwLock<BTreeMap>: lookups, hits, 8 B");
        assert_eq!(hits8.measured, Some(4.0));
        assert_eq!(hits8.met(), Some(true), "at the 4x target");
        let hits16 = find("ART vs RwLock<BTreeMap>: lookups, hits, 16 B");
        assert_eq!(hits16.measured, Some(2.5));
        assert_eq!(hits16.met(), Some(false));
        assert_eq!(
            find("ART vs RwLock<BTreeMap>: lookups, hits, 64 B").met(),
            None
        );
        assert_eq!(
            find("Strata vs rocksdb: random reads").verdict(),
            "**NOT MEASURED**"
        );
        let scans = find("ART time / RwLock");
        assert_eq!(scans.measured, Some(3.0));
        assert_eq!(scans.met(), Some(false));
        assert_eq!(find("ART vs RwLock<BTreeMap>: inserts, random").met(), None);
        let gc = find("Synced writes: 4 writers");
        assert!((gc.measured.unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(gc.met(), Some(true));
        let hit_miss = find("ART lookup hit time / miss time");
        assert_eq!(hit_miss.measured, None, "no misses measured");
        let raw = find("Synced writes: 1 writer time");
        assert!((raw.measured.unwrap() - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(raw.verdict(), "met");
    }
}
