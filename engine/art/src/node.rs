//! Node layouts and node-level operations.
//!
//! Invariants this file relies on and keeps:
//! - A node's `kind` and `prefix` never change after it is published. A
//!   change of either means building a new node and swapping the parent's
//!   pointer (see `tree.rs`).
//! - Child slots of a published node change only under its write lock, and
//!   only in ways a lock-free reader can see in any order: a slot is filled
//!   (key byte written before the child, the child before the slot count), a
//!   child pointer is swapped for an equivalent subtree, or a child is set to
//!   null. A slot is never given to a different key byte while the node
//!   lives, so a reader that found byte `b` at slot `i` reads, at worst, a
//!   null or an older/newer child for `b`, never another byte's child.
//! - Every pointer to a node or leaf lives in exactly one slot (or terminal,
//!   or the tree root) of a non-obsolete node; freed memory is reclaimed only
//!   through crossbeam-epoch after it was unlinked.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::arena::LeafArena;
use crate::sync::{AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, Ordering, WriteLock};

/// Node kinds, by capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Kind {
    N4 = 0,
    N16 = 1,
    N48 = 2,
    N256 = 3,
}

impl Kind {
    pub(crate) fn capacity(self) -> usize {
        match self {
            Kind::N4 => 4,
            Kind::N16 => 16,
            Kind::N48 => 48,
            Kind::N256 => 256,
        }
    }

    /// The smallest kind that holds `n` children.
    pub(crate) fn for_children(n: usize) -> Kind {
        match n {
            0..=4 => Kind::N4,
            5..=16 => Kind::N16,
            17..=48 => Kind::N48,
            _ => Kind::N256,
        }
    }

    /// Fewest live children a node of this kind keeps; one fewer and it is
    /// replaced by the next smaller kind (hysteresis against flapping).
    pub(crate) fn children_min(self) -> usize {
        match self {
            Kind::N4 => 0,
            Kind::N16 => 4,
            Kind::N48 => 13,
            Kind::N256 => 38,
        }
    }

    /// The kind a node shrinks to when it falls below `children_min`.
    pub(crate) fn smaller(self) -> Kind {
        match self {
            Kind::N4 | Kind::N16 => Kind::N4,
            Kind::N48 => Kind::N16,
            Kind::N256 => Kind::N48,
        }
    }
}

/// Values up to this many bytes live inside their [`Entry`] (and so,
/// for a key's first version, in the leaf's cache line).
pub(crate) const INLINE_VALUE_BYTES: usize = 14;

/// A version's value: a tombstone, a short value stored inline, or a
/// longer one on the heap. 16 bytes, like the `Option<Box<[u8]>>` it
/// replaced, so the leaf stays one cache line; a lookup of a short value
/// then reads no memory beyond the leaf (measured: the separate value
/// allocation was a cache miss on every lookup hit).
pub(crate) enum Value {
    Tombstone,
    Inline {
        len: u8,
        bytes: [u8; INLINE_VALUE_BYTES],
    },
    /// A `Box<[u8]>` taken apart (thin pointer plus a 32-bit length) so
    /// that the enum fits in 16 bytes. Owned; freed in `Drop`.
    Heap {
        len: u32,
        ptr: NonNull<u8>,
    },
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);

// SAFETY: `Heap` owns its bytes exactly as a `Box<[u8]>` would and exposes
// them only as `&[u8]`; a `Box<[u8]>` is `Send` and `Sync`.
unsafe impl Send for Value {}
// SAFETY: as above.
unsafe impl Sync for Value {}

impl Value {
    pub(crate) fn new(value: Option<&[u8]>) -> Value {
        match value {
            None => Value::Tombstone,
            Some(v) if v.len() <= INLINE_VALUE_BYTES => {
                let mut bytes = [0; INLINE_VALUE_BYTES];
                bytes[..v.len()].copy_from_slice(v);
                Value::Inline {
                    len: v.len() as u8,
                    bytes,
                }
            }
            Some(v) => {
                let len = u32::try_from(v.len()).expect("a memtable value is below 4 GiB");
                let boxed: Box<[u8]> = v.into();
                let ptr = Box::into_raw(boxed).cast::<u8>();
                Value::Heap {
                    len,
                    // SAFETY: `Box::into_raw` never returns null.
                    ptr: unsafe { NonNull::new_unchecked(ptr) },
                }
            }
        }
    }

