//! The tree: lookups, inserts and removes under ROWEX.
//!
//! Protocol (see DESIGN.md for the argument):
//! - Readers take no locks. They follow pointers under an epoch guard and
//!   always see a whole, consistent node, because a node's kind and prefix
//!   never change and its slots change only in reader-safe ways.
//! - A writer locks the node it changes. A change that replaces a node
//!   (growth, shrink, prefix split, merge) also locks the parent (and for a
//!   merge the only child), builds the new node while the old one is frozen
//!   by its lock, publishes it with one pointer store into the parent's
//!   slot, marks the old node obsolete and retires it through the epoch.
//! - The first lock a writer takes may block; every further lock is a
//!   try-lock, and a failure releases everything and restarts the operation.
//!   No thread ever waits while holding a lock, so there is no deadlock.
//! - After locking, a writer re-validates: the node is not obsolete, and
//!   the slot it is about to change still holds what it saw.

use crossbeam_epoch::{self as epoch, Guard};

use crate::arena::LeafArena;
use crate::node::{self, free_leaf, free_node, Entry, Header, Kind, Leaf, LeafBox, Ptr, Value};
use crate::sync::{backoff, AtomicPtr, AtomicUsize, Ordering, WriteLock};

/// Bytes charged per node kind, leaf and version for `approximate_memory`.
const LEAF_BYTES: usize = std::mem::size_of::<Leaf>();
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

fn node_bytes(kind: Kind) -> usize {
    // Header + kind-specific arrays (an estimate; exact for std atomics).
    48 + match kind {
        Kind::N4 => 1 + 4 + 4 * 8,
        Kind::N16 => 1 + 16 + 16 * 8,
        Kind::N48 => 1 + 256 + 48 * 8,
        Kind::N256 => 256 * 8,
    }
}

/// A concurrent Adaptive Radix Tree mapping byte keys to versions.
///
/// Any number of threads may call any method through `&self`. Readers
/// (`get`, `scan`, `len`) never block; writers exclude each other only on the
/// nodes they change.
pub struct Art {
    /// The root: an inner node with an empty prefix, never merged away.
    root: AtomicPtr<Header>,
    /// Guards replacing `root` (the root's "parent lock").
    root_lock: WriteLock,
    len: AtomicUsize,
    memory_bytes: AtomicUsize,
    /// Where leaves come from; shared with deferred frees that may run
    /// after the tree is gone.
    arena: std::sync::Arc<LeafArena>,
    /// Live allocations (nodes, leaves, versions), for leak tests; only
    /// kept when asked for (`with_allocation_counter`).
    #[cfg(not(loom))]
    allocations: Option<std::sync::Arc<std::sync::atomic::AtomicIsize>>,
}

/// Where a node hangs: the tree root or a byte of a parent node.
#[derive(Clone, Copy)]
enum Parent<'g> {
    Root,
    Node(&'g Header, u8),
}

/// Where a key's leaf hangs: in `node`'s child slot `slot`, or as its
/// terminal (`slot == None`).
struct Found<'g> {
    parent: Parent<'g>,
    node: &'g Header,
    slot: Option<u8>,
    leaf: Ptr,
}

/// Dereferences a node pointer for the lifetime of a guard.
///
/// # Safety
/// `p` must be a non-null inner-node pointer read from the tree while `_g`
/// was pinned: nodes are freed only after every guard pinned before their
/// unlinking is gone.
#[inline]
unsafe fn node_ref(p: *mut Header, _g: &Guard) -> &Header {
    // SAFETY: per the function contract.
    unsafe { &*p }
}

/// # Safety
/// As for [`node_ref`], for a leaf pointer.
#[inline]
unsafe fn leaf_ref(p: *mut Leaf, _g: &Guard) -> &Leaf {
    // SAFETY: per the function contract.
    unsafe { &*p }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// What an insert carries down the tree: the new version, or the new leaf
/// holding it once one had to be made.
struct Pending<'a> {
    version: Option<(u64, Value)>,
    leaf: Option<LeafBox<'a>>,
}

impl Default for Art {
    fn default() -> Self {
        Self::new()
    }
}

