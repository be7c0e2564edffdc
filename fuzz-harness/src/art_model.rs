//! `art_model`: operation sequences on `strata_art::Art` against a
//! `BTreeMap` model.
//!
//! The input is decoded with `arbitrary` into a list of [`ArtOp`]s. Keys
//! come from a four-symbol alphabet (so keys are often prefixes of each
//! other and share long runs), plus the empty key, keys under one long
//! prefix cut at a fuzzer-chosen depth (prefix splits deep in a node's
//! compressed prefix), single-byte fan-out keys under one parent (node
//! growth to 256 children and shrinking back), raw bytes, and keys already
//! in the model (so gets, removes and new versions hit). Checked after every
//! op: the result equals the model's; after every mutation `Art::check()`
//! passes and counts exactly the model's keys.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use arbitrary::{Arbitrary, Unstructured};
use strata::testing::SplitMix64;
use strata_art::Art;

use crate::prng_bytes;

/// Ops decoded from one input at most (bounds the time per input).
pub const OPS_MAX: usize = 192;
/// Longest value the target writes.
pub const VALUE_BYTES_MAX: usize = 48;

/// The alphabet of `Key::Alpha`: `0x00` and `0xff` sit at the edges of a
/// node's byte range, `a`/`b` in between.
const ALPHABET: [u8; 4] = [0x00, b'a', b'b', 0xff];
/// Longest `Key::Alpha` key.
const ALPHA_LEN_MAX: usize = 10;
/// Length of the shared prefix of `Key::Long`.
const LONG_PREFIX_BYTES: usize = 300;

/// How a key is made.
#[derive(Arbitrary, Clone, Debug)]
pub enum Key {
    /// The empty key.
    Empty,
    /// Each byte picks one of four symbols.
    Alpha(Vec<u8>),
    /// The first `cut * 2 % 301` bytes of a fixed 300-byte string, then an
    /// alphabet tail.
    Long {
        /// Where the fixed string is cut (times two).
        cut: u8,
        /// Up to 4 bytes, each picking an alphabet symbol.
        tail: Vec<u8>,
    },
    /// `"f" + byte`: up to 256 siblings under one node.
    Fan(u8),
    /// `"f" + byte + alphabet tail`: a second level under the fan-out.
    FanDeep(u8, Vec<u8>),
    /// Raw bytes (at most 16).
    Raw(Vec<u8>),
    /// The key of the model at this index (modulo the model's size).
    Existing(u16),
}

/// The seqno a read looks at.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum At {
    /// The newest version (`u64::MAX`).
    Latest,
    /// `next_seqno - 1 - back` (saturating).
    Back(u16),
    /// This seqno exactly.
    Exact(u64),
}

/// One bound of a scan.
#[derive(Arbitrary, Clone, Debug)]
pub enum KeyBound {
    /// No bound.
    Unbounded,
    /// The key and beyond.
    Included(Key),
    /// Beyond the key.
    Excluded(Key),
}

/// One operation.
#[derive(Arbitrary, Clone, Debug)]
pub enum ArtOp {
    /// A new version at the next seqno.
    Put {
        /// The key.
        key: Key,
        /// The value (cut to [`VALUE_BYTES_MAX`]).
        value: Vec<u8>,
    },
    /// A tombstone at the next seqno.
    Tombstone {
        /// The key.
        key: Key,
    },
    /// A version at an older seqno (skipped if the key already has it):
    /// the tree keeps versions newest first whatever the insertion order.
    PutOld {
        /// The key.
        key: Key,
        /// The seqno is `next_seqno - 1 - back` (saturating).
        back: u16,
        /// The value (cut to [`VALUE_BYTES_MAX`]); `None`: a tombstone.
        value: Option<Vec<u8>>,
    },
    /// Removes a key and all its versions.
    Remove {
        /// The key.
        key: Key,
    },
    /// Puts `"f" + b` for `count` consecutive bytes `b` from `first`
    /// (wrapping): grows one node through every kind in one op.
    FanPut {
        /// The first byte.
        first: u8,
        /// How many keys.
        count: u8,
    },
    /// Removes `"f" + b` likewise: shrinks it back.
    FanRemove {
        /// The first byte.
        first: u8,
        /// How many keys.
        count: u8,
    },
    /// A point read.
    Get {
        /// The key.
        key: Key,
        /// The seqno read at.
        at: At,
    },
    /// All versions of one key through a pin.
    Entries {
        /// The key.
        key: Key,
    },
    /// A range scan.
    Scan {
        /// The lower bound.
        lo: KeyBound,
        /// The upper bound.
        hi: KeyBound,
        /// Descending key order.
        reverse: bool,
        /// Stop after this many keys (0: no limit).
        limit: u8,
        /// Use `Pinned::scan` instead of `Art::scan`.
        pinned: bool,
    },
}

type Entries = BTreeMap<u64, Option<Vec<u8>>>;

/// The reference: key -> seqno -> value (`None`: tombstone).
#[derive(Default)]
struct Model {
    map: BTreeMap<Vec<u8>, Entries>,
    next_seqno: u64,
}

