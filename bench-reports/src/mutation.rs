//! The mutation score: reads cargo-mutants' output directories (one per
//! shard, or one per run), merges them and writes `MUTANTS.md` with a
//! per-module table and an SVG plot.
//!
//! Input: each directory holds `outcomes.json` (directly, or in a
//! `mutants.out` below it) and the `log/` files it names. From each mutant's
//! outcome this reads its name, file and summary (`CaughtMutant`,
//! `MissedMutant`, `Timeout`, `Unviable`); from its log, the last test
//! binary cargo ran, which is the one that failed (cargo stops at the first
//! failing test binary) or hung: the detector stage that caught it.
//!
//! A directory without `outcomes.json` may hold the record of a run
//! instead ([`save_lists`], committed beside the published score, since
//! `mutants.out` with its logs is too large to keep): cargo-mutants' own
//! outcome lists (`caught.txt`, `missed.txt`, `timeout.txt`,
//! `unviable.txt`), and optionally `stages.txt` (each caught mutant's test
//! binary) and `run.txt` (version and wall time). Older records hold only
//! the four lists: their catches count as "stage not recorded".
//!
//! When a mutant appears in more than one directory, the later directory on
//! the command line wins: a rerun of missed mutants after a fix is passed
//! after the run it corrects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::report::{err, Result, StackedRow};

/// What cargo-mutants made of one mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A test failed.
    Caught,
    /// The tests ran past the time limit (counted as caught: a hang is a
    /// failure the campaign sees).
    Timeout,
    /// Every test passed: a gap in the checks.
    Missed,
    /// The mutant did not build.
    Unviable,
}

impl Outcome {
    fn from_summary(s: &str) -> Option<Outcome> {
        match s {
            "CaughtMutant" => Some(Outcome::Caught),
            "Timeout" => Some(Outcome::Timeout),
            "MissedMutant" => Some(Outcome::Missed),
            "Unviable" => Some(Outcome::Unviable),
            _ => None,
        }
    }
}

/// The detector stages, in the order `cargo test` runs them: the test
/// binary that failed names the stage.
pub const STAGES: [&str; 4] = [
    "engine unit tests",
    "engine integration tests",
    "simulator tests",
    "detect campaigns",
];

/// One mutant's result.
#[derive(Clone, Debug, PartialEq)]
pub struct MutantResult {
    /// As `cargo mutants --list` prints it: `file:line:col: description`.
    pub name: String,
    /// The mutated file, relative to the workspace root.
    pub file: String,
    /// What happened.
    pub outcome: Outcome,
    /// The test binary that failed or hung (file stem, without cargo's
    /// hash), when the log names one.
    pub test_binary: Option<String>,
    /// Seconds spent building and testing it.
    pub seconds: f64,
}

/// One output directory.
#[derive(Clone, Debug)]
pub struct Run {
    /// Where it was read from.
    pub dir: PathBuf,
    /// cargo-mutants' version.
    pub version: String,
    /// Wall time from start to end, when both are recorded.
    pub wall_seconds: Option<f64>,
    /// The mutants it tested, in its order.
    pub mutants: Vec<MutantResult>,
    /// A rerun of mutants the runs before it tested (after their triage,
    /// on a tree whose lines may have moved): its mutants also correct
    /// earlier ones of the same file and description. Shards of one commit
    /// are not reruns: they test different mutants that may share a
    /// description, and are matched by exact name only.
    pub rerun: bool,
    /// A second judge (the scheduler pass, `bash sim/mutants.sh shuttle`):
    /// the same mutants judged by other tests in another build. Its catches
    /// correct earlier misses (matched like a rerun's); its misses change
    /// nothing, since a mutant another judge caught stays caught.
    pub second_judge: bool,
}

impl Run {
    /// A run read from `dir`, neither a rerun nor a judge until the command
    /// line says so.
    fn loaded(
        dir: &Path,
        version: String,
        wall_seconds: Option<f64>,
        mutants: Vec<MutantResult>,
    ) -> Run {
        Run {
            dir: dir.to_path_buf(),
            version,
            wall_seconds,
            mutants,
            rerun: false,
            second_judge: false,
        }
    }
}

/// The outcome lists of a run record, as cargo-mutants names them.
const LISTS: [(&str, Outcome); 4] = [
    ("caught.txt", Outcome::Caught),
    ("timeout.txt", Outcome::Timeout),
    ("missed.txt", Outcome::Missed),
    ("unviable.txt", Outcome::Unviable),
];