impl Art {
    /// An empty tree.
    pub fn new() -> Self {
        let art = Art {
            root: AtomicPtr::new(node::build(
                Kind::N4,
                Box::new([]),
                std::ptr::null_mut(),
                &[],
            )),
            root_lock: WriteLock::new(),
            len: AtomicUsize::new(0),
            memory_bytes: AtomicUsize::new(node_bytes(Kind::N4)),
            arena: Default::default(),
            #[cfg(not(loom))]
            allocations: None,
        };
        art.count_alloc(1);
        art
    }

    /// An empty tree that counts its live allocations (nodes, leaves,
    /// versions), including retired ones the epoch has not freed yet; the
    /// counter outlives the tree. For leak tests.
    #[doc(hidden)]
    #[cfg(not(loom))]
    pub fn with_allocation_counter() -> (Self, std::sync::Arc<std::sync::atomic::AtomicIsize>) {
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicIsize::new(1));
        let mut art = Art::new();
        art.allocations = Some(counter.clone());
        (art, counter)
    }

    #[inline]
    fn count_alloc(&self, _n: isize) {
        #[cfg(not(loom))]
        if let Some(c) = &self.allocations {
            c.fetch_add(_n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True if the tree holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes in use (nodes, leaves, keys, versions, values).
    pub fn approximate_memory(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn root_ptr(&self) -> *mut Header {
        self.root.load(Ordering::Acquire)
    }

    /// The leaf of `key`, if present.
    pub(crate) fn find_leaf<'g>(&self, key: &[u8], g: &'g Guard) -> Option<&'g Leaf> {
        // SAFETY: the root is never null and read under `g`.
        let mut node = unsafe { node_ref(self.root_ptr(), g) };
        let mut depth = 0;
        loop {
            let prefix = &node.prefix[..];
            // Most prefixes below the top levels are empty: skip the
            // comparison (a library call) for them.
            if !prefix.is_empty() {
                if key.len() - depth < prefix.len() || key[depth..depth + prefix.len()] != *prefix {
                    return None;
                }
                depth += prefix.len();
            }
            if depth == key.len() {
                let t = node.terminal.load(Ordering::Acquire);
                // SAFETY: read from the tree under `g`.
                return (!t.is_null()).then(|| unsafe { leaf_ref(t, g) });
            }
            let c = node.find(key[depth]);
            if c.is_null() {
                return None;
            }
            if c.is_leaf() {
                // A long key is compared on the lines after the leaf's:
                // fetch them together with it, not after it.
                node::prefetch_leaf_key(c, key.len());
                // SAFETY: read from the tree under `g`.
                let leaf = unsafe { leaf_ref(c.leaf(), g) };
                return (*leaf.key == *key).then_some(leaf);
            }
            depth += 1;
            if let Some(&b) = key.get(depth) {
                node::prefetch_for_lookup(c, b);
            }
            // SAFETY: read from the tree under `g`.
            node = unsafe { node_ref(c.inner(), g) };
        }
    }

    /// The newest version of `key` with `seqno <= at`: `Some((s, None))` is a
    /// tombstone, `None` means no such version.
    pub fn get(&self, key: &[u8], at: u64) -> Option<(u64, Option<Vec<u8>>)> {
        self.get_with(key, at, |seqno, value| (seqno, value.map(<[u8]>::to_vec)))
    }

    /// Like [`Art::get`], but lends the version to `f` instead of copying
    /// it (the value is valid only during the call); `None` if there is no
    /// such version, without calling `f`.
    pub fn get_with<R>(
        &self,
        key: &[u8],
        at: u64,
        f: impl FnOnce(u64, Option<&[u8]>) -> R,
    ) -> Option<R> {
        let g = epoch::pin();
        let leaf = self.find_leaf(key, &g)?;
        let found = entries(leaf, &g)
            .find(|v| v.seqno <= at)
            .map(|v| f(v.seqno, v.value.get()));
        found
    }

    /// Inserts version `seqno` of `key` (`None`: a tombstone). Entries are
    /// kept newest first whatever the insertion order.
    ///
    /// # Panics
    /// If the value is 4 GiB or longer (the engine's WAL bounds values far
    /// below that).
    pub fn insert(&self, key: &[u8], seqno: u64, value: Option<&[u8]>) {
        let value_len = value.map_or(0, <[u8]>::len);
        let mut pending = Pending {
            version: Some((seqno, Value::new(value))),
            leaf: None,
        };
        self.memory_bytes
            .fetch_add(ENTRY_BYTES + value_len, Ordering::Relaxed);
        let g = epoch::pin();
        let mut attempt = 0;
        while !self.try_insert(key, &mut pending, &g) {
            backoff(attempt);
            attempt += 1;
        }
    }

    /// The leaf to link for a new key: `pending.leaf`, holding the version.
    fn new_leaf<'a>(&'a self, key: &[u8], pending: &mut Pending<'a>) -> *mut Leaf {
        if pending.leaf.is_none() {
            let (seqno, value) = pending.version.take().expect("version is pending");
            self.count_alloc(1);
            pending.leaf = Some(LeafBox::new(&self.arena, key, seqno, value));
        }
        pending.leaf.as_ref().expect("just built").as_ptr()
    }

    /// Called once the leaf from `new_leaf` is published.
    fn leaf_linked<'a>(&'a self, pending: &mut Pending<'a>) {
        let leaf = pending.leaf.take().expect("leaf was built").into_raw();
        // SAFETY: just published; we only read the immutable key.
        let heap = unsafe { (*leaf).key.heap_bytes() };
        self.len.fetch_add(1, Ordering::Relaxed);
        self.memory_bytes
            .fetch_add(LEAF_BYTES - ENTRY_BYTES + heap, Ordering::Relaxed);
    }

    /// Adds the pending version to an existing leaf (lock-free).
    fn add_entry<'a>(&'a self, leaf: &Leaf, pending: &mut Pending<'a>, g: &Guard) {
        let (seqno, value) = match pending.version.take() {
            Some(v) => v,
            None => {
                // Built a leaf in an attempt that lost a race; take the
                // version back out of it.
                self.count_alloc(-1);
                pending
                    .leaf
                    .take()
                    .expect("version is somewhere")
                    .into_first()
            }
        };
        self.count_alloc(1);
        let v = Box::into_raw(Box::new(Entry {
            seqno,
            value,
            next: AtomicPtr::new(std::ptr::null_mut()),
        }));
        loop {
            let mut prev = &leaf.head;
            let mut cur = prev.load(Ordering::Acquire);
            // SAFETY: versions are never unlinked from a leaf; a leaf and
            // its versions are freed together after the epoch passes, and
            // we hold `g`.
            while !cur.is_null() && unsafe { (*cur).seqno } > seqno {
                // SAFETY: as above: `cur` is a live version of this leaf.
                prev = unsafe { &(*cur).next };
                cur = prev.load(Ordering::Acquire);
            }
            // SAFETY: `v` is not yet shared.
            unsafe { (*v).next.store(cur, Ordering::Relaxed) };
            if prev
                .compare_exchange(cur, v, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                break;
            }
        }
        let _ = g;
    }

    /// Tries to lock the slot holding `node`. On success the caller holds the
    /// parent's lock (or the root lock) and `node` is still in that slot.
    fn lock_parent(&self, parent: Parent<'_>, node: &Header) -> bool {
        let me = node as *const Header as *mut Header;
        match parent {
            Parent::Root => {
                if !self.root_lock.try_lock() {
                    return false;
                }
                if self.root.load(Ordering::Relaxed) != me {
                    self.root_lock.unlock();
                    return false;
                }
                true
            }
            Parent::Node(p, b) => {
                if !p.lock.try_lock() {
                    return false;
                }
                if p.obsolete.load(Ordering::Relaxed) || p.find(b) != Ptr::from_inner(me) {
                    p.lock.unlock();
                    return false;
                }
                true
            }
        }
    }

    fn unlock_parent(&self, parent: Parent<'_>) {
        match parent {
            Parent::Root => self.root_lock.unlock(),
            Parent::Node(p, _) => p.lock.unlock(),
        }
    }

    /// Stores `new` where `node` hangs. Parent lock held.
    fn publish(&self, parent: Parent<'_>, new: Ptr) {
        match parent {
            Parent::Root => {
                debug_assert!(!new.is_leaf());
                self.root.store(new.inner(), Ordering::Release)
            }
            Parent::Node(p, b) => p.replace_child(b, new),
        }
    }

    /// Marks `node` obsolete (its lock held), unlocks it and retires it.
    fn retire_node(&self, node: &Header, g: &Guard) {
        node.obsolete.store(true, Ordering::Relaxed);
        node.lock.unlock();
        self.memory_bytes
            .fetch_sub(node_bytes(node.kind), Ordering::Relaxed);
        let p = node as *const Header as *mut Header;
        #[cfg(not(loom))]
        let counter = self.allocations.clone();
        // SAFETY: `p` is unlinked: no new reader can reach it, and it is
        // freed only after every guard that might have seen it is gone. Its
        // children were moved to its replacement, so only the node is freed.
        unsafe {
            g.defer_unchecked(move || {
                free_node(p);
                #[cfg(not(loom))]
                if let Some(c) = counter {
                    c.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
    }

    fn retire_leaf(&self, leaf: &Leaf, g: &Guard) {
        let p = leaf as *const Leaf as *mut Leaf;
        let mut bytes = LEAF_BYTES - ENTRY_BYTES + leaf.key.heap_bytes();
        for v in entries(leaf, g) {
            bytes += ENTRY_BYTES + v.value.get().map_or(0, <[u8]>::len);
        }
        self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
        #[cfg(not(loom))]
        let counter = self.allocations.clone();
        let arena = self.arena.clone();
        // SAFETY: the leaf was unlinked under its node's lock; it is freed
        // after every guard that might still read it is gone. A version
        // added by a racing insert after the unlink is freed with it. It
        // came from this tree's arena, which the closure keeps alive.
        unsafe {
            g.defer_unchecked(move || {
                #[cfg(not(loom))]
                if let Some(c) = counter {
                    // The leaf and every version but the inline one.
                    let mut n = 0isize;
                    let mut v = (*p).head.load(Ordering::Relaxed);
                    while !v.is_null() {
                        n += 1;
                        v = (*v).next.load(Ordering::Relaxed);
                    }
                    c.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
                }
                free_leaf(p, &arena);
            })
        };
    }

    fn new_node(
        &self,
        kind: Kind,
        prefix: Box<[u8]>,
        terminal: *mut Leaf,
        children: &[(u8, Ptr)],
    ) -> Ptr {
        self.count_alloc(1);
        self.memory_bytes
            .fetch_add(node_bytes(kind), Ordering::Relaxed);
        Ptr::from_inner(node::build(kind, prefix, terminal, children))
    }

    /// One insert attempt; false means restart.
    fn try_insert<'a>(&'a self, key: &[u8], pending: &mut Pending<'a>, g: &Guard) -> bool {
        let mut parent = Parent::Root;
        // SAFETY: the root is never null and read under `g`.
        let mut node = unsafe { node_ref(self.root_ptr(), g) };
        let mut depth = 0;
        loop {
            let prefix = &node.prefix[..];
            let m = common_prefix_len(prefix, &key[depth..]);
            if m < prefix.len() {
                return self.split_prefix(parent, node, depth, m, key, pending, g);
            }
            depth += prefix.len();
            if depth == key.len() {
                return self.insert_terminal(node, key, pending, g);
            }
            let b = key[depth];
            let child = node.find(b);
            if child.is_null() {
                return self.insert_child(parent, node, b, key, pending, g);
            }
            if child.is_leaf() {
                return self.insert_beside_leaf(node, b, child, depth, key, pending, g);
            }
            parent = Parent::Node(node, b);
            // SAFETY: read from the tree under `g`.
            node = unsafe { node_ref(child.inner(), g) };
            depth += 1;
        }
    }

    /// `key` ends at `node`: a new version of its terminal leaf, or a new
    /// terminal leaf. False means restart.
    fn insert_terminal<'a>(
        &'a self,
        node: &Header,
        key: &[u8],
        pending: &mut Pending<'a>,
        g: &Guard,
    ) -> bool {
        let t = node.terminal.load(Ordering::Acquire);
        if !t.is_null() {
            // SAFETY: read from the tree under `g`.
            self.add_entry(unsafe { leaf_ref(t, g) }, pending, g);
            return true;
        }
        node.lock.lock();
        if node.obsolete.load(Ordering::Relaxed) || !node.terminal.load(Ordering::Relaxed).is_null()
        {
            node.lock.unlock();
            return false;
        }
        let leaf = self.new_leaf(key, pending);
        node.terminal.store(leaf, Ordering::Release);
        node.lock.unlock();
        self.leaf_linked(pending);
        true
    }

    /// `node` has no child at `b`: link a new leaf there, in place or by
    /// replacing a full node with a bigger one. False means restart.
    fn insert_child<'a>(
        &'a self,
        parent: Parent<'_>,
        node: &Header,
        b: u8,
        key: &[u8],
        pending: &mut Pending<'a>,
        g: &Guard,
    ) -> bool {
        node.lock.lock();
        if node.obsolete.load(Ordering::Relaxed) || !node.find(b).is_null() {
            node.lock.unlock();
            return false;
        }
        let leaf = Ptr::from_leaf(self.new_leaf(key, pending));
        if node.add_in_place(b, leaf) {
            node.lock.unlock();
            self.leaf_linked(pending);
            return true;
        }
        // Full: replace with a bigger (or compacted) node.
        if !self.lock_parent(parent, node) {
            node.lock.unlock();
            return false;
        }
        let mut children = node.children();
        children.push((b, leaf));
        let kind = Kind::for_children(children.len()).max(node.kind.smaller());
        let terminal = node.terminal.load(Ordering::Relaxed);
        let new = self.new_node(kind, node.prefix.clone(), terminal, &children);
        self.publish(parent, new);
        self.unlock_parent(parent);
        self.retire_node(node, g);
        self.leaf_linked(pending);
        true
    }

    /// `node`'s child at `b` (key byte `depth`) is the leaf `child`: a new
    /// version if it holds `key`, else a Node4 splitting the two keys.
    /// False means restart.
    #[allow(clippy::too_many_arguments)]
    fn insert_beside_leaf<'a>(
        &'a self,
        node: &Header,
        b: u8,
        child: Ptr,
        depth: usize,
        key: &[u8],
        pending: &mut Pending<'a>,
        g: &Guard,
    ) -> bool {
        // SAFETY: read from the tree under `g`.
        let other = unsafe { leaf_ref(child.leaf(), g) };
        if *other.key == *key {
            self.add_entry(other, pending, g);
            return true;
        }
        node.lock.lock();
        if node.obsolete.load(Ordering::Relaxed) || node.find(b) != child {
            node.lock.unlock();
            return false;
        }
        // Two keys now share the path through `b`: a Node4 splits them.
        let start = depth + 1;
        let m = common_prefix_len(&other.key[start..], &key[start..]);
        let at = start + m;
        let leaf = self.new_leaf(key, pending);
        let mut terminal = std::ptr::null_mut();
        let mut children = Vec::with_capacity(2);
        for (k, p) in [(&other.key[..], child.leaf()), (key, leaf)] {
            if k.len() == at {
                terminal = p;
            } else {
                children.push((k[at], Ptr::from_leaf(p)));
            }
        }
        let new = self.new_node(Kind::N4, key[start..at].into(), terminal, &children);
        node.replace_child(b, new);
        node.lock.unlock();
        self.leaf_linked(pending);
        true
    }

    /// `key` leaves `node`'s prefix after `m` bytes: put a Node4 above a
    /// copy of `node` with the rest of the prefix.
    #[allow(clippy::too_many_arguments)]
    fn split_prefix<'a>(
        &'a self,
        parent: Parent<'_>,
        node: &Header,
        depth: usize,
        m: usize,
        key: &[u8],
        pending: &mut Pending<'a>,
        g: &Guard,
    ) -> bool {
        node.lock.lock();
        if node.obsolete.load(Ordering::Relaxed) {
            node.lock.unlock();
            return false;
        }
        if !self.lock_parent(parent, node) {
            node.lock.unlock();
            return false;
        }
        let prefix = &node.prefix[..];
        let children = node.children();
        let lower = self.new_node(
            node.kind,
            prefix[m + 1..].into(),
            node.terminal.load(Ordering::Relaxed),
            &children,
        );
        let leaf = self.new_leaf(key, pending);
        let at = depth + m;
        let (terminal, mut entries) = if key.len() == at {
            (leaf, vec![])
        } else {
            (std::ptr::null_mut(), vec![(key[at], Ptr::from_leaf(leaf))])
        };
        entries.push((prefix[m], lower));
        let upper = self.new_node(Kind::N4, prefix[..m].into(), terminal, &entries);
        self.publish(parent, upper);
        self.unlock_parent(parent);
        self.retire_node(node, g);
        self.leaf_linked(pending);
        true
    }

    /// Removes `key` and all its versions. Returns whether it was present.
    pub fn remove(&self, key: &[u8]) -> bool {
        let g = epoch::pin();
        let mut attempt = 0;
        loop {
            match self.try_remove(key, &g) {
                Some(found) => return found,
                None => {
                    backoff(attempt);
                    attempt += 1;
                }
            }
        }
    }

    /// One remove attempt; `None` means restart.
    fn try_remove(&self, key: &[u8], g: &Guard) -> Option<bool> {
        let Some(found) = self.find_for_remove(key, g) else {
            return Some(false);
        };
        let Found {
            parent,
            node,
            slot,
            leaf: found,
        } = found;
        node.lock.lock();
        let still = match slot {
            None => Ptr::from_leaf(node.terminal.load(Ordering::Relaxed)),
            Some(b) => node.find(b),
        };
        if node.obsolete.load(Ordering::Relaxed) || still != found {
            node.lock.unlock();
            return None;
        }
        // SAFETY: read from the tree under `g`.
        let leaf = unsafe { leaf_ref(found.leaf(), g) };
        let live = node.live.load(Ordering::Relaxed) as usize;
        let has_terminal = !node.terminal.load(Ordering::Relaxed).is_null();
        let (live_after, terminal_after) = match slot {
            None => (live, false),
            Some(_) => (live - 1, has_terminal),
        };
        let entries_after = live_after + usize::from(terminal_after);
        let shrink = live_after < node.kind.children_min();
        let merge = !matches!(parent, Parent::Root) && entries_after <= 1;
        if !shrink && !merge {
            match slot {
                None => node.terminal.store(std::ptr::null_mut(), Ordering::Release),
                Some(b) => node.remove_child(b),
            }
            node.lock.unlock();
            self.unlinked(leaf, g);
            return Some(true);
        }
        if !self.lock_parent(parent, node) {
            node.lock.unlock();
            return None;
        }
        let mut children = node.children();
        if let Some(b) = slot {
            children.retain(|(x, _)| *x != b);
        }
        let terminal = if terminal_after {
            node.terminal.load(Ordering::Relaxed)
        } else {
            std::ptr::null_mut()
        };
        let replacement = if merge {
            debug_assert_eq!(entries_after, 1, "non-root nodes keep two entries");
            if terminal.is_null() {
                let Some(r) = self.merge_only_child(node, children[0], g) else {
                    self.unlock_parent(parent);
                    node.lock.unlock();
                    return None;
                };
                r
            } else {
                Ptr::from_leaf(terminal)
            }
        } else {
            let kind = node.kind.smaller();
            self.new_node(kind, node.prefix.clone(), terminal, &children)
        };
        self.publish(parent, replacement);
        self.unlock_parent(parent);
        self.retire_node(node, g);
        self.unlinked(leaf, g);
        Some(true)
    }

    /// Where `key`'s leaf hangs, or `None` if `key` is absent.
    fn find_for_remove<'g>(&self, key: &[u8], g: &'g Guard) -> Option<Found<'g>> {
        let mut parent = Parent::Root;
        // SAFETY: the root is never null and read under `g`.
        let mut node = unsafe { node_ref(self.root_ptr(), g) };
        let mut depth = 0;
        loop {
            let prefix = &node.prefix[..];
            if key.len() - depth < prefix.len() || key[depth..depth + prefix.len()] != *prefix {
                return None;
            }
            depth += prefix.len();
            if depth == key.len() {
                let t = node.terminal.load(Ordering::Acquire);
                if t.is_null() {
                    return None;
                }
                return Some(Found {
                    parent,
                    node,
                    slot: None,
                    leaf: Ptr::from_leaf(t),
                });
            }
            let b = key[depth];
            let c = node.find(b);
            if c.is_null() {
                return None;
            }
            if c.is_leaf() {
                // SAFETY: read from the tree under `g`.
                if *unsafe { leaf_ref(c.leaf(), g) }.key != *key {
                    return None;
                }
                return Some(Found {
                    parent,
                    node,
                    slot: Some(b),
                    leaf: c,
                });
            }
            parent = Parent::Node(node, b);
            // SAFETY: read from the tree under `g`.
            node = unsafe { node_ref(c.inner(), g) };
            depth += 1;
        }
    }

    /// `node` (locked, as is its parent) is left with one child `(b, only)`
    /// and no terminal: what replaces both. A leaf moves up as it is; an
    /// inner child is copied with `node`'s prefix, `b` and its own prefix
    /// joined, and retired. `None` (restart) if the child's lock is taken.
    fn merge_only_child(&self, node: &Header, (b, only): (u8, Ptr), g: &Guard) -> Option<Ptr> {
        if only.is_leaf() {
            return Some(only);
        }
        // SAFETY: read from the tree under `g`.
        let child = unsafe { node_ref(only.inner(), g) };
        if !child.lock.try_lock() {
            return None;
        }
        debug_assert!(!child.obsolete.load(Ordering::Relaxed));
        let mut prefix = Vec::with_capacity(node.prefix.len() + 1 + child.prefix.len());
        prefix.extend_from_slice(&node.prefix);
        prefix.push(b);
        prefix.extend_from_slice(&child.prefix);
        let new = self.new_node(
            child.kind,
            prefix.into(),
            child.terminal.load(Ordering::Relaxed),
            &child.children(),
        );
        self.retire_node(child, g);
        Some(new)
    }

    fn unlinked(&self, leaf: &Leaf, g: &Guard) {
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.retire_leaf(leaf, g);
    }
}

