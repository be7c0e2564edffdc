//! Rendering: the Markdown of `REPORT.md`, section by section (header,
//! targets, the baseline comparison, memtables, engine, cost against data
//! size, durability,
//! transactions, simulation throughput, tail latency per operation,
//! latency distributions, notes),
//! and which SVG plots it draws (with `plot`) and shows.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::baseline::{Direction, Movement};
use super::format::{fmt_ns, fmt_rate, fmt_ratio};
use super::judge::TargetOutcome;
use super::load::{load_sim_runs, MemoryRow, MethodRows, Results};
use super::plot::{line_plot, percentile_plot, ratio_bars, strip_plot};
use super::{err, ReportOptions, Result, ENGINE_SUBJECT, MEMTABLE_SUBJECT};

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

/// The latency plots: file, title and the groups each shows.
const LATENCY_FAMILIES: [(&str, &str, &[&str]); 3] = [
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

fn value_label(group: &str, v: Option<&str>) -> String {
    match v {
        None => String::new(),
        Some(v)
            if group == "memtable_mixed"
                || group.starts_with("durability")
                || group.starts_with("txn") =>
        {
            format!("{v} thr")
        }
        Some(v) => format!("{v} B"),
    }
}

/// A named line of points.
type Series = (String, Vec<(f64, f64)>);

/// `memtable_space`'s method sentence and rows.
pub(super) type Memory = (String, Vec<MemoryRow>);

/// Writes `REPORT.md` and its plots into `opts.out_dir` (which exists);
/// returns the report's path and the SVGs in the order it shows them.
pub(super) fn write_report(
    opts: &ReportOptions,
    res: &Results,
    memory: Option<&Memory>,
    targets: &[TargetOutcome],
    movements: &[Movement],
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let mut page = Page {
        opts,
        res,
        md: String::new(),
        svgs: Vec::new(),
    };
    page.header();
    page.targets(targets);
    page.baseline(movements);
    page.memtables(memory)?;
    page.engine()?;
    page.scale()?;
    page.durability()?;
    page.transactions()?;
    page.simulation()?;
    page.tail_latency()?;
    page.latency()?;
    page.notes()?;
    let report = opts.out_dir.join("REPORT.md");
    std::fs::write(&report, page.md)
        .map_err(|e| err(format!("writing {}: {e}", report.display())))?;
    Ok((report, page.svgs))
}

/// The report being written: its Markdown so far and the SVGs drawn.
struct Page<'a> {
    opts: &'a ReportOptions,
    res: &'a Results,
    md: String,
    svgs: Vec<PathBuf>,
}

