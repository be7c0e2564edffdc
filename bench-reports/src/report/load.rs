//! Loading: criterion's output directory and `memtable_space`'s JSON read
//! into typed figures ([`BenchResult`], [`MemoryRow`]), and [`Results`], the
//! lookup the later stages query. Every malformed file is an error naming it.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{err, Result};

/// One benchmark's results.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// Criterion's group id, e.g. `memtable_get_hit`.
    pub group: String,
    /// Criterion's function id: the memtable kind or engine, e.g. `art`.
    pub function: String,
    /// Criterion's value (key bytes or threads), when the id has one.
    pub value: Option<String>,
    /// Mean time per iteration, nanoseconds, with its 95% interval.
    pub mean_ns: f64,
    /// Lower bound of the mean's 95% interval, nanoseconds.
    pub mean_lower_ns: f64,
    /// Upper bound of the mean's 95% interval, nanoseconds.
    pub mean_upper_ns: f64,
    /// Median time per iteration, nanoseconds.
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

    /// `function/value`, or `function` alone.
    pub(super) fn label(&self) -> String {
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
        read_samples(&spath)?
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

/// Mean nanoseconds per iteration of each sample in a `sample.json`
/// (samples with zero iterations are skipped).
fn read_samples(spath: &Path) -> Result<Vec<f64>> {
    let s = read_json(spath)?;
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
    Ok(iters
        .iter()
        .zip(&times)
        .filter(|(i, _)| **i > 0.0)
        .map(|(i, t)| t / i)
        .collect())
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
    /// The memtable kind, e.g. `art`.
    pub kind: String,
    /// Bytes per key.
    pub key_bytes: u64,
    /// Bytes per value.
    pub value_bytes: u64,
    /// Entries loaded.
    pub entries: u64,
    /// Live heap bytes after loading minus before, over entries.
    pub bytes_per_entry: f64,
}

/// Reads `memtable_space`'s JSON: its method sentence and its rows.
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

/// One simulation campaign's summary, as `strata-sim run --summary-json`
/// writes it; `run.sh` names the files `strata-sim-<campaign>.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct SimRun {
    /// The campaign, from the file name (e.g. `default`, `deep`).
    pub campaign: String,
    /// Seeds run.
    pub seeds: u64,
    /// Client calls executed over all seeds.
    pub ops: u64,
    /// Client threads per seed (1: the single-threaded simulator).
    pub threads: u64,
    /// Wall time of the campaign, seconds.
    pub seconds: f64,
    /// Simulated client calls per wall-clock second.
    pub ops_per_sec: f64,
    /// Seeds that failed.
    pub failures: usize,
}

/// Every `strata-sim-<campaign>.json` in `dir`, by campaign name; none is
/// not an error (a run without the simulator's pass).
pub fn load_sim_runs(dir: &Path) -> Result<Vec<SimRun>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| err(format!("listing {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(campaign) = name
            .strip_prefix("strata-sim-")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let path = entry.path();
        let v = read_json(&path)?;
        let count = |field: &[&str]| -> Result<u64> {
            let x = field_f64(&v, field, &path)?;
            if x < 0.0 || x.fract() != 0.0 {
                return Err(err(format!(
                    "{}: {} is not a count",
                    path.display(),
                    field.join(".")
                )));
            }
            Ok(x as u64)
        };
        out.push(SimRun {
            campaign: campaign.to_string(),
            seeds: count(&["seeds"])?,
            ops: count(&["ops"])?,
            threads: count(&["config", "threads"])?,
            seconds: field_f64(&v, &["seconds"], &path)?,
            ops_per_sec: field_f64(&v, &["ops_per_sec"], &path)?,
            failures: v
                .get("failures")
                .and_then(Value::as_array)
                .ok_or_else(|| err(format!("{}: missing failures", path.display())))?
                .len(),
        });
    }
    out.sort_by(|a, b| a.campaign.cmp(&b.campaign));
    Ok(out)
}

/// A JSON document the benchmark binaries write beside criterion's output
/// (`strata-latency.json`, `strata-scale.json`): a method sentence and rows
/// of named fields.
pub(super) struct MethodRows {
    /// The file, for errors.
    pub path: std::path::PathBuf,
    /// How the figures were measured, if the file says.
    pub method: Option<String>,
    /// The rows, in file order.
    pub rows: Vec<Value>,
}

