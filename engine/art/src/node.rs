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

use crate::sync::{AtomicBool, AtomicPtr, AtomicU16, AtomicU8, Ordering, WriteLock};

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

/// One version of a key; `value == None` is a tombstone.
pub(crate) struct Version {
    pub(crate) seqno: u64,
    pub(crate) value: Option<Box<[u8]>>,
    /// The next older version; written before this version is linked, never
    /// changed after except to link a version inserted right after this one.
    pub(crate) next: AtomicPtr<Version>,
}

/// Keys up to this many bytes live inside the leaf.
pub(crate) const INLINE_KEY_BYTES: usize = 22;

/// A leaf's key: inline when short (one cache line with the leaf), else on
/// the heap.
pub(crate) enum LeafKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_KEY_BYTES],
    },
    Heap(Box<[u8]>),
}

impl LeafKey {
    pub(crate) fn new(key: &[u8]) -> LeafKey {
        if key.len() <= INLINE_KEY_BYTES {
            let mut bytes = [0; INLINE_KEY_BYTES];
            bytes[..key.len()].copy_from_slice(key);
            LeafKey::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            LeafKey::Heap(key.into())
        }
    }

    /// Bytes allocated outside the leaf.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            LeafKey::Inline { .. } => 0,
            LeafKey::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for LeafKey {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            LeafKey::Inline { len, bytes } => &bytes[..*len as usize],
            LeafKey::Heap(b) => b,
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
pub(crate) struct Leaf {
    pub(crate) head: AtomicPtr<Version>,
    pub(crate) key: LeafKey,
    first: Version,
}

impl Leaf {
    pub(crate) fn new(key: &[u8], seqno: u64, value: Option<Box<[u8]>>) -> Box<Leaf> {
        let leaf = Box::new(Leaf {
            head: AtomicPtr::new(std::ptr::null_mut()),
            key: LeafKey::new(key),
            first: Version {
                seqno,
                value,
                next: AtomicPtr::new(std::ptr::null_mut()),
            },
        });
        leaf.head.store(leaf.first_ptr(), Ordering::Relaxed);
        leaf
    }

    /// The inline version, which is freed with the leaf, not on its own.
    pub(crate) fn first_ptr(&self) -> *mut Version {
        &self.first as *const Version as *mut Version
    }

    /// Takes the creation version back out of a leaf that was never published.
    pub(crate) fn into_first(self: Box<Leaf>) -> (u64, Option<Box<[u8]>>) {
        debug_assert!(self.first.next.load(Ordering::Relaxed).is_null());
        let leaf = *self;
        (leaf.first.seqno, leaf.first.value)
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

/// Node4 and Node16: unsorted, append-only key bytes.
#[repr(C)]
pub(crate) struct Small<const N: usize> {
    h: Header,
    /// Slots in use (filled at least once); never decreases.
    count: AtomicU8,
    keys: [AtomicU8; N],
    children: [AtomicPtr<()>; N],
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
    let n = Box::new(Small::<N> {
        h,
        count: AtomicU8::new(children.len() as u8),
        keys: zero_bytes(),
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
/// `leaf` came from `Box::into_raw`, is unreachable and no thread can still read it.
pub(crate) unsafe fn free_leaf(leaf: *mut Leaf) {
    // SAFETY: exclusive ownership per the caller; each version but the
    // inline one was allocated by `Box::into_raw` and is owned by the list.
    unsafe {
        let leaf = Box::from_raw(leaf);
        let first = leaf.first_ptr();
        let mut v = leaf.head.load(Ordering::Relaxed);
        while !v.is_null() {
            let next = (*v).next.load(Ordering::Relaxed);
            if v != first {
                drop(Box::from_raw(v));
            }
            v = next;
        }
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

    /// Calls `f` on each live child in byte order (descending if `reverse`),
    /// restricted to bytes in `lo..=hi`. Stops when `f` breaks.
    pub(crate) fn for_each_child<F>(&self, lo: u8, hi: u8, reverse: bool, mut f: F) -> bool
    where
        F: FnMut(u8, Ptr) -> bool,
    {
        match self.kind {
            Kind::N4 => self.small::<4>().for_each(lo, hi, reverse, f),
            Kind::N16 => self.small::<16>().for_each(lo, hi, reverse, f),
            Kind::N48 => {
                let n = self.n48();
                let mut visit = |b: u8| {
                    let i = n.index[b as usize].load(Ordering::Acquire);
                    if i == 0 {
                        return true;
                    }
                    let c = Ptr(n.children[i as usize - 1].load(Ordering::Acquire));
                    c.is_null() || f(b, c)
                };
                if reverse {
                    (lo..=hi).rev().all(&mut visit)
                } else {
                    (lo..=hi).all(&mut visit)
                }
            }
            Kind::N256 => {
                let n = self.n256();
                let mut visit = |b: u8| {
                    let c = Ptr(n.children[b as usize].load(Ordering::Acquire));
                    c.is_null() || f(b, c)
                };
                if reverse {
                    (lo..=hi).rev().all(&mut visit)
                } else {
                    (lo..=hi).all(&mut visit)
                }
            }
        }
    }

    /// The live children in byte order.
    pub(crate) fn children(&self) -> Vec<(u8, Ptr)> {
        let mut out = Vec::with_capacity(self.live.load(Ordering::Relaxed) as usize);
        self.for_each_child(0, 255, false, |b, c| {
            out.push((b, c));
            true
        });
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
        self.keys[used].store(b, Ordering::Relaxed);
        self.children[used].store(c.raw(), Ordering::Relaxed);
        // Publishes the key byte and child together.
        self.count.store(used as u8 + 1, Ordering::Release);
        true
    }

    fn for_each<F>(&self, lo: u8, hi: u8, reverse: bool, mut f: F) -> bool
    where
        F: FnMut(u8, Ptr) -> bool,
    {
        let used = (self.count.load(Ordering::Acquire) as usize).min(N);
        let mut buf = [(0u8, Ptr::NULL); N];
        let mut n = 0;
        for i in 0..used {
            let b = self.keys[i].load(Ordering::Relaxed);
            if b < lo || b > hi {
                continue;
            }
            let c = Ptr(self.children[i].load(Ordering::Acquire));
            if c.is_null() {
                continue;
            }
            // Insertion sort: at most 16 entries.
            let mut j = n;
            while j > 0 && buf[j - 1].0 > b {
                buf[j] = buf[j - 1];
                j -= 1;
            }
            buf[j] = (b, c);
            n += 1;
        }
        if reverse {
            buf[..n].iter().rev().all(|&(b, c)| f(b, c))
        } else {
            buf[..n].iter().all(|&(b, c)| f(b, c))
        }
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
        Ok(())
    }
}