    /// The value's bytes; `None` for a tombstone.
    #[inline]
    pub(crate) fn get(&self) -> Option<&[u8]> {
        match self {
            Value::Tombstone => None,
            Value::Inline { len, bytes } => Some(&bytes[..*len as usize]),
            Value::Heap { len, ptr } => {
                // SAFETY: `ptr` and `len` came from a live `Box<[u8]>` owned
                // by `self`, freed only when `self` is dropped.
                Some(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len as usize) })
            }
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if let Value::Heap { len, ptr } = *self {
            let raw = std::ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len as usize);
            // SAFETY: `raw` is the `Box<[u8]>` taken apart in `Value::new`,
            // owned by `self` and dropped exactly once here.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}

/// One version of a key.
pub(crate) struct Entry {
    pub(crate) seqno: u64,
    pub(crate) value: Value,
    /// The next older version; written before this version is linked, never
    /// changed after except to link a version inserted right after this one.
    pub(crate) next: AtomicPtr<Entry>,
}

const _: () = assert!(std::mem::size_of::<Leaf>() == 64 || cfg!(loom));

/// Keys up to this many bytes live inside the leaf's first cache line.
pub(crate) const INLINE_KEY_BYTES: usize = 22;

/// A leaf's key: inline when short, else stored right after the leaf in the
/// leaf's own allocation (see [`LeafBox::new`]), so that a lookup can fetch
/// the key's lines together with the leaf's instead of after it.
pub(crate) enum LeafKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_BYTES],
    },
    /// `len` bytes at `ptr`, which points just past the `Leaf` in the
    /// allocation that holds it (and was derived from that allocation's
    /// pointer, so it may read those bytes). Freed with the leaf.
    Trailing { len: u32, ptr: NonNull<u8> },
}

// SAFETY: `Trailing` points at immutable bytes owned by the same allocation
// as the key itself and exposes them only as `&[u8]`.
unsafe impl Send for LeafKey {}
// SAFETY: as above.
unsafe impl Sync for LeafKey {}

impl LeafKey {
    /// Bytes the leaf's allocation holds beyond the `Leaf` itself.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            LeafKey::Inline { .. } => 0,
            LeafKey::Trailing { len, .. } => *len as usize,
        }
    }
}

impl std::ops::Deref for LeafKey {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            LeafKey::Inline { len, bytes } => &bytes[..*len as usize],
            // SAFETY: `ptr` and `len` describe the key bytes written by
            // `LeafBox::new` into the leaf's allocation, which lives as long
            // as the leaf and is never written again.
            LeafKey::Trailing { len, ptr } => unsafe {
                std::slice::from_raw_parts(ptr.as_ptr(), *len as usize)
            },
        }
    }
}

impl std::fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A key with its versions, newest first. The version the leaf was created
/// with lives inside it (`first`), so a key with one version is one
/// allocation; other versions are linked before or after it by seqno.
/// Exactly one cache line (64 bytes, aligned): a scan touches one line per
/// single-version key with a short key. A key longer than
/// [`INLINE_KEY_BYTES`] follows in the same allocation, on the next lines.
#[repr(align(64))]
pub(crate) struct Leaf {
    pub(crate) head: AtomicPtr<Entry>,
    pub(crate) key: LeafKey,
    first: Entry,
}

/// Where a long key's bytes start, from the leaf's address.
pub(crate) const LEAF_KEY_OFFSET: usize = std::mem::size_of::<Leaf>();

/// An unpublished leaf, owned. Published with [`LeafBox::into_raw`]; a
/// published leaf is freed by [`free_leaf`] with the same arena.
pub(crate) struct LeafBox<'a> {
    leaf: NonNull<Leaf>,
    arena: &'a LeafArena,
}

impl Leaf {
    /// The allocation of a leaf for a key of `key_len` bytes.
    fn layout(key_len: usize) -> Layout {
        let trailing = if key_len > INLINE_KEY_BYTES {
            key_len
        } else {
            0
        };
        Layout::from_size_align(LEAF_KEY_OFFSET + trailing, std::mem::align_of::<Leaf>())
            .expect("a key below the address space's size")
    }

    /// The inline version, which is freed with the leaf, not on its own.
    pub(crate) fn first_ptr(&self) -> *mut Entry {
        &self.first as *const Entry as *mut Entry
    }
}

