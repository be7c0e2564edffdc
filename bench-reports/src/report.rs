//! The report generator: reads criterion's output directory and writes
//! `REPORT.md` plus SVG plots (plotters) into an output directory.
//!
//! Input layout (criterion 0.5-0.7): `<dir>/<group>/<function>[/<value>]/new/`
//! holding `benchmark.json` (ids, throughput), `estimates.json` (mean and
//! median in nanoseconds per iteration) and `sample.json` (iterations and
//! total nanoseconds per sample). The benchmark ids this module knows are
//! documented at the top of each file in `benches/`.
//!
//! Ratios are speedups: the peer's time per iteration divided by the
//! subject's, so above 1 means the subject (the ART, or Strata) is faster.
//! Every ratio comes from one criterion directory, so from one run.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use serde_json::Value;

use crate::machine::MachineInfo;

/// The memtable every other memtable is compared against.
pub const MEMTABLE_SUBJECT: &str = "art";
/// The engine compared against its peer.
pub const ENGINE_SUBJECT: &str = "strata";
pub const ENGINE_PEER: &str = "fjall";
/// The baseline the memtable targets name.
pub const MEMTABLE_BASELINE: &str = "btree";

/// An error from reading criterion output or writing the report.
#[derive(Debug)]
pub struct ReportError(pub String);

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

type Result<T> = std::result::Result<T, ReportError>;

fn err(msg: impl Into<String>) -> ReportError {
    ReportError(msg.into())
}

/// One benchmark's results.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    pub group: String,
    pub function: String,
    pub value: Option<String>,
    /// Mean time per iteration, nanoseconds, with its 95% interval.
    pub mean_ns: f64,
    pub mean_lower_ns: f64,
    pub mean_upper_ns: f64,
    pub median_ns: f64,
    /// Elements (operations) per iteration, from criterion's throughput.
    pub elements: u64,
    /// Mean nanoseconds per iteration of each sample.
    pub samples_ns: Vec<f64>,
}

impl BenchResult {
    /// Mean nanoseconds per element (operation).
    pub fn ns_per_op(&self) -> f64 {
        self.mean_ns / self.elements as f64
    }

    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        1e9 / self.ns_per_op()
    }

    fn label(&self) -> String {
        match &self.value {
            Some(v) => format!("{}/{}", self.function, v),
            None => self.function.clone(),
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("reading {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| err(format!("parsing {}: {e}", path.display())))
}

fn field_f64(v: &Value, path: &[&str], file: &Path) -> Result<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).ok_or_else(|| {
            err(format!(
                "{}: missing field {}",
                file.display(),
                path.join(".")
            ))
        })?;
    }
    cur.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
        err(format!(
            "{}: {} is not a finite number",
            file.display(),
            path.join(".")
        ))
    })
}

fn field_str(v: &Value, key: &str, file: &Path) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(format!("{}: {key} is not a string", file.display()))),
    }
}

/// Reads one benchmark from its `new/` directory.
pub fn read_bench(new_dir: &Path) -> Result<BenchResult> {
    let bpath = new_dir.join("benchmark.json");
    let b = read_json(&bpath)?;
    let group = field_str(&b, "group_id", &bpath)?
        .ok_or_else(|| err(format!("{}: missing group_id", bpath.display())))?;
    let function = field_str(&b, "function_id", &bpath)?.unwrap_or_default();
    let value = field_str(&b, "value_str", &bpath)?;
    let elements = match b.get("throughput") {
        None | Some(Value::Null) => 1,
        Some(t) => t
            .get("Elements")
            .or_else(|| t.get("Bytes"))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .ok_or_else(|| err(format!("{}: unreadable throughput {t}", bpath.display())))?,
    };
    let epath = new_dir.join("estimates.json");
    let e = read_json(&epath)?;
    let mean_ns = field_f64(&e, &["mean", "point_estimate"], &epath)?;
    let mean_lower_ns = field_f64(&e, &["mean", "confidence_interval", "lower_bound"], &epath)?;
    let mean_upper_ns = field_f64(&e, &["mean", "confidence_interval", "upper_bound"], &epath)?;
    let median_ns = field_f64(&e, &["median", "point_estimate"], &epath)?;
    if mean_ns <= 0.0 {
        return Err(err(format!("{}: mean must be positive", epath.display())));
    }
    let spath = new_dir.join("sample.json");
    let samples_ns = if spath.exists() {
        let s = read_json(&spath)?;
        let nums = |key: &str| -> Result<Vec<f64>> {
            s.get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| err(format!("{}: missing array {key}", spath.display())))?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| err(format!("{}: non-number in {key}", spath.display())))
                })
                .collect()
        };
        let (iters, times) = (nums("iters")?, nums("times")?);
        if iters.len() != times.len() {
            return Err(err(format!(
                "{}: {} iters but {} times",
                spath.display(),
                iters.len(),
                times.len()
            )));
        }
        iters
            .iter()
            .zip(&times)
            .filter(|(i, _)| **i > 0.0)
            .map(|(i, t)| t / i)
            .collect()
    } else {
        Vec::new()
    };
    Ok(BenchResult {
        group,
        function,
        value,
        mean_ns,
        mean_lower_ns,
        mean_upper_ns,
        median_ns,
        elements,
        samples_ns,
    })
}

