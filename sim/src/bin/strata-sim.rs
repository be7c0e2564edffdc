//! `strata-sim`: run, replay and shrink deterministic crash-recovery
//! simulations of Strata.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_sim::concurrent::{ConcurrentConfig, SchedulerChoice};
use strata_sim::shrink::{regression_test, shrink};
use strata_sim::{
    generate_with, run_seed, DiskModel, Failure, FaultMode, Knobs, MemtableChoice, Profile,
    RunConfig, RunOutcome, RunStats,
};

/// The level at least half the seeds of a deep campaign must reach.
const DEEP_LEVEL: usize = 3;

/// The command that builds and runs the concurrent campaign.
const CONCURRENT_SCRIPT: &str = "bash sim/concurrent.sh";

#[derive(Parser)]
#[command(
    name = "strata-sim",
    about = "Deterministic crash-recovery simulator for Strata"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `--memtable`: [`MemtableChoice`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MemtableArg {
    Btree,
    Art,
}

impl From<MemtableArg> for MemtableChoice {
    fn from(a: MemtableArg) -> Self {
        match a {
            MemtableArg::Btree => MemtableChoice::Btree,
            MemtableArg::Art => MemtableChoice::Art,
        }
    }
}

impl From<MemtableChoice> for MemtableArg {
    fn from(c: MemtableChoice) -> Self {
        match c {
            MemtableChoice::Btree => MemtableArg::Btree,
            MemtableChoice::Art => MemtableArg::Art,
        }
    }
}

/// `--faults`: [`FaultMode`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FaultsArg {
    /// No crashes, no faults: clean reopens only.
    None,
    /// Process crashes and power losses.
    Crash,
    /// Crashes plus transient errors, sticky fsync failures and media faults.
    All,
}

impl From<FaultsArg> for FaultMode {
    fn from(a: FaultsArg) -> Self {
        match a {
            FaultsArg::None => FaultMode::None,
            FaultsArg::Crash => FaultMode::Crash,
            FaultsArg::All => FaultMode::All,
        }
    }
}

impl From<FaultMode> for FaultsArg {
    fn from(m: FaultMode) -> Self {
        match m {
            FaultMode::None => FaultsArg::None,
            FaultMode::Crash => FaultsArg::Crash,
            FaultMode::All => FaultsArg::All,
        }
    }
}

/// `--disk`: [`DiskModel`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DiskArg {
    /// Unsynced writes lost entirely, as a suffix, or as an arbitrary subset.
    Full,
    /// Unsynced writes lost entirely or as a suffix only (no reordering).
    Prefix,
    /// Sabotage to test the checker: syncs persist nothing. Runs must fail.
    LyingSync,
}

impl From<DiskArg> for DiskModel {
    fn from(a: DiskArg) -> Self {
        match a {
            DiskArg::Full => DiskModel::Full,
            DiskArg::Prefix => DiskModel::Prefix,
            DiskArg::LyingSync => DiskModel::LyingSync,
        }
    }
}

impl From<DiskModel> for DiskArg {
    fn from(m: DiskModel) -> Self {
        match m {
            DiskModel::Full => DiskArg::Full,
            DiskModel::Prefix => DiskArg::Prefix,
            DiskModel::LyingSync => DiskArg::LyingSync,
        }
    }
}

/// `--profile`: [`Profile`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// One fixed small configuration for every seed.
    Default,
    /// Engine options, op mix, key space and fault rates drawn per seed.
    Swarm,
    /// Tiny levels, many keys, write-heavy: deep trees (use more --ops).
    Deep,
}

impl From<ProfileArg> for Profile {
    fn from(a: ProfileArg) -> Self {
        match a {
            ProfileArg::Default => Profile::Default,
            ProfileArg::Swarm => Profile::Swarm,
            ProfileArg::Deep => Profile::Deep,
        }
    }
}

impl From<Profile> for ProfileArg {
    fn from(p: Profile) -> Self {
        match p {
            Profile::Default => ProfileArg::Default,
            Profile::Swarm => ProfileArg::Swarm,
            Profile::Deep => ProfileArg::Deep,
        }
    }
}