impl<'a> LeafBox<'a> {
    /// A leaf for `key` holding its first version.
    ///
    /// # Panics
    /// If the key is 4 GiB or longer.
    pub(crate) fn new(arena: &'a LeafArena, key: &[u8], seqno: u64, value: Value) -> LeafBox<'a> {
        let layout = Leaf::layout(key.len());
        let base = arena.alloc(layout);
        let leaf_key = if key.len() <= INLINE_KEY_BYTES {
            let mut bytes = [0; INLINE_KEY_BYTES];
            bytes[..key.len()].copy_from_slice(key);
            LeafKey::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            let len = u32::try_from(key.len()).expect("a memtable key is below 4 GiB");
            // SAFETY: the allocation is `LEAF_KEY_OFFSET + key.len()` bytes.
            let ptr = unsafe { base.add(LEAF_KEY_OFFSET) };
            // SAFETY: `ptr` has room for `key.len()` bytes (above), and a
            // fresh allocation does not overlap `key`.
            unsafe { std::ptr::copy_nonoverlapping(key.as_ptr(), ptr.as_ptr(), key.len()) };
            LeafKey::Trailing { len, ptr }
        };
        let leaf = base.cast::<Leaf>();
        // SAFETY: `leaf` is allocated for a `Leaf` (size and alignment) and
        // not yet initialised.
        unsafe {
            leaf.as_ptr().write(Leaf {
                head: AtomicPtr::new(std::ptr::null_mut()),
                key: leaf_key,
                first: Entry {
                    seqno,
                    value,
                    next: AtomicPtr::new(std::ptr::null_mut()),
                },
            });
        }
        let owned = LeafBox { leaf, arena };
        owned.head.store(owned.first_ptr(), Ordering::Relaxed);
        owned
    }

    /// The leaf's address (it stays owned here until `into_raw`).
    pub(crate) fn as_ptr(&self) -> *mut Leaf {
        self.leaf.as_ptr()
    }

    /// Gives up ownership to the tree.
    pub(crate) fn into_raw(self) -> *mut Leaf {
        let p = self.leaf.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Takes the creation version back out of a leaf that was never published.
    pub(crate) fn into_first(self) -> (u64, Value) {
        let arena = self.arena;
        let p = self.into_raw();
        // SAFETY: we own the unpublished leaf; its only version is `first`
        // (nothing links to a leaf nobody has seen). The value is moved out
        // once; the rest of the leaf has no destructor, and the memory is
        // released with the layout it was allocated with.
        unsafe {
            debug_assert!((*p).first.next.load(Ordering::Relaxed).is_null());
            let seqno = (*p).first.seqno;
            let value = std::ptr::read(&(*p).first.value);
            let key: &LeafKey = &(*p).key;
            let layout = Leaf::layout(key.len());
            arena.dealloc(NonNull::new_unchecked(p).cast::<u8>(), layout);
            (seqno, value)
        }
    }
}

impl std::ops::Deref for LeafBox<'_> {
    type Target = Leaf;

    fn deref(&self) -> &Leaf {
        // SAFETY: owned and initialised since `LeafBox::new`.
        unsafe { self.leaf.as_ref() }
    }
}

impl Drop for LeafBox<'_> {
    fn drop(&mut self) {
        // SAFETY: never published, so no other thread can see it; allocated
        // from `self.arena`.
        unsafe { free_leaf(self.leaf.as_ptr(), self.arena) }
    }
}

/// A child pointer: null, a leaf (low bit set) or an inner node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Ptr(*mut ());

const LEAF_TAG: usize = 1;

impl Ptr {
    pub(crate) const NULL: Ptr = Ptr(std::ptr::null_mut());

    pub(crate) fn from_leaf(leaf: *mut Leaf) -> Ptr {
        debug_assert!(leaf.addr() & LEAF_TAG == 0);
        Ptr(leaf.cast::<()>().map_addr(|a| a | LEAF_TAG))
    }

    pub(crate) fn from_inner(node: *mut Header) -> Ptr {
        Ptr(node.cast())
    }

    pub(crate) fn raw(self) -> *mut () {
        self.0
    }

    pub(crate) fn is_null(self) -> bool {
        self.0.is_null()
    }

    pub(crate) fn is_leaf(self) -> bool {
        self.0.addr() & LEAF_TAG != 0
    }

    pub(crate) fn leaf(self) -> *mut Leaf {
        debug_assert!(self.is_leaf());
        self.0.map_addr(|a| a & !LEAF_TAG).cast()
    }

    pub(crate) fn inner(self) -> *mut Header {
        debug_assert!(!self.is_leaf() && !self.is_null());
        self.0.cast()
    }
}

/// The part every inner node starts with.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) lock: WriteLock,
    /// Set, under the lock, when the node was replaced or unlinked; a writer
    /// that locks an obsolete node restarts.
    pub(crate) obsolete: AtomicBool,
    /// Number of non-null child slots; written only under the lock.
    pub(crate) live: AtomicU16,
    /// The full compressed path below the parent's byte; never changes.
    pub(crate) prefix: Box<[u8]>,
    /// The leaf of the key that ends exactly after `prefix`.
    pub(crate) terminal: AtomicPtr<Leaf>,
}

