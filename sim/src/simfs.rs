//! `SimFs`: an in-memory file system with power-loss and fault injection.
//!
//! The disk model (each behaviour and how `SimFs` produces it: the table in
//! `sim/README.md`, "The simulated disk"), and the invariants the code keeps:
//! - A file is an inode (`FileId`) with a **durable image** (what survives a
//!   power loss) and a **volatile image** (what reads see). Every mutation
//!   since the last successful sync is kept, in order, in `pending`; applying
//!   `pending` to the durable image gives the volatile image, except after a
//!   failed sync, whose pending writes are dropped from what can become
//!   durable while staying visible ("fsyncgate": the page cache keeps them,
//!   the disk never gets them).
//! - The namespace (path -> inode, the set of directories) also has a
//!   volatile and a durable copy; creates, renames, removes and mkdirs are
//!   queued per parent directory and become durable on `sync_dir` of that
//!   directory. A cross-directory rename is queued on the target directory.
//! - Simplification: `sync_data` and `sync_all` both make all of a file's
//!   pending mutations durable, including `set_len`.
//! - Every call counts as one I/O call. `crash_at_io(n)` makes call `n` and
//!   every later one fail: the process is dead. A `write_at` that was call `n`
//!   is remembered as the write in flight. `crash(rng)` then computes the
//!   post-power-loss state and brings the machine back up; handles opened
//!   before it stay dead (their epoch is stale).
//! - Every random choice comes from the fault RNG (seeded at construction) or
//!   the RNG passed to `crash`; maps are ordered, so a run is a pure function
//!   of its seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::sync::{lock, Mutex, MutexGuard};

use strata::format::filename::{parse_file_name, FileKind};
use strata::fs::{FileLock, FileSystem, FsFile, OpenMode};

use crate::rng::Rng;

type FileId = u64;

/// Fault rates, per million calls of the kind concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRates {
    /// Any call fails with a transient I/O error and has no effect.
    pub transient_per_million: u32,
    /// A sync fails; the file's pending writes can never become durable.
    pub sync_failure_per_million: u32,
    /// A successful read returns one flipped bit.
    pub bit_flip_per_million: u32,
    /// A read fails with a media error.
    pub read_error_per_million: u32,
}

/// Counters of everything the simulated disk did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// File system calls made (each one I/O call).
    pub io_calls: u64,
    /// Power losses (`crash`).
    pub power_losses: u64,
    /// Process restarts: the page cache survived.
    pub process_restarts: u64,
    /// Unsynced file mutations (writes, `set_len`) a power loss dropped.
    pub writes_lost: u64,
    /// Unsynced file mutations a power loss kept.
    pub writes_kept: u64,
    /// Kept writes that landed torn.
    pub torn_writes: u64,
    /// Sectors of torn writes left holding the old bytes.
    pub torn_sectors_old: u64,
    /// Sectors of torn writes left holding zeros.
    pub torn_sectors_zero: u64,
    /// Sectors of torn writes left holding garbage.
    pub torn_sectors_garbage: u64,
    /// Unsynced directory operations a power loss dropped.
    pub dir_ops_lost: u64,
    /// Unsynced directory operations a power loss kept.
    pub dir_ops_kept: u64,
    /// Calls failed with an injected transient error.
    pub transient_errors: u64,
    /// Injected fsync failures (file or directory).
    pub sync_failures: u64,
    /// Reads that returned one flipped bit.
    pub bit_flips: u64,
    /// Reads failed with an injected media error.
    pub read_errors: u64,
    /// Syncs of WAL files that succeeded.
    pub wal_syncs: u64,
    /// Damage done to synced bytes at rest (`damage_at_rest`).
    pub at_rest_damage: u64,
}

impl SimStats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &SimStats) {
        self.io_calls += o.io_calls;
        self.power_losses += o.power_losses;
        self.process_restarts += o.process_restarts;
        self.writes_lost += o.writes_lost;
        self.writes_kept += o.writes_kept;
        self.torn_writes += o.torn_writes;
        self.torn_sectors_old += o.torn_sectors_old;
        self.torn_sectors_zero += o.torn_sectors_zero;
        self.torn_sectors_garbage += o.torn_sectors_garbage;
        self.dir_ops_lost += o.dir_ops_lost;
        self.dir_ops_kept += o.dir_ops_kept;
        self.transient_errors += o.transient_errors;
        self.sync_failures += o.sync_failures;
        self.bit_flips += o.bit_flips;
        self.read_errors += o.read_errors;
        self.wal_syncs += o.wal_syncs;
        self.at_rest_damage += o.at_rest_damage;
    }

    /// Faults injected so far, of every kind (not counting crashes).
    pub fn faults_injected(&self) -> u64 {
        self.transient_errors + self.sync_failures + self.bit_flips + self.read_errors
    }
}