/// Reads one cargo-mutants output directory (or its parent), or a run
/// record written by [`save_lists`].
pub fn load_run(dir: &Path) -> Result<Run> {
    let base = if dir.join("outcomes.json").exists() {
        dir.to_path_buf()
    } else {
        dir.join("mutants.out")
    };
    let path = base.join("outcomes.json");
    if !path.exists() && LISTS.iter().any(|(f, _)| dir.join(f).exists()) {
        return load_lists(dir);
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| err(format!("{}: not JSON: {e}", path.display())))?;
    let version = v["cargo_mutants_version"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let wall_seconds = match (v["start_time"].as_str(), v["end_time"].as_str()) {
        (Some(a), Some(b)) => Some(rfc3339_seconds(b)? - rfc3339_seconds(a)?),
        _ => None,
    };
    let outcomes = v["outcomes"]
        .as_array()
        .ok_or_else(|| err(format!("{}: no `outcomes` array", path.display())))?;
    let mut mutants = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let Some(m) = o["scenario"].get("Mutant") else {
            continue; // the baseline
        };
        let at = || format!("{}: outcome {i}", path.display());
        let name = m["name"]
            .as_str()
            .ok_or_else(|| err(format!("{}: mutant without a name", at())))?;
        let file = m["file"]
            .as_str()
            .ok_or_else(|| err(format!("{}: mutant without a file", at())))?;
        let summary = o["summary"].as_str().unwrap_or("");
        let outcome = Outcome::from_summary(summary)
            .ok_or_else(|| err(format!("{}: unknown summary {summary:?}", at())))?;
        let seconds = o["phase_results"].as_array().map_or(0.0, |p| {
            p.iter().filter_map(|r| r["duration"].as_f64()).sum()
        });
        let test_binary = match (outcome, o["log_path"].as_str()) {
            (Outcome::Caught | Outcome::Timeout, Some(log)) => {
                std::fs::read_to_string(base.join(log))
                    .ok()
                    .and_then(|t| last_test_binary(&t))
            }
            _ => None,
        };
        mutants.push(MutantResult {
            name: name.to_string(),
            file: file.to_string(),
            outcome,
            test_binary,
            seconds,
        });
    }
    Ok(Run::loaded(dir, version, wall_seconds, mutants))
}

/// Reads a run record: the outcome lists (a missing list is empty), the
/// stages of its catches and its version and wall time where recorded.
fn load_lists(dir: &Path) -> Result<Run> {
    let read = |name: &str| -> Result<Option<String>> {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(format!("{}: {e}", path.display()))),
        }
    };
    let mut stages = BTreeMap::new();
    for (i, line) in read("stages.txt")?.unwrap_or_default().lines().enumerate() {
        let (binary, name) = line.split_once('\t').ok_or_else(|| {
            err(format!(
                "{}: line {}: not `binary<TAB>mutant`",
                dir.join("stages.txt").display(),
                i + 1
            ))
        })?;
        stages.insert(name.to_string(), binary.to_string());
    }
    let (mut version, mut wall_seconds) = ("not recorded".to_string(), None);
    for line in read("run.txt")?.unwrap_or_default().lines() {
        match line.split_once(' ') {
            Some(("cargo-mutants", v)) => version = v.to_string(),
            Some(("wall_seconds", w)) => {
                wall_seconds = Some(w.parse::<f64>().map_err(|e| {
                    err(format!(
                        "{}: wall_seconds: {e}",
                        dir.join("run.txt").display()
                    ))
                })?);
            }
            _ => {}
        }
    }
    let mut mutants = Vec::new();
    for (list, outcome) in LISTS {
        for (i, name) in read(list)?.unwrap_or_default().lines().enumerate() {
            if name.trim().is_empty() {
                continue;
            }
            let file = name
                .split(':')
                .next()
                .filter(|f| *f != name)
                .ok_or_else(|| {
                    err(format!(
                        "{}: line {}: not a mutant name",
                        dir.join(list).display(),
                        i + 1
                    ))
                })?;
            mutants.push(MutantResult {
                name: name.to_string(),
                file: file.to_string(),
                outcome,
                test_binary: stages.get(name).cloned(),
                seconds: 0.0,
            });
        }
    }
    Ok(Run::loaded(dir, version, wall_seconds, mutants))
}

