//! `open_corrupted`: a real database directory, damaged, then opened and read.
//!
//! [`build_base`] runs a fixed seeded workload (puts, deletes, batches,
//! flushes, compactions, a reopen, unflushed WAL tail) on a [`MemFs`] and
//! keeps the resulting files plus every value ever written per key. Each fuzz
//! input is a list of mutations (bit flips, zeroed ranges, overwrites,
//! truncations, appends, file removals) applied to a copy of that image;
//! then `Db::open` and every read path run.
//!
//! Checked: no panic; every value read for a key is one that was written for
//! that key (values embed their key, so cross-key mix-ups are visible); a key
//! never written reads as absent; scans are strictly ordered and complete
//! forward/backward scans and point reads agree; a write made and flushed
//! after recovery survives a reopen. Then `strata::repair` runs on another
//! copy of the damaged image: it succeeds, the repaired database opens,
//! every value it reads was written for its key, and every read that
//! worked on the damaged image (opened read-only) returns the same after.
//! The `strata` tool's readers (`check`, `dump-manifest`, `dump-wal`,
//! `dump-table`) run on the damaged image too: they must not panic, their
//! text form must render, and when `check` calls the database healthy,
//! it opens read-only and every key reads without error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::fs::MemFs;
use strata::testing::SplitMix64;
use strata::{
    BackgroundMode, CompactionOptions, Db, Options, TableOptions, WriteBatch, WriteOptions,
};

/// Where the database lives on the in-memory file system.
pub const DB_DIR: &str = "/db";
/// The seed of the base workload.
pub const BASE_SEED: u64 = 0x5EED_F022;
/// At most this many mutations are taken from one input.
pub const MUTATIONS_MAX: usize = 8;
const SCAN_STEPS_MAX: usize = 10_000;
const POST_KEY: &[u8] = b"post-recovery-key";
const POST_VALUE: &[u8] = b"post-recovery-key=value";
const NEVER_WRITTEN: &[u8] = b"never-written-key";

/// The undamaged database and what was written to it.
#[derive(Debug, Clone)]
pub struct Base {
    /// Every file's bytes, by path (as [`MemFs::image`] returns them).
    pub image: BTreeMap<PathBuf, Vec<u8>>,
    /// Every value ever written, per key.
    pub history: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// The state the undamaged image must open to.
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Small memtables and tables so that the workload flushes and compacts.
pub fn options(fs: &MemFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        background: BackgroundMode::Manual,
        memtable_bytes_max: 2048,
        table: TableOptions {
            block_bytes_target: 256,
            ..TableOptions::default()
        },
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            level1_bytes_target: 8 * 1024,
            target_file_bytes: 4 * 1024,
            ..CompactionOptions::default()
        },
        block_cache_bytes: 1 << 20,
        ..Options::default()
    }
}

fn key(rng: &mut SplitMix64) -> Vec<u8> {
    if rng.below(20) == 0 {
        return Vec::new();
    }
    format!("k{:02}", rng.below(40)).into_bytes()
}

/// A value that names its key and the operation that wrote it.
fn value(rng: &mut SplitMix64, key: &[u8], op: u64) -> Vec<u8> {
    let mut v = key.to_vec();
    v.extend_from_slice(format!("={op}").as_bytes());
    match rng.below(8) {
        0 => Vec::new(),
        1 => {
            let unit = v.clone();
            while v.len() < 300 + rng.below(1500) as usize {
                v.extend_from_slice(&unit);
            }
            v
        }
        _ => v,
    }
}

type History = BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>;

fn put_one(
    db: &Db,
    rng: &mut SplitMix64,
    op: u64,
    history: &mut History,
    state: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) {
    let k = key(rng);
    let v = value(rng, &k, op);
    db.put(&k, &v, WriteOptions::BUFFERED).expect("base put");
    history.entry(k.clone()).or_default().insert(v.clone());
    state.insert(k, v);
}

