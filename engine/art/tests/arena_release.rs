//! A tree returns its leaf chunks: after it drops and the epoch has run its
//! deferred frees, the memory mapped for leaves is back where it started.
//!
//! Alone in its binary: the figure is process-wide, and another test's tree
//! alive at the same time would move it.

#[cfg(target_os = "linux")]
#[test]
fn a_dropped_tree_unmaps_its_leaf_chunks() {
    use strata_art::Art;

    let before = strata_art::mapped_bytes();
    let art = Art::new();
    for i in 0..200_000u32 {
        art.insert(&i.to_be_bytes(), 1, Some(b"v"));
    }
    // Removed leaves are retired through the epoch and hold the arena.
    for i in 0..1000u32 {
        assert!(art.remove(&i.to_be_bytes()));
    }
    assert!(strata_art::mapped_bytes() >= before + 4 * (2 << 20));
    drop(art);
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
    assert_eq!(strata_art::mapped_bytes(), before);
}