/// `--scheduler`: [`SchedulerChoice`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SchedulerArg {
    /// A random runnable thread at every scheduling point.
    Random,
    /// Probabilistic concurrency testing (depth 3).
    Pct,
}

impl From<SchedulerArg> for SchedulerChoice {
    fn from(a: SchedulerArg) -> Self {
        match a {
            SchedulerArg::Random => SchedulerChoice::Random,
            SchedulerArg::Pct => SchedulerChoice::Pct,
        }
    }
}

/// The flags every command takes: a [`RunConfig`], whose defaults they share,
/// and the concurrent campaign's thread count and scheduler.
#[derive(clap::Args, Clone, Copy)]
struct Common {
    /// Client threads: 1 runs the single-threaded simulator; 2 or more run
    /// the concurrent campaign, which needs the scheduler build
    /// (`bash sim/concurrent.sh ...`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The concurrent campaign's scheduler.
    #[arg(long, value_enum, default_value_t = SchedulerArg::Random)]
    scheduler: SchedulerArg,
    /// Operations per seed.
    #[arg(long, default_value_t = RunConfig::default().ops)]
    ops: usize,
    /// Memtable implementation.
    #[arg(long, value_enum, default_value_t = RunConfig::default().memtable.into())]
    memtable: MemtableArg,
    /// What to inject.
    #[arg(long, value_enum, default_value_t = RunConfig::default().faults.into())]
    faults: FaultsArg,
    /// What a power loss may do to unsynced writes (`lying-sync` is sabotage
    /// that checks the checker: every seed should fail).
    #[arg(long, value_enum, default_value_t = RunConfig::default().disk.into())]
    disk: DiskArg,
    /// Which configuration each seed runs with (single-threaded runs).
    #[arg(long, value_enum, default_value_t = RunConfig::default().profile.into())]
    profile: ProfileArg,
}

impl Common {
    fn config(&self) -> RunConfig {
        RunConfig {
            ops: self.ops,
            memtable: self.memtable.into(),
            faults: self.faults.into(),
            disk: self.disk.into(),
            profile: self.profile.into(),
        }
    }
    fn concurrent(&self) -> ConcurrentConfig {
        ConcurrentConfig {
            run: self.config(),
            threads: self.threads,
            scheduler: self.scheduler.into(),
        }
    }
    fn flags(&self) -> String {
        let threads = if self.threads > 1 {
            format!(
                " --threads {} --scheduler {}",
                self.threads,
                value_name(self.scheduler)
            )
        } else {
            String::new()
        };
        format!(
            "--ops {} --memtable {} --faults {} --disk {} --profile {}{threads}",
            self.ops,
            value_name(self.memtable),
            value_name(self.faults),
            value_name(self.disk),
            value_name(self.profile)
        )
    }
    /// How to run this binary again with these flags.
    fn command(&self) -> &'static str {
        if self.threads > 1 {
            CONCURRENT_SCRIPT
        } else {
            "strata-sim"
        }
    }
    /// Refuses a thread count this build cannot run.
    fn check_build(&self) -> Result<(), String> {
        if self.threads > 1 && !cfg!(shuttle) {
            return Err(format!(
                "--threads {} needs the scheduler build: run `{CONCURRENT_SCRIPT} <command> \
                 --threads {} ...` (it builds strata-sim with --cfg shuttle)",
                self.threads, self.threads
            ));
        }
        if self.threads <= 1 && cfg!(shuttle) {
            return Err(
                "this is the scheduler build, which runs only --threads 2 or more; \
                 run the single-threaded simulator with `cargo run --release -p strata-sim`"
                    .into(),
            );
        }
        Ok(())
    }
    /// Runs one seed, single-threaded or concurrent.
    fn run(&self, seed: u64, keep_trace: bool) -> RunOutcome {
        if self.threads > 1 {
            run_concurrent(seed, &self.concurrent(), keep_trace)
        } else {
            run_seed(seed, &self.config(), keep_trace)
        }
    }
}