/// Node4 and Node16: unsorted, append-only key bytes, with their sorted
/// order cached in `order`.
#[repr(C)]
pub(crate) struct Small<const N: usize> {
    h: Header,
    /// Slots in use (filled at least once); never decreases.
    count: AtomicU8,
    keys: [AtomicU8; N],
    /// The used slots in ascending key-byte order, one slot index per
    /// nibble, lowest nibble first (16 nibbles: enough for Node16). Written
    /// under the lock before `count` publishes a new slot, so a reader that
    /// loaded `count == n` reads this order for `n` slots or a newer one,
    /// and a newer one restricted to slots `< n` is the order for `n` (a
    /// slot keeps its byte while the node lives). Scans read it instead of
    /// sorting the keys on every visit.
    order: AtomicU64,
    children: [AtomicPtr<()>; N],
}

/// Nibble `i` of an order word.
#[inline]
fn nibble(word: u64, i: usize) -> usize {
    ((word >> (4 * i)) & 0xF) as usize
}

/// Node48: a 256-entry index of slot+1 (0 = absent) into 48 child slots,
/// which are handed out in order and never reused by another byte.
#[repr(C)]
pub(crate) struct Node48 {
    h: Header,
    count: AtomicU8,
    index: [AtomicU8; 256],
    children: [AtomicPtr<()>; 48],
}

#[repr(C)]
pub(crate) struct Node256 {
    h: Header,
    children: [AtomicPtr<()>; 256],
}

/// A scan's position among one node's children (see [`Header::open`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cursor {
    /// No children to visit (any kind of node).
    Empty,
    /// Node4/16: the slots still to visit, in visiting order, one slot
    /// index per nibble, next one lowest.
    Small { slots: u64, left: u8 },
    /// Node48/256: the next byte to look at, how many bytes are left, and
    /// the child already read one step ahead (and prefetched), if any.
    Big {
        next: u8,
        left: u16,
        reverse: bool,
        peeked: Option<(u8, Ptr)>,
    },
}

/// Hints the CPU to load the target of `p` into cache.
#[inline]
fn prefetch(p: Ptr) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    {
        let addr = p
            .raw()
            .map_addr(|a| a & !LEAF_TAG)
            .cast::<i8>()
            .cast_const();
        // SAFETY: a prefetch is only a hint: it never faults and has no
        // effect on program state, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch(addr, std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}

/// Prefetches the cache lines after the first of an inner node (a Node4/16
/// keeps its key bytes in the first line and its children in the next two).
#[inline]
pub(crate) fn prefetch_inner_rest(p: Ptr) {
    prefetch(Ptr(p.raw().wrapping_byte_add(64)));
    prefetch(Ptr(p.raw().wrapping_byte_add(128)));
}

/// Prefetches, before its header is read, the lines a lookup for byte `b`
/// will read in inner node `p` if its prefix is empty (the common case
/// below the top levels of a tree of random keys), whatever its kind: a
/// Node16's children (a Node4's are in its first lines anyway), a Node48's
/// index entry for `b`, a Node256's slot for `b`. The header's line is
/// loaded by the lookup itself; these misses overlap it instead of
/// following it. Wrong guesses cost only memory bandwidth.
#[inline]
pub(crate) fn prefetch_for_lookup(p: Ptr, b: u8) {
    let small = std::mem::offset_of!(Small<16>, children);
    prefetch(Ptr(p.raw().wrapping_byte_add(small)));
    prefetch(Ptr(p.raw().wrapping_byte_add(small + 64)));
    let i48 = std::mem::offset_of!(Node48, index) + b as usize;
    prefetch(Ptr(p.raw().wrapping_byte_add(i48)));
    let c256 = std::mem::offset_of!(Node256, children) + 8 * b as usize;
    prefetch(Ptr(p.raw().wrapping_byte_add(c256)));
}

/// Prefetches the lines after leaf `p` that hold its key if the key is
/// `key_len` bytes long (only keys over [`INLINE_KEY_BYTES`] live there), up
/// to four lines: enough to compare all of a key of up to 256 bytes without
/// a miss that waits for the leaf's own line.
#[inline]
pub(crate) fn prefetch_leaf_key(p: Ptr, key_len: usize) {
    if key_len > INLINE_KEY_BYTES {
        let lines = key_len.div_ceil(64).min(4);
        for line in 0..lines {
            prefetch(Ptr(p.raw().wrapping_byte_add(LEAF_KEY_OFFSET + 64 * line)));
        }
    }
}

fn null_slots<const N: usize>() -> [AtomicPtr<()>; N] {
    std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut()))
}

fn zero_bytes<const N: usize>() -> [AtomicU8; N] {
    std::array::from_fn(|_| AtomicU8::new(0))
}

