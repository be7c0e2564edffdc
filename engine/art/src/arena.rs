//! Memory for leaves: whole 64-byte lines cut from large chunks, the
//! largest of them advised as transparent huge pages.
//!
//! Why: a lookup hit ends at a leaf, and in a tree of a million keys that
//! leaf is a cache miss and, with 4 KiB pages, a TLB miss too. From the
//! global allocator a 64-byte-aligned leaf also costs about twice its size
//! (the allocator pads aligned blocks), which spreads leaves and the inner
//! nodes between them over twice the pages. Leaves cut from chunks sit
//! side by side, and on huge pages one TLB entry covers 32,768 of them
//! (figures in DESIGN.md, "Leaf arena").
//!
//! Leaves of up to [`ARENA_LINES_MAX`] lines come from here; a freed leaf's
//! lines go to a free list of their size and are handed out again (a leaf
//! is freed only once no reader can hold it: after its epoch, or by the
//! tree's owner). Larger leaves (keys over 200 bytes) use the global
//! allocator. Chunks are returned when the arena drops: the tree holds it,
//! and so does every deferred free that may outlive the tree.
//!
//! Under cargo-fuzz the arena hands every leaf to the global allocator (see
//! `arena_lines`), so AddressSanitizer keeps seeing each leaf.
//!
//! One mutex guards the arena: it is held for a few instructions per leaf,
//! against the hundreds of nanoseconds an insert costs. Under loom it is
//! not modelled (no atomics of the tree's protocol live here).

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Bytes in a line, the arena's unit.
const LINE: usize = 64;
/// Leaves of up to this many lines come from the arena.
pub(crate) const ARENA_LINES_MAX: usize = 4;
/// The first chunk's size; each next chunk doubles, up to [`HUGE_CHUNK`].
/// Small first chunks keep a small tree small.
const FIRST_CHUNK: usize = 16 << 10;
/// The largest chunk: one transparent huge page on x86-64 Linux.
const HUGE_CHUNK: usize = 2 << 20;