/// Runs the base workload and returns the resulting image.
pub fn build_base(seed: u64) -> Base {
    let fs = MemFs::new();
    let mut rng = SplitMix64::new(seed);
    let mut history = History::new();
    let mut state = BTreeMap::new();
    let mut db = Db::open(DB_DIR, options(&fs)).expect("open the base database");
    for op in 0..400u64 {
        match rng.below(100) {
            0..=49 => put_one(&db, &mut rng, op, &mut history, &mut state),
            50..=64 => {
                let k = key(&mut rng);
                db.delete(&k, WriteOptions::BUFFERED).expect("base delete");
                state.remove(&k);
            }
            65..=74 => {
                let mut b = WriteBatch::new();
                for _ in 0..2 + rng.below(3) {
                    let k = key(&mut rng);
                    if rng.below(3) == 0 {
                        b.delete(k.clone());
                        state.remove(&k);
                    } else {
                        let v = value(&mut rng, &k, op);
                        b.put(k.clone(), v.clone());
                        history.entry(k.clone()).or_default().insert(v.clone());
                        state.insert(k, v);
                    }
                }
                db.write(b, WriteOptions::DURABLE).expect("base batch");
            }
            75..=84 => db.flush().expect("base flush"),
            85..=95 => {
                db.step_background().expect("base background step");
            }
            96..=97 => db.compact().expect("base compact"),
            _ => {
                db.close().expect("base close");
                db = Db::open(DB_DIR, options(&fs)).expect("base reopen");
            }
        }
    }
    // A level-0 table over the compacted levels, then an unflushed tail
    // left in the WAL by a process crash.
    for op in 400..420u64 {
        put_one(&db, &mut rng, op, &mut history, &mut state);
    }
    db.flush().expect("base flush");
    for op in 420..440u64 {
        put_one(&db, &mut rng, op, &mut history, &mut state);
    }
    drop(db);
    Base {
        image: fs.image(),
        history,
        state,
    }
}