/// All benchmarks under a criterion directory, sorted by id.
pub fn load_criterion(dir: &Path) -> Result<Vec<BenchResult>> {
    if !dir.is_dir() {
        return Err(err(format!(
            "criterion directory {} does not exist",
            dir.display()
        )));
    }
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        // group/function/value/new is depth 4; bound the walk.
        if depth > 6 {
            continue;
        }
        let entries =
            std::fs::read_dir(&d).map_err(|e| err(format!("listing {}: {e}", d.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(format!("listing {}: {e}", d.display())))?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name();
            if name == "new" {
                if path.join("benchmark.json").exists() {
                    out.push(read_bench(&path)?);
                }
            } else if name != "report" && name != "base" && name != "change" {
                stack.push((path, depth + 1));
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.function, &a.value).cmp(&(&b.group, &b.function, &b.value)));
    Ok(out)
}

/// Bytes per entry of one memtable, from the `memtable_space` binary.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryRow {
    pub kind: String,
    pub key_bytes: u64,
    pub value_bytes: u64,
    pub entries: u64,
    pub bytes_per_entry: f64,
}

/// Reads `memtable_space`'s JSON.
pub fn load_memory(path: &Path) -> Result<(String, Vec<MemoryRow>)> {
    let v = read_json(path)?;
    let method = field_str(&v, "method", path)?.unwrap_or_default();
    let rows = v
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| err(format!("{}: missing rows", path.display())))?;
    let mut out = Vec::new();
    for r in rows {
        let u = |k: &str| {
            r.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| err(format!("{}: row field {k} missing", path.display())))
        };
        out.push(MemoryRow {
            kind: field_str(r, "kind", path)?
                .ok_or_else(|| err(format!("{}: row without kind", path.display())))?,
            key_bytes: u("key_bytes")?,
            value_bytes: u("value_bytes")?,
            entries: u("entries")?,
            bytes_per_entry: field_f64(r, &["bytes_per_entry"], path)?,
        });
    }
    Ok((method, out))
}

/// Lookup over loaded results.
pub struct Results {
    benches: Vec<BenchResult>,
}

impl Results {
    pub fn new(benches: Vec<BenchResult>) -> Self {
        Results { benches }
    }

    pub fn get(&self, group: &str, function: &str, value: Option<&str>) -> Option<&BenchResult> {
        self.benches
            .iter()
            .find(|b| b.group == group && b.function == function && b.value.as_deref() == value)
    }

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

    fn in_group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a BenchResult> + 'a {
        self.benches.iter().filter(move |b| b.group == group)
    }

    /// Function ids seen in groups starting with `prefix`, subject first.
    fn functions(&self, prefix: &str, subject: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .benches
            .iter()
            .filter(|b| b.group.starts_with(prefix))
            .map(|b| b.function.clone())
            .collect();
        names.sort();
        names.dedup();
        names.sort_by_key(|n| n != subject);
        names
    }

    /// Values of a group, sorted numerically where they are numbers.
    fn values(&self, group: &str) -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = self.in_group(group).map(|b| b.value.clone()).collect();
        v.sort_by(|a, b| {
            let num = |x: &Option<String>| x.as_deref().and_then(|s| s.parse::<f64>().ok());
            match (num(a), num(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            }
        });
        v.dedup();
        v
    }
}

/// A target from the issue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Requirement {
    AtLeast(f64),
    AtMost(f64),
}

/// How one target came out.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetOutcome {
    pub name: String,
    /// The measured ratio; `None` when the run lacks the benchmarks.
    pub measured: Option<f64>,
    pub requirement: Requirement,
    /// How the figure was formed, e.g. the per-key-size ratios.
    pub detail: String,
}