/// What `SimFs::damage_at_rest` did to a synced file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtRestDamage {
    /// The damaged file.
    pub path: PathBuf,
    /// The first damaged byte.
    pub offset: u64,
    /// Bytes damaged.
    pub len: u64,
    /// How.
    pub kind: AtRestKind,
    /// For a misdirected write: where it belonged (file, offset, bytes);
    /// that place kept its old contents (zeros), so it is damaged too.
    pub from: Option<(PathBuf, u64, u64)>,
}

/// Kinds of damage to synced data at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AtRestKind {
    /// One bit flipped.
    BitFlip,
    /// A 512-byte sector reads back as zeros.
    ZeroSector,
    /// A 512-byte sector reads back as garbage.
    GarbageSector,
    /// A 4 KiB page the disk acknowledged never reached the medium: zeros.
    LostPage,
    /// One of the engine's writes landed at the start of another of its
    /// writes, in the same file or another one (the disk wrote the wrong
    /// block address): the target holds valid-looking bytes from the wrong
    /// place, and the write's own place reads back as zeros. Half the time
    /// the target is a write of the same length, if there is one.
    Misdirected,
}

/// What kind of file an I/O call touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileClass {
    /// `wal-*.log`: WAL append.
    Wal,
    /// `*.sst`: flush or compaction.
    Table,
    /// `MANIFEST-*` or `CURRENT`: manifest.
    Manifest,
    /// `LOCK`.
    Lock,
    /// A directory (sync_dir, list, mkdir).
    Dir,
    /// Anything else.
    Other,
}

impl FileClass {
    /// Classifies a path by its file name, as the engine names its files
    /// (`strata::filename`).
    pub fn of(path: &Path) -> FileClass {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match parse_file_name(name) {
            Some(FileKind::Wal(_)) => FileClass::Wal,
            Some(FileKind::Table(_)) => FileClass::Table,
            Some(FileKind::Manifest(_) | FileKind::Current | FileKind::CurrentTemp) => {
                FileClass::Manifest
            }
            Some(FileKind::Lock) => FileClass::Lock,
            None => FileClass::Other,
        }
    }
}

/// Where the crash landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashSite {
    /// The I/O call number that died.
    pub io_call: u64,
    /// The call (`write_at`, `sync_data`, `rename`, ...).
    pub call: &'static str,
    /// The path the call was on.
    pub path: PathBuf,
    /// The kind of file that path is.
    pub class: FileClass,
}

/// What one `crash` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Unsynced file mutations (writes, `set_len`) dropped.
    pub writes_lost: u64,
    /// Unsynced file mutations kept.
    pub writes_kept: u64,
    /// Kept writes that landed torn.
    pub torn_writes: u64,
    /// Unsynced directory operations dropped.
    pub dir_ops_lost: u64,
    /// Unsynced directory operations kept.
    pub dir_ops_kept: u64,
}