impl Page<'_> {
    /// Where a plot named `file` goes.
    fn svg_path(&self, file: &str) -> PathBuf {
        self.opts.out_dir.join(file)
    }

    /// Shows the plot drawn at [`Self::svg_path`]`(file)` and records it.
    fn show(&mut self, alt: &str, file: &str) {
        let _ = writeln!(self.md, "![{alt}]({file})\n");
        self.svgs.push(self.svg_path(file));
    }

    /// Title, machine, commit, commands and run conditions.
    fn header(&mut self) {
        let (w, opts) = (&mut self.md, self.opts);
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
    }

    /// The targets table, then the missed ones said plainly.
    fn targets(&mut self, targets: &[TargetOutcome]) {
        let w = &mut self.md;
        let _ = writeln!(w, "## Targets\n");
        let _ = writeln!(w, "| target | measured | required | verdict | how |");
        let _ = writeln!(w, "|---|---|---|---|---|");
        for t in targets {
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
        let missed: Vec<&TargetOutcome> =
            targets.iter().filter(|t| t.met() != Some(true)).collect();
        if missed.is_empty() {
            let _ = writeln!(w, "\nEvery target was met in this run.\n");
            return;
        }
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

    /// Every ratio against the baseline run, the moved ones said first.
    fn baseline(&mut self, movements: &[Movement]) {
        let Some(dir) = &self.opts.baseline else {
            return;
        };
        let w = &mut self.md;
        let _ = writeln!(
            w,
            "## Against the baseline run
"
        );
        let _ = writeln!(w, "- **Baseline:** `{}`", dir.display());
        let run = super::baseline_criterion_dir(dir).join("strata-run.txt");
        if let Ok(text) = std::fs::read_to_string(run) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(w, "- **Baseline run:** {}", line.trim());
            }
        }
        let moved: Vec<&Movement> = movements
            .iter()
            .filter(|m| m.direction() != Direction::Within)
            .collect();
        let _ = writeln!(
            w,
            "- A ratio moved when its change exceeds the noise band: the root sum of squares \
             of the 95% intervals of the four means it is made of (two per run). The band \
             covers sampling noise inside each run, not a machine busier in one run than the \
             other (compare the load averages above).\n"
        );
        let _ = writeln!(
            w,
            "**{} of {} ratios moved beyond their noise** ({} up, {} down).\n",
            moved.len(),
            movements.len(),
            moved
                .iter()
                .filter(|m| m.direction() == Direction::Up)
                .count(),
            moved
                .iter()
                .filter(|m| m.direction() == Direction::Down)
                .count()
        );
        let _ = writeln!(w, "| ratio | baseline | now | change | noise | verdict |");
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let mut rows: Vec<&Movement> = movements.iter().collect();
        rows.sort_by_key(|m| m.direction() == Direction::Within);
        for m in rows {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:+.1}% | ±{:.1}% | {} |",
                m.name,
                fmt_ratio(m.baseline),
                fmt_ratio(m.now),
                (m.change() - 1.0) * 100.0,
                m.noise * 100.0,
                match m.direction() {
                    Direction::Up => "**up**",
                    Direction::Down => "**DOWN**",
                    Direction::Within => "within noise",
                }
            );
        }
        let _ = writeln!(w);
    }

    /// Memtable times and ratios, the thread plot and bytes per entry.
    fn memtables(&mut self, memory: Option<&Memory>) -> Result<()> {
        let kinds = self.res.functions("memtable_", MEMTABLE_SUBJECT);
        if kinds.is_empty() {
            return Ok(());
        }
        let _ = writeln!(self.md, "## Memtables\n");
        let subject_present = kinds.iter().any(|k| k == MEMTABLE_SUBJECT);
        if !subject_present {
            let _ = writeln!(
                self.md,
                "**This run has no `{MEMTABLE_SUBJECT}` results**, so no ART ratios can be shown; \
                 the table lists the peers only.\n"
            );
        }
        let peers: Vec<&String> = kinds.iter().filter(|k| *k != MEMTABLE_SUBJECT).collect();
        let bar_rows = self.memtable_table(&kinds, &peers, subject_present);
        if !bar_rows.is_empty() {
            let path = self.svg_path("memtable_ratios.svg");
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
            self.show("ART speedup over each peer", "memtable_ratios.svg");
        }
        self.memtable_threads(&kinds)?;
        if let Some((method, rows)) = memory {
            self.memory_table(method, rows);
        }
        Ok(())
    }

    /// The memtable table: time per operation of every kind and, when the
    /// subject ran, its speedup over each peer. Returns the bar plot's rows.
    fn memtable_table(
        &mut self,
        kinds: &[String],
        peers: &[&String],
        subject_present: bool,
    ) -> Vec<(String, usize, f64)> {
        let (w, res) = (&mut self.md, self.res);
        let mut header = "| benchmark | param |".to_string();
        let mut rule = "|---|---|".to_string();
        for k in kinds {
            header.push_str(&format!(" {k} |"));
            rule.push_str("---|");
        }
        if subject_present {
            for p in peers {
                header.push_str(&format!(" {MEMTABLE_SUBJECT} vs {p} |"));
                rule.push_str("---|");
            }
        }
        let _ = writeln!(w, "Time per operation (an insert, a lookup, a whole 100-key scan, or one write plus one read for mixed). A lookup reads the value where it lies (the memtable trait's borrowed `get_with`); the engine benchmarks below include the copy a caller gets:\n");
        let _ = writeln!(w, "{header}\n{rule}");
        let mut bar_rows: Vec<(String, usize, f64)> = Vec::new();
        for (group, title) in MEMTABLE_GROUPS {
            for v in res.values(group) {
                let mut line = format!("| {title} | {} |", value_label(group, v.as_deref()));
                for k in kinds {
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
        bar_rows
    }

    /// Mixed throughput against thread count, one line per memtable kind.
    fn memtable_threads(&mut self, kinds: &[String]) -> Result<()> {
        let res = self.res;
        let mut series = Vec::new();
        for k in kinds {
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
        if series.is_empty() {
            return Ok(());
        }
        let path = self.svg_path("memtable_threads.svg");
        line_plot(
            &path,
            "Memtable mixed read/write throughput against threads",
            "threads (1: one thread alternates; 2: one writer + one reader)",
            "million operations / s",
            &series,
            &[],
        )?;
        let _ = writeln!(self.md, "### Throughput against thread count\n");
        self.show(
            "memtable throughput against threads",
            "memtable_threads.svg",
        );
        Ok(())
    }

    /// Bytes per entry from `memtable_space`.
    fn memory_table(&mut self, method: &str, rows: &[MemoryRow]) {
        let w = &mut self.md;
        let _ = writeln!(w, "### Bytes per entry\n");
        let _ = writeln!(w, "Method: {method}.\n");
        let _ = writeln!(
            w,
            "| memtable | key bytes | value bytes | entries | bytes per entry | over key+value |"
        );
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

    /// Strata against fjall: the table and the ratio bars.
    fn engine(&mut self) -> Result<()> {
        let res = self.res;
        if !ENGINE_GROUPS
            .iter()
            .any(|(g, _)| res.in_group(g).next().is_some())
        {
            return Ok(());
        }
        // Strata first, then every peer the run measured (fjall, and
        // RocksDB when the benchmarks were built with it).
        let engines = res.functions("engine_", ENGINE_SUBJECT);
        let peers: Vec<&String> = engines.iter().filter(|e| *e != ENGINE_SUBJECT).collect();
        let peer_names: Vec<&str> = peers.iter().map(|p| p.as_str()).collect();
        let w = &mut self.md;
        let _ = writeln!(w, "## Engine: Strata vs {}\n", peer_names.join(" and "));
        let _ = writeln!(
            w,
            "All engines in the same run, same memtable size, block cache and LZ4 blocks; writes \
             acknowledged in the OS page cache (not synced). Time per operation (fills: per \
             write; scans: per 100-key scan):\n"
        );
        let _ = write!(w, "| benchmark |");
        for e in &engines {
            let _ = write!(w, " {e} |");
        }
        for p in &peers {
            let _ = write!(w, " strata vs {p} |");
        }
        let _ = writeln!(w, "\n|---|{}", "---|".repeat(engines.len() + peers.len()));
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
            let _ = write!(w, "| {title} |");
            for e in &engines {
                let _ = write!(w, " {} |", cell(e));
            }
            for (k, p) in peers.iter().enumerate() {
                let r = res.speedup(group, ENGINE_SUBJECT, p, None);
                if let Some(r) = r {
                    bar_rows.push((title.to_string(), k, r));
                }
                let _ = write!(w, " {} |", r.map_or("-".into(), fmt_ratio));
            }
            let _ = writeln!(w);
        }
        let _ = writeln!(w);
        if !bar_rows.is_empty() {
            let path = self.svg_path("engine_ratios.svg");
            let legend: Vec<String> = peers.iter().map(|p| format!("strata vs {p}")).collect();
            ratio_bars(
                &path,
                &format!("Engine speedup of Strata over {}", peer_names.join(" and ")),
                &bar_rows,
                &legend,
            )?;
            self.show("Strata speedup over each peer", "engine_ratios.svg");
        }
        Ok(())
    }

    /// Opens the section of a benchmark binary's JSON beside criterion's
    /// output: its heading and method line, and its rows; `None` (and no
    /// section) when the run did not write the file.
    fn method_section(&mut self, file: &str, heading: &str) -> Result<Option<MethodRows>> {
        let Some(doc) = MethodRows::load(&self.opts.criterion_dir.join(file))? else {
            return Ok(None);
        };
        let _ = writeln!(self.md, "{heading}\n");
        if let Some(m) = &doc.method {
            let _ = writeln!(self.md, "Method: {m}.\n");
        }
        Ok(Some(doc))
    }

    /// Fill and read rates and amplification against data size
    /// (`strata-scale.json` beside criterion's output, from `run.sh
    /// --scale`), when the run measured them.
    fn scale(&mut self) -> Result<()> {
        let Some(doc) =
            self.method_section("strata-scale.json", "## Engine: cost against data size")?
        else {
            return Ok(());
        };
        let w = &mut self.md;
        let _ = writeln!(
            w,
            "| engine | entries | fill | random reads | write amplification | space amplification |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        // Per engine: (entries in millions, value) for each plotted figure.
        let mut rates: Vec<Series> = Vec::new();
        let mut amps: Vec<Series> = Vec::new();
        for r in &doc.rows {
            let num = |k: &str| doc.num(r, k);
            let engine = doc.text(r, "engine")?;
            let (entries, fill, read) = (
                num("entries")?,
                num("fill_ops_per_sec")?,
                num("read_ops_per_sec")?,
            );
            let (wa, sa) = (num("write_amp")?, num("space_amp")?);
            let _ = writeln!(
                w,
                "| {engine} | {entries} | {} | {} | {wa:.2} | {sa:.2} |",
                fmt_rate(fill),
                fmt_rate(read)
            );
            let millions = entries / 1e6;
            let push = |set: &mut Vec<Series>, name: String, y: f64| match set
                .iter_mut()
                .find(|s| s.0 == name)
            {
                Some(s) => s.1.push((millions, y)),
                None => set.push((name, vec![(millions, y)])),
            };
            push(&mut rates, format!("{engine} fill"), fill);
            push(&mut rates, format!("{engine} reads"), read);
            push(&mut amps, format!("{engine} write amp"), wa);
            push(&mut amps, format!("{engine} space amp"), sa);
        }
        let _ = writeln!(w);
        if rates.is_empty() {
            return Ok(());
        }
        line_plot(
            &self.svg_path("scale_rates.svg"),
            "Fill and random-read rates against data size",
            "entries (millions)",
            "operations / s",
            &rates,
            &[],
        )?;
        self.show("fill and read rates against data size", "scale_rates.svg");
        line_plot(
            &self.svg_path("scale_amplification.svg"),
            "Write and space amplification against data size",
            "entries (millions)",
            "bytes / user byte",
            &amps,
            &[("1x".to_string(), 1.0)],
        )?;
        self.show("amplification against data size", "scale_amplification.svg");
        Ok(())
    }

    /// Synced writes against writer threads, next to the raw fsync loop.
    fn durability(&mut self) -> Result<()> {
        let res = self.res;
        let dg = "durability_synced_writes";
        if res.in_group(dg).next().is_none() {
            return Ok(());
        }
        let w = &mut self.md;
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
        // Writes per WAL sync, for the engines the benchmark counted.
        let per_sync_path = self.opts.criterion_dir.join("strata-durability.json");
        let per_sync: Option<serde_json::Value> = match std::fs::read_to_string(&per_sync_path) {
            Ok(t) => Some(
                serde_json::from_str(&t)
                    .map_err(|e| err(format!("parsing {}: {e}", per_sync_path.display())))?,
            ),
            Err(_) => None,
        };
        let _ = writeln!(w, "| engine | writer threads | time per write | writes/s | vs 1 thread | vs raw loop rate | writes per sync |");
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
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
                let writes_per_sync = per_sync
                    .as_ref()
                    .and_then(|j| j.get(format!("{e}/{}", v.as_deref().unwrap_or("-"))))
                    .and_then(|c| {
                        let writes = c.get("writes")?.as_f64()?;
                        let syncs = c.get("syncs")?.as_f64()?;
                        Some(format!("{:.2}", writes / syncs.max(1.0)))
                    })
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    w,
                    "| {e} | {} | {} | {} | {} | {} | {writes_per_sync} |",
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
        let path = self.svg_path("durability_threads.svg");
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
        self.show(
            "synced writes against writer threads",
            "durability_threads.svg",
        );
        Ok(())
    }

    /// The simulator's own speed: simulated client calls per second of
    /// each campaign `run.sh` ran (`strata-sim-<campaign>.json` beside
    /// criterion's output), when it ran them.
    fn simulation(&mut self) -> Result<()> {
        let runs = load_sim_runs(&self.opts.criterion_dir)?;
        if runs.is_empty() {
            return Ok(());
        }
        let w = &mut self.md;
        let _ = writeln!(w, "## Simulation throughput\n");
        let _ = writeln!(
            w,
            "Crash-recovery campaigns of the simulator, one worker thread each (`--jobs 1`), \
             so a figure is per core: simulated client calls (every write, read, scan, \
             crash and recovery included) per second of wall time.\n"
        );
        let _ = writeln!(
            w,
            "| campaign | client threads | seeds | client calls | wall time | calls/s | failed seeds |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for r in &runs {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {:.1} s | {} | {} |",
                r.campaign,
                r.threads,
                r.seeds,
                r.ops,
                r.seconds,
                fmt_rate(r.ops_per_sec),
                r.failures
            );
        }
        let _ = writeln!(w);
        Ok(())
    }

    /// Read-modify-write transactions against threads, with the share of
    /// commit attempts refused (from `strata-txn.json` beside criterion's
    /// output, when the run wrote it).
    fn transactions(&mut self) -> Result<()> {
        let res = self.res;
        let g = "txn_rmw";
        if res.in_group(g).next().is_none() {
            return Ok(());
        }
        let counts_path = self.opts.criterion_dir.join("strata-txn.json");
        let counts: Option<serde_json::Value> = std::fs::read_to_string(&counts_path)
            .ok()
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| err(format!("reading {}: {e}", counts_path.display())))
            })
            .transpose()?;
        let w = &mut self.md;
        let _ = writeln!(
            w,
            "## Transactions: read-modify-write
"
        );
        let _ = writeln!(
            w,
            "Each operation reads two counters and moves one unit between them, in a \
             serializable transaction retried until it commits (`txn-hot`: 16 counters, \
             contended; `txn-spread`: 100,000 counters), or without a transaction (`plain-hot`: \
             two gets and a batch, which can lose updates: the cost floor). Buffered writes. \
             \"Refused\" is the share of commit attempts that met a conflict and were retried.\n"
        );
        let _ = writeln!(
            w,
            "| workload | threads | time per committed op | committed/s | vs 1 thread | vs plain-hot, same threads | refused |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        let functions: std::collections::BTreeSet<String> =
            res.in_group(g).map(|b| b.function.clone()).collect();
        let mut series = Vec::new();
        for f in &functions {
            let one = res.get(g, f, Some("1"));
            let mut pts = Vec::new();
            for v in res.values(g) {
                let Some(b) = res.get(g, f, v.as_deref()) else {
                    continue;
                };
                let threads = v.as_deref().unwrap_or("-");
                let plain = res.get(g, "plain-hot", v.as_deref());
                let refused = counts
                    .as_ref()
                    .and_then(|c| c.get(format!("{f}/{threads}")))
                    .and_then(|c| {
                        let commits = c.get("commits")?.as_f64()?;
                        let conflicts = c.get("conflicts")?.as_f64()?;
                        Some(format!(
                            "{:.1}%",
                            100.0 * conflicts / (commits + conflicts).max(1.0)
                        ))
                    })
                    .unwrap_or_else(|| "-".into());
                pts.push((threads.parse().unwrap_or(0.0), b.ops_per_sec()));
                let _ = writeln!(
                    w,
                    "| {f} | {threads} | {} | {} | {} | {} | {refused} |",
                    fmt_ns(b.ns_per_op()),
                    fmt_rate(b.ops_per_sec()),
                    one.map_or("-".into(), |o| fmt_ratio(b.ops_per_sec() / o.ops_per_sec())),
                    plain.map_or("-".into(), |p| fmt_ratio(b.ops_per_sec() / p.ops_per_sec())),
                );
            }
            series.push((f.clone(), pts));
        }
        let _ = writeln!(w);
        let path = self.svg_path("txn_threads.svg");
        line_plot(
            &path,
            "Committed read-modify-writes per second against threads",
            "threads",
            "committed operations / s",
            &series,
            &[],
        )?;
        self.show(
            "read-modify-write transactions against threads",
            "txn_threads.svg",
        );
        Ok(())
    }

    /// Per-operation latency percentiles (`strata-latency.json` beside
    /// criterion's output, from the `latency` binary), when the run wrote
    /// them: a table and a percentile plot per family of operations.
    fn tail_latency(&mut self) -> Result<()> {
        let Some(doc) =
            self.method_section("strata-latency.json", "## Tail latency per operation")?
        else {
            return Ok(());
        };
        let w = &mut self.md;
        let _ = writeln!(
            w,
            "| engine | operation | operations | mean | p50 | p99 | p99.9 | max |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        let mut families: Vec<(&str, &str, Vec<Series>)> = vec![
            (
                "latency_tail_rw.svg",
                "Buffered writes and reads, per operation",
                Vec::new(),
            ),
            (
                "latency_tail_synced.svg",
                "Synced 4 KiB writes, per write",
                Vec::new(),
            ),
        ];
        for r in &doc.rows {
            let num = |k: &str| doc.num(r, k);
            let (engine, op) = (doc.text(r, "engine")?, doc.text(r, "op")?);
            let _ = writeln!(
                w,
                "| {engine} | {op} | {} | {} | {} | {} | {} | {} |",
                num("count")?,
                fmt_ns(num("mean_ns")?),
                fmt_ns(num("p50_ns")?),
                fmt_ns(num("p99_ns")?),
                fmt_ns(num("p999_ns")?),
                fmt_ns(num("max_ns")?)
            );
            let curve: Vec<(f64, f64)> = r
                .get("curve")
                .and_then(serde_json::Value::as_array)
                .map(|pts| {
                    pts.iter()
                        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            let family = usize::from(op.starts_with("synced"));
            families[family].2.push((format!("{engine} {op}"), curve));
        }
        let _ = writeln!(w);
        for (file, title, series) in families {
            if series.iter().all(|s| s.1.is_empty()) {
                continue;
            }
            percentile_plot(&self.svg_path(file), title, &series)?;
            self.show(title, file);
        }
        Ok(())
    }

    /// One strip plot of criterion's samples per family of groups.
    fn latency(&mut self) -> Result<()> {
        let w = &mut self.md;
        let _ = writeln!(w, "## Latency distributions\n");
        let _ = writeln!(
            w,
            "Each dot is one criterion sample: the mean time per operation over that sample's \
             iterations (so these show run-to-run spread, not per-operation tail latency); the \
             vertical bar is the overall mean. Log scale.\n"
        );
        for (file, title, groups) in LATENCY_FAMILIES {
            let rows = self.latency_rows(groups);
            if rows.is_empty() {
                continue;
            }
            let path = self.svg_path(file);
            strip_plot(&path, title, &rows)?;
            self.show(title, file);
        }
        Ok(())
    }

    /// `(label, samples, mean)` per benchmark with samples in `groups`.
    fn latency_rows(&self, groups: &[&str]) -> Vec<(String, Vec<f64>, f64)> {
        groups
            .iter()
            .flat_map(|g| self.res.in_group(g))
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
            .collect()
    }

    /// The hand-written notes, if any.
    fn notes(&mut self) -> Result<()> {
        if let Some(notes) = &self.opts.notes {
            let text = std::fs::read_to_string(notes)
                .map_err(|e| err(format!("reading notes {}: {e}", notes.display())))?;
            let _ = writeln!(self.md, "## Notes\n\n{}\n", text.trim());
        }
        Ok(())
    }
}