impl TargetOutcome {
    pub fn met(&self) -> Option<bool> {
        self.measured.map(|m| match self.requirement {
            Requirement::AtLeast(t) => m >= t,
            Requirement::AtMost(t) => m <= t,
        })
    }

    pub fn verdict(&self) -> &'static str {
        match self.met() {
            Some(true) => "met",
            Some(false) => "**MISSED**",
            None => "**NOT MEASURED**",
        }
    }

    fn requirement_text(&self) -> String {
        match self.requirement {
            Requirement::AtLeast(t) => format!(">= {t:.1}x"),
            Requirement::AtMost(t) => format!("<= {t:.1}x"),
        }
    }
}

/// Formats a ratio the way the report prints it.
pub fn fmt_ratio(r: f64) -> String {
    format!("{r:.2}x")
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
    let (s, b) = (MEMTABLE_SUBJECT, MEMTABLE_BASELINE);
    let mut out = Vec::new();
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
        "ART vs RwLock<BTreeMap>: lookups, hits",
        "memtable_get_hit",
        3.0,
    );
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
    let req = Requirement::AtMost(2.0);
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
    for (name, group) in [
        ("Strata vs fjall: random fill", "engine_fill_random"),
        ("Strata vs fjall: random reads", "engine_read_random"),
    ] {
        out.push(TargetOutcome {
            name: name.into(),
            measured: res.speedup(group, ENGINE_SUBJECT, ENGINE_PEER, None),
            requirement: Requirement::AtLeast(1.0),
            detail: format!("{group}, fjall time / Strata time"),
        });
    }
    let g = "durability_synced_writes";
    let one = res.get(g, ENGINE_SUBJECT, Some("1"));
    let four = res.get(g, ENGINE_SUBJECT, Some("4"));
    out.push(TargetOutcome {
        name: "Synced writes: 4 writers vs 1 writer (Strata, writes/s)".into(),
        measured: one
            .zip(four)
            .map(|(o, f)| f.ops_per_sec() / o.ops_per_sec()),
        requirement: Requirement::AtLeast(3.0),
        detail: "group commit: one fdatasync covers the writes queued behind it".into(),
    });
    let raw = res.get("durability_raw_fsync_4k", "loop", None);
    out.push(TargetOutcome {
        name: "Synced writes: 1 writer time / raw synced 4 KiB write time".into(),
        measured: one.zip(raw).map(|(o, r)| o.ns_per_op() / r.ns_per_op()),
        requirement: Requirement::AtMost(2.0),
        detail: "the raw loop is write(4 KiB) + fdatasync on the same disk".into(),
    });
    out
}

/// Formats nanoseconds with a unit.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Formats operations per second.
pub fn fmt_rate(ops: f64) -> String {
    if ops >= 1e6 {
        format!("{:.2} M/s", ops / 1e6)
    } else if ops >= 1e3 {
        format!("{:.1} k/s", ops / 1e3)
    } else {
        format!("{ops:.0} /s")
    }
}

/// Everything the generator needs besides the criterion directory.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub criterion_dir: PathBuf,
    pub out_dir: PathBuf,
    /// `memtable_space` output; skipped when absent.
    pub memory_json: Option<PathBuf>,
    /// Hand-written notes appended under "Notes".
    pub notes: Option<PathBuf>,
    /// Run conditions recorded by `run.sh` (one line each), if present.
    pub run_info: Option<PathBuf>,
    pub machine: MachineInfo,
    pub commit: String,
    pub date: String,
    /// The command that produced the benchmark data.
    pub bench_command: String,
    /// The command that regenerates this report from that data.
    pub report_command: String,
}

/// What the generator wrote.
#[derive(Debug)]
pub struct ReportSummary {
    pub report: PathBuf,
    pub svgs: Vec<PathBuf>,
    pub targets: Vec<TargetOutcome>,
}

const MEMTABLE_GROUPS: [(&str, &str); 6] = [
    ("memtable_get_hit", "lookup, hit"),
    ("memtable_get_miss", "lookup, miss"),
    ("memtable_insert_random", "insert, random keys"),
    ("memtable_insert_sequential", "insert, sequential keys"),
    ("memtable_scan100", "100-key scan"),
    ("memtable_mixed", "mixed 1 write + 1 read"),
];

const ENGINE_GROUPS: [(&str, &str); 5] = [
    ("engine_fill_sequential", "sequential fill"),
    ("engine_fill_random", "random fill"),
    ("engine_read_random", "random reads (settled)"),
    ("engine_read_while_writing", "reads while writing"),
    ("engine_scan100", "100-key range scan"),
];