#[derive(Clone, Debug)]
enum Mutation {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct FileData {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    pending: Vec<Mutation>,
    /// The `write_at` that was the crashing call, never applied to `volatile`.
    in_flight: Option<(u64, Vec<u8>)>,
    /// Every `write_at` made to the file, as (offset, length): the units a
    /// misdirected write moves (`AtRestKind::Misdirected`).
    extents: Vec<(u64, u64)>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Create {
        path: PathBuf,
        id: FileId,
    },
    Remove {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        id: FileId,
    },
    Mkdir {
        path: PathBuf,
    },
}

struct Inner {
    files: BTreeMap<FileId, FileData>,
    names: BTreeMap<PathBuf, FileId>,
    names_durable: BTreeMap<PathBuf, FileId>,
    dirs: BTreeSet<PathBuf>,
    dirs_durable: BTreeSet<PathBuf>,
    /// Unsynced directory operations, in order, keyed by parent directory.
    pending_dir: Vec<(PathBuf, DirOp)>,
    next_id: FileId,
    epoch: u64,
    crash_at: Option<u64>,
    dead: bool,
    crash_site: Option<CrashSite>,
    locks: BTreeMap<PathBuf, u64>,
    next_lock: u64,
    faults: FaultRates,
    faults_enabled: bool,
    /// Unsynced writes may land as an arbitrary subset (else only a prefix).
    reorder: bool,
    /// Sabotage: syncs report success and persist nothing.
    lying_sync: bool,
    rng: Rng,
    stats: SimStats,
    /// Called (under the disk's lock) when the process dies.
    death_hook: Option<DeathHook>,
}

/// A function [`SimFs`] calls at the moment the process dies; it must not
/// call back into the disk.
pub type DeathHook = Arc<dyn Fn() + Send + Sync>;

enum Fail {
    Dead,
    Transient,
}

impl From<Fail> for io::Error {
    fn from(f: Fail) -> io::Error {
        match f {
            Fail::Dead => io::Error::other("simulated power loss: the process is dead"),
            Fail::Transient => io::Error::other("injected transient I/O error"),
        }
    }
}

impl Inner {
    /// Every call goes through here: counts it, kills the process at the
    /// armed call, injects transient errors.
    fn enter(&mut self, call: &'static str, path: &Path, epoch: u64) -> Result<(), Fail> {
        if self.dead || epoch != self.epoch {
            return Err(Fail::Dead);
        }
        self.stats.io_calls += 1;
        if self.crash_at.is_some_and(|n| self.stats.io_calls >= n) {
            self.dead = true;
            if let Some(hook) = &self.death_hook {
                hook();
            }
            self.crash_site = Some(CrashSite {
                io_call: self.stats.io_calls,
                call,
                path: path.to_path_buf(),
                class: if call.contains("dir") {
                    FileClass::Dir
                } else {
                    FileClass::of(path)
                },
            });
            return Err(Fail::Dead);
        }
        if self.faults_enabled && self.rng.chance(self.faults.transient_per_million) {
            self.stats.transient_errors += 1;
            return Err(Fail::Transient);
        }
        Ok(())
    }

    fn enter_now(&mut self, call: &'static str, path: &Path) -> Result<(), Fail> {
        let epoch = self.epoch;
        self.enter(call, path, epoch)
    }

    fn parent_exists(&self, path: &Path) -> bool {
        path.parent().is_none_or(|p| self.dirs.contains(p))
    }

    fn create_file(&mut self, path: &Path) -> FileId {
        let id = self.next_id;
        self.next_id += 1;
        self.files.insert(id, FileData::default());
        self.names.insert(path.to_path_buf(), id);
        self.pending_dir.push((
            parent_of(path),
            DirOp::Create {
                path: path.to_path_buf(),
                id,
            },
        ));
        id
    }

