//! Deep trees: nested keys make one node per level. In its own test binary
//! because its long scans pin the epoch for seconds, which would hold up
//! the reclamation that `basic.rs::drop_frees_everything` waits for.

use std::ops::{Bound, ControlFlow};

use strata_art::Art;

/// Postmortem: `scan` and `check` recursed once per tree level, so nested
/// keys (`a`, `aa`, `aaa`, ...) overflowed the stack; both now walk with an
/// explicit heap stack.
#[test]
fn regression_deep_prefix_chain_does_not_overflow_the_stack() {
    const KEYS: usize = 20_000;
    let key = vec![b'a'; KEYS];
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let art = Art::new();
            for n in 1..=KEYS {
                art.insert(&key[..n], n as u64, Some(b"v"));
            }
            assert_eq!(art.len(), KEYS);
            let report = art.check();
            assert_eq!(report.keys, KEYS);
            // One node per level (every key but the shortest ends in a
            // node's terminal or is the deepest leaf).
            assert!(report.inner_nodes >= KEYS - 1, "{report:?}");
            for reverse in [false, true] {
                let mut lens = Vec::with_capacity(KEYS);
                art.scan(Bound::Unbounded, Bound::Unbounded, reverse, &mut |k, vs| {
                    assert!(k[0] == b'a' && k[k.len() - 1] == b'a');
                    assert_eq!(vs, &[(k.len() as u64, Some(&b"v"[..]))]);
                    lens.push(k.len());
                    ControlFlow::Continue(())
                });
                let mut want: Vec<usize> = (1..=KEYS).collect();
                if reverse {
                    want.reverse();
                }
                assert_eq!(lens, want, "reverse = {reverse}");
            }
            // Bounds deep in the chain, both directions, and an early stop.
            let (lo, hi) = (&key[..12_345], &key[..12_350]);
            for reverse in [false, true] {
                let mut lens = Vec::new();
                art.scan(
                    Bound::Excluded(lo),
                    Bound::Included(hi),
                    reverse,
                    &mut |k, _| {
                        lens.push(k.len());
                        if lens.len() == 3 {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    },
                );
                let want = if reverse {
                    vec![12_350, 12_349, 12_348]
                } else {
                    vec![12_346, 12_347, 12_348]
                };
                assert_eq!(lens, want, "reverse = {reverse}");
            }
            // Pinned::scan takes the same path.
            let pinned = art.pin();
            let mut count = 0;
            pinned.scan(Bound::Unbounded, Bound::Unbounded, true, |k, _| {
                count += 1;
                assert_eq!(k.len(), KEYS + 1 - count);
                ControlFlow::Continue(())
            });
            assert_eq!(count, KEYS);
            drop(pinned);
            drop(art);
        })
        .unwrap()
        .join()
        .unwrap();
}