fn value_label(group: &str, v: Option<&str>) -> String {
    match v {
        None => String::new(),
        Some(v) if group == "memtable_mixed" || group.starts_with("durability") => {
            format!("{v} thr")
        }
        Some(v) => format!("{v} B"),
    }
}

/// Generates the report.
pub fn generate(opts: &ReportOptions) -> Result<ReportSummary> {
    let res = Results::new(load_criterion(&opts.criterion_dir)?);
    if res.benches.is_empty() {
        return Err(err(format!(
            "no benchmark results under {}",
            opts.criterion_dir.display()
        )));
    }
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| err(format!("creating {}: {e}", opts.out_dir.display())))?;
    let memory = match &opts.memory_json {
        Some(p) if p.exists() => Some(load_memory(p)?),
        _ => None,
    };
    let targets = evaluate_targets(&res);
    let mut svgs = Vec::new();
    let mut md = String::new();
    let w = &mut md;

    let _ = writeln!(w, "# Strata performance report, {}\n", opts.date);
    let _ = writeln!(w, "- **Machine:** {}", opts.machine.describe());
    let _ = writeln!(
        w,
        "- **Commit when this report was generated:** `{}`",
        opts.commit
    );
    let _ = writeln!(w, "- **Benchmarks run with:** `{}`", opts.bench_command);
    let _ = writeln!(
        w,
        "- **This report regenerated from that output with:** `{}`",
        opts.report_command
    );
    if let Some(run) = &opts.run_info {
        if let Ok(text) = std::fs::read_to_string(run) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(w, "- **Run:** {}", line.trim());
            }
        }
    }
    let _ = writeln!(
        w,
        "- All figures come from one criterion run. A ratio is a speedup: the peer's time divided \
         by the subject's, so above 1.00x the subject (the ART, or Strata) is faster. Times are \
         criterion's mean per operation.\n"
    );

    // Targets.
    let _ = writeln!(w, "## Targets\n");
    let _ = writeln!(w, "| target | measured | required | verdict | how |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for t in &targets {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            t.name.replace('<', "&lt;"),
            t.measured.map_or("-".into(), fmt_ratio),
            t.requirement_text(),
            t.verdict(),
            t.detail
        );
    }
    let missed: Vec<&TargetOutcome> = targets.iter().filter(|t| t.met() != Some(true)).collect();
    if missed.is_empty() {
        let _ = writeln!(w, "\nEvery target was met in this run.\n");
    } else {
        let _ = writeln!(
            w,
            "\n**{} of {} targets were not met in this run:**\n",
            missed.len(),
            targets.len()
        );
        for t in missed {
            let _ = writeln!(
                w,
                "- {}: {} (required {}){}",
                t.name.replace('<', "&lt;"),
                t.measured.map_or("not measured".to_string(), |m| format!(
                    "measured {}",
                    fmt_ratio(m)
                )),
                t.requirement_text(),
                if t.measured.is_none() {
                    ": this run has no results for it"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(w);
    }

    // Memtables.
    let kinds = res.functions("memtable_", MEMTABLE_SUBJECT);
    if !kinds.is_empty() {
        let _ = writeln!(w, "## Memtables\n");
        let subject_present = kinds.iter().any(|k| k == MEMTABLE_SUBJECT);
        if !subject_present {
            let _ = writeln!(
                w,
                "**This run has no `{MEMTABLE_SUBJECT}` results**, so no ART ratios can be shown; \
                 the table lists the peers only.\n"
            );
        }
        let mut header = "| benchmark | param |".to_string();
        let mut rule = "|---|---|".to_string();
        for k in &kinds {
            header.push_str(&format!(" {k} |"));
            rule.push_str("---|");
        }
        let peers: Vec<&String> = kinds.iter().filter(|k| *k != MEMTABLE_SUBJECT).collect();
        if subject_present {
            for p in &peers {
                header.push_str(&format!(" {MEMTABLE_SUBJECT} vs {p} |"));
                rule.push_str("---|");
            }
        }
        let _ = writeln!(w, "Time per operation (an insert, a lookup, a whole 100-key scan, or one write plus one read for mixed):\n");
        let _ = writeln!(w, "{header}\n{rule}");
        let mut bar_rows: Vec<(String, usize, f64)> = Vec::new();
        for (group, title) in MEMTABLE_GROUPS {
            for v in res.values(group) {
                let mut line = format!("| {title} | {} |", value_label(group, v.as_deref()));
                for k in &kinds {
                    let cell = match res.get(group, k, v.as_deref()) {
                        Some(b) if group == "memtable_scan100" => fmt_ns(b.mean_ns),
                        Some(b) => fmt_ns(b.ns_per_op()),
                        None => "-".into(),
                    };
                    line.push_str(&format!(" {cell} |"));
                }
                if subject_present {
                    for (pi, p) in peers.iter().enumerate() {
                        let r = res.speedup(group, MEMTABLE_SUBJECT, p, v.as_deref());
                        line.push_str(&format!(" {} |", r.map_or("-".into(), fmt_ratio)));
                        if let Some(r) = r {
                            bar_rows.push((
                                format!("{title} {}", value_label(group, v.as_deref())),
                                pi,
                                r,
                            ));
                        }
                    }
                }
                let _ = writeln!(w, "{line}");
            }
        }
        let _ = writeln!(w);
        if !bar_rows.is_empty() {
            let path = opts.out_dir.join("memtable_ratios.svg");
            let names: Vec<String> = peers
                .iter()
                .map(|p| format!("{MEMTABLE_SUBJECT} vs {p}"))
                .collect();
            ratio_bars(
                &path,
                "Memtable speedup of the ART over each peer",
                &bar_rows,
                &names,
            )?;
            let _ = writeln!(w, "![ART speedup over each peer](memtable_ratios.svg)\n");
            svgs.push(path);
        }

        // Throughput against thread count.
        let mut series = Vec::new();
        for k in &kinds {
            let pts: Vec<(f64, f64)> = res
                .values("memtable_mixed")
                .iter()
                .filter_map(|v| {
                    let b = res.get("memtable_mixed", k, v.as_deref())?;
                    let t: f64 = v.as_deref()?.parse().ok()?;
                    Some((t, b.ops_per_sec() / 1e6))
                })
                .collect();
            if !pts.is_empty() {
                series.push((k.clone(), pts));
            }
        }
        if !series.is_empty() {
            let path = opts.out_dir.join("memtable_threads.svg");
            line_plot(
                &path,
                "Memtable mixed read/write throughput against threads",
                "threads (1: one thread alternates; 2: one writer + one reader)",
                "million operations / s",
                &series,
                &[],
            )?;
            let _ = writeln!(w, "### Throughput against thread count\n");
            let _ = writeln!(
                w,
                "![memtable throughput against threads](memtable_threads.svg)\n"
            );
            svgs.push(path);
        }

        if let Some((method, rows)) = &memory {
            let _ = writeln!(w, "### Bytes per entry\n");
            let _ = writeln!(w, "Method: {method}.\n");
            let _ = writeln!(w, "| memtable | key bytes | value bytes | entries | bytes per entry | over key+value |");
            let _ = writeln!(w, "|---|---|---|---|---|---|");
            for r in rows {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {:.1} | {:.1} |",
                    r.kind,
                    r.key_bytes,
                    r.value_bytes,
                    r.entries,
                    r.bytes_per_entry,
                    r.bytes_per_entry - (r.key_bytes + r.value_bytes) as f64
                );
            }
            let _ = writeln!(w);
        }
    }

    // Engine.
    if ENGINE_GROUPS
        .iter()
        .any(|(g, _)| res.in_group(g).next().is_some())
    {
        let _ = writeln!(w, "## Engine: Strata vs fjall\n");
        let _ = writeln!(
            w,
            "Both engines in the same run, same memtable size, block cache and LZ4 blocks; writes \
             acknowledged in the OS page cache (not synced). Time per operation (fills: per \
             write; scans: per 100-key scan):\n"
        );
        let _ = writeln!(w, "| benchmark | strata | fjall | strata vs fjall |");
        let _ = writeln!(w, "|---|---|---|---|");
        let mut bar_rows = Vec::new();
        for (group, title) in ENGINE_GROUPS {
            let cell = |f: &str| {
                res.get(group, f, None).map_or("-".to_string(), |b| {
                    if group == "engine_scan100" {
                        fmt_ns(b.mean_ns)
                    } else {
                        format!("{} ({})", fmt_ns(b.ns_per_op()), fmt_rate(b.ops_per_sec()))
                    }
                })
            };
            let r = res.speedup(group, ENGINE_SUBJECT, ENGINE_PEER, None);
            if let Some(r) = r {
                bar_rows.push((title.to_string(), 0, r));
            }
            let _ = writeln!(
                w,
                "| {title} | {} | {} | {} |",
                cell(ENGINE_SUBJECT),
                cell(ENGINE_PEER),
                r.map_or("-".into(), fmt_ratio)
            );
        }
        let _ = writeln!(w);
        if !bar_rows.is_empty() {
            let path = opts.out_dir.join("engine_ratios.svg");
            ratio_bars(
                &path,
                "Engine speedup of Strata over fjall",
                &bar_rows,
                &["strata vs fjall".to_string()],
            )?;
            let _ = writeln!(w, "![Strata speedup over fjall](engine_ratios.svg)\n");
            svgs.push(path);
        }
    }

    // Durability.
    let dg = "durability_synced_writes";
    if res.in_group(dg).next().is_some() {
        let _ = writeln!(w, "## Durability: synced writes and group commit\n");
        let raw = res.get("durability_raw_fsync_4k", "loop", None);
        if let Some(raw) = raw {
            let _ = writeln!(
                w,
                "Raw loop (write 4 KiB + fdatasync): {} per write, {}.\n",
                fmt_ns(raw.ns_per_op()),
                fmt_rate(raw.ops_per_sec())
            );
        }
        let _ = writeln!(w, "| engine | writer threads | time per write | writes/s | vs 1 thread | vs raw loop rate |");
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let engines = res.functions(dg, ENGINE_SUBJECT);
        let mut series = Vec::new();
        for e in &engines {
            let one = res.get(dg, e, Some("1"));
            let mut pts = Vec::new();
            for v in res.values(dg) {
                let Some(b) = res.get(dg, e, v.as_deref()) else {
                    continue;
                };
                let t: f64 = v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0.0);
                pts.push((t, b.ops_per_sec()));
                let _ = writeln!(
                    w,
                    "| {e} | {} | {} | {} | {} | {} |",
                    v.as_deref().unwrap_or("-"),
                    fmt_ns(b.ns_per_op()),
                    fmt_rate(b.ops_per_sec()),
                    one.map_or("-".into(), |o| fmt_ratio(b.ops_per_sec() / o.ops_per_sec())),
                    raw.map_or("-".into(), |r| fmt_ratio(b.ops_per_sec() / r.ops_per_sec()))
                );
            }
            series.push((e.clone(), pts));
        }
        let _ = writeln!(w);
        let path = opts.out_dir.join("durability_threads.svg");
        let hlines: Vec<(String, f64)> = raw
            .map(|r| {
                vec![(
                    "raw 4 KiB write+fdatasync loop".to_string(),
                    r.ops_per_sec(),
                )]
            })
            .unwrap_or_default();
        line_plot(
            &path,
            "Synced writes per second against writer threads",
            "writer threads",
            "synced writes / s",
            &series,
            &hlines,
        )?;
        let _ = writeln!(
            w,
            "![synced writes against writer threads](durability_threads.svg)\n"
        );
        svgs.push(path);
    }

    // Latency distributions.
    let _ = writeln!(w, "## Latency distributions\n");
    let _ = writeln!(
        w,
        "Each dot is one criterion sample: the mean time per operation over that sample's \
         iterations (so these show run-to-run spread, not per-operation tail latency); the \
         vertical bar is the overall mean. Log scale.\n"
    );
    let families: [(&str, &str, &[&str]); 3] = [
        (
            "latency_memtable.svg",
            "Memtable lookups (per lookup) and 100-key scans (per scan)",
            &["memtable_get_hit", "memtable_get_miss", "memtable_scan100"],
        ),
        (
            "latency_engine.svg",
            "Engine reads (per read) and 100-key scans (per scan)",
            &[
                "engine_read_random",
                "engine_read_while_writing",
                "engine_scan100",
            ],
        ),
        (
            "latency_durability.svg",
            "Synced writes, per write",
            &["durability_raw_fsync_4k", "durability_synced_writes"],
        ),
    ];
    for (file, title, groups) in families {
        let rows: Vec<(String, Vec<f64>, f64)> = groups
            .iter()
            .flat_map(|g| res.in_group(g))
            .filter(|b| !b.samples_ns.is_empty())
            .map(|b| {
                // Scans are shown per scan (as in the tables), the rest per operation.
                let e = if b.group.ends_with("scan100") {
                    1.0
                } else {
                    b.elements as f64
                };
                (
                    format!(
                        "{} {}",
                        b.group.split_once('_').map_or("", |x| x.1),
                        b.label()
                    ),
                    b.samples_ns.iter().map(|s| s / e).collect(),
                    b.mean_ns / e,
                )
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let path = opts.out_dir.join(file);
        strip_plot(&path, title, &rows)?;
        let _ = writeln!(w, "![{title}]({file})\n");
        svgs.push(path);
    }

    if let Some(notes) = &opts.notes {
        let text = std::fs::read_to_string(notes)
            .map_err(|e| err(format!("reading notes {}: {e}", notes.display())))?;
        let _ = writeln!(w, "## Notes\n\n{}\n", text.trim());
    }

    let report = opts.out_dir.join("REPORT.md");
    std::fs::write(&report, md).map_err(|e| err(format!("writing {}: {e}", report.display())))?;
    Ok(ReportSummary {
        report,
        svgs,
        targets,
    })
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> ReportError + '_ {
    move |e| err(format!("plotting {}: {e:?}", path.display()))
}

/// True for 1, 2 and 5 times a power of ten: the labelled ticks of a log axis.
fn is_round_log_tick(x: f64) -> bool {
    if !(x > 0.0 && x.is_finite()) {
        return false;
    }
    let m = x / 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|t| (m - t).abs() < 1e-6 * t)
}

/// Horizontal bars on a log axis, one per `(label, series index, ratio)`,
/// first row at the top, with a line at 1x.
fn ratio_bars(
    path: &Path,
    title: &str,
    rows: &[(String, usize, f64)],
    series_names: &[String],
) -> Result<()> {
    let n = rows.len();
    let height = (90 + 22 * n) as u32;
    let (lo, hi) = rows
        .iter()
        .map(|r| r.2)
        .fold((1.0f64, 1.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    let (lo, hi) = (lo.max(1e-6) / 1.6, hi * 1.6);
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    let pe = plot_err(path);
    root.fill(&WHITE).map_err(&pe)?;
    // Segment n-1 is drawn at the top: row i goes to segment n-1-i.
    let at = |i: usize| n - 1 - i;
    let labels: Vec<String> = rows
        .iter()
        .rev()
        .map(|(l, s, _)| {
            if series_names.len() > 1 {
                format!(
                    "{l} ({})",
                    series_names[*s].rsplit(' ').next().unwrap_or("")
                )
            } else {
                l.clone()
            }
        })
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(260)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| {
            if is_round_log_tick(*x) {
                format!("{x}x")
            } else {
                String::new()
            }
        })
        .x_desc("speedup (log scale), > 1 means the subject is faster")
        .draw()
        .map_err(&pe)?;
    for (si, name) in series_names.iter().enumerate() {
        let color = COLORS[si % COLORS.len()];
        chart
            .draw_series(rows.iter().enumerate().filter(|(_, r)| r.1 == si).map(
                |(i, (_, _, ratio))| {
                    Rectangle::new(
                        [
                            (lo, SegmentValue::Exact(at(i))),
                            (*ratio, SegmentValue::Exact(at(i) + 1)),
                        ],
                        color.filled(),
                    )
                },
            ))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        chart
            .draw_series(rows.iter().enumerate().filter(|(_, r)| r.1 == si).map(
                |(i, (_, _, ratio))| {
                    Text::new(
                        fmt_ratio(*ratio),
                        (*ratio * 1.02, SegmentValue::CenterOf(at(i))),
                        ("sans-serif", 12),
                    )
                },
            ))
            .map_err(&pe)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            BLACK.stroke_width(2),
        )))
        .map_err(&pe)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(&pe)?;
    root.present().map_err(&pe)?;
    Ok(())
}