    fn apply_dir_op_durable(&mut self, op: &DirOp) {
        match op {
            DirOp::Create { path, id } => {
                self.names_durable.insert(path.clone(), *id);
            }
            DirOp::Remove { path } => {
                self.names_durable.remove(path);
            }
            DirOp::Rename { from, to, id } => {
                if self.names_durable.get(from) == Some(id) {
                    self.names_durable.remove(from);
                }
                self.names_durable.insert(to.clone(), *id);
            }
            DirOp::Mkdir { path } => {
                self.dirs_durable.insert(path.clone());
            }
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl FileData {
    /// Replaces durable bytes at `o` (and the volatile image's, which
    /// equals it after a crash).
    fn overwrite_at_rest(&mut self, o: usize, bytes: &[u8]) {
        let l = bytes.len();
        self.durable[o..o + l].copy_from_slice(bytes);
        if self.volatile.len() >= o + l {
            self.volatile[o..o + l].copy_from_slice(bytes);
        }
    }

    /// The writes whose bytes lie within the durable image.
    fn durable_extents(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let size = self.durable.len() as u64;
        self.extents
            .iter()
            .copied()
            .filter(move |&(o, l)| l > 0 && o + l <= size)
    }
}

impl Inner {
    /// `AtRestKind::Misdirected` among `candidates`; `None` without two
    /// distinct writes to choose from.
    fn misdirect(
        &mut self,
        rng: &mut Rng,
        candidates: &[(PathBuf, FileId)],
    ) -> Option<AtRestDamage> {
        let mut writes: Vec<(usize, u64, u64)> = Vec::new();
        for (i, (_, id)) in candidates.iter().enumerate() {
            if let Some(f) = self.files.get(id) {
                writes.extend(f.durable_extents().map(|(o, l)| (i, o, l)));
            }
        }
        writes.sort_unstable();
        writes.dedup_by_key(|w| (w.0, w.1));
        if writes.len() < 2 {
            return None;
        }
        let src = rng.index(writes.len());
        // Half the time, where a write of the same length starts if there
        // is one: the case a checksum over only its own bytes cannot see.
        let same: Vec<usize> = (0..writes.len())
            .filter(|&i| i != src && writes[i].2 == writes[src].2)
            .collect();
        let dst = if !same.is_empty() && rng.coin() {
            same[rng.index(same.len())]
        } else {
            let d = rng.index(writes.len() - 1);
            d + usize::from(d >= src)
        };
        let (si, so, sl) = writes[src];
        let (di, doff, _) = writes[dst];
        let f = self.files.get_mut(&candidates[si].1)?;
        let moved = f.durable[so as usize..(so + sl) as usize].to_vec();
        f.overwrite_at_rest(so as usize, &vec![0; moved.len()]);
        let t = self.files.get_mut(&candidates[di].1)?;
        let room = (t.durable.len() as u64 - doff).min(sl);
        t.overwrite_at_rest(doff as usize, &moved[..room as usize]);
        Some(AtRestDamage {
            path: candidates[di].0.clone(),
            offset: doff,
            len: room,
            kind: AtRestKind::Misdirected,
            from: Some((candidates[si].0.clone(), so, sl)),
        })
    }
}

fn apply_mutation(img: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Write { offset, data } => write_into(img, *offset, data),
        Mutation::SetLen(len) => img.resize(*len as usize, 0),
    }
}

fn write_into(img: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let off = offset as usize;
    let end = off + data.len();
    if img.len() < end {
        img.resize(end, 0);
    }
    img[off..end].copy_from_slice(data);
}

/// The in-memory simulated file system. Cloning shares the same disk.
#[derive(Clone)]
pub struct SimFs {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimFs")
    }
}

impl SimFs {
    /// An empty disk (only `/` exists); `fault_seed` drives injected faults.
    pub fn new(fault_seed: u64) -> Self {
        let root = PathBuf::from("/");
        SimFs {
            inner: Arc::new(Mutex::new(Inner {
                files: BTreeMap::new(),
                names: BTreeMap::new(),
                names_durable: BTreeMap::new(),
                dirs: BTreeSet::from([root.clone()]),
                dirs_durable: BTreeSet::from([root]),
                pending_dir: Vec::new(),
                next_id: 1,
                epoch: 0,
                crash_at: None,
                dead: false,
                crash_site: None,
                locks: BTreeMap::new(),
                next_lock: 1,
                faults: FaultRates::default(),
                faults_enabled: false,
                reorder: true,
                lying_sync: false,
                rng: Rng::new(fault_seed),
                stats: SimStats::default(),
                death_hook: None,
            })),
        }
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the state as consistent as
        // the last completed call; keep going. The lock is the engine's
        // (strata::sync), so under the seeded scheduler the disk is a
        // scheduling point like the engine's own locks.
        lock(&self.inner)
    }

    /// Sets the fault rates (and enables them).
    pub fn set_faults(&self, rates: FaultRates) {
        let mut g = self.lock_inner();
        g.faults = rates;
        g.faults_enabled = true;
    }

    /// Turns injected faults on or off (rates kept). Returns the old setting.
    pub fn set_faults_enabled(&self, on: bool) -> bool {
        std::mem::replace(&mut self.lock_inner().faults_enabled, on)
    }

    /// Restarts the fault RNG from `seed` (the runner does this per op, so
    /// an op's faults do not depend on the ops before it, which keeps
    /// failures stable while shrinking).
    pub fn reseed_faults(&self, seed: u64) {
        self.lock_inner().rng = Rng::new(seed);
    }

    /// Whether a crash may keep an arbitrary subset of a file's unsynced
    /// writes (the default) or only a prefix of them.
    pub fn set_reordering(&self, on: bool) {
        self.lock_inner().reorder = on;
    }

    /// Sabotage for testing the checker: every sync succeeds and persists
    /// nothing, file data and directory entries alike.
    pub fn set_lying_sync(&self, on: bool) {
        self.lock_inner().lying_sync = on;
    }

    /// Makes I/O call number `n` (1-based, counted since creation) and every
    /// later one fail. `None` disarms.
    pub fn crash_at_io(&self, n: Option<u64>) {
        self.lock_inner().crash_at = n;
    }

    /// Arms a crash `k >= 1` calls from now.
    pub fn crash_after(&self, k: u64) {
        let mut g = self.lock_inner();
        g.crash_at = Some(g.stats.io_calls + k.max(1));
    }