/// Allocates a node of `kind` holding `children` (sorted or not, distinct
/// bytes, all non-null) and the terminal leaf. Not yet published.
pub(crate) fn build(
    kind: Kind,
    prefix: Box<[u8]>,
    terminal: *mut Leaf,
    children: &[(u8, Ptr)],
) -> *mut Header {
    assert!(children.len() <= kind.capacity());
    let h = Header {
        kind,
        lock: WriteLock::new(),
        obsolete: AtomicBool::new(false),
        live: AtomicU16::new(children.len() as u16),
        prefix,
        terminal: AtomicPtr::new(terminal),
    };
    match kind {
        Kind::N4 => build_small::<4>(h, children),
        Kind::N16 => build_small::<16>(h, children),
        Kind::N48 => {
            let n = Box::new(Node48 {
                h,
                count: AtomicU8::new(children.len() as u8),
                index: zero_bytes(),
                children: null_slots(),
            });
            for (i, (b, c)) in children.iter().enumerate() {
                n.index[*b as usize].store(i as u8 + 1, Ordering::Relaxed);
                n.children[i].store(c.raw(), Ordering::Relaxed);
            }
            Box::into_raw(n).cast()
        }
        Kind::N256 => {
            let n = Box::new(Node256 {
                h,
                children: null_slots(),
            });
            for (b, c) in children {
                n.children[*b as usize].store(c.raw(), Ordering::Relaxed);
            }
            Box::into_raw(n).cast()
        }
    }
}

fn build_small<const N: usize>(h: Header, children: &[(u8, Ptr)]) -> *mut Header {
    const { assert!(N <= 16, "one nibble per slot index") };
    let mut sorted: Vec<usize> = (0..children.len()).collect();
    sorted.sort_unstable_by_key(|&i| children[i].0);
    let order = sorted
        .iter()
        .enumerate()
        .fold(0u64, |w, (pos, &slot)| w | (slot as u64) << (4 * pos));
    let n = Box::new(Small::<N> {
        h,
        count: AtomicU8::new(children.len() as u8),
        keys: zero_bytes(),
        order: AtomicU64::new(order),
        children: null_slots(),
    });
    for (i, (b, c)) in children.iter().enumerate() {
        n.keys[i].store(*b, Ordering::Relaxed);
        n.children[i].store(c.raw(), Ordering::Relaxed);
    }
    Box::into_raw(n).cast()
}

/// Frees the node itself, not its children or terminal.
///
/// # Safety
/// `node` came from [`build`], is unreachable, and no thread can still read it.
pub(crate) unsafe fn free_node(node: *mut Header) {
    // SAFETY: `kind` tells which type `build` allocated; the caller
    // guarantees exclusive ownership.
    unsafe {
        match (*node).kind {
            Kind::N4 => drop(Box::from_raw(node.cast::<Small<4>>())),
            Kind::N16 => drop(Box::from_raw(node.cast::<Small<16>>())),
            Kind::N48 => drop(Box::from_raw(node.cast::<Node48>())),
            Kind::N256 => drop(Box::from_raw(node.cast::<Node256>())),
        }
    }
}

/// Frees a leaf and all its versions.
///
/// # Safety
/// `leaf` came from [`LeafBox::into_raw`] (or is a `LeafBox`'s own) of a
/// `LeafBox` made with `arena`, is unreachable and no thread can still read
/// it.
pub(crate) unsafe fn free_leaf(leaf: *mut Leaf, arena: &LeafArena) {
    // SAFETY: exclusive ownership per the caller; each version but the
    // inline one was allocated by `Box::into_raw` and is owned by the list;
    // the leaf was allocated by `LeafBox::new` from `arena` with
    // `Leaf::layout` of its key's length, and is dropped once, then
    // released with that layout.
    unsafe {
        let first = (*leaf).first_ptr();
        let mut v = (*leaf).head.load(Ordering::Relaxed);
        while !v.is_null() {
            let next = (*v).next.load(Ordering::Relaxed);
            if v != first {
                drop(Box::from_raw(v));
            }
            v = next;
        }
        let key: &LeafKey = &(*leaf).key;
        let layout = Leaf::layout(key.len());
        std::ptr::drop_in_place(leaf);
        arena.dealloc(NonNull::new_unchecked(leaf).cast::<u8>(), layout);
    }
}

impl Header {
    // SAFETY of the casts below: every inner node is allocated by `build` as
    // the `repr(C)` type named by its immutable `kind`, whose first field is
    // this header, so a pointer to the header is a pointer to the node.
    fn small<const N: usize>(&self) -> &Small<N> {
        debug_assert_eq!(Kind::for_children(N), self.kind);
        // SAFETY: see above; `kind` is N4 or N16 matching N.
        unsafe { &*(self as *const Header).cast::<Small<N>>() }
    }