/// Lines with points, plus labelled horizontal reference lines.
fn line_plot(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    hlines: &[(String, f64)],
) -> Result<()> {
    let pe = plot_err(path);
    let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let x_max = xs.fold(1.0f64, f64::max) + 0.5;
    let y_max = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .chain(hlines.iter().map(|h| h.1))
        .fold(0.0f64, f64::max)
        * 1.2;
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(&pe)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..x_max, 0f64..y_max)
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(&pe)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(&pe)?;
    }
    for (i, (name, y)) in hlines.iter().enumerate() {
        let color = COLORS[(series.len() + i) % COLORS.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.5, *y), (x_max, *y)],
                color.stroke_width(1),
            )))
            .map_err(&pe)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(&pe)?;
    root.present().map_err(&pe)?;
    Ok(())
}

/// One row per benchmark: its samples as dots on a log time axis, the mean
/// as a vertical bar.
fn strip_plot(path: &Path, title: &str, rows: &[(String, Vec<f64>, f64)]) -> Result<()> {
    let pe = plot_err(path);
    let n = rows.len();
    let all = rows.iter().flat_map(|r| r.1.iter().copied().chain([r.2]));
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (lo, hi) = (lo.max(1e-3) / 1.5, hi.max(lo * 2.0) * 1.5);
    let height = (90 + 22 * n) as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&pe)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(280)
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())
        .map_err(&pe)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(j) => n
                .checked_sub(1 + *j)
                .and_then(|k| rows.get(k))
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| {
            if is_round_log_tick(*x) {
                fmt_ns(*x)
            } else {
                String::new()
            }
        })
        .x_desc("time per operation (log scale)")
        .draw()
        .map_err(&pe)?;
    for (i, (_, samples, mean)) in rows.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let i = n - 1 - i; // first row at the top
        chart
            .draw_series(
                samples.iter().map(|s| {
                    Circle::new((*s, SegmentValue::CenterOf(i)), 3, color.mix(0.6).filled())
                }),
            )
            .map_err(&pe)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (*mean, SegmentValue::Exact(i)),
                    (*mean, SegmentValue::Exact(i + 1)),
                ],
                BLACK.stroke_width(2),
            )))
            .map_err(&pe)?;
    }
    root.present().map_err(&pe)?;
    Ok(())
}