/// Writes the record of `run` into `dir`, small enough to commit: the four
/// outcome lists, `stages.txt` (`binary<TAB>mutant` for each catch whose
/// test binary is known) and `run.txt` (version, wall time).
pub fn save_lists(run: &Run, dir: &Path) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| err(format!("{}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
    for (list, outcome) in LISTS {
        let mut text = String::new();
        for m in run.mutants.iter().filter(|m| m.outcome == outcome) {
            let _ = writeln!(text, "{}", m.name);
        }
        write(list, text)?;
    }
    let mut stages = String::new();
    for m in &run.mutants {
        if let Some(b) = &m.test_binary {
            let _ = writeln!(stages, "{b}\t{}", m.name);
        }
    }
    write("stages.txt", stages)?;
    let mut info = format!("cargo-mutants {}\n", run.version);
    if let Some(w) = run.wall_seconds {
        let _ = writeln!(info, "wall_seconds {w:.0}");
    }
    write("run.txt", info)
}

/// Seconds since 1970 of an RFC 3339 UTC time as cargo-mutants writes it
/// (`2026-11-30T13:47:41.030404699Z`).
fn rfc3339_seconds(t: &str) -> Result<f64> {
    let bad = || err(format!("bad time {t:?}"));
    let t = t.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    if d.len() != 3 || h.len() != 3 {
        return Err(bad());
    }
    let frac: f64 = format!("0.{frac}").parse().map_err(|_| bad())?;
    // Days from the civil date (proleptic Gregorian), 1970-01-01 = 0.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok((days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2]) as f64 + frac)
}

/// The last test binary a `cargo test --verbose` log ran: cargo prints
/// ``Running `<target>/deps/<name>-<hash>` `` before each.
pub fn last_test_binary(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let path = l.trim().strip_prefix("Running `")?.strip_suffix('`')?;
        if path.contains(' ') || !path.contains("/deps/") {
            return None; // a compiler invocation, not a test binary
        }
        let file = path.rsplit('/').next()?;
        let (stem, hash) = file.rsplit_once('-')?;
        hash.chars()
            .all(|c| c.is_ascii_hexdigit())
            .then(|| stem.to_string())
    })
}

/// Names the detector stage of a test binary, given the integration test
/// names of the engine (`engine/tests/*.rs`).
pub fn stage_of(binary: &str, engine_tests: &[String]) -> usize {
    match binary {
        "strata" => 0,
        "detect" => 3,
        b if engine_tests.iter().any(|t| t == b) => 1,
        _ => 2,
    }
}

/// Splits a mutant's name (`file:line:col: description`) into its place
/// and the rest, `file: description`, which does not move when lines above
/// the mutant change.
fn placed(name: &str) -> ((String, u32, u32), String) {
    let mut parts = name.splitn(4, ':');
    if let (Some(file), Some(line), Some(col), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        if let (Ok(line), Ok(col)) = (line.parse(), col.parse()) {
            return ((file.to_string(), line, col), format!("{file}:{rest}"));
        }
    }
    ((name.to_string(), 0, 0), name.to_string())
}

/// Merges runs: one result per mutant, the later run winning. A later
/// run's mutant replaces the earlier one of the same name or, in a rerun
/// ([`Run::rerun`]) and failing that, the first not yet replaced with the
/// same file and description in line order: a rerun made after edits moved
/// lines still corrects the run it follows, while shards of one commit
/// (whose mutants differ though descriptions repeat) simply add up.
pub fn merge(runs: &[Run]) -> Vec<MutantResult> {
    let mut merged: Vec<MutantResult> = Vec::new();
    for r in runs {
        let mut mine: Vec<&MutantResult> = r.mutants.iter().collect();
        mine.sort_by_key(|m| placed(&m.name).0);
        let earlier = merged.len();
        let mut replaced = vec![false; earlier];
        let mut leftovers = Vec::new();
        for m in mine {
            match merged[..earlier].iter().position(|x| x.name == m.name) {
                Some(i) => {
                    if corrects(r, &merged[i], m) {
                        merged[i] = m.clone();
                    }
                    replaced[i] = true;
                }
                None if r.rerun || r.second_judge => leftovers.push(m),
                None => merged.push(m.clone()),
            }
        }
        // A rerun's mutants whose names moved take, in line order, the
        // earlier mutants of their file and description not matched by
        // name; any other is not one the earlier runs tested (a rerun
        // selects by description, so it can catch other shards' mutants)
        // and is left out: a rerun only corrects.
        for m in leftovers {
            let key = placed(&m.name).1;
            if let Some(i) =
                (0..earlier).find(|&i| !replaced[i] && placed(&merged[i].name).1 == key)
            {
                if corrects(r, &merged[i], m) {
                    merged[i] = m.clone();
                }
                replaced[i] = true;
            }
        }
        merged.sort_by_key(|m| placed(&m.name).0);
    }
    merged
}

/// Whether `later`, from run `r`, replaces `earlier`: always, except that
/// a second judge only turns a miss into a catch.
fn corrects(r: &Run, earlier: &MutantResult, later: &MutantResult) -> bool {
    !r.second_judge
        || (earlier.outcome == Outcome::Missed
            && matches!(later.outcome, Outcome::Caught | Outcome::Timeout))
}

/// One module's (file's) counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleScore {
    /// The file, relative to the engine's `src/` when it is there.
    pub module: String,
    /// Mutants tested.
    pub tested: usize,
    /// Of those, how many did not build.
    pub unviable: usize,
    /// Caught by a failing test, per stage of [`STAGES`].
    pub caught_by_stage: [usize; 4],
    /// Caught by a failing test whose binary could not be named.
    pub caught_unstaged: usize,
    /// Ran past the time limit (caught).
    pub timeout: usize,
    /// Survived.
    pub missed: usize,
    /// Left out of the run by the triage list (each with its reason in
    /// `.cargo/mutants.toml`).
    pub triaged: usize,
}