    fn n48(&self) -> &Node48 {
        debug_assert_eq!(self.kind, Kind::N48);
        // SAFETY: see above.
        unsafe { &*(self as *const Header).cast::<Node48>() }
    }

    fn n256(&self) -> &Node256 {
        debug_assert_eq!(self.kind, Kind::N256);
        // SAFETY: see above.
        unsafe { &*(self as *const Header).cast::<Node256>() }
    }

    /// The slot holding the child for byte `b`, if the node has one.
    #[inline]
    pub(crate) fn slot(&self, b: u8) -> Option<&AtomicPtr<()>> {
        match self.kind {
            Kind::N4 => self.small::<4>().slot(b),
            Kind::N16 => self.small::<16>().slot(b),
            Kind::N48 => {
                let n = self.n48();
                match n.index[b as usize].load(Ordering::Acquire) {
                    0 => None,
                    i => Some(&n.children[i as usize - 1]),
                }
            }
            Kind::N256 => Some(&self.n256().children[b as usize]),
        }
    }

    /// The child for byte `b` (null if none).
    #[inline]
    pub(crate) fn find(&self, b: u8) -> Ptr {
        match self.slot(b) {
            Some(s) => Ptr(s.load(Ordering::Acquire)),
            None => Ptr::NULL,
        }
    }

    /// Adds child `c` for byte `b` in place, if there is room. Lock held,
    /// `b` absent.
    pub(crate) fn add_in_place(&self, b: u8, c: Ptr) -> bool {
        debug_assert!(self.lock.is_locked() && self.find(b).is_null());
        let added = match self.kind {
            Kind::N4 => self.small::<4>().add(b, c),
            Kind::N16 => self.small::<16>().add(b, c),
            Kind::N48 => {
                let n = self.n48();
                let used = n.count.load(Ordering::Relaxed) as usize;
                if used == 48 {
                    false
                } else {
                    n.children[used].store(c.raw(), Ordering::Release);
                    n.count.store(used as u8 + 1, Ordering::Relaxed);
                    n.index[b as usize].store(used as u8 + 1, Ordering::Release);
                    true
                }
            }
            Kind::N256 => {
                self.n256().children[b as usize].store(c.raw(), Ordering::Release);
                true
            }
        };
        if added {
            let live = self.live.load(Ordering::Relaxed);
            self.live.store(live + 1, Ordering::Relaxed);
        }
        added
    }

    /// Swaps the child for byte `b` for an equivalent subtree. Lock held.
    pub(crate) fn replace_child(&self, b: u8, c: Ptr) {
        debug_assert!(self.lock.is_locked() && !c.is_null());
        let slot = self.slot(b).expect("replace_child: byte present");
        slot.store(c.raw(), Ordering::Release);
    }

    /// Removes the child for byte `b`. Lock held.
    pub(crate) fn remove_child(&self, b: u8) {
        debug_assert!(self.lock.is_locked());
        if self.kind == Kind::N48 {
            let n = self.n48();
            let i = n.index[b as usize].load(Ordering::Relaxed);
            debug_assert!(i != 0);
            // Index first: a reader that still got the old index reads a
            // null or the old child, both of byte `b`.
            n.index[b as usize].store(0, Ordering::Release);
            n.children[i as usize - 1].store(std::ptr::null_mut(), Ordering::Release);
        } else {
            let slot = self.slot(b).expect("remove_child: byte present");
            slot.store(std::ptr::null_mut(), Ordering::Release);
        }
        let live = self.live.load(Ordering::Relaxed);
        self.live.store(live - 1, Ordering::Relaxed);
    }

    /// Opens a cursor over the children with bytes in `lo..=hi`, in byte
    /// order (descending if `reverse`). The children themselves are read as
    /// the cursor reaches them ([`Header::next_child`]); a Node4/16 fixes
    /// which slots it will visit here and prefetches their children.
    #[inline]
    pub(crate) fn open(&self, lo: u8, hi: u8, reverse: bool) -> Cursor {
        if lo > hi {
            return Cursor::Empty;
        }
        match self.kind {
            Kind::N4 => self.small::<4>().open(lo, hi, reverse),
            Kind::N16 => self.small::<16>().open(lo, hi, reverse),
            Kind::N48 | Kind::N256 => Cursor::Big {
                next: if reverse { hi } else { lo },
                left: u16::from(hi - lo) + 1,
                reverse,
                peeked: None,
            },
        }
    }

