//! Seeded model test: the engine against a `BTreeMap` model across puts,
//! deletes, batches, flushes, compactions, snapshots, scans in both
//! directions and reopen, with memtables and tables small enough that every
//! run flushes and compacts many times.
//!
//! `STRATA_MODEL_SEED=S` runs one seed; `STRATA_MODEL_SEEDS=N` runs N seeds.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use strata::{
    BackgroundMode, CompactionOptions, Db, Error, MemtableKind, Options, TableOptions, WriteBatch,
    WriteOptions,
};

use strata::testing::SplitMix64 as Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => Vec::new(),
        1 => vec![b'k'; 1 + rng.below(300) as usize],
        _ => {
            let len = 1 + rng.below(4) as usize;
            (0..len).map(|_| b"abk"[rng.below(3) as usize]).collect()
        }
    }
}

fn value(rng: &mut Rng, tag: u64) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => 5000 + rng.below(3000) as usize,
        _ => rng.below(40) as usize,
    };
    let mut v = tag.to_le_bytes().to_vec();
    v.resize(len.max(8), b'v');
    v.truncate(len);
    v
}

fn options(kind: MemtableKind) -> Options {
    Options {
        memtable: kind,
        background: BackgroundMode::Manual,
        memtable_bytes_max: 4 * 1024,
        table: TableOptions {
            block_bytes_target: 256,
            ..TableOptions::default()
        },
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            level1_bytes_target: 16 * 1024,
            target_file_bytes: 8 * 1024,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn bound(rng: &mut Rng) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng)),
        _ => Bound::Excluded(key(rng)),
    }
}