/// One version as seen by a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// The write's sequence number.
    pub seqno: u64,
    /// `None` is a tombstone.
    pub value: Option<&'a [u8]>,
}

/// The versions of one key, newest first.
pub struct Entries<'a> {
    cur: *mut Entry,
    _leaf: std::marker::PhantomData<&'a Leaf>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = EntryView<'a>;

    fn next(&mut self) -> Option<EntryView<'a>> {
        if self.cur.is_null() {
            return None;
        }
        // SAFETY: versions are freed only with their leaf, after the guard
        // this iterator borrows is gone.
        let v = unsafe { &*self.cur };
        self.cur = v.next.load(Ordering::Acquire);
        Some(EntryView {
            seqno: v.seqno,
            value: v.value.get(),
        })
    }
}

pub(crate) fn entries<'a>(leaf: &'a Leaf, _g: &'a Guard) -> impl Iterator<Item = &'a Entry> + 'a {
    let mut cur = leaf.head.load(Ordering::Acquire);
    std::iter::from_fn(move || {
        if cur.is_null() {
            return None;
        }
        // SAFETY: as in `Entries::next`.
        let v = unsafe { &*cur };
        cur = v.next.load(Ordering::Acquire);
        Some(v)
    })
}

pub(crate) fn entries_view<'a>(leaf: &'a Leaf) -> Entries<'a> {
    Entries {
        cur: leaf.head.load(Ordering::Acquire),
        _leaf: std::marker::PhantomData,
    }
}