    /// The next live child of the cursor, or `None` when it is done.
    #[inline]
    pub(crate) fn next_child(&self, cursor: &mut Cursor) -> Option<(u8, Ptr)> {
        match cursor {
            Cursor::Empty => None,
            Cursor::Small { slots, left } => {
                debug_assert!(matches!(self.kind, Kind::N4 | Kind::N16));
                let children = match self.kind {
                    Kind::N4 => &self.small::<4>().children[..],
                    _ => &self.small::<16>().children[..],
                };
                let keys = match self.kind {
                    Kind::N4 => &self.small::<4>().keys[..],
                    _ => &self.small::<16>().keys[..],
                };
                while *left > 0 {
                    let slot = nibble(*slots, 0);
                    *slots >>= 4;
                    *left -= 1;
                    let c = Ptr(children[slot].load(Ordering::Acquire));
                    if !c.is_null() {
                        return Some((keys[slot].load(Ordering::Relaxed), c));
                    }
                }
                None
            }
            Cursor::Big {
                next,
                left,
                reverse,
                peeked,
            } => {
                let out = match peeked.take() {
                    Some(child) => child,
                    None => self.big_advance(next, left, *reverse)?,
                };
                // Look one child ahead and start loading it, so the next
                // subtree's first cache misses overlap this one's visit.
                *peeked = self.big_advance(next, left, *reverse);
                if let Some((_, c)) = *peeked {
                    prefetch(c);
                    if !c.is_leaf() {
                        prefetch_inner_rest(c);
                    }
                }
                Some(out)
            }
        }
    }

    /// The next live child of a Node48/256 cursor's remaining bytes.
    #[inline]
    fn big_advance(&self, next: &mut u8, left: &mut u16, reverse: bool) -> Option<(u8, Ptr)> {
        while *left > 0 {
            let b = *next;
            *left -= 1;
            *next = if reverse {
                b.wrapping_sub(1)
            } else {
                b.wrapping_add(1)
            };
            let c = match self.kind {
                Kind::N48 => {
                    let n = self.n48();
                    match n.index[b as usize].load(Ordering::Acquire) {
                        0 => Ptr::NULL,
                        i => Ptr(n.children[i as usize - 1].load(Ordering::Acquire)),
                    }
                }
                _ => Ptr(self.n256().children[b as usize].load(Ordering::Acquire)),
            };
            if !c.is_null() {
                return Some((b, c));
            }
        }
        None
    }

    /// The live children in byte order.
    pub(crate) fn children(&self) -> Vec<(u8, Ptr)> {
        let mut out = Vec::with_capacity(self.live.load(Ordering::Relaxed) as usize);
        let mut cursor = self.open(0, 255, false);
        while let Some(child) = self.next_child(&mut cursor) {
            out.push(child);
        }
        out
    }

    /// Slots filled at least once (for `check`).
    pub(crate) fn used_slots(&self) -> usize {
        match self.kind {
            Kind::N4 => self.small::<4>().count.load(Ordering::Acquire) as usize,
            Kind::N16 => self.small::<16>().count.load(Ordering::Acquire) as usize,
            Kind::N48 => self.n48().count.load(Ordering::Acquire) as usize,
            Kind::N256 => 256,
        }
    }

    /// Structural checks local to one node, for `check`.
    pub(crate) fn check_local(&self) -> Result<(), String> {
        match self.kind {
            Kind::N4 => self.small::<4>().check_keys(),
            Kind::N16 => self.small::<16>().check_keys(),
            Kind::N48 => {
                let n = self.n48();
                let used = n.count.load(Ordering::Acquire) as usize;
                let mut referenced = [false; 48];
                for b in 0..256 {
                    let i = n.index[b].load(Ordering::Acquire) as usize;
                    if i == 0 {
                        continue;
                    }
                    if i > used {
                        return Err(format!("node48 index[{b}] = {i} beyond {used} used slots"));
                    }
                    if referenced[i - 1] {
                        return Err(format!("node48 slot {} indexed twice", i - 1));
                    }
                    referenced[i - 1] = true;
                    if n.children[i - 1].load(Ordering::Acquire).is_null() {
                        return Err(format!("node48 index[{b}] names an empty slot"));
                    }
                }
                for (i, r) in referenced.iter().enumerate() {
                    if !r && !n.children[i].load(Ordering::Acquire).is_null() {
                        return Err(format!("node48 slot {i} holds an unindexed child"));
                    }
                }
                Ok(())
            }
            Kind::N256 => Ok(()),
        }
    }
}

impl<const N: usize> Small<N> {
    #[inline]
    fn position(&self, b: u8) -> Option<usize> {
        let used = self.count.load(Ordering::Acquire) as usize;
        (0..used.min(N)).find(|&i| self.keys[i].load(Ordering::Relaxed) == b)
    }

    #[inline]
    fn slot(&self, b: u8) -> Option<&AtomicPtr<()>> {
        self.position(b).map(|i| &self.children[i])
    }