fn alpha(bytes: &[u8], max: usize) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().take(max).map(|b| ALPHABET[usize::from(b & 3)])
}

fn long_prefix() -> impl Iterator<Item = u8> {
    (0..LONG_PREFIX_BYTES).map(|i| b"0123456789"[i % 10] ^ (i / 10) as u8)
}

impl Model {
    fn key(&self, k: &Key) -> Vec<u8> {
        match k {
            Key::Empty => Vec::new(),
            Key::Alpha(b) => alpha(b, ALPHA_LEN_MAX).collect(),
            Key::Long { cut, tail } => {
                let n = usize::from(*cut) * 2 % (LONG_PREFIX_BYTES + 1);
                long_prefix().take(n).chain(alpha(tail, 4)).collect()
            }
            Key::Fan(b) => vec![b'f', *b],
            Key::FanDeep(b, tail) => [b'f', *b].into_iter().chain(alpha(tail, 3)).collect(),
            Key::Raw(b) => b.iter().take(16).copied().collect(),
            Key::Existing(i) => {
                if self.map.is_empty() {
                    Vec::new()
                } else {
                    let i = usize::from(*i) % self.map.len();
                    self.map.keys().nth(i).cloned().unwrap_or_default()
                }
            }
        }
    }

    fn bound(&self, b: &KeyBound) -> Bound<Vec<u8>> {
        match b {
            KeyBound::Unbounded => Bound::Unbounded,
            KeyBound::Included(k) => Bound::Included(self.key(k)),
            KeyBound::Excluded(k) => Bound::Excluded(self.key(k)),
        }
    }

    fn at(&self, a: At) -> u64 {
        match a {
            At::Latest => u64::MAX,
            At::Back(b) => (self.next_seqno - 1).saturating_sub(u64::from(b)),
            At::Exact(s) => s,
        }
    }

    fn get(&self, key: &[u8], at: u64) -> Option<(u64, Option<Vec<u8>>)> {
        let (s, v) = self.map.get(key)?.range(..=at).next_back()?;
        Some((*s, v.clone()))
    }
}

fn within(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => key >= &l[..],
        Bound::Excluded(l) => key > &l[..],
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => key <= &h[..],
        Bound::Excluded(h) => key < &h[..],
    };
    above && below
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
    }
}

/// A key's versions, newest first, owned.
type Row = (Vec<u8>, Vec<(u64, Option<Vec<u8>>)>);

fn model_row(key: &[u8], vs: &Entries) -> Row {
    (
        key.to_vec(),
        vs.iter().rev().map(|(s, v)| (*s, v.clone())).collect(),
    )
}

/// Decodes the ops of one input.
pub fn decode(data: &[u8]) -> Vec<ArtOp> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < OPS_MAX && !u.is_empty() {
        match ArtOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// Runs one input: panics (a fuzz crash) on any disagreement.
pub fn run(data: &[u8]) -> Summary {
    run_ops(&decode(data))
}

/// What a run reached (for checking that the seeds cover node growth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Most keys present at once.
    pub keys_max: usize,
    /// Most `"f" + byte` siblings present after a `FanPut` (over 48: a
    /// Node256).
    pub fan_max: usize,
    /// Inner nodes at the end.
    pub inner_nodes: usize,
}

/// Runs decoded ops.
pub fn run_ops(ops: &[ArtOp]) -> Summary {
    let mut sum = Summary::default();
    let art = Art::new();
    let mut m = Model {
        next_seqno: 1,
        ..Model::default()
    };
    for (i, op) in ops.iter().enumerate() {
        step(&art, &mut m, op, i);
        sum.keys_max = sum.keys_max.max(m.map.len());
        if !matches!(op, ArtOp::FanPut { .. }) {
            continue;
        }
        let fan = m
            .map
            .range(b"f\x00".to_vec()..=b"f\xff".to_vec())
            .filter(|(k, _)| k.len() == 2)
            .count();
        sum.fan_max = sum.fan_max.max(fan);
    }
    sum.inner_nodes = art.check().inner_nodes;
    // Whole-tree comparison at the end, both directions.
    let all = scan(&art, Bound::Unbounded, Bound::Unbounded, false, 0, false);
    let want: Vec<Row> = m.map.iter().map(|(k, vs)| model_row(k, vs)).collect();
    assert_eq!(all, want, "final forward scan");
    let mut back = scan(&art, Bound::Unbounded, Bound::Unbounded, true, 0, true);
    back.reverse();
    assert_eq!(back, want, "final reverse scan");
    sum
}