impl ModuleScore {
    /// Caught, timeouts included.
    pub fn caught(&self) -> usize {
        self.caught_by_stage.iter().sum::<usize>() + self.caught_unstaged + self.timeout
    }

    /// Mutants that built.
    pub fn viable(&self) -> usize {
        self.tested - self.unviable
    }

    /// Caught over viable mutants tested, triaged ones left out.
    pub fn score(&self) -> Option<f64> {
        ratio(self.caught(), self.viable())
    }

    /// Caught over viable mutants with the triaged ones counted as missed.
    pub fn score_triaged_as_missed(&self) -> Option<f64> {
        ratio(self.caught(), self.viable() + self.triaged)
    }

    fn add(&mut self, o: &ModuleScore) {
        self.tested += o.tested;
        self.unviable += o.unviable;
        for (a, b) in self.caught_by_stage.iter_mut().zip(o.caught_by_stage) {
            *a += b;
        }
        self.caught_unstaged += o.caught_unstaged;
        self.timeout += o.timeout;
        self.missed += o.missed;
        self.triaged += o.triaged;
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn module_of(file: &str) -> String {
    file.strip_prefix("engine/src/").unwrap_or(file).to_string()
}

/// Per-module counts, by module name, plus the total. `triaged` holds the
/// names of mutants the triage list leaves out (`file:line:col: ...`, as
/// `bash sim/mutants.sh triaged` lists them on the current tree): a missed
/// mutant of the runs with the same name, or failing that the same file
/// and description, counts as triaged instead of tested (the runs may be
/// older than the triage, so lines may have moved). A triaged name that
/// matches no miss is left out: it belongs to a shard not merged here, or
/// the runs caught it. (Runs made with the triage list in force never test
/// its mutants; their score leaves them out in both columns.)
/// `engine_tests` are the engine's integration test names.
pub fn score(
    mutants: &[MutantResult],
    triaged: &[String],
    engine_tests: &[String],
) -> (Vec<ModuleScore>, ModuleScore) {
    let is_triaged = triaged_misses(mutants, triaged);
    let mut by_module: BTreeMap<String, ModuleScore> = BTreeMap::new();
    for (r, triaged) in mutants.iter().zip(is_triaged) {
        let module = module_of(&r.file);
        let s = by_module
            .entry(module.clone())
            .or_insert_with(|| ModuleScore {
                module,
                ..ModuleScore::default()
            });
        if triaged {
            s.triaged += 1;
            continue;
        }
        s.tested += 1;
        match r.outcome {
            Outcome::Unviable => s.unviable += 1,
            Outcome::Missed => s.missed += 1,
            Outcome::Timeout => s.timeout += 1,
            Outcome::Caught => match &r.test_binary {
                Some(b) => s.caught_by_stage[stage_of(b, engine_tests)] += 1,
                None => s.caught_unstaged += 1,
            },
        }
    }
    let mut total = ModuleScore {
        module: "total".into(),
        ..ModuleScore::default()
    };
    for s in by_module.values() {
        total.add(s);
    }
    (by_module.into_values().collect(), total)
}

/// Which of `mutants` are misses the triage list names: by exact name
/// first, then by file and description, each triaged name used once, in
/// line order.
fn triaged_misses(mutants: &[MutantResult], triaged: &[String]) -> Vec<bool> {
    let mut marked = vec![false; mutants.len()];
    let mut leftovers = Vec::new();
    for t in triaged {
        match mutants
            .iter()
            .position(|m| m.name == *t && m.outcome == Outcome::Missed)
        {
            Some(i) => marked[i] = true,
            None => leftovers.push(placed(t)),
        }
    }
    leftovers.sort();
    for (_, key) in leftovers {
        if let Some(i) = (0..mutants.len()).find(|&i| {
            !marked[i] && mutants[i].outcome == Outcome::Missed && placed(&mutants[i].name).1 == key
        }) {
            marked[i] = true;
        }
    }
    marked
}

/// Gives the mutants of `run` their names on a newer tree where a function
/// was renamed or split since the run: each pair maps an old `file:
/// description` (every mutant with it) or `file:line:col: description`
/// (that one) to the new `file: description` (lines and columns are kept),
/// so reruns and the triage list, both made on the newer tree, find them.
///
/// A new name of `-` says the code is gone (deleted as dead, rewritten, or
/// moved into a file the configuration leaves out): such mutants are taken
/// out of the run, and their names returned, so the report can list them.
pub fn rename(run: &mut Run, renames: &[(String, String)]) -> Vec<String> {
    let mut removed = Vec::new();
    run.mutants.retain_mut(|m| {
        let ((_, line, col), key) = placed(&m.name);
        let Some((_, new)) = renames
            .iter()
            .find(|(old, _)| *old == key || *old == m.name)
        else {
            return true;
        };
        if new == "-" {
            removed.push(m.name.clone());
            return false;
        }
        if let Some((file, description)) = new.split_once(": ") {
            m.name = format!("{file}:{line}:{col}: {description}");
            m.file = file.to_string();
        }
        true
    });
    removed
}

/// Reads rename pairs, one per line as `OLD => NEW`, each `file:
/// description` (or `-` for NEW: the code is gone); blank lines and lines
/// starting with `#` are skipped.
pub fn parse_renames(text: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (old, new) = l
            .split_once(" => ")
            .ok_or_else(|| err(format!("line {}: expected `OLD => NEW`", i + 1)))?;
        if new.trim() != "-" && !new.contains(": ") {
            return Err(err(format!("line {}: expected `file: description`", i + 1)));
        }
        pairs.push((old.trim().to_string(), new.trim().to_string()));
    }
    Ok(pairs)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.1}%", 100.0 * x))
}