impl Drop for Art {
    fn drop(&mut self) {
        // Exclusive access: free everything reachable. Retired nodes are
        // owned by the epoch and freed there.
        // Iterative: a tree of long nested keys is deep, and the stack is not.
        let mut freed = 0isize;
        let mut stack = vec![Ptr::from_inner(self.root.load(Ordering::Relaxed))];
        while let Some(p) = stack.pop() {
            if p.is_leaf() {
                // SAFETY: reachable from the tree, which we own exclusively.
                unsafe {
                    // The leaf and every version but the inline one.
                    let mut v = (*p.leaf()).head.load(Ordering::Relaxed);
                    while !v.is_null() {
                        freed += 1;
                        v = (*v).next.load(Ordering::Relaxed);
                    }
                    free_leaf(p.leaf(), &self.arena);
                }
                continue;
            }
            // SAFETY: as above.
            let node = unsafe { &*p.inner() };
            stack.extend(node.children().into_iter().map(|(_, c)| c));
            let t = node.terminal.load(Ordering::Relaxed);
            if !t.is_null() {
                stack.push(Ptr::from_leaf(t));
            }
            // SAFETY: as above; its children are on the stack, still owned.
            unsafe { free_node(p.inner()) };
            freed += 1;
        }
        self.count_alloc(-freed);
    }
}

impl std::fmt::Debug for Art {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Art")
            .field("len", &self.len())
            .field("approximate_memory", &self.approximate_memory())
            .finish()
    }
}