#[cfg(shuttle)]
fn run_concurrent(seed: u64, cfg: &ConcurrentConfig, keep_trace: bool) -> RunOutcome {
    strata_sim::concurrent::run_concurrent_seed(seed, cfg, keep_trace)
}

#[cfg(not(shuttle))]
fn run_concurrent(_seed: u64, _cfg: &ConcurrentConfig, _keep_trace: bool) -> RunOutcome {
    unreachable!("check_build refuses --threads without the scheduler build")
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a campaign over many seeds.
    Run {
        /// Number of seeds.
        #[arg(long)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Run only shard I of N (`I/N`): seeds whose index % N == I.
        #[arg(long)]
        shard: Option<String>,
        /// Worker threads (default: available cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Also write every summary figure as JSON to this file.
        #[arg(long)]
        summary_json: Option<std::path::PathBuf>,
        /// Run every seed twice and fail it if the two trace digests differ.
        #[arg(long)]
        check_determinism: bool,
        /// A file naming code probes (one per line, `#` comments) that must
        /// fire during the campaign; it fails if one never did.
        #[arg(long)]
        require_probes: Option<std::path::PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Re-runs one seed.
    Replay {
        #[arg(long)]
        seed: u64,
        /// Print the operation trace.
        #[arg(long)]
        trace: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Merges the `--summary-json` files of several shards.
    Coverage {
        #[command(subcommand)]
        cmd: CoverageCmd,
    },
    /// Shrinks a failing seed's op list and prints a regression test.
    Shrink {
        #[arg(long)]
        seed: u64,
        /// Runs the shrinker may spend.
        #[arg(long, default_value_t = 2000)]
        runs_max: usize,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum CoverageCmd {
    /// Adds up summaries (counts and probes add, failures concatenate, the
    /// first file's config is kept) and prints the merged JSON, then which
    /// probes fired and which never did on stderr.
    Merge {
        /// The `--summary-json` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// Adds `b` into `a`: numbers add, arrays of counts of the same length
/// (per-level counts) add element by element, other arrays (failures)
/// concatenate, objects merge key by key; anything else keeps `a`'s value.
fn merge_json(a: &mut serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            *x = match (x.as_u64(), y.as_u64()) {
                (Some(p), Some(q)) => (p + q).into(),
                _ => serde_json::Number::from_f64(
                    x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0),
                )
                .unwrap_or_else(|| 0.into()),
            };
        }
        (Value::Array(x), Value::Array(y))
            if x.len() == y.len() && x.iter().chain(y).all(Value::is_number) =>
        {
            for (p, q) in x.iter_mut().zip(y) {
                merge_json(p, q);
            }
        }
        (Value::Array(x), Value::Array(y)) => x.extend(y.iter().cloned()),
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                match x.get_mut(k) {
                    Some(mine) if k != "config" => merge_json(mine, v),
                    Some(_) => {}
                    None => {
                        x.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => {}
    }
}

fn coverage_merge(files: &[std::path::PathBuf]) -> ExitCode {
    let mut merged: Option<serde_json::Value> = None;
    for f in files {
        let v: serde_json::Value = match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        match &mut merged {
            None => merged = Some(v),
            Some(m) => merge_json(m, &v),
        }
    }
    let merged = merged.unwrap_or_default();
    println!(
        "{}",
        serde_json::to_string_pretty(&merged).unwrap_or_default()
    );
    if let Some(probes) = merged.get("probes").and_then(|p| p.as_object()) {
        let (fired, never): (Vec<_>, Vec<_>) = probes
            .iter()
            .partition(|(_, n)| n.as_u64().unwrap_or(0) > 0);
        let names = |v: Vec<(&String, &serde_json::Value)>| {
            v.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        eprintln!("probes fired: {}", names(fired));
        eprintln!("probes never fired: {}", names(never));
    }
    ExitCode::SUCCESS
}

fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("shard must be I/N")?;
    let i: u64 = i.parse().map_err(|_| "bad shard index")?;
    let n: u64 = n.parse().map_err(|_| "bad shard count")?;
    if n == 0 || i >= n {
        return Err("shard must satisfy 0 <= I < N".into());
    }
    Ok((i, n))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = match &cli.cmd {
        Cmd::Run { common, .. } | Cmd::Replay { common, .. } | Cmd::Shrink { common, .. } => {
            *common
        }
        Cmd::Coverage {
            cmd: CoverageCmd::Merge { files },
        } => return coverage_merge(files),
    };
    if let Err(e) = common.check_build() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match cli.cmd {
        Cmd::Run {
            seeds,
            start,
            shard,
            jobs,
            summary_json,
            check_determinism,
            require_probes,
            common,
        } => {
            let (si, sn) = match shard.as_deref().map(parse_shard).transpose() {
                Ok(s) => s.unwrap_or((0, 1)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let list: Vec<u64> = (0..seeds)
                .filter(|i| i % sn == si)
                .map(|i| start.wrapping_add(i))
                .collect();
            let jobs = jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1);
            let required = match require_probes.as_deref().map(read_probe_list).transpose() {
                Ok(r) => r.unwrap_or_default(),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = CampaignOptions {
                jobs,
                summary_json,
                check_determinism,
                required_probes: required,
            };
            campaign(&list, common, &opts)
        }
        Cmd::Replay {
            seed,
            trace,
            common,
        } => {
            let out = common.run(seed, true);
            if trace {
                for l in &out.trace {
                    println!("{l}");
                }
            }
            println!("seed {seed}: digest {:016x}", out.digest);
            print!("{}", summary(&out.stats, None));
            match out.failure {
                Some(f) => {
                    println!("FAILED at op {}: {}", f.op_index, f.message);
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            }
        }
        Cmd::Coverage { .. } => unreachable!("handled above"),
        Cmd::Shrink {
            seed,
            runs_max,
            common,
        } => {
            if common.threads > 1 {
                return shrink_concurrent(seed, &common, runs_max);
            }
            let cfg = common.config();
            let ops = generate_with(seed, cfg.ops, cfg.faults, &Knobs::draw(seed, &cfg).workload);
            match shrink(seed, &ops, &cfg, runs_max) {
                None => {
                    println!("seed {seed} does not fail; nothing to shrink");
                    ExitCode::SUCCESS
                }
                Some(s) => {
                    eprintln!(
                        "shrunk {} ops to {} in {} runs: {}",
                        ops.len(),
                        s.ops.len(),
                        s.runs,
                        s.message
                    );
                    println!("{}", regression_test(seed, &s.ops, &cfg, &s.message));
                    ExitCode::SUCCESS
                }
            }
        }
    }
}

#[cfg(shuttle)]
fn shrink_concurrent(seed: u64, common: &Common, runs_max: usize) -> ExitCode {
    let cfg = common.concurrent();
    let plan = strata_sim::concurrent::plan(seed, &cfg);
    match strata_sim::concurrent::shrink_plan(seed, &plan, &cfg, runs_max) {
        None => {
            println!("seed {seed} does not fail; nothing to shrink");
            ExitCode::SUCCESS
        }
        Some(s) => {
            eprintln!(
                "shrunk {} calls to {} in {} runs (schedule seed fixed): {}",
                plan.ops(),
                s.plan.ops(),
                s.runs,
                s.message
            );
            print!("{}", s.plan);
            ExitCode::SUCCESS
        }
    }
}

#[cfg(not(shuttle))]
fn shrink_concurrent(_seed: u64, _common: &Common, _runs_max: usize) -> ExitCode {
    unreachable!("check_build refuses --threads without the scheduler build")
}

/// How a campaign runs, beyond what each seed does.
struct CampaignOptions {
    jobs: usize,
    summary_json: Option<std::path::PathBuf>,
    check_determinism: bool,
    /// Probes that must fire.
    required_probes: Vec<String>,
}

/// Reads a probe list: one name per line; blank lines and `#` comments are
/// ignored; every name must be a probe the engine has.
fn read_probe_list(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let known: Vec<&str> = strata::probe::Probe::ALL.iter().map(|p| p.name()).collect();
    let mut names = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        if !known.contains(&name) {
            return Err(format!(
                "{}:{}: no probe named {name:?} (known: {})",
                path.display(),
                i + 1,
                known.join(", ")
            ));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// Runs a seed, twice when asked: a second run whose trace digest differs
/// is a failure (the run depended on something other than its seed).
fn run_checked(seed: u64, common: &Common, twice: bool) -> RunOutcome {
    let mut out = common.run(seed, false);
    if twice && out.failure.is_none() {
        let again = common.run(seed, false);
        if again.digest != out.digest {
            out.failure = Some(Failure {
                op_index: 0,
                message: format!(
                    "nondeterministic: the trace digest was {:016x}, then {:016x}",
                    out.digest, again.digest
                ),
            });
            out.stats.divergences += 1;
        }
    }
    out
}

fn campaign(seeds: &[u64], common: Common, opts: &CampaignOptions) -> ExitCode {
    let jobs = opts.jobs;
    let summary_json = opts.summary_json.as_deref();
    let bar = ProgressBar::new(seeds.len() as u64);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let next = AtomicUsize::new(0);
    let total = Mutex::new(RunStats::default());
    let failures: Mutex<Vec<(u64, Failure)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(seeds.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let out = run_checked(seed, &common, opts.check_determinism);
                total
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(&out.stats);
                if let Some(f) = out.failure {
                    bar.println(format!(
                        "FAILED seed {seed} at op {}: {}",
                        f.op_index, f.message
                    ));
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((seed, f));
                    let n = failures.lock().map_or(0, |f| f.len());
                    bar.set_message(format!("{n} failing"));
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let total = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|(s, _)| *s);
    let secs = elapsed.as_secs_f64();
    print!("{}", summary(&total, Some(secs)));
    let probes = strata::probe::counts();
    print!("{}", probe_summary(&probes));
    let unfired: Vec<&String> = opts
        .required_probes
        .iter()
        .filter(|name| probes.iter().any(|(p, n)| p == name && *n == 0))
        .collect();
    let unreached: Vec<&str> = if common.threads > 1 {
        print!("{}", reach_summary(&total));
        total
            .reach()
            .iter()
            .filter(|(_, n)| *n == 0)
            .map(|(k, _)| *k)
            .collect()
    } else {
        Vec::new()
    };
    if let Some(path) = summary_json {
        let json = summary_json_text(&total, secs, &failures, &common, &probes);
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("error: writing {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if failures.is_empty() {
        println!("all {} seeds passed", seeds.len());
        if common.threads <= 1
            && common.profile == ProfileArg::Deep
            && total.seeds_reaching(DEEP_LEVEL) * 2 < total.seeds
        {
            println!(
                "TOO SHALLOW: only {} of {} seeds reached level {DEEP_LEVEL} (a deep campaign \
                 needs half; give the seeds more --ops)",
                total.seeds_reaching(DEEP_LEVEL),
                total.seeds
            );
            return ExitCode::FAILURE;
        }
        if !unfired.is_empty() {
            let names: Vec<&str> = unfired.iter().map(|s| s.as_str()).collect();
            println!("REQUIRED PROBES NEVER FIRED: {}", names.join(", "));
            return ExitCode::FAILURE;
        }
        if !unreached.is_empty() {
            println!(
                "NOT REACHED: {} (a concurrent campaign must reach each)",
                unreached.join(", ")
            );
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, f) in &failures {
        *kinds.entry(failure_kind(&f.message)).or_insert(0) += 1;
    }
    println!("failures by kind:");
    for (k, n) in &kinds {
        println!("  {n:>6}  {k}");
    }
    println!("{} seeds FAILED:", failures.len());
    for (seed, f) in failures.iter().take(20) {
        println!("  seed {seed} at op {}: {}", f.op_index, f.message);
        println!(
            "    replay: {} replay --seed {seed} {} --trace",
            common.command(),
            common.flags()
        );
        println!(
            "    shrink: {} shrink --seed {seed} {}",
            common.command(),
            common.flags()
        );
    }
    let all: Vec<String> = failures.iter().map(|(s, _)| s.to_string()).collect();
    println!("failing seeds: {}", all.join(" "));
    ExitCode::FAILURE
}

/// A failure message without its specifics (numbers, paths, keys), to
/// group failures by kind.
fn failure_kind(m: &str) -> String {
    let m = m.split(';').next().unwrap_or(m);
    let m = m.split(" (prefixes considered").next().unwrap_or(m);
    let words: Vec<&str> = m
        .split_whitespace()
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) || w.starts_with('/') || w.starts_with("b\"") {
                "_"
            } else {
                w
            }
        })
        .collect();
    words.join(" ").chars().take(160).collect()
}

fn summary(s: &RunStats, secs: Option<f64>) -> String {
    let mut o = String::new();
    let mut line = |k: &str, v: String| o.push_str(&format!("  {k:<22} {v}\n"));
    line("seeds", s.seeds.to_string());
    line("operations", s.ops.to_string());
    line(
        "writes acked / failed",
        format!("{} / {}", s.writes_acked, s.write_errors),
    );
    line(
        "reads checked / errors",
        format!("{} / {}", s.reads_checked, s.read_errors),
    );
    line(
        "crashes",
        format!(
            "{} power losses, {} process crashes ({} inside a call), {} clean reopens",
            s.power_losses,
            s.process_crashes + s.process_kills,
            s.process_kills,
            s.clean_reopens
        ),
    );
    line(
        "recoveries",
        format!("{} ({} open retries)", s.recoveries, s.open_retries),
    );
    let sites: Vec<String> = s
        .crash_sites
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    line("crash locations", sites.join(" "));
    line(
        "unsynced writes",
        format!(
            "{} lost, {} kept, {} torn (sectors: {} old, {} zero, {} garbage)",
            s.sim.writes_lost,
            s.sim.writes_kept,
            s.sim.torn_writes,
            s.sim.torn_sectors_old,
            s.sim.torn_sectors_zero,
            s.sim.torn_sectors_garbage
        ),
    );
    line(
        "dir ops",
        format!("{} lost, {} kept", s.sim.dir_ops_lost, s.sim.dir_ops_kept),
    );
    line(
        "faults injected",
        format!(
            "{} transient, {} fsync failures",
            s.sim.transient_errors, s.sim.sync_failures
        ),
    );
    line(
        "media faults",
        format!(
            "{} bit flips, {} read errors",
            s.sim.bit_flips, s.sim.read_errors
        ),
    );
    line("I/O calls", s.sim.io_calls.to_string());
    line("lock probes", s.lock_probes.to_string());
    line(
        "repairs",
        format!(
            "{} after detected damage ({} lost nothing, {} interrupted by a death)",
            s.repairs, s.repairs_lossless, s.repairs_interrupted
        ),
    );
    line(
        "checkpoints",
        format!(
            "{} taken, {} checks of them",
            s.checkpoints, s.checkpoint_checks
        ),
    );
    line(
        "transactions",
        format!(
            "{} begun, {} committed with writes, {} refused ({} as older than the history), {} write skews and {} phantoms refused",
            s.txns_begun, s.txns_committed, s.txn_conflicts, s.txn_history_exceeded, s.skews_refused, s.phantoms_refused
        ),
    );
    line(
        "background",
        format!(
            "{} flushes, {} steps, {} compacts, {} errors",
            s.flushes, s.background_steps, s.compactions, s.background_errors
        ),
    );
    let per_level = |a: &[u64]| {
        a.iter()
            .enumerate()
            .map(|(l, n)| format!("L{l}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    line(
        "seeds by deepest level",
        per_level(&s.seeds_by_deepest_level),
    );
    line("files per level (end)", per_level(&s.files_per_level));
    let kv = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    line("damage at rest", kv(&s.at_rest_injected));
    line(
        "  detected",
        format!(
            "{} (undetectable by design, torn-tail window: {})",
            kv(&s.at_rest_detected),
            s.at_rest_undetectable
        ),
    );
    line(
        "liveness",
        format!(
            "{} seeds converged, {} background steps",
            s.liveness_checks, s.liveness_steps
        ),
    );
    line("divergences", s.divergences.to_string());
    if let Some(secs) = secs {
        line(
            "time",
            format!("{secs:.2} s, {:.0} ops/s", s.ops as f64 / secs.max(1e-9)),
        );
    }
    o
}

/// Which code probes fired, and which never did.
fn probe_summary(probes: &[(&'static str, u64)]) -> String {
    if !strata::probe::enabled() {
        return String::new();
    }
    let fired: Vec<String> = probes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(p, n)| format!("{p}={n}"))
        .collect();
    let never: Vec<&str> = probes
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(p, _)| *p)
        .collect();
    format!(
        "  {:<22} {}\n  {:<22} {}\n",
        "probes fired",
        fired.join(" "),
        "probes never fired",
        if never.is_empty() {
            "none".to_string()
        } else {
            never.join(" ")
        }
    )
}

/// The reach counters of a concurrent campaign.
fn reach_summary(s: &RunStats) -> String {
    let mut o = String::from("  reach (concurrent):\n");
    for (k, v) in s.reach() {
        o.push_str(&format!("    {k:<30} {v}\n"));
    }
    o.push_str(&format!(
        "    {:<30} {}\n",
        "commit_groups", s.commit_groups
    ));
    o
}

/// Every summary figure as JSON (field names documented in sim/README.md,
/// "Machine-readable results").
fn summary_json_text(
    s: &RunStats,
    secs: f64,
    failures: &[(u64, Failure)],
    common: &Common,
    probes: &[(&'static str, u64)],
) -> String {
    let probes: serde_json::Map<String, serde_json::Value> = probes
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let reach: serde_json::Map<String, serde_json::Value> = s
        .reach()
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let v = serde_json::json!({
        "config": {
            "ops": common.ops,
            "memtable": value_name(common.memtable),
            "faults": value_name(common.faults),
            "disk": value_name(common.disk),
            "threads": common.threads,
            "scheduler": value_name(common.scheduler),
        },
        "seeds": s.seeds,
        "ops": s.ops,
        "seconds": secs,
        "ops_per_sec": s.ops as f64 / secs.max(1e-9),
        "failures": failures.iter().map(|(seed, f)| serde_json::json!({
            "seed": seed,
            "op_index": f.op_index,
            "message": f.message,
        })).collect::<Vec<_>>(),
        "writes_acked": s.writes_acked,
        "write_errors": s.write_errors,
        "reads_checked": s.reads_checked,
        "read_errors": s.read_errors,
        "crashes": {
            "power_losses": s.power_losses,
            "process_crashes": s.process_crashes,
            "process_kills": s.process_kills,
            "clean_reopens": s.clean_reopens,
            "recoveries": s.recoveries,
            "open_retries": s.open_retries,
        },
        "crash_sites": s.crash_sites,
        "faults": {
            "transient": s.sim.transient_errors,
            "fsync_failures": s.sim.sync_failures,
            "bit_flips": s.sim.bit_flips,
            "read_errors": s.sim.read_errors,
        },
        "disk": {
            "io_calls": s.sim.io_calls,
            "wal_syncs": s.sim.wal_syncs,
            "writes_lost": s.sim.writes_lost,
            "writes_kept": s.sim.writes_kept,
            "torn_writes": s.sim.torn_writes,
            "dir_ops_lost": s.sim.dir_ops_lost,
            "dir_ops_kept": s.sim.dir_ops_kept,
        },
        "background": {
            "flushes": s.flushes,
            "steps": s.background_steps,
            "compactions": s.compactions,
            "errors": s.background_errors,
        },
        "commit_groups": s.commit_groups,
        "seeds_by_deepest_level": s.seeds_by_deepest_level,
        "files_per_level": s.files_per_level,
        "reach": reach,
        "probes": probes,
        "at_rest": {
            "injected": s.at_rest_injected,
            "detected": s.at_rest_detected,
            "undetectable": s.at_rest_undetectable,
        },
        "liveness": {
            "seeds": s.liveness_checks,
            "steps": s.liveness_steps,
        },
        "transactions": {
            "begun": s.txns_begun,
            "committed": s.txns_committed,
            "refused": s.txn_conflicts,
            "history_exceeded": s.txn_history_exceeded,
            "skews_refused": s.skews_refused,
            "phantoms_refused": s.phantoms_refused,
        },
        "divergences": s.divergences,
    });
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common_of(args: &[&str]) -> Common {
        let cli = Cli::try_parse_from(args).expect("the command line parses");
        match cli.cmd {
            Cmd::Run { common, .. } | Cmd::Replay { common, .. } | Cmd::Shrink { common, .. } => {
                common
            }
            Cmd::Coverage { .. } => panic!("no common flags"),
        }
    }

    #[test]
    fn merged_summaries_add_counts_and_concatenate_failures() {
        let mut a = serde_json::json!({
            "config": {"ops": 1000}, "seeds": 2, "seconds": 1.5,
            "failures": [{"seed": 1}], "probes": {"flush": 3, "trivial_move": 0},
        });
        let b = serde_json::json!({
            "config": {"ops": 5}, "seeds": 3, "seconds": 0.5,
            "failures": [{"seed": 7}], "probes": {"flush": 1, "trivial_move": 2},
        });
        merge_json(&mut a, &b);
        assert_eq!(a["seeds"], 5);
        assert_eq!(a["seconds"], 2.0);
        assert_eq!(a["config"]["ops"], 1000, "the first config is kept");
        assert_eq!(a["failures"].as_array().map(Vec::len), Some(2));
        assert_eq!(a["probes"]["flush"], 4);
        assert_eq!(a["probes"]["trivial_move"], 2);
    }

    /// Postmortem: `coverage merge` concatenated the per-level count arrays
    /// (7 entries each) instead of adding them, so a merged summary of 3
    /// shards listed 21 levels; found by tests/shards.rs.
    #[test]
    fn regression_merged_level_counts_add_instead_of_concatenating() {
        let mut a = serde_json::json!({"files_per_level": [3, 6, 0], "failures": []});
        let b = serde_json::json!({"files_per_level": [1, 2, 5], "failures": [{"seed": 4}]});
        merge_json(&mut a, &b);
        assert_eq!(a["files_per_level"], serde_json::json!([4, 8, 5]));
        assert_eq!(a["failures"], serde_json::json!([{"seed": 4}]));
    }

    #[test]
    fn no_flags_give_the_library_default_config() {
        for args in [
            &["strata-sim", "run", "--seeds", "1"][..],
            &["strata-sim", "replay", "--seed", "1"],
            &["strata-sim", "shrink", "--seed", "1"],
        ] {
            assert_eq!(common_of(args).config(), RunConfig::default(), "{args:?}");
        }
    }

    #[test]
    fn printed_flags_parse_back_to_the_same_config() {
        for (memtable, faults, disk) in [
            (MemtableChoice::Btree, FaultMode::None, DiskModel::Prefix),
            (MemtableChoice::Art, FaultMode::Crash, DiskModel::LyingSync),
            (MemtableChoice::Btree, FaultMode::All, DiskModel::Full),
        ] {
            let want = RunConfig {
                ops: 37,
                memtable,
                faults,
                disk,
                profile: Profile::Swarm,
            };
            let printed = Common {
                threads: 1,
                scheduler: SchedulerArg::Random,
                ops: want.ops,
                memtable: memtable.into(),
                faults: faults.into(),
                disk: disk.into(),
                profile: ProfileArg::Swarm,
            }
            .flags();
            let mut args = vec!["strata-sim", "replay", "--seed", "9"];
            args.extend(printed.split(' '));
            assert_eq!(common_of(&args).config(), want, "{printed}");
        }
    }
}