fn model_range(model: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .filter(|(k, _)| {
            let above = match lo {
                Bound::Included(l) => *k >= l,
                Bound::Excluded(l) => *k > l,
                Bound::Unbounded => true,
            };
            let below = match hi {
                Bound::Included(h) => *k <= h,
                Bound::Excluded(h) => *k < h,
                Bound::Unbounded => true,
            };
            above && below
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Reads the range alternately from both ends.
fn zigzag(db_iter: strata::DbIter, pattern: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = db_iter;
    zigzag_with(
        pattern,
        |from_back| {
            if from_back {
                it.next_back()
            } else {
                it.next()
            }
        },
    )
}

/// Reads the range alternately from both ends through `walk`, one of the
/// iterator's three shapes (owned items, borrowed items, keys only) chosen
/// by `shape`; keys-only walks yield empty values.
fn zigzag_shaped(db_iter: strata::DbIter, pattern: u64, shape: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = db_iter;
    match shape % 3 {
        0 => zigzag(it, pattern),
        1 => zigzag_with(pattern, |from_back| {
            let item = if from_back {
                it.next_back_ref()
            } else {
                it.next_ref()
            };
            item.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
        }),
        _ => {
            let mut keys = it.keys_only();
            zigzag_with(pattern, |from_back| {
                let item = if from_back {
                    keys.next_back_ref()
                } else {
                    keys.next_ref()
                };
                item.map(|r| r.map(|k| (k.to_vec(), Vec::new())))
            })
        }
    }
}

fn zigzag_with(
    pattern: u64,
    mut step: impl FnMut(bool) -> Option<strata::Result<(Vec<u8>, Vec<u8>)>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut front = Vec::new();
    let mut back = Vec::new();
    let mut i = 0u64;
    loop {
        let from_back = (pattern >> (i % 64)) & 1 == 1;
        let item = step(from_back);
        match item {
            Some(r) => {
                let kv = r.unwrap();
                if from_back {
                    back.push(kv);
                } else {
                    front.push(kv);
                }
            }
            None => break,
        }
        i += 1;
    }
    back.reverse();
    front.extend(back);
    front
}

fn run_seed(seed: u64, kind: MemtableKind, dir: &Path) {
    let ctx = format!(
        "seed {seed} ({kind:?}); replay: STRATA_MODEL_SEED={seed} cargo test -p strata --test model"
    );
    let mut rng = Rng(seed);
    let mut db = Db::open(dir, options(kind)).unwrap();
    let mut model: Model = BTreeMap::new();
    // Snapshots with the model state they must keep seeing.
    let mut snaps: Vec<(strata::Snapshot, Model)> = Vec::new();
    let mut seq = 0u64;
    for op in 0..600u64 {
        let wo = if rng.below(4) == 0 {
            WriteOptions::DURABLE
        } else {
            WriteOptions::BUFFERED
        };
        match rng.below(112) {
            0..=39 => {
                let (k, v) = (key(&mut rng), value(&mut rng, op));
                seq += 1;
                assert_eq!(db.put(&k, &v, wo).unwrap(), seq, "{ctx}");
                model.insert(k, v);
            }
            40..=49 => {
                let k = key(&mut rng);
                seq += 1;
                assert_eq!(db.delete(&k, wo).unwrap(), seq, "{ctx}");
                model.remove(&k);
            }
            50..=57 => {
                let mut b = WriteBatch::new();
                for _ in 0..1 + rng.below(5) {
                    let k = key(&mut rng);
                    if rng.below(3) == 0 {
                        b.delete(k.clone());
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng, op);
                        b.put(k.clone(), v.clone());
                        model.insert(k, v);
                    }
                }
                seq += b.len() as u64;
                assert_eq!(db.write(b, wo).unwrap(), seq, "{ctx}");
            }
            58..=71 => {
                let k = key(&mut rng);
                assert_eq!(
                    db.get(&k).unwrap(),
                    model.get(&k).cloned(),
                    "{ctx} op {op} get {k:?}"
                );
            }
            72..=79 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let mut want = model_range(&model, &lo, &hi);
                let it = db.range((lo.clone(), hi.clone())).unwrap();
                let shape = rng.below(3);
                let got = zigzag_shaped(it, rng.next_u64(), shape);
                if shape == 2 {
                    want.iter_mut().for_each(|kv| kv.1.clear());
                }
                assert_eq!(
                    got, want,
                    "{ctx} op {op} range {lo:?}..{hi:?} shape {shape}"
                );
            }
            80..=83 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                } else {
                    snaps.remove(rng.below(4) as usize);
                }
            }
            84..=87 => {
                if let Some((s, m)) = snaps.get(rng.below(snaps.len().max(1) as u64) as usize) {
                    let k = key(&mut rng);
                    assert_eq!(
                        s.get(&k).unwrap(),
                        m.get(&k).cloned(),
                        "{ctx} op {op} snapshot get"
                    );
                    let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                    let got = zigzag(s.range((lo.clone(), hi.clone())).unwrap(), rng.next_u64());
                    assert_eq!(
                        got,
                        model_range(m, &lo, &hi),
                        "{ctx} op {op} snapshot range"
                    );
                }
            }
            88..=91 => db.flush().unwrap(),
            92..=96 => {
                db.step_background().unwrap();
            }
            97 => db.compact().unwrap(),
            100..=103 => {
                // A cursor: seek, then moves both ways, each position checked.
                let mut c = db.cursor().unwrap();
                let k = key(&mut rng);
                c.seek(&k);
                let mut want = model.range(k..).next().map(|(k, _)| k.clone());
                for step in 0..8 {
                    let got = c.valid().then(|| c.key().to_vec());
                    assert_eq!(got, want, "{ctx} op {op} cursor step {step}");
                    let Some(w) = want.take() else { break };
                    assert_eq!(
                        c.value(),
                        model[&w].as_slice(),
                        "{ctx} op {op} cursor value"
                    );
                    if rng.below(2) == 0 {
                        c.next();
                        want = model
                            .range((Bound::Excluded(w), Bound::Unbounded))
                            .next()
                            .map(|(k, _)| k.clone());
                    } else {
                        c.prev();
                        want = model.range(..w).next_back().map(|(k, _)| k.clone());
                    }
                }
                c.status().unwrap();
            }
            104 | 105 => {
                let keys: Vec<Vec<u8>> = (0..1 + rng.below(6)).map(|_| key(&mut rng)).collect();
                let want: Vec<_> = keys.iter().map(|k| model.get(k).cloned()).collect();
                assert_eq!(
                    db.multi_get(&keys).unwrap(),
                    want,
                    "{ctx} op {op} multi_get"
                );
            }
            106 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                db.compact_range((lo, hi)).unwrap();
            }
            107 => {
                let k = key(&mut rng);
                let p = &k[..rng.below(k.len() as u64 + 1) as usize];
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let got: Vec<_> = db.prefix(p).unwrap().map(|r| r.unwrap()).collect();
                assert_eq!(got, want, "{ctx} op {op} prefix {p:?}");
            }
            108 | 109 => {
                let p = db.properties();
                assert_eq!(p.last_seqno, seq, "{ctx} op {op} properties");
                assert_eq!(p.snapshots, snaps.len(), "{ctx} op {op} properties");
                let first = model.iter().next().map(|(k, v)| (k.clone(), v.clone()));
                assert_eq!(db.first_key_value().unwrap(), first, "{ctx} op {op} first");
            }
            110 | 111 => {
                // A read-only open beside the writer: it replays the WAL in
                // memory and sees every acknowledged write (each is in the
                // OS by the time `put` returns), writes nothing, refuses
                // writes, and the writer goes on.
                let ro = Db::open_read_only(dir, options(kind)).unwrap();
                assert_eq!(ro.last_seqno(), seq, "{ctx} op {op} read-only seqno");
                let got: Model = ro
                    .range::<&[u8], _>(..)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                assert_eq!(got, model, "{ctx} op {op} read-only state");
                assert!(
                    matches!(ro.put(b"k", b"v", wo), Err(Error::InvalidArgument(_))),
                    "{ctx} op {op} read-only put"
                );
                ro.close().unwrap();
            }
            _ => {
                snaps.clear();
                if rng.below(2) == 0 {
                    db.close().unwrap();
                    // Closed through `&self`: every later call says so.
                    assert!(
                        matches!(db.get(b"k"), Err(Error::Closed)),
                        "{ctx} get after close"
                    );
                    assert!(
                        matches!(db.put(b"k", b"v", wo), Err(Error::Closed)),
                        "{ctx} put after close"
                    );
                    assert!(
                        matches!(db.close(), Err(Error::Closed)),
                        "{ctx} second close"
                    );
                } else {
                    drop(db); // a process crash: buffered writes are in the OS
                }
                db = Db::open(dir, options(kind)).unwrap();
                assert_eq!(db.last_seqno(), seq, "{ctx} op {op} reopen");
            }
        }
    }
    // Settle everything and compare the whole state both ways.
    drop(snaps);
    db.flush().unwrap();
    db.compact().unwrap();
    let all: Vec<_> = db
        .range::<&[u8], _>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        all,
        model.clone().into_iter().collect::<Vec<_>>(),
        "{ctx} final"
    );
    let mut rev: Vec<_> = db
        .range::<&[u8], _>(..)
        .unwrap()
        .rev()
        .map(|r| r.unwrap())
        .collect();
    rev.reverse();
    assert_eq!(rev, all, "{ctx} final reverse");
    let stats = db.stats();
    let files: usize = stats.levels.iter().map(|l| l.files).sum();
    assert!(
        model.is_empty() || files > 0,
        "{ctx}: data must end up in tables"
    );
    assert_eq!(stats.frozen_memtables, 0, "{ctx}");
}