impl MethodRows {
    /// Reads `path`; `None` when there is no such file (the run did not
    /// measure it), an error naming the file when it is malformed.
    pub fn load(path: &Path) -> Result<Option<MethodRows>> {
        if !path.exists() {
            return Ok(None);
        }
        let doc = read_json(path)?;
        let rows = doc
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| err(format!("{}: missing rows", path.display())))?
            .clone();
        Ok(Some(MethodRows {
            path: path.to_path_buf(),
            method: field_str(&doc, "method", path)?,
            rows,
        }))
    }

    /// A row's number field.
    pub fn num(&self, row: &Value, key: &str) -> Result<f64> {
        row.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| err(format!("{}: a row without {key}", self.path.display())))
    }

    /// A row's text field.
    pub fn text<'a>(&self, row: &'a Value, key: &str) -> Result<&'a str> {
        row.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{}: a row without {key}", self.path.display())))
    }
}

/// Lookup over loaded results.
pub struct Results {
    pub(super) benches: Vec<BenchResult>,
}

impl Results {
    /// Wraps loaded results (as [`load_criterion`] returns them).
    pub fn new(benches: Vec<BenchResult>) -> Self {
        Results { benches }
    }

    /// The result with exactly this group, function and value.
    pub fn get(&self, group: &str, function: &str, value: Option<&str>) -> Option<&BenchResult> {
        self.benches
            .iter()
            .find(|b| b.group == group && b.function == function && b.value.as_deref() == value)
    }

    /// The results of one group, in id order.
    pub(super) fn in_group<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = &'a BenchResult> + 'a {
        self.benches.iter().filter(move |b| b.group == group)
    }

    /// Function ids seen in groups starting with `prefix`, subject first.
    pub(super) fn functions(&self, prefix: &str, subject: &str) -> Vec<String> {
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
    pub(super) fn values(&self, group: &str) -> Vec<Option<String>> {
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

/// Groups results by group id (for the binary's summary line).
pub fn group_counts(dir: &Path) -> Result<BTreeMap<String, usize>> {
    let mut m = BTreeMap::new();
    for b in load_criterion(dir)? {
        *m.entry(b.group).or_insert(0) += 1;
    }
    Ok(m)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Writes one benchmark's `benchmark.json`, `estimates.json` and
    /// `sample.json` the way criterion lays them out under `root`.
    pub(in crate::report) fn write_bench(
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
    fn simulation_summaries_load_by_campaign_and_bad_ones_name_their_file() {
        let d = tempfile::tempdir().unwrap();
        assert!(load_sim_runs(d.path()).unwrap().is_empty());
        let summary = |seeds: u64, threads: u64, failures: usize| {
            serde_json::json!({
                "config": {"threads": threads, "ops": 1000},
                "seeds": seeds, "ops": seeds * 1000, "seconds": 2.0,
                "ops_per_sec": seeds as f64 * 500.0,
                "failures": vec![serde_json::json!({"seed": 1}); failures],
            })
            .to_string()
        };
        std::fs::write(d.path().join("strata-sim-deep.json"), summary(20, 1, 0)).unwrap();
        std::fs::write(
            d.path().join("strata-sim-concurrent.json"),
            summary(8, 4, 2),
        )
        .unwrap();
        std::fs::write(d.path().join("strata-memory.json"), "{}").unwrap();
        let runs = load_sim_runs(d.path()).unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.campaign.as_str()).collect();
        assert_eq!(names, ["concurrent", "deep"]);
        assert_eq!(
            (runs[0].threads, runs[0].failures, runs[0].ops),
            (4, 2, 8000)
        );
        assert_eq!(runs[1].ops_per_sec, 10_000.0);
        let bad = d.path().join("strata-sim-x.json");
        std::fs::write(&bad, "{\"seeds\": 1.5}").unwrap();
        let e = load_sim_runs(d.path()).unwrap_err();
        assert!(e.0.contains("strata-sim-x.json"), "{e}");
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
}