/// The score table in Markdown, one row per module and a total row.
pub fn table(modules: &[ModuleScore], total: &ModuleScore) -> String {
    let mut s = String::new();
    s.push_str(
        "| module | tested | unviable | viable | caught: engine unit | engine integration \
         | simulator tests | detect campaigns | stage not recorded | timeout | missed | triaged \
         | score | score, triaged as missed |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for m in modules.iter().chain(std::iter::once(total)) {
        let bold = |x: String| {
            if m.module == "total" {
                format!("**{x}**")
            } else {
                x
            }
        };
        let c = m.caught_by_stage;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            bold(format!("`{}`", m.module)),
            m.tested,
            m.unviable,
            m.viable(),
            c[0],
            c[1],
            c[2],
            c[3],
            m.caught_unstaged,
            m.timeout,
            m.missed,
            m.triaged,
            bold(pct(m.score())),
            pct(m.score_triaged_as_missed()),
        );
    }
    s
}

/// The rows of the per-module plot: shares of viable mutants caught by
/// each stage, timed out, missed and triaged.
pub fn plot_rows(modules: &[ModuleScore]) -> Vec<StackedRow> {
    modules
        .iter()
        .filter(|m| m.viable() + m.triaged > 0)
        .map(|m| {
            let c = m.caught_by_stage;
            StackedRow {
                label: format!("{} ({})", m.module, m.viable() + m.triaged),
                parts: vec![
                    c[0] as f64,
                    c[1] as f64,
                    c[2] as f64,
                    c[3] as f64,
                    m.caught_unstaged as f64,
                    m.timeout as f64,
                    m.missed as f64,
                    m.triaged as f64,
                ],
            }
        })
        .collect()
}

/// The legend of [`plot_rows`]' parts.
pub const PLOT_PARTS: [&str; 8] = [
    "caught: engine unit tests",
    "caught: engine integration tests",
    "caught: simulator tests",
    "caught: detect campaigns",
    "caught: stage not recorded",
    "timeout (caught)",
    "missed",
    "triaged (excluded)",
];