fn scan(
    art: &Art,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    reverse: bool,
    limit: usize,
    pinned: bool,
) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    if pinned {
        let pin = art.pin();
        pin.scan(lo, hi, reverse, |k, vs| {
            out.push((
                k.to_vec(),
                vs.map(|v| (v.seqno, v.value.map(<[u8]>::to_vec))).collect(),
            ));
            if limit != 0 && out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    } else {
        art.scan(lo, hi, reverse, &mut |k, vs| {
            out.push((
                k.to_vec(),
                vs.iter()
                    .map(|(s, v)| (*s, v.map(<[u8]>::to_vec)))
                    .collect(),
            ));
            if limit != 0 && out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }
    out
}

fn checked(art: &Art, m: &Model, i: usize, op: &ArtOp) {
    let report = match art.try_check() {
        Ok(r) => r,
        Err(e) => panic!("op {i} {op:?}: ART invariant broken: {e}"),
    };
    assert_eq!(report.keys, m.map.len(), "op {i} {op:?}: check() key count");
    assert_eq!(art.len(), m.map.len(), "op {i} {op:?}: len()");
}

fn step(art: &Art, m: &mut Model, op: &ArtOp, i: usize) {
    match op {
        ArtOp::Put { key, value } => {
            let k = m.key(key);
            let v = &value[..value.len().min(VALUE_BYTES_MAX)];
            let s = m.next_seqno;
            m.next_seqno += 1;
            art.insert(&k, s, Some(v));
            m.map.entry(k).or_default().insert(s, Some(v.to_vec()));
            checked(art, m, i, op);
        }
        ArtOp::Tombstone { key } => {
            let k = m.key(key);
            let s = m.next_seqno;
            m.next_seqno += 1;
            art.insert(&k, s, None);
            m.map.entry(k).or_default().insert(s, None);
            checked(art, m, i, op);
        }
        ArtOp::PutOld { key, back, value } => {
            let k = m.key(key);
            let s = m.next_seqno.saturating_sub(u64::from(*back) + 1);
            let taken = m.map.get(&k).is_some_and(|vs| vs.contains_key(&s));
            if taken {
                return;
            }
            let v = value.as_ref().map(|v| &v[..v.len().min(VALUE_BYTES_MAX)]);
            art.insert(&k, s, v);
            m.map.entry(k).or_default().insert(s, v.map(<[u8]>::to_vec));
            checked(art, m, i, op);
        }
        ArtOp::Remove { key } => {
            let k = m.key(key);
            let had = m.map.remove(&k).is_some();
            assert_eq!(art.remove(&k), had, "op {i} {op:?}: remove result");
            checked(art, m, i, op);
        }
        ArtOp::FanPut { first, count } => {
            for i in 0..*count {
                let k = vec![b'f', first.wrapping_add(i)];
                let s = m.next_seqno;
                m.next_seqno += 1;
                art.insert(&k, s, Some(&k));
                m.map.entry(k.clone()).or_default().insert(s, Some(k));
            }
            checked(art, m, i, op);
        }
        ArtOp::FanRemove { first, count } => {
            for i in 0..*count {
                let k = [b'f', first.wrapping_add(i)];
                let had = m.map.remove(&k[..]).is_some();
                assert_eq!(art.remove(&k), had, "{op:?}: remove {k:?}");
            }
            checked(art, m, i, op);
        }
        ArtOp::Get { key, at } => {
            let k = m.key(key);
            let at = m.at(*at);
            assert_eq!(art.get(&k, at), m.get(&k, at), "op {i} {op:?}: get at {at}");
        }
        ArtOp::Entries { key } => {
            let k = m.key(key);
            let pin = art.pin();
            let got: Option<Vec<(u64, Option<Vec<u8>>)>> = pin
                .entries(&k)
                .map(|vs| vs.map(|v| (v.seqno, v.value.map(<[u8]>::to_vec))).collect());
            let want = m.map.get(&k).map(|vs| model_row(&k, vs).1);
            assert_eq!(got, want, "op {i} {op:?}: versions");
        }
        ArtOp::Scan {
            lo,
            hi,
            reverse,
            limit,
            pinned,
        } => {
            let (lo, hi) = (m.bound(lo), m.bound(hi));
            let limit = usize::from(*limit);
            let got = scan(art, as_ref(&lo), as_ref(&hi), *reverse, limit, *pinned);
            let rows = m.map.iter().filter(|(k, _)| within(k, &lo, &hi));
            let mut want: Vec<Row> = if *reverse {
                rows.rev().map(|(k, vs)| model_row(k, vs)).collect()
            } else {
                rows.map(|(k, vs)| model_row(k, vs)).collect()
            };
            if limit != 0 {
                want.truncate(limit);
            }
            assert_eq!(got, want, "op {i} {op:?}: scan {lo:?} .. {hi:?}");
        }
    }
}

/// Seed inputs for `art_model`: PRNG bytes (any bytes decode to ops), kept
/// when a third of the decoded ops or more are puts and, for the longer
/// ones, a node grew past 48 children. Deterministic.
pub fn seed_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = SplitMix64::new(0x0a47_5eed);
    let mut out = Vec::new();
    for len in [128usize, 512, 2048, 4096] {
        let mut kept = 0;
        while kept < 3 {
            let data = prng_bytes(&mut rng, len);
            let ops = decode(&data);
            let mutations = ops
                .iter()
                .filter(|op| {
                    matches!(
                        op,
                        ArtOp::Put { .. } | ArtOp::Tombstone { .. } | ArtOp::PutOld { .. }
                    )
                })
                .count();
            if mutations < ops.len() / 3 || (len >= 2048 && run_ops(&ops).fan_max <= 48) {
                continue;
            }
            out.push((format!("prng-{len}-{kept}"), data));
            kept += 1;
        }
    }
    out
}