    /// Kills the process now (a crash while idle).
    pub fn kill(&self) {
        let mut g = self.lock_inner();
        if !g.dead {
            g.dead = true;
            if let Some(hook) = &g.death_hook {
                hook();
            }
            g.crash_site = Some(CrashSite {
                io_call: g.stats.io_calls,
                call: "idle",
                path: PathBuf::new(),
                class: FileClass::Other,
            });
        }
    }

    /// Sets the function called at the moment the process dies (the armed
    /// crash fires, or `kill`), or clears it.
    pub fn set_death_hook(&self, hook: Option<DeathHook>) {
        self.lock_inner().death_hook = hook;
    }

    /// True once the armed crash fired (or `kill`).
    pub fn is_dead(&self) -> bool {
        self.lock_inner().dead
    }

    /// Where the last crash landed.
    pub fn crash_site(&self) -> Option<CrashSite> {
        self.lock_inner().crash_site.clone()
    }

    /// I/O calls so far.
    pub fn io_calls(&self) -> u64 {
        self.lock_inner().stats.io_calls
    }

    /// Damages bytes a sync made durable, as a disk may while the machine
    /// is off: in one file that `pick` accepts (chosen among the durable
    /// names), a flipped bit, a zeroed or garbage 512-byte sector, a lost
    /// 4 KiB page (it reads back as zeros), or a misdirected write (one of
    /// the engine's writes to a picked file moved to where another of them
    /// starts, in the same or another picked file; the moved write's own
    /// place reads back as zeros; without two such writes, a lost page).
    /// Both images change (call it after `crash`, when they are equal).
    /// `None` if no file qualifies or the chosen file is empty.
    pub fn damage_at_rest(
        &self,
        rng: &mut Rng,
        pick: &dyn Fn(&Path) -> bool,
    ) -> Option<AtRestDamage> {
        let mut g = self.lock_inner();
        let candidates: Vec<(PathBuf, FileId)> = g
            .names_durable
            .iter()
            .filter(|(p, _)| pick(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (path, id) = candidates[rng.index(candidates.len())].clone();
        let size = g.files.get(&id)?.durable.len() as u64;
        if size == 0 {
            return None;
        }
        let mut kind = match rng.below(5) {
            0 => AtRestKind::BitFlip,
            1 => AtRestKind::ZeroSector,
            2 => AtRestKind::GarbageSector,
            3 => AtRestKind::LostPage,
            _ => AtRestKind::Misdirected,
        };
        if kind == AtRestKind::Misdirected {
            if let Some(d) = g.misdirect(rng, &candidates) {
                g.stats.at_rest_damage += 1;
                return Some(d);
            }
            kind = AtRestKind::LostPage;
        }
        let f = g.files.get_mut(&id)?;
        let (offset, len) = match kind {
            AtRestKind::BitFlip => (rng.below(size), 1),
            AtRestKind::ZeroSector | AtRestKind::GarbageSector => {
                let sector = rng.below(size.div_ceil(512)) * 512;
                (sector, 512.min(size - sector))
            }
            AtRestKind::LostPage | AtRestKind::Misdirected => {
                let page = rng.below(size.div_ceil(4096)) * 4096;
                (page, 4096.min(size - page))
            }
        };
        let (o, l) = (offset as usize, len as usize);
        let mut bytes = f.durable[o..o + l].to_vec();
        match kind {
            AtRestKind::BitFlip => bytes[0] ^= 1 << rng.below(8),
            AtRestKind::ZeroSector | AtRestKind::LostPage | AtRestKind::Misdirected => {
                bytes.fill(0);
            }
            AtRestKind::GarbageSector => rng.fill(&mut bytes),
        }
        f.overwrite_at_rest(o, &bytes);
        g.stats.at_rest_damage += 1;
        Some(AtRestDamage {
            path,
            offset,
            len,
            kind,
            from: None,
        })
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.lock_inner().stats.clone()
    }

    /// A process crash without power loss: the page cache (volatile state)
    /// survives; handles and locks die.
    pub fn restart_process(&self) {
        let mut g = self.lock_inner();
        for f in g.files.values_mut() {
            f.in_flight = None;
        }
        g.locks.clear();
        g.epoch += 1;
        g.dead = false;
        g.crash_at = None;
        g.stats.process_restarts += 1;
    }

    /// Power loss: computes the post-crash disk from the durable images and
    /// a random choice of what unsynced state landed, then boots the machine
    /// again (every old handle and lock is dead).
    pub fn crash(&self, rng: &mut Rng) -> CrashReport {
        let mut g = self.lock_inner();
        let g = &mut *g;
        let mut rep = CrashReport::default();

        // 1. Directory operations: per directory, all lost, a prefix kept, or all kept.
        let mut by_dir: BTreeMap<PathBuf, Vec<DirOp>> = BTreeMap::new();
        for (d, op) in std::mem::take(&mut g.pending_dir) {
            by_dir.entry(d).or_default().push(op);
        }
        for ops in by_dir.values() {
            let keep = match rng.below(4) {
                0 => 0,
                1 => ops.len(),
                _ => rng.below(ops.len() as u64 + 1) as usize,
            };
            for op in &ops[..keep] {
                g.apply_dir_op_durable(op);
            }
            rep.dir_ops_kept += keep as u64;
            rep.dir_ops_lost += (ops.len() - keep) as u64;
        }

        // 2. File contents.
        let reorder = g.reorder;
        for f in g.files.values_mut() {
            let mut muts = std::mem::take(&mut f.pending);
            let in_flight = f.in_flight.take();
            let had_in_flight = in_flight.is_some();
            if let Some((offset, data)) = in_flight {
                muts.push(Mutation::Write { offset, data });
            }
            if muts.is_empty() {
                f.volatile = f.durable.clone();
                continue;
            }
            let n = muts.len();
            let kept: Vec<bool> = match rng.below(5) {
                0 => vec![false; n],
                1 => vec![true; n],
                2 if reorder => (0..n).map(|_| rng.coin()).collect(),
                _ => {
                    let k = rng.below(n as u64 + 1) as usize;
                    (0..n).map(|i| i < k).collect()
                }
            };
            let last_kept = kept.iter().rposition(|&k| k);
            let mut img = f.durable.clone();
            for (i, m) in muts.iter().enumerate() {
                if !kept[i] {
                    rep.writes_lost += 1;
                    continue;
                }
                rep.writes_kept += 1;
                let in_flight_write = had_in_flight && i == n - 1;
                let tear = Some(i) == last_kept && (in_flight_write || rng.below(3) == 0);
                match m {
                    Mutation::Write { offset, data } if tear => {
                        rep.torn_writes += 1;
                        tear_write(&mut img, *offset, data, rng, &mut g.stats);
                    }
                    m => apply_mutation(&mut img, m),
                }
            }
            f.durable = img;
            f.volatile = f.durable.clone();
        }

        // 3. Boot: the namespace is what was durable, minus entries whose
        // directory did not survive; unreachable inodes are freed.
        let dirs_durable = g.dirs_durable.clone();
        g.dirs_durable
            .retain(|d| d.ancestors().skip(1).all(|a| dirs_durable.contains(a)));
        let dirs = g.dirs_durable.clone();
        g.names_durable.retain(|p, _| dirs.contains(&parent_of(p)));
        g.names = g.names_durable.clone();
        g.dirs = dirs;
        let live: BTreeSet<FileId> = g.names.values().copied().collect();
        g.files.retain(|id, _| live.contains(id));
        g.locks.clear();
        g.epoch += 1;
        g.dead = false;
        g.crash_at = None;
        g.stats.power_losses += 1;
        g.stats.writes_lost += rep.writes_lost;
        g.stats.writes_kept += rep.writes_kept;
        g.stats.torn_writes += rep.torn_writes;
        g.stats.dir_ops_lost += rep.dir_ops_lost;
        g.stats.dir_ops_kept += rep.dir_ops_kept;
        rep
    }

    /// The volatile contents of a file (what reads see), if it exists.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let g = self.lock_inner();
        let id = g.names.get(path)?;
        Some(g.files[id].volatile.clone())
    }

    /// The durable contents of the file the durable namespace names `path`.
    pub fn durable_contents(&self, path: &Path) -> Option<Vec<u8>> {
        let g = self.lock_inner();
        let id = g.names_durable.get(path)?;
        Some(g.files.get(id)?.durable.clone())
    }

    /// Every file path (volatile namespace), sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock_inner().names.keys().cloned().collect()
    }
}

/// Applies `data` at `offset` torn: each sector (512 B or 4 KiB, aligned in
/// the file) independently lands or not; sectors that do not land hold old
/// bytes, zeros or garbage. At least one sector does not land. The length
/// grows to cover the write (the metadata landed): reading the part that did
/// not is a read of never-written space.
fn tear_write(img: &mut Vec<u8>, offset: u64, data: &[u8], rng: &mut Rng, stats: &mut SimStats) {
    let sector: u64 = if rng.coin() { 512 } else { 4096 };
    let fill = rng.below(3);
    let end = offset + data.len() as u64;
    if img.len() < end as usize {
        img.resize(end as usize, 0);
    }
    let first_sector = offset / sector;
    let last_sector = (end.max(offset + 1) - 1) / sector;
    let sectors = last_sector - first_sector + 1;
    let forced_miss = first_sector + rng.below(sectors);
    for s in first_sector..=last_sector {
        let lo = (s * sector).max(offset);
        let hi = ((s + 1) * sector).min(end);
        if lo >= hi {
            continue;
        }
        let (ilo, ihi) = (lo as usize, hi as usize);
        if s != forced_miss && rng.coin() {
            let dlo = (lo - offset) as usize;
            img[ilo..ihi].copy_from_slice(&data[dlo..dlo + (ihi - ilo)]);
            continue;
        }
        match fill {
            0 => stats.torn_sectors_old += 1,
            1 => {
                stats.torn_sectors_zero += 1;
                img[ilo..ihi].fill(0);
            }
            _ => {
                stats.torn_sectors_garbage += 1;
                rng.fill(&mut img[ilo..ihi]);
            }
        }
    }
}

struct SimFile {
    fs: SimFs,
    id: FileId,
    path: PathBuf,
    writable: bool,
    epoch: u64,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimFile({})", self.path.display())
    }
}

impl SimFile {
    fn read_only(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} opened read-only", self.path.display()),
        )
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut g = self.fs.lock_inner();
        g.enter("read_at", &self.path, self.epoch)?;
        let g = &mut *g;
        let f = g.files.get(&self.id).ok_or_else(|| not_found(&self.path))?;
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= f.volatile.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))?;
        if g.faults_enabled && g.rng.chance(g.faults.read_error_per_million) {
            g.stats.read_errors += 1;
            return Err(io::Error::other("injected media read error"));
        }
        buf.copy_from_slice(&f.volatile[offset as usize..end as usize]);
        if g.faults_enabled && !buf.is_empty() && g.rng.chance(g.faults.bit_flip_per_million) {
            g.stats.bit_flips += 1;
            let bit = g.rng.below(buf.len() as u64 * 8);
            buf[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(self.read_only());
        }
        let mut g = self.fs.lock_inner();
        if let Err(e) = g.enter("write_at", &self.path, self.epoch) {
            // Only the call that killed the process is in flight.
            let killed_here = g.dead
                && g.epoch == self.epoch
                && g.crash_site.as_ref().is_some_and(|c| {
                    c.call == "write_at" && c.path == self.path && c.io_call == g.stats.io_calls
                });
            if killed_here {
                if let Some(f) = g.files.get_mut(&self.id) {
                    if f.in_flight.is_none() {
                        f.in_flight = Some((offset, buf.to_vec()));
                    }
                }
            }
            return Err(e.into());
        }
        offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= u64::from(u32::MAX) * 16)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write too far"))?;
        let f = g
            .files
            .get_mut(&self.id)
            .ok_or_else(|| not_found(&self.path))?;
        write_into(&mut f.volatile, offset, buf);
        f.extents.push((offset, buf.len() as u64));
        f.pending.push(Mutation::Write {
            offset,
            data: buf.to_vec(),
        });
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync("sync_data")
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync("sync_all")
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if !self.writable {
            return Err(self.read_only());
        }
        let mut g = self.fs.lock_inner();
        g.enter("set_len", &self.path, self.epoch)?;
        let f = g
            .files
            .get_mut(&self.id)
            .ok_or_else(|| not_found(&self.path))?;
        let m = Mutation::SetLen(len);
        apply_mutation(&mut f.volatile, &m);
        f.pending.push(m);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut g = self.fs.lock_inner();
        g.enter("len", &self.path, self.epoch)?;
        let f = g.files.get(&self.id).ok_or_else(|| not_found(&self.path))?;
        Ok(f.volatile.len() as u64)
    }
}