/// Groups results by group id (for the binary's summary line).
pub fn group_counts(dir: &Path) -> Result<BTreeMap<String, usize>> {
    let mut m = BTreeMap::new();
    for b in load_criterion(dir)? {
        *m.entry(b.group).or_insert(0) += 1;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(
        root: &Path,
        group: &str,
        func: &str,
        value: Option<&str>,
        mean: f64,
        elems: u64,
    ) {
        let mut dir = root.join(group).join(func);
        if let Some(v) = value {
            dir = dir.join(v);
        }
        let dir = dir.join("new");
        std::fs::create_dir_all(&dir).unwrap();
        let b = serde_json::json!({
            "group_id": group, "function_id": func, "value_str": value,
            "throughput": {"Elements": elems},
        });
        std::fs::write(dir.join("benchmark.json"), b.to_string()).unwrap();
        let ci = serde_json::json!({"confidence_level": 0.95, "lower_bound": mean * 0.9, "upper_bound": mean * 1.1});
        let e = serde_json::json!({
            "mean": {"point_estimate": mean, "confidence_interval": ci, "standard_error": 1.0},
            "median": {"point_estimate": mean, "confidence_interval": ci, "standard_error": 1.0},
        });
        std::fs::write(dir.join("estimates.json"), e.to_string()).unwrap();
        let s = serde_json::json!({"sampling_mode": "Flat", "iters": [10.0, 10.0], "times": [mean * 9.0, mean * 11.0]});
        std::fs::write(dir.join("sample.json"), s.to_string()).unwrap();
    }

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
        let hits = find("ART vs RwLock<BTreeMap>: lookups, hits");
        assert_eq!(hits.measured, Some(2.5)); // worst of 4.0 and 2.5
        assert_eq!(hits.met(), Some(false));
        let scans = find("ART time / RwLock");
        assert_eq!(scans.measured, Some(3.0));
        assert_eq!(scans.met(), Some(false));
        assert_eq!(find("ART vs RwLock<BTreeMap>: inserts, random").met(), None);
        let gc = find("Synced writes: 4 writers");
        assert!((gc.measured.unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(gc.met(), Some(true));
        let raw = find("Synced writes: 1 writer time");
        assert!((raw.measured.unwrap() - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(raw.verdict(), "met");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        write_bench(d.path(), "g", "f", None, 5.0, 1);
        let est = d.path().join("g/f/new/estimates.json");
        std::fs::write(&est, "{\"mean\": {\"point_estimate\": \"x\"}}").unwrap();
        let e = load_criterion(d.path()).unwrap_err();
        assert!(e.0.contains("estimates.json"), "{e}");
        std::fs::write(&est, "not json").unwrap();
        assert!(load_criterion(d.path()).unwrap_err().0.contains("parsing"));
        assert!(load_criterion(&d.path().join("absent")).is_err());
    }

    #[test]
    fn log_ticks() {
        assert!(is_round_log_tick(1.0) && is_round_log_tick(200.0) && is_round_log_tick(0.5));
        assert!(!is_round_log_tick(3.0) && !is_round_log_tick(0.0) && !is_round_log_tick(70.0));
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(12.34), "12.3 ns");
        assert_eq!(fmt_ns(1_500.0), "1.50 µs");
        assert_eq!(fmt_ns(2_500_000.0), "2.50 ms");
        assert_eq!(fmt_rate(2_500_000.0), "2.50 M/s");
        assert_eq!(fmt_rate(6_600.0), "6.6 k/s");
        assert_eq!(fmt_ratio(3.456), "3.46x");
    }
}