fn seeds() -> Vec<u64> {
    if let Some(s) = std::env::var("STRATA_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![s];
    }
    let n = std::env::var("STRATA_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24u64);
    (1..=n).collect()
}

#[test]
fn engine_matches_model_btree_memtable() {
    for seed in seeds() {
        let dir = tempfile::tempdir().unwrap();
        run_seed(seed, MemtableKind::BTree, dir.path());
    }
}

#[test]
fn engine_matches_model_art_memtable() {
    for seed in seeds() {
        let dir = tempfile::tempdir().unwrap();
        run_seed(seed, MemtableKind::Art, dir.path());
    }
}

#[test]
fn compaction_happens_and_levels_fill() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(MemtableKind::BTree)).unwrap();
    for i in 0..5000u32 {
        db.put(
            format!("key-{:06}", (i * 7919) % 5000).as_bytes(),
            &[b'x'; 100],
            WriteOptions::BUFFERED,
        )
        .unwrap();
    }
    db.compact().unwrap();
    let stats = db.stats();
    assert!(stats.flushes > 10, "{stats:?}");
    assert!(stats.compactions + stats.trivial_moves > 0, "{stats:?}");
    assert!(
        stats.levels.iter().skip(1).any(|l| l.files > 0),
        "{stats:?}"
    );
    assert!(stats.levels[0].files < 2, "{stats:?}");
    // WAL segments were retired: only the live one (and none below the log number) remain.
    let wals = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert!(wals <= 2, "{wals} WAL segments left");
    for i in 0..5000u32 {
        assert_eq!(
            db.get(format!("key-{i:06}").as_bytes()).unwrap(),
            Some(vec![b'x'; 100])
        );
    }
}
