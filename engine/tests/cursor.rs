//! The cursor, prefixes, multi_get and the first/last lookups against a
//! `BTreeMap` model, over data spread across the memtable, level 0 and
//! deeper levels, with tombstones. Every choice comes from one seed.

use std::collections::BTreeMap;
use std::ops::Bound;

use strata::testing::SplitMix64;
use strata::{BackgroundMode, CompactionOptions, Cursor, Db, Options, WriteOptions};

const W: WriteOptions = WriteOptions::BUFFERED;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Keys from a small alphabet with shared prefixes (and 0xff bytes, for
/// the prefix ends).
fn key(rng: &mut SplitMix64) -> Vec<u8> {
    let len = 1 + rng.below(4) as usize;
    (0..len)
        .map(|_| [b'a', b'b', b'c', 0xff][rng.below(4) as usize])
        .collect()
}

/// A database and its model after a seeded history of puts, deletes,
/// flushes and compactions.
fn build(seed: u64) -> (tempfile::TempDir, Db, Model) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: BackgroundMode::Manual,
        memtable_bytes_max: 2048,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            level1_bytes_target: 4096,
            target_file_bytes: 1024,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut model = Model::new();
    for i in 0..600u32 {
        let k = key(&mut rng);
        match rng.below(10) {
            0..=5 => {
                let v = format!("v{i}").into_bytes();
                db.put(&k, &v, W).unwrap();
                model.insert(k, v);
            }
            6 | 7 => {
                db.delete(&k, W).unwrap();
                model.remove(&k);
            }
            8 => db.flush().unwrap(),
            _ => {
                let _ = db.step_background().unwrap();
            }
        }
    }
    (dir, db, model)
}

fn first_at_or_after(m: &Model, k: &[u8]) -> Option<Vec<u8>> {
    m.range::<[u8], _>((Bound::Included(k), Bound::Unbounded))
        .next()
        .map(|e| e.0.clone())
}

fn last_at_or_before(m: &Model, k: &[u8]) -> Option<Vec<u8>> {
    m.range::<[u8], _>((Bound::Unbounded, Bound::Included(k)))
        .next_back()
        .map(|e| e.0.clone())
}

fn at(c: &Cursor) -> Option<Vec<u8>> {
    c.status().unwrap();
    c.valid().then(|| c.key().to_vec())
}

#[test]
fn cursor_moves_like_the_model_in_both_directions() {
    for seed in 0..8 {
        let (_dir, db, model) = build(seed);
        let mut rng = SplitMix64::new(seed ^ 0xc0ffee);
        let mut c = db.cursor().unwrap();
        let mut want: Option<Vec<u8>> = None;
        assert!(!c.valid(), "not positioned before a seek");
        for step in 0..400 {
            match rng.below(6) {
                0 => {
                    let k = key(&mut rng);
                    c.seek(&k);
                    want = first_at_or_after(&model, &k);
                }
                1 => {
                    let k = key(&mut rng);
                    c.seek_for_prev(&k);
                    want = last_at_or_before(&model, &k);
                }
                2 => {
                    c.seek_to_first();
                    want = model.keys().next().cloned();
                }
                3 => {
                    c.seek_to_last();
                    want = model.keys().next_back().cloned();
                }
                4 => {
                    c.next();
                    want = want.and_then(|w| {
                        model
                            .range::<[u8], _>((Bound::Excluded(w.as_slice()), Bound::Unbounded))
                            .next()
                            .map(|e| e.0.clone())
                    });
                }
                _ => {
                    c.prev();
                    want = want.and_then(|w| {
                        model
                            .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(w.as_slice())))
                            .next_back()
                            .map(|e| e.0.clone())
                    });
                }
            }
            assert_eq!(at(&c), want, "seed {seed} step {step}");
            if let Some(k) = &want {
                assert_eq!(c.value(), model[k].as_slice(), "seed {seed} step {step}");
            }
        }
    }
}

#[test]
fn prefixes_multi_get_and_first_last_match_the_model() {
    for seed in 0..8 {
        let (_dir, db, model) = build(seed);
        for prefix in [&b""[..], b"a", b"ab", b"c", b"\xff", b"a\xff", b"\xff\xff"] {
            let want: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let got: Vec<_> = db.prefix(prefix).unwrap().map(Result::unwrap).collect();
            assert_eq!(got, want, "seed {seed} prefix {prefix:?}");
            let back: Vec<_> = db
                .prefix(prefix)
                .unwrap()
                .rev()
                .map(Result::unwrap)
                .collect();
            assert_eq!(back.len(), want.len());
            // A prefix cursor stays inside the prefix.
            let mut c = db.prefix_cursor(prefix).unwrap();
            c.seek_to_last();
            assert_eq!(
                at(&c),
                want.last().map(|e| e.0.clone()),
                "seed {seed} {prefix:?}"
            );
            c.seek(b"");
            assert_eq!(
                at(&c),
                want.first().map(|e| e.0.clone()),
                "seed {seed} {prefix:?}"
            );
        }
        let mut rng = SplitMix64::new(seed);
        let keys: Vec<Vec<u8>> = (0..50).map(|_| key(&mut rng)).collect();
        let got = db.multi_get(&keys).unwrap();
        for (k, v) in keys.iter().zip(&got) {
            assert_eq!(v.as_ref(), model.get(k), "seed {seed} key {k:?}");
            assert_eq!(db.contains_key(k).unwrap(), model.contains_key(k));
        }
        let first = model.iter().next().map(|(k, v)| (k.clone(), v.clone()));
        let last = model
            .iter()
            .next_back()
            .map(|(k, v)| (k.clone(), v.clone()));
        assert_eq!(db.first_key_value().unwrap(), first);
        assert_eq!(db.last_key_value().unwrap(), last);
    }
}

#[test]
fn snapshot_cursors_see_the_snapshot_and_closed_cursors_say_so() {
    let (_dir, db, model) = build(99);
    let snap = db.snapshot();
    for k in model.keys() {
        db.delete(k, W).unwrap();
    }
    db.flush().unwrap();
    let mut c = snap.cursor().unwrap();
    c.seek_to_first();
    let mut seen = Vec::new();
    while c.valid() {
        seen.push(c.key().to_vec());
        c.next();
    }
    assert_eq!(seen, model.keys().cloned().collect::<Vec<_>>());
    assert_eq!(db.first_key_value().unwrap(), None);
    let mut live = db.cursor().unwrap();
    db.close().unwrap();
    live.seek_to_first();
    assert!(!live.valid());
    assert!(matches!(live.status(), Err(strata::Error::Closed)));
}