/// Every missed mutant's name, sorted, as a Markdown list.
/// Triaged misses (see [`score`]) are left out.
pub fn missed_list(mutants: &[MutantResult], triaged: &[String]) -> String {
    let mut s = String::new();
    let is_triaged = triaged_misses(mutants, triaged);
    for (m, _) in mutants
        .iter()
        .zip(is_triaged)
        .filter(|(m, t)| m.outcome == Outcome::Missed && !t)
    {
        let _ = writeln!(s, "- `{}`", m.name);
    }
    if s.is_empty() {
        s.push_str("None.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, outcome: Outcome, bin: Option<&str>) -> MutantResult {
        MutantResult {
            name: name.into(),
            file: name.split(':').next().unwrap().into(),
            outcome,
            test_binary: bin.map(Into::into),
            seconds: 1.0,
        }
    }

    #[test]
    fn the_last_test_binary_is_read_from_a_verbose_log() {
        let log = "     Running `/x/rustc --crate-name foo --out-dir /t/deps`\n\
                   \x20    Running `/t/target/mutants/deps/strata-0123abcd0123abcd`\n\
                   test a ... ok\n\
                   \x20    Running `/t/target/mutants/deps/wal_recovery-25c5dfcf05619e19`\n\
                   test b ... FAILED\n";
        assert_eq!(last_test_binary(log).as_deref(), Some("wal_recovery"));
        assert_eq!(last_test_binary("no binaries here\n"), None);
    }

    #[test]
    fn times_convert_to_seconds() {
        let a = rfc3339_seconds("1970-01-02T00:00:01.5Z").unwrap();
        assert!((a - 86_401.5).abs() < 1e-9);
        let b = rfc3339_seconds("2026-11-30T13:47:41Z").unwrap();
        let c = rfc3339_seconds("2026-12-01T00:00:00Z").unwrap();
        assert!((c - b - (10.0 * 3600.0 + 12.0 * 60.0 + 19.0)).abs() < 1e-6);
        assert!(rfc3339_seconds("2026-11-30 13:47:41").is_err());
    }

    fn merged_with_moved(merged: &[MutantResult]) -> Vec<MutantResult> {
        let mut v = merged.to_vec();
        let i = v.iter().position(|m| m.name.ends_with(": a")).unwrap();
        v[i].name = "engine/src/wal.rs:9:1: a".into();
        v.sort_by_key(|m| placed(&m.name).0);
        v
    }

    /// A shard made before a function was renamed: the rename gives its
    /// mutant the new name, so a rerun and a triage entry made on the
    /// newer tree find it; without it the miss stays.
    #[test]
    fn renamed_mutants_meet_their_reruns_and_triage() {
        let renames = parse_renames(
            "# moved into the new function\n\
             engine/src/w.rs: replace > with == in old => engine/src/w.rs: replace > with == in new\n\
             engine/src/c.rs:20:5: replace < with <= in submit => engine/src/c.rs: replace < with <= in gather\n\
             engine/src/d.rs: delete ! in dead => -\n",
        )
        .unwrap();
        assert_eq!(renames.len(), 3);
        assert!(parse_renames("no arrow here").is_err());
        assert!(parse_renames("a: b => c").is_err());
        let shard = || Run {
            dir: "s".into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: vec![
                result(
                    "engine/src/w.rs:10:5: replace > with == in old",
                    Outcome::Missed,
                    None,
                ),
                result(
                    "engine/src/c.rs:20:5: replace < with <= in submit",
                    Outcome::Missed,
                    None,
                ),
                result(
                    "engine/src/c.rs:40:5: replace < with <= in submit",
                    Outcome::Caught,
                    None,
                ),
                result(
                    "engine/src/d.rs:7:5: delete ! in dead",
                    Outcome::Missed,
                    None,
                ),
            ],
            rerun: false,
            second_judge: false,
        };
        let rerun = Run {
            dir: "after".into(),
            mutants: vec![result(
                "engine/src/w.rs:14:5: replace > with == in new",
                Outcome::Caught,
                Some("strata"),
            )],
            rerun: true,
            ..shard()
        };
        let triaged = ["engine/src/c.rs:30:9: replace < with <= in gather".to_string()];
        let mut renamed = shard();
        assert_eq!(
            rename(&mut renamed, &renames),
            ["engine/src/d.rs:7:5: delete ! in dead"]
        );
        assert_eq!(
            renamed.mutants[2].name, "engine/src/c.rs:40:5: replace < with <= in submit",
            "a rename naming one mutant leaves the others"
        );
        let (_, total) = score(&merge(&[renamed, rerun.clone()]), &triaged, &[]);
        assert_eq!((total.caught(), total.missed, total.triaged), (2, 0, 1));
        let (_, total) = score(&merge(&[shard(), rerun]), &triaged, &[]);
        assert_eq!((total.caught(), total.missed, total.triaged), (1, 3, 0));
    }

    /// Postmortem: merging shards 0 and 1 of the core (one commit) counted
    /// 432 mutants, not 468: shard 1's mutants took the places of shard 0's
    /// with the same file and description, a match meant only for reruns.
    #[test]
    fn regression_shards_of_one_commit_add_up_even_where_descriptions_repeat() {
        let shard = |dir: &str, name: &str, o: Outcome| Run {
            dir: dir.into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: vec![result(name, o, None)],
            rerun: false,
            second_judge: false,
        };
        let merged = merge(&[
            shard(
                "s0",
                "engine/src/c.rs:96:5: replace < with == in f",
                Outcome::Missed,
            ),
            shard(
                "s1",
                "engine/src/c.rs:110:5: replace < with == in f",
                Outcome::Caught,
            ),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].outcome, Outcome::Missed);
    }

    /// The scheduler pass judges named mutants with other tests: its catch
    /// corrects a miss (also after lines moved), its miss leaves a catch
    /// of the main pass standing.
    #[test]
    fn a_second_judge_only_turns_misses_into_catches() {
        let run = |dir: &str, names: &[(&str, Outcome)], second_judge: bool| Run {
            dir: dir.into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: names.iter().map(|(n, o)| result(n, *o, None)).collect(),
            rerun: false,
            second_judge,
        };
        let main = run(
            "s1",
            &[
                ("engine/src/w.rs:10:5: delete ! in t", Outcome::Missed),
                (
                    "engine/src/w.rs:20:5: replace == with != in t",
                    Outcome::Caught,
                ),
            ],
            false,
        );
        let scheduler = run(
            "sched",
            &[
                ("engine/src/w.rs:12:5: delete ! in t", Outcome::Caught),
                (
                    "engine/src/w.rs:22:5: replace == with != in t",
                    Outcome::Missed,
                ),
            ],
            true,
        );
        let merged = merge(&[main, scheduler]);
        let outcomes: Vec<Outcome> = merged.iter().map(|m| m.outcome).collect();
        assert_eq!(outcomes, [Outcome::Caught, Outcome::Caught], "{merged:?}");
    }

    /// A rerun selected by description also tests mutants no earlier run
    /// did (other shards'): they are left out, and they cannot take the
    /// place of an earlier mutant that the rerun names exactly.
    #[test]
    fn a_rerun_only_corrects_the_mutants_earlier_runs_tested() {
        let run = |dir: &str, names: &[(&str, Outcome)], rerun: bool| Run {
            dir: dir.into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: names.iter().map(|(n, o)| result(n, *o, None)).collect(),
            rerun,
            second_judge: false,
        };
        let shard = run(
            "s1",
            &[(
                "engine/src/w.rs:286:27: replace - with + in d",
                Outcome::Missed,
            )],
            false,
        );
        let again = run(
            "after",
            &[
                (
                    "engine/src/w.rs:251:53: replace - with + in d",
                    Outcome::Missed,
                ),
                (
                    "engine/src/w.rs:286:27: replace - with + in d",
                    Outcome::Caught,
                ),
            ],
            true,
        );
        let merged = merge(&[shard, again]);
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert_eq!(
            merged[0].name,
            "engine/src/w.rs:286:27: replace - with + in d"
        );
        assert_eq!(merged[0].outcome, Outcome::Caught);
    }

    /// Two mutants with one description in one file are matched in line
    /// order.
    #[test]
    fn equal_descriptions_match_in_line_order() {
        let run = |dir: &str, names: &[(&str, Outcome)]| Run {
            dir: dir.into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: names.iter().map(|(n, o)| result(n, *o, None)).collect(),
            rerun: dir != "a",
            second_judge: false,
        };
        let before = run(
            "a",
            &[
                (
                    "engine/src/c.rs:96:5: replace < with == in f",
                    Outcome::Missed,
                ),
                (
                    "engine/src/c.rs:110:5: replace < with == in f",
                    Outcome::Caught,
                ),
            ],
        );
        let after = run(
            "b",
            &[(
                "engine/src/c.rs:99:5: replace < with == in f",
                Outcome::Caught,
            )],
        );
        let merged = merge(&[before, after]);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0].name,
            "engine/src/c.rs:99:5: replace < with == in f"
        );
        assert!(merged.iter().all(|m| m.outcome == Outcome::Caught));
    }

    #[test]
    fn later_runs_win_and_modules_add_up() {
        let first = Run {
            dir: "a".into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: vec![
                result("engine/src/wal.rs:1:1: a", Outcome::Missed, None),
                result("engine/src/wal.rs:2:1: b", Outcome::Caught, Some("strata")),
                result("engine/src/wal.rs:3:1: c", Outcome::Unviable, None),
                result("engine/src/gc.rs:1:1: d", Outcome::Caught, Some("detect")),
                result("engine/src/gc.rs:2:1: e", Outcome::Missed, None),
            ],
            rerun: false,
            second_judge: false,
        };
        let rerun = Run {
            dir: "b".into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: vec![result(
                "engine/src/wal.rs:1:1: a",
                Outcome::Caught,
                Some("wal_recovery"),
            )],
            rerun: true,
            second_judge: false,
        };
        let merged = merge(&[first.clone(), rerun]);
        assert_eq!(merged.len(), 5);
        // A rerun after lines moved corrects the same mutant.
        let moved = Run {
            dir: "c".into(),
            version: "27".into(),
            wall_seconds: None,
            mutants: vec![result(
                "engine/src/wal.rs:9:1: a",
                Outcome::Caught,
                Some("wal_recovery"),
            )],
            rerun: true,
            second_judge: false,
        };
        assert_eq!(merge(&[first.clone(), moved]), merged_with_moved(&merged));
        let engine_tests = vec!["wal_recovery".to_string()];
        // Triaged on a newer tree (lines moved); a triaged name no miss of
        // these runs has is another shard's and is left out.
        let triaged = vec![
            "engine/src/gc.rs:9:9: e".to_string(),
            "engine/src/gc.rs:5:5: z".to_string(),
        ];
        let (mods, total) = score(&merged, &triaged, &engine_tests);
        let wal = mods.iter().find(|m| m.module == "wal.rs").unwrap();
        assert_eq!(wal.tested, 3);
        assert_eq!(wal.viable(), 2);
        assert_eq!(wal.caught_by_stage, [1, 1, 0, 0]);
        assert_eq!(wal.missed, 0, "the rerun caught it");
        assert_eq!(wal.score(), Some(1.0));
        let gc = mods.iter().find(|m| m.module == "gc.rs").unwrap();
        assert_eq!((gc.caught_by_stage[3], gc.triaged), (1, 1));
        assert_eq!(gc.score(), Some(1.0));
        assert_eq!(gc.score_triaged_as_missed(), Some(0.5));
        assert_eq!(total.tested, 4);
        assert_eq!(total.caught(), 3);
        assert_eq!(total.triaged, 1);
        // Without the rerun, the miss stays.
        let (_, before) = score(&merge(&[first]), &triaged, &engine_tests);
        assert_eq!(before.missed, 1);
        assert_eq!(before.score(), Some(2.0 / 3.0));
        let t = table(&mods, &total);
        assert!(t.contains("| `wal.rs` | 3 | 1 | 2 | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 100.0% |"));
        assert!(t.contains("| **100.0%** | 75.0% |"), "{t}");
    }

    /// A run's record (what is committed) loads back as the run: every
    /// outcome, the stages of its catches, version and wall time; a record
    /// of the four lists alone loads with its catches' stages unrecorded,
    /// which the table shows in their own column.
    #[test]
    fn a_saved_record_loads_back_as_its_run() {
        let run = Run {
            dir: "r".into(),
            version: "27.1.0".into(),
            wall_seconds: Some(2940.0),
            mutants: vec![
                result("engine/src/wal.rs:1:1: a", Outcome::Caught, Some("detect")),
                result("engine/src/wal.rs:2:1: b", Outcome::Caught, None),
                result("engine/src/gc.rs:3:1: c", Outcome::Timeout, Some("strata")),
                result("engine/src/gc.rs:4:1: d", Outcome::Missed, None),
                result("engine/src/gc.rs:5:1: e", Outcome::Unviable, None),
            ],
            rerun: false,
            second_judge: false,
        };
        let dir = tempfile::tempdir().unwrap();
        save_lists(&run, dir.path()).unwrap();
        let back = load_run(dir.path()).unwrap();
        assert_eq!(
            (back.version.as_str(), back.wall_seconds),
            ("27.1.0", Some(2940.0))
        );
        let key = |r: &Run| {
            let mut v: Vec<_> = r
                .mutants
                .iter()
                .map(|m| {
                    (
                        m.name.clone(),
                        m.file.clone(),
                        m.outcome,
                        m.test_binary.clone(),
                    )
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(key(&back), key(&run));

        for f in ["stages.txt", "run.txt"] {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        let lists = load_run(dir.path()).unwrap();
        assert_eq!(
            (lists.version.as_str(), lists.wall_seconds),
            ("not recorded", None)
        );
        assert!(lists.mutants.iter().all(|m| m.test_binary.is_none()));
        let (mods, total) = score(&merge(&[lists]), &[], &[]);
        assert_eq!(
            (total.caught_unstaged, total.timeout, total.caught()),
            (2, 1, 3)
        );
        let t = table(&mods, &total);
        assert!(
            t.contains("| `wal.rs` | 2 | 0 | 2 | 0 | 0 | 0 | 0 | 2 | 0 | 0 | 0 |"),
            "{t}"
        );

        std::fs::write(dir.path().join("missed.txt"), "no place here\n").unwrap();
        let e = load_run(dir.path()).unwrap_err().to_string();
        assert!(e.contains("missed.txt: line 1: not a mutant name"), "{e}");
    }

    #[test]
    fn a_run_directory_loads_with_stages_from_the_logs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mutants.out");
        std::fs::create_dir_all(out.join("log")).unwrap();
        std::fs::write(
            out.join("log/m1.log"),
            "     Running `/t/target/mutants/deps/detect-0011223344556677`\n",
        )
        .unwrap();
        let outcomes = serde_json::json!({
            "cargo_mutants_version": "27.1.0",
            "start_time": "2026-11-30T10:00:00.0Z",
            "end_time": "2026-11-30T10:01:30.5Z",
            "outcomes": [
                {"scenario": "Baseline", "summary": "Success", "phase_results": []},
                {"scenario": {"Mutant": {"name": "engine/src/wal.rs:5:9: replace x", "file": "engine/src/wal.rs"}},
                 "summary": "CaughtMutant", "log_path": "log/m1.log",
                 "phase_results": [{"duration": 6.0}, {"duration": 2.5}]},
                {"scenario": {"Mutant": {"name": "engine/src/wal.rs:7:9: replace y", "file": "engine/src/wal.rs"}},
                 "summary": "MissedMutant", "log_path": "log/none.log", "phase_results": []}
            ]
        });
        std::fs::write(out.join("outcomes.json"), outcomes.to_string()).unwrap();
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.version, "27.1.0");
        assert!((run.wall_seconds.unwrap() - 90.5).abs() < 1e-6);
        assert_eq!(run.mutants.len(), 2);
        assert_eq!(run.mutants[0].test_binary.as_deref(), Some("detect"));
        assert!((run.mutants[0].seconds - 8.5).abs() < 1e-9);
        assert_eq!(run.mutants[1].outcome, Outcome::Missed);
        assert_eq!(
            missed_list(&run.mutants, &[]),
            "- `engine/src/wal.rs:7:9: replace y`\n"
        );
        // The mutants.out directory itself loads the same.
        assert_eq!(load_run(&out).unwrap().mutants, run.mutants);
        assert!(load_run(&dir.path().join("absent")).is_err());
    }
}