/// Applies the mutations encoded in `data` to `image`.
///
/// Each mutation is an opcode byte, a file selector byte (index into the
/// sorted file list), then operands; a mutation cut short by the end of the
/// input is dropped.
pub fn mutate(image: &mut BTreeMap<PathBuf, Vec<u8>>, data: &[u8]) {
    let mut r = Reader(data);
    for _ in 0..MUTATIONS_MAX {
        let (Some(opcode), Some(sel)) = (r.u8(), r.u8()) else {
            return;
        };
        let names: Vec<PathBuf> = image.keys().cloned().collect();
        if names.is_empty() {
            return;
        }
        let path = names[sel as usize % names.len()].clone();
        let bytes = image.get_mut(&path).expect("listed above");
        let len = bytes.len();
        let at = |x: u32| if len == 0 { 0 } else { x as usize % len };
        match opcode % 6 {
            0 => {
                let (Some(off), Some(xor)) = (r.u32(), r.u8()) else {
                    return;
                };
                if len > 0 {
                    bytes[at(off)] ^= xor.max(1);
                }
            }
            1 => {
                let Some(n) = r.u32() else { return };
                bytes.truncate(n as usize % (len + 1));
            }
            2 => {
                image.remove(&path);
            }
            3 => {
                let (Some(off), Some(n)) = (r.u32(), r.u16()) else {
                    return;
                };
                let start = at(off);
                let end = (start + n as usize).min(len);
                bytes[start..end].fill(0);
            }
            4 => {
                let (Some(off), Some(n)) = (r.u32(), r.u8()) else {
                    return;
                };
                let Some(src) = r.take(n as usize) else {
                    return;
                };
                let start = at(off);
                let end = (start + src.len()).min(len);
                bytes[start..end].copy_from_slice(&src[..end - start]);
            }
            _ => {
                let Some(n) = r.u8() else { return };
                let Some(src) = r.take(n as usize) else {
                    return;
                };
                bytes.extend_from_slice(src);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Reads everything through every read path and checks it against the
/// history. Returns the point-read state when every read succeeded.
pub fn check_reads(
    db: &Db,
    base: &Base,
    extra: &[(&[u8], &[u8])],
) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let allowed = |k: &[u8], v: &[u8]| {
        base.history.get(k).is_some_and(|vs| vs.contains(v))
            || extra.iter().any(|&(ek, ev)| ek == k && ev == v)
    };
    let mut keys: BTreeSet<Vec<u8>> = base.history.keys().cloned().collect();
    keys.extend(base.state.keys().cloned());
    keys.extend(extra.iter().map(|(k, _)| k.to_vec()));
    keys.insert(NEVER_WRITTEN.to_vec());
    let mut gets = Some(BTreeMap::new());
    for k in &keys {
        match db.get(k) {
            Ok(Some(v)) => {
                assert!(
                    allowed(k, &v),
                    "get({k:?}) returned {v:?}, never written for that key"
                );
                if let Some(g) = gets.as_mut() {
                    g.insert(k.clone(), v);
                }
            }
            Ok(None) => {}
            Err(_) => gets = None,
        }
    }
    let scan = |forward: bool| -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let it = db.range::<&[u8], _>(..).ok()?;
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let items: Box<dyn Iterator<Item = _>> = if forward {
            Box::new(it)
        } else {
            Box::new(it.rev())
        };
        for item in items.take(SCAN_STEPS_MAX) {
            let (k, v) = item.ok()?;
            assert!(
                allowed(&k, &v),
                "scan returned {k:?} = {v:?}, never written for that key"
            );
            if let Some((pk, _)) = out.last() {
                assert!(if forward { *pk < k } else { *pk > k }, "scan out of order");
            }
            out.push((k, v));
        }
        Some(out)
    };
    let fwd = scan(true);
    let bwd = scan(false);
    if let (Some(f), Some(b)) = (&fwd, &bwd) {
        let mut b = b.clone();
        b.reverse();
        assert_eq!(f, &b, "forward and backward scans disagree");
    }
    if let (Some(f), Some(g)) = (&fwd, &gets) {
        let f: BTreeMap<_, _> = f.iter().cloned().collect();
        assert_eq!(&f, g, "scan and point reads disagree");
    }
    gets
}

/// Runs one `open_corrupted` input against `base`.
pub fn run(base: &Base, data: &[u8]) {
    let mut image = base.image.clone();
    mutate(&mut image, data);
    check_tool(base, &image);
    check_repair(base, &image);
    let fs = MemFs::from_image(&image);
    let Ok(db) = Db::open(DB_DIR, options(&fs)) else {
        return;
    };
    check_reads(&db, base, &[]);
    let wrote = db.put(POST_KEY, POST_VALUE, WriteOptions::DURABLE).is_ok() && db.flush().is_ok();
    drop(db);
    let Ok(db) = Db::open(DB_DIR, options(&fs)) else {
        return;
    };
    check_reads(&db, base, &[(POST_KEY, POST_VALUE)]);
    if wrote {
        assert!(
            !matches!(db.get(POST_KEY), Ok(None)),
            "a write flushed after recovery is lost on reopen"
        );
    }
}

/// Runs the `strata` tool's readers on the damaged `image`.
fn check_tool(base: &Base, image: &BTreeMap<PathBuf, Vec<u8>>) {
    let fs = MemFs::from_image(image);
    let out = strata_cli::out::Out {
        json: false,
        hex: false,
        fs: Arc::new(fs.clone()),
    };
    let dir = Path::new(DB_DIR);
    let render = |r: Result<strata_cli::Done, strata_cli::Failed>| {
        r.map(|d| {
            let _ = strata_cli::out::text(&d.doc);
            d.healthy
        })
    };
    let _ = render(strata_cli::dump::manifest(&out, dir));
    for path in image.keys() {
        let name = path.to_string_lossy();
        if name.ends_with(".log") {
            let _ = render(strata_cli::dump::wal(&out, path));
        } else if name.ends_with(".sst") {
            let _ = render(strata_cli::dump::table(&out, path, true, Some(8), None));
        }
    }
    if matches!(render(strata_cli::db::check(&out, dir)), Ok(true)) {
        let db = Db::open_read_only(DB_DIR, options(&fs))
            .unwrap_or_else(|e| panic!("check called it healthy, but it does not open: {e}"));
        for k in base.history.keys() {
            if let Err(e) = db.get(k) {
                panic!("check called it healthy, but reading {k:?} fails: {e}");
            }
        }
    }
}

/// Repairs a copy of the damaged `image` and checks the result.
fn check_repair(base: &Base, image: &BTreeMap<PathBuf, Vec<u8>>) {
    let fs = MemFs::from_image(image);
    let mut keys: BTreeSet<Vec<u8>> = base.history.keys().cloned().collect();
    keys.extend(base.state.keys().cloned());
    let before: Vec<(Vec<u8>, Option<Vec<u8>>)> = match Db::open_read_only(DB_DIR, options(&fs)) {
        Ok(ro) => keys
            .iter()
            .filter_map(|k| ro.get(k).ok().map(|v| (k.clone(), v)))
            .collect(),
        Err(_) => Vec::new(),
    };
    let report = match strata::repair(DB_DIR, options(&fs)) {
        Ok(r) => r,
        // Without a directory there is nothing to repair.
        Err(_) if !image.keys().any(|p| p.starts_with(DB_DIR)) => return,
        Err(e) => panic!("repair failed: {e}"),
    };
    let db = Db::open(DB_DIR, options(&fs))
        .unwrap_or_else(|e| panic!("the repaired database does not open: {e}; {report:?}"));
    check_reads(&db, base, &[]);
    for (k, v) in before {
        assert_eq!(
            db.get(&k).ok(),
            Some(v),
            "repair changed a read of {k:?} that worked before it; {report:?}"
        );
    }
}

/// Opens the undamaged image and checks it holds exactly the final state.
pub fn check_clean(base: &Base) {
    let fs = MemFs::from_image(&base.image);
    let db = Db::open(Path::new(DB_DIR), options(&fs)).expect("the clean image opens");
    let gets = check_reads(&db, base, &[]).expect("every clean read succeeds");
    assert_eq!(gets, base.state, "the clean image holds the final state");
}