    fn add(&self, b: u8, c: Ptr) -> bool {
        // A slot that once held `b` is reused; no other byte may take it.
        if let Some(i) = self.position(b) {
            self.children[i].store(c.raw(), Ordering::Release);
            return true;
        }
        let used = self.count.load(Ordering::Relaxed) as usize;
        if used == N {
            return false;
        }
        // The new slot's place in the order: after every smaller byte.
        let order = self.order.load(Ordering::Relaxed);
        let rank = (0..used)
            .filter(|&i| self.keys[i].load(Ordering::Relaxed) < b)
            .count();
        let low_mask = (1u64 << (4 * rank)) - 1;
        let order = (order & low_mask)
            | (used as u64) << (4 * rank)
            | (order & !low_mask).checked_shl(4).unwrap_or(0);
        self.keys[used].store(b, Ordering::Relaxed);
        self.children[used].store(c.raw(), Ordering::Relaxed);
        self.order.store(order, Ordering::Relaxed);
        // Publishes the key byte, child and order together.
        self.count.store(used as u8 + 1, Ordering::Release);
        true
    }

    /// The cursor over slots with bytes in `lo..=hi`, from the cached order
    /// (no sorting), prefetching their children.
    #[inline]
    fn open(&self, lo: u8, hi: u8, reverse: bool) -> Cursor {
        let used = (self.count.load(Ordering::Acquire) as usize).min(N);
        // At least as new as `used` (see the field); slots >= `used` may
        // appear in it and are skipped.
        let order = self.order.load(Ordering::Relaxed);
        let mut slots = 0u64;
        let mut left = 0u8;
        let mut seen = 0;
        let mut pos = 0;
        while seen < used && pos < N {
            let slot = nibble(order, pos);
            pos += 1;
            if slot >= used {
                continue;
            }
            seen += 1;
            let b = self.keys[slot].load(Ordering::Relaxed);
            if b < lo || b > hi {
                continue;
            }
            // The caller visits every entry: start all their cache misses
            // now so they overlap instead of following one another.
            prefetch(Ptr(self.children[slot].load(Ordering::Relaxed)));
            if reverse {
                slots = slots << 4 | slot as u64;
            } else {
                slots |= (slot as u64) << (4 * left);
            }
            left += 1;
        }
        Cursor::Small { slots, left }
    }

    fn check_keys(&self) -> Result<(), String> {
        let used = self.count.load(Ordering::Acquire) as usize;
        if used > N {
            return Err(format!("node{N} uses {used} slots"));
        }
        for i in 0..used {
            for j in 0..i {
                if self.keys[i].load(Ordering::Relaxed) == self.keys[j].load(Ordering::Relaxed) {
                    return Err(format!("node{N} slots {j} and {i} share a key byte"));
                }
            }
        }
        for i in used..N {
            if !self.children[i].load(Ordering::Relaxed).is_null() {
                return Err(format!("node{N} unused slot {i} holds a child"));
            }
        }
        let order = self.order.load(Ordering::Relaxed);
        let in_order: Vec<usize> = (0..used).map(|pos| nibble(order, pos)).collect();
        let mut sorted: Vec<usize> = (0..used).collect();
        sorted.sort_unstable_by_key(|&i| self.keys[i].load(Ordering::Relaxed));
        if in_order != sorted {
            return Err(format!(
                "node{N} cached order {in_order:?}, sorted slots {sorted:?}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_takes_one_line_up_to_the_inline_limit_and_its_key_after() {
        for len in 0..=INLINE_KEY_BYTES {
            assert_eq!(Leaf::layout(len).size(), LEAF_KEY_OFFSET, "key of {len}");
        }
        for len in [INLINE_KEY_BYTES + 1, 64, 1000] {
            assert_eq!(Leaf::layout(len).size(), LEAF_KEY_OFFSET + len);
        }
        assert_eq!(Leaf::layout(5).align(), 64);
    }

    #[test]
    fn an_unpublished_leaf_returns_its_lines_to_the_arena() {
        let arena = LeafArena::default();
        let key = [7u8; 40];
        let first = LeafBox::new(&arena, &key, 1, Value::new(Some(&[1; 100])));
        assert_eq!(&first.key[..], &key[..]);
        let at = first.as_ptr();
        drop(first);
        // The freed lines are the next ones handed out for that size.
        let again = LeafBox::new(&arena, &key, 2, Value::new(None));
        assert_eq!(again.as_ptr(), at);
        let (seqno, value) = again.into_first();
        assert_eq!((seqno, value.get()), (2, None));
        let third = LeafBox::new(&arena, &key, 3, Value::new(None));
        assert_eq!(third.as_ptr(), at, "into_first returns the lines too");
    }
}