impl SimFile {
    fn sync(&self, call: &'static str) -> io::Result<()> {
        let mut g = self.fs.lock_inner();
        g.enter(call, &self.path, self.epoch)?;
        let g = &mut *g;
        let fail = g.faults_enabled && g.rng.chance(g.faults.sync_failure_per_million);
        let f = g
            .files
            .get_mut(&self.id)
            .ok_or_else(|| not_found(&self.path))?;
        if fail {
            // Sticky: the pending writes stay visible but will never reach
            // the disk.
            g.stats.sync_failures += 1;
            f.pending.clear();
            return Err(io::Error::other("injected fsync failure (data dropped)"));
        }
        if FileClass::of(&self.path) == FileClass::Wal {
            g.stats.wal_syncs += 1;
        }
        if g.lying_sync {
            return Ok(());
        }
        for m in std::mem::take(&mut f.pending) {
            apply_mutation(&mut f.durable, &m);
        }
        Ok(())
    }
}

struct SimLock {
    fs: SimFs,
    path: PathBuf,
    token: u64,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimLock({})", self.path.display())
    }
}

impl FileLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut g = self.fs.lock_inner();
        if g.locks.get(&self.path) == Some(&self.token) {
            g.locks.remove(&self.path);
        }
    }
}

impl FileSystem for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut g = self.lock_inner();
        g.enter_now("open", path)?;
        if !g.parent_exists(path) {
            return Err(not_found(path));
        }
        let existing = g.names.get(path).copied();
        let id = match (mode, existing) {
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(not_found(path)),
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", path.display()),
                ))
            }
            (OpenMode::CreateTruncate, Some(id)) => {
                let f = g.files.get_mut(&id).ok_or_else(|| not_found(path))?;
                f.volatile.clear();
                f.pending.push(Mutation::SetLen(0));
                id
            }
            (_, Some(id)) => id,
            (_, None) => g.create_file(path),
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            id,
            path: path.to_path_buf(),
            writable: mode != OpenMode::Read,
            epoch: g.epoch,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.enter_now("create_dir_all", path)?;
        let mut missing: Vec<PathBuf> = path
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty() && !g.dirs.contains(*a))
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        for d in missing {
            if g.names.contains_key(&d) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is a file", d.display()),
                ));
            }
            g.dirs.insert(d.clone());
            g.pending_dir
                .push((parent_of(&d), DirOp::Mkdir { path: d.clone() }));
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut g = self.lock_inner();
        g.enter_now("list_dir", path)?;
        if !g.dirs.contains(path) {
            return Err(not_found(path));
        }
        let mut out: BTreeSet<String> = BTreeSet::new();
        let children = g
            .names
            .keys()
            .chain(g.dirs.iter())
            .filter(|p| p.parent() == Some(path));
        for p in children {
            if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                out.insert(n.to_string());
            }
        }
        Ok(out.into_iter().collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.enter_now("rename", to)?;
        let id = *g.names.get(from).ok_or_else(|| not_found(from))?;
        if !g.parent_exists(to) {
            return Err(not_found(to));
        }
        g.names.remove(from);
        g.names.insert(to.to_path_buf(), id);
        g.pending_dir.push((
            parent_of(to),
            DirOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
                id,
            },
        ));
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.enter_now("hard_link", to)?;
        let id = *g.names.get(from).ok_or_else(|| not_found(from))?;
        if g.names.contains_key(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: already exists", to.display()),
            ));
        }
        if !g.parent_exists(to) {
            return Err(not_found(to));
        }
        // A second name for the same file: like a create, its entry is
        // durable once the directory is synced.
        g.names.insert(to.to_path_buf(), id);
        g.pending_dir.push((
            parent_of(to),
            DirOp::Create {
                path: to.to_path_buf(),
                id,
            },
        ));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.enter_now("remove_file", path)?;
        g.names.remove(path).ok_or_else(|| not_found(path))?;
        g.pending_dir.push((
            parent_of(path),
            DirOp::Remove {
                path: path.to_path_buf(),
            },
        ));
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.enter_now("sync_dir", path)?;
        if !g.dirs.contains(path) {
            return Err(not_found(path));
        }
        let rate = g.faults.sync_failure_per_million;
        if g.faults_enabled && g.rng.chance(rate) {
            // The operations stay pending: their fate is decided at a crash.
            g.stats.sync_failures += 1;
            return Err(io::Error::other("injected directory fsync failure"));
        }
        if g.lying_sync {
            return Ok(());
        }
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut g.pending_dir)
            .into_iter()
            .partition(|(d, _)| d == path);
        g.pending_dir = rest;
        for (_, op) in mine {
            g.apply_dir_op_durable(&op);
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let mut g = self.lock_inner();
        g.enter_now("exists", path)?;
        Ok(g.names.contains_key(path) || g.dirs.contains(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut g = self.lock_inner();
        g.enter_now("lock", path)?;
        if !g.parent_exists(path) {
            return Err(not_found(path));
        }
        if g.locks.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another handle",
            ));
        }
        if !g.names.contains_key(path) {
            g.create_file(path);
        }
        let token = g.next_lock;
        g.next_lock += 1;
        g.locks.insert(path.to_path_buf(), token);
        Ok(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
            token,
        }))
    }
}