/// Bytes of chunks mapped directly (not through the global allocator) and
/// not yet unmapped, over every arena in the process.
static MAPPED_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// See [`crate::mapped_bytes`].
pub(crate) fn mapped_bytes() -> usize {
    MAPPED_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Where leaves come from (see the module documentation).
pub(crate) struct LeafArena {
    slabs: Mutex<Slabs>,
}

struct Slabs {
    /// The chunk being cut, and how many of its bytes are handed out.
    current: Option<NonNull<u8>>,
    current_len: usize,
    used: usize,
    /// Freed leaves by size: `free[n - 1]` holds blocks of `n` lines.
    free: [Vec<NonNull<u8>>; ARENA_LINES_MAX],
    /// Every chunk, to return them on drop.
    chunks: Vec<(NonNull<u8>, Layout)>,
}

// SAFETY: the pointers are owned memory, touched only under the mutex (the
// blocks handed out are owned by their leaves).
unsafe impl Send for Slabs {}

impl Default for LeafArena {
    fn default() -> Self {
        LeafArena {
            slabs: Mutex::new(Slabs {
                current: None,
                current_len: 0,
                used: 0,
                free: Default::default(),
                chunks: Vec::new(),
            }),
        }
    }
}

/// How many lines a block of `layout` takes from the arena, or `None` if it
/// comes from the global allocator. Under cargo-fuzz (`cfg(fuzzing)`) every
/// leaf comes from the global allocator, so that AddressSanitizer, which
/// sees allocations and not the arena's lines, still catches a leaf used
/// after it was freed.
fn arena_lines(layout: Layout) -> Option<usize> {
    if cfg!(fuzzing) {
        return None;
    }
    let lines = layout.size().div_ceil(LINE);
    (layout.align() <= LINE && (1..=ARENA_LINES_MAX).contains(&lines)).then_some(lines)
}

impl LeafArena {
    /// A block for `layout` (non-zero size). Freed with [`LeafArena::dealloc`]
    /// and the same layout.
    pub(crate) fn alloc(&self, layout: Layout) -> NonNull<u8> {
        let Some(lines) = arena_lines(layout) else {
            // SAFETY: the layout's size is not zero (caller's contract).
            let p = unsafe { std::alloc::alloc(layout) };
            return NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        };
        let mut s = self.slabs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = s.free[lines - 1].pop() {
            return p;
        }
        let bytes = lines * LINE;
        if s.current.is_none() || s.used + bytes > s.current_len {
            s.new_chunk();
        }
        let base = s.current.expect("a chunk was just made");
        // SAFETY: `used + bytes <= current_len`: the block is inside the chunk.
        let p = unsafe { base.add(s.used) };
        s.used += bytes;
        p
    }

    /// Returns a block from [`LeafArena::alloc`].
    ///
    /// # Safety
    /// `p` came from `self.alloc(layout)`, is not used after this call, and
    /// is returned once.
    pub(crate) unsafe fn dealloc(&self, p: NonNull<u8>, layout: Layout) {
        let Some(lines) = arena_lines(layout) else {
            // SAFETY: allocated by the global allocator with this layout.
            unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
            return;
        };
        let mut s = self.slabs.lock().unwrap_or_else(|p| p.into_inner());
        s.free[lines - 1].push(p);
    }

    /// Bytes of chunks held (handed out or not), for tests.
    #[cfg(test)]
    fn reserved(&self) -> usize {
        let s = self.slabs.lock().unwrap_or_else(|p| p.into_inner());
        s.chunks.iter().map(|(_, l)| l.size()).sum()
    }
}

/// The size of chunk number `n` (from 0): doubling from [`FIRST_CHUNK`]
/// to [`HUGE_CHUNK`], then staying there.
fn chunk_size(n: usize) -> usize {
    let doublings = (HUGE_CHUNK / FIRST_CHUNK).trailing_zeros() as usize;
    FIRST_CHUNK << n.min(doublings)
}

/// Whether chunks of `layout` are mapped fresh from the kernel and advised
/// as huge pages (else they come from the global allocator).
#[cfg(all(target_os = "linux", not(loom)))]
fn mapped(layout: Layout) -> bool {
    layout.size() == HUGE_CHUNK
}

/// A chunk of `layout`. A huge one is mapped fresh: memory the global
/// allocator hands back is often already faulted in as small pages (left by
/// an earlier, freed structure), and the kernel gives a huge page only to a
/// range first touched after the advice.
fn alloc_chunk(layout: Layout) -> NonNull<u8> {
    #[cfg(all(target_os = "linux", not(loom)))]
    if mapped(layout) {
        // Map one huge page more than needed, keep the aligned part.
        let len = 2 * HUGE_CHUNK;
        // SAFETY: an anonymous private mapping at an address the kernel
        // picks; no existing memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        let (aligned, outside) = aligned_chunk(raw as usize, len);
        // SAFETY: the ranges lie in the mapping just made and outside the
        // kept chunk (`aligned_chunk`'s contract). The advice is a hint: if
        // the kernel declines, the chunk is ordinary pages, so its result
        // is not checked.
        unsafe {
            for (at, n) in outside.into_iter().flatten() {
                libc::munmap(at as *mut libc::c_void, n);
            }
            libc::madvise(
                aligned as *mut libc::c_void,
                HUGE_CHUNK,
                libc::MADV_HUGEPAGE,
            );
        }
        MAPPED_BYTES.fetch_add(HUGE_CHUNK, std::sync::atomic::Ordering::Relaxed);
        return NonNull::new(aligned as *mut u8).expect("a mapping is never at 0");
    }
    // SAFETY: the size is not zero.
    let p = unsafe { std::alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Where the 2 MiB-aligned chunk lies in a mapping of `len` bytes (at least
/// two chunks) at `start`, and the one or two non-empty ranges `(address,
/// bytes)` around it, which together with it make up the mapping exactly.
#[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
fn aligned_chunk(start: usize, len: usize) -> (usize, [Option<(usize, usize)>; 2]) {
    let aligned = start.next_multiple_of(HUGE_CHUNK);
    let head = aligned - start;
    let tail = start + len - (aligned + HUGE_CHUNK);
    let range = |at: usize, n: usize| (n > 0).then_some((at, n));
    (
        aligned,
        [range(start, head), range(aligned + HUGE_CHUNK, tail)],
    )
}

/// Returns a chunk from [`alloc_chunk`].
///
/// # Safety
/// `p` came from `alloc_chunk(layout)` and nothing uses it any more.
unsafe fn free_chunk(p: NonNull<u8>, layout: Layout) {
    #[cfg(all(target_os = "linux", not(loom)))]
    if mapped(layout) {
        // SAFETY: the caller's contract: this is a whole mapping of ours.
        unsafe { libc::munmap(p.as_ptr().cast(), HUGE_CHUNK) };
        MAPPED_BYTES.fetch_sub(HUGE_CHUNK, std::sync::atomic::Ordering::Relaxed);
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
}

impl Slabs {
    /// Starts a new chunk; the old one's unused tail (under 4 lines) is
    /// left unused.
    fn new_chunk(&mut self) {
        let size = chunk_size(self.chunks.len());
        // Aligned to its size, so a 2 MiB chunk can be one huge page.
        let layout = Layout::from_size_align(size, size).expect("a power of two");
        let p = alloc_chunk(layout);
        self.chunks.push((p, layout));
        self.current = Some(p);
        self.current_len = size;
        self.used = 0;
    }
}

impl Drop for LeafArena {
    fn drop(&mut self) {
        let s = self.slabs.get_mut().unwrap_or_else(|p| p.into_inner());
        for (p, layout) in s.chunks.drain(..) {
            // SAFETY: allocated in `new_chunk` with this layout; every block
            // in it belonged to a leaf, and the arena drops only after the
            // tree and every deferred free that could touch a leaf.
            unsafe { free_chunk(p, layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Layout {
        Layout::from_size_align(n * LINE - 3, LINE).unwrap()
    }

    #[test]
    fn blocks_are_distinct_aligned_and_reused_by_size() {
        let arena = LeafArena::default();
        let mut blocks = Vec::new();
        for i in 0..2000 {
            let n = i % ARENA_LINES_MAX + 1;
            let p = arena.alloc(lines(n));
            assert_eq!(p.as_ptr() as usize % LINE, 0);
            // SAFETY: a fresh block of n lines.
            unsafe { p.as_ptr().write_bytes(i as u8, n * LINE) };
            blocks.push((p, n, i as u8));
        }
        // No block overlaps another: each still holds its own byte.
        for &(p, n, b) in &blocks {
            // SAFETY: live blocks of n lines.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), n * LINE) };
            assert!(bytes.iter().all(|&x| x == b));
        }
        // A freed block is handed out again, for its own size only.
        let (p, n, _) = blocks[5];
        // SAFETY: from this arena with this layout, freed once.
        unsafe { arena.dealloc(p, lines(n)) };
        let other = arena.alloc(lines(n % ARENA_LINES_MAX + 1));
        assert_ne!(other, p);
        assert_eq!(arena.alloc(lines(n)), p);
    }

    /// Regression: the size was `FIRST_CHUNK.checked_shl(n)`, which only
    /// checks the shift amount; from chunk 50 on it shifted the bits out,
    /// gave 0 and panicked on loading a million 64-byte keys.
    #[test]
    fn regression_chunk_sizes_stay_powers_of_two_up_to_a_huge_page() {
        let sizes: Vec<usize> = (0..1000).map(chunk_size).collect();
        assert_eq!(sizes[0], FIRST_CHUNK);
        assert_eq!(sizes[1], 2 * FIRST_CHUNK);
        assert!(sizes
            .iter()
            .all(|s| s.is_power_of_two() && *s <= HUGE_CHUNK));
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(sizes[999], HUGE_CHUNK);
    }

    #[test]
    fn the_kept_chunk_and_the_trimmed_ranges_tile_the_mapping() {
        let len = 2 * HUGE_CHUNK;
        for start in [
            0x7f00_0000_0000usize,
            0x7f00_0000_1000,
            0x7f00_0000_0000 + HUGE_CHUNK / 2,
            0x7f00_0000_0000 + HUGE_CHUNK - 0x1000,
        ] {
            let (aligned, outside) = aligned_chunk(start, len);
            assert_eq!(aligned % HUGE_CHUNK, 0);
            let mut pieces: Vec<(usize, usize)> = outside.into_iter().flatten().collect();
            assert!(pieces.iter().all(|&(_, n)| n > 0), "{start:#x}: {pieces:?}");
            pieces.push((aligned, HUGE_CHUNK));
            pieces.sort();
            let mut at = start;
            for (p, n) in pieces {
                assert_eq!(p, at, "{start:#x}: a gap or an overlap");
                at = p + n;
            }
            assert_eq!(at, start + len, "{start:#x}: the pieces miss the end");
        }
    }

    #[test]
    fn a_chunk_is_cut_to_its_last_line_before_the_next_is_made() {
        let arena = LeafArena::default();
        for _ in 0..FIRST_CHUNK / LINE {
            arena.alloc(lines(1));
        }
        assert_eq!(arena.reserved(), FIRST_CHUNK);
        arena.alloc(lines(1));
        assert_eq!(arena.reserved(), FIRST_CHUNK + chunk_size(1));
        // A small chunk is not a mapping of its own with the huge-page advice.
        #[cfg(target_os = "linux")]
        {
            let first = arena.slabs.lock().unwrap().chunks[0].0.as_ptr() as usize;
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            assert!(!advised_huge(&smaps, first));
        }
    }

    #[test]
    fn chunks_grow_to_huge_pages_and_big_blocks_go_elsewhere() {
        let arena = LeafArena::default();
        // 8 MiB of one-line blocks: chunks of 16 KiB, 32 KiB, ... 2 MiB;
        // each block written at both ends (a chunk mapped without write
        // access, or cut short, faults here).
        for i in 0..(8 << 20) / LINE {
            let p = arena.alloc(lines(1));
            // SAFETY: a fresh one-line block.
            unsafe {
                p.as_ptr().write(i as u8);
                p.as_ptr().add(LINE - 1).write(i as u8);
            }
        }
        let reserved = arena.reserved();
        assert!(
            (8 << 20..(8 << 20) + 2 * HUGE_CHUNK).contains(&reserved),
            "{reserved}"
        );
        #[cfg(target_os = "linux")]
        {
            // Every 2 MiB chunk is advised as huge pages: its mapping is
            // flagged `hg` (whether the kernel then finds a huge page is
            // its business; the flag is ours).
            let s = arena.slabs.lock().unwrap();
            let huge: Vec<usize> = s
                .chunks
                .iter()
                .filter(|(_, l)| l.size() == HUGE_CHUNK)
                .map(|(p, _)| p.as_ptr() as usize)
                .collect();
            assert!(huge.len() >= 2, "{} chunks", s.chunks.len());
            // Counted for memory measurements (other tests' arenas can only
            // add to the process-wide figure).
            assert!(mapped_bytes() >= huge.len() * HUGE_CHUNK);
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            for addr in huge {
                assert!(advised_huge(&smaps, addr), "chunk at {addr:#x} not advised");
            }
        }
        // Five lines and more: the global allocator, not the arena.
        let big = Layout::from_size_align(5 * LINE, LINE).unwrap();
        let p = arena.alloc(big);
        assert_eq!(arena.reserved(), reserved);
        // SAFETY: just allocated with `big`.
        unsafe { arena.dealloc(p, big) };
    }

    /// Whether the mapping holding `addr` in `/proc/self/smaps` text carries
    /// the `hg` (MADV_HUGEPAGE) flag.
    #[cfg(target_os = "linux")]
    fn advised_huge(smaps: &str, addr: usize) -> bool {
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.split_whitespace().any(|f| f == "hg");
                }
            }
        }
        false
    }
}
