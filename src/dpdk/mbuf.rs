//! Owning handles for packet buffers.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use dpdk_sys::rte_mbuf;

use super::mempool::Mempool;

// The inline accessors below read `rte_mbuf` fields directly, so the
// bindgen'd layout must be DPDK's: bindgen's own layout tests (in dpdk-sys)
// check every field; these pin the ones read here, at compile time.
const _: () = {
    assert!(std::mem::size_of::<rte_mbuf>() == 128);
    assert!(std::mem::offset_of!(rte_mbuf, buf_addr) == 0);
    assert!(std::mem::offset_of!(rte_mbuf, data_off) == 16);
    assert!(std::mem::offset_of!(rte_mbuf, refcnt) == 18);
    assert!(std::mem::offset_of!(rte_mbuf, nb_segs) == 20);
    assert!(std::mem::offset_of!(rte_mbuf, ol_flags) == 24);
    assert!(std::mem::offset_of!(rte_mbuf, pkt_len) == 36);
    assert!(std::mem::offset_of!(rte_mbuf, data_len) == 40);
    assert!(std::mem::offset_of!(rte_mbuf, buf_len) == 54);
    assert!(std::mem::offset_of!(rte_mbuf, next) == 64);
};

/// `rte_pktmbuf_mtod(m, void *)`: `buf_addr + data_off`.
///
/// # Safety
/// `m` must point at a valid mbuf.
#[inline(always)]
unsafe fn mtod(m: *const rte_mbuf) -> *mut u8 {
    // SAFETY: the caller guarantees a valid mbuf; `data_off` lies inside
    // its buffer by DPDK's invariant, so the offset stays in bounds.
    unsafe { (*m).buf_addr.cast::<u8>().add((*m).data_off as usize) }
}

/// `rte_mbuf_refcnt_read`: a relaxed atomic load (RTE_MBUF_REFCNT_ATOMIC).
///
/// # Safety
/// `m` must point at a valid mbuf.
#[inline(always)]
unsafe fn refcnt_atomic<'a>(m: *mut rte_mbuf) -> &'a AtomicU16 {
    // SAFETY: `refcnt` is a naturally aligned u16 (offset asserted above)
    // that DPDK only ever accesses atomically while the mbuf is shared.
    unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*m).refcnt)) }
}

/// `RTE_MBUF_F_INDIRECT`: the mbuf is attached to another's buffer (a clone).
const F_INDIRECT: u64 = dpdk_sys::RTE_MBUF_F_INDIRECT;

/// One packet buffer, owned. `Drop` frees it (all segments); `Send` so it may
/// move to another thread (the writer), not `Sync`.
///
/// `#[repr(transparent)]` over a non-null pointer, so a `Vec<Mbuf>` is the
/// `struct rte_mbuf **` array that burst calls fill and drain in place.
#[repr(transparent)]
pub struct Mbuf {
    ptr: NonNull<rte_mbuf>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: an Mbuf is the unique owner of its buffer; DPDK allows freeing an
// mbuf on any thread (mempool put is thread-safe).
unsafe impl Send for Mbuf {}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("data_len", &self.data_len())
            .field("pkt_len", &self.pkt_len())
            .field("segs", &self.segments())
            .finish()
    }
}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must be a valid mbuf that nothing else frees.
    #[inline]
    pub(crate) unsafe fn from_raw(ptr: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf { ptr, _not_sync: PhantomData }
    }

    /// Gives up ownership (the caller must see it freed exactly once).
    #[inline]
    pub(crate) fn into_raw(self) -> *mut rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline]
    fn raw(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf for our whole lifetime.
        unsafe { self.ptr.as_ref() }
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn data_len(&self) -> usize {
        self.raw().data_len as usize
    }

    /// Bytes in the whole packet (all segments).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Free space before the data in the first segment
    /// (`rte_pktmbuf_headroom`, computed here).
    #[inline]
    pub fn headroom(&self) -> usize {
        self.raw().data_off as usize
    }

    /// Free space after the data of the first segment
    /// (`rte_pktmbuf_tailroom`, computed here).
    #[inline]
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        // DPDK's uint16_t arithmetic; never wraps for a valid mbuf.
        m.buf_len.wrapping_sub(m.data_off).wrapping_sub(m.data_len) as usize
    }

    /// The mbuf's reference count (1 for a uniquely owned buffer); a relaxed
    /// atomic load, as `rte_mbuf_refcnt_read` does.
    #[inline]
    pub fn refcnt(&self) -> u16 {
        // SAFETY: we own a valid mbuf for our whole lifetime.
        unsafe { refcnt_atomic(self.ptr.as_ptr()) }.load(Ordering::Relaxed)
    }

    /// Whether this mbuf owns its data buffer (not a clone attached to
    /// another mbuf's buffer by [`Mbuf::clone_indirect`]).
    #[inline]
    pub fn is_direct(&self) -> bool {
        self.raw().ol_flags & F_INDIRECT == 0
    }

    /// Whether the first segment's bytes may be written: we hold the only
    /// reference and they are not another mbuf's (a clone's are shared).
    #[inline]
    fn writable(&self) -> bool {
        self.refcnt() == 1 && self.is_direct()
    }

    /// The first segment's data pointer (`rte_pktmbuf_mtod`, computed here).
    #[inline]
    pub fn data_ptr(&self) -> *const u8 {
        // SAFETY: we own a valid mbuf.
        unsafe { mtod(self.ptr.as_ptr()) }
    }

    /// The first segment's data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: mtod points at `data_len` initialised bytes inside the
        // buffer we own; the borrow of self keeps it alive and unchanged.
        unsafe { std::slice::from_raw_parts(mtod(self.ptr.as_ptr()), self.data_len()) }
    }

    /// The first segment's data, writable; `None` if the segment is shared
    /// (refcount above 1, or a clone of another mbuf's data), since others
    /// may be reading it.
    #[inline]
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if !self.writable() {
            return None;
        }
        let len = self.data_len();
        // SAFETY: as in `data`, and the segment is not shared (refcnt 1,
        // direct) and we hold `&mut self`, so this is the only reference to
        // its bytes.
        Some(unsafe { std::slice::from_raw_parts_mut(mtod(self.ptr.as_ptr()), len) })
    }

    /// The C shim's answers for what the accessors above compute in Rust
    /// (`rte_pktmbuf_mtod`, `rte_pktmbuf_headroom`, `rte_pktmbuf_tailroom`,
    /// `rte_mbuf_refcnt_read`), for tests that pin one against the other.
    #[doc(hidden)]
    pub fn via_shim(&self) -> ShimView {
        let m = self.ptr.as_ptr();
        // SAFETY: valid mbuf; pure getters.
        unsafe {
            ShimView {
                data_ptr: dpdk_sys::sc_pktmbuf_mtod(m).cast::<u8>().cast_const(),
                headroom: dpdk_sys::sc_pktmbuf_headroom(m) as usize,
                tailroom: dpdk_sys::sc_pktmbuf_tailroom(m) as usize,
                refcnt: dpdk_sys::sc_mbuf_refcnt_read(m),
            }
        }
    }

    /// A clone that shares this packet's data (`rte_pktmbuf_clone`): every
    /// segment gets an indirect mbuf from `pool` attached to its buffer, and
    /// each original segment's refcount goes up by one, so neither copy can
    /// write the bytes until the other is gone. `None` when `pool` is empty.
    pub fn clone_indirect(&self, pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: valid mbuf and pool; DPDK bumps the refcounts atomically
        // and returns NULL (taking nothing) on failure.
        let c = unsafe { dpdk_sys::rte_pktmbuf_clone(self.ptr.as_ptr(), pool.as_ptr()) };
        // SAFETY: a fresh mbuf chain owned by nobody else.
        NonNull::new(c).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    /// Each segment's data, in order.
    pub fn segment_data(&self) -> impl Iterator<Item = &[u8]> {
        let mut next: *mut rte_mbuf = self.ptr.as_ptr();
        std::iter::from_fn(move || {
            if next.is_null() {
                return None;
            }
            // SAFETY: `next` is a segment of the chain we own; segments live
            // as long as the head, which `&self` borrows.
            unsafe {
                let seg = &*next;
                let data = std::slice::from_raw_parts(mtod(next), seg.data_len as usize);
                next = seg.next;
                Some(data)
            }
        })
    }

    /// Each segment's (data pointer, data length), computed here and through
    /// the C shim's `rte_pktmbuf_mtod`, for tests that pin one against the
    /// other on chains.
    #[doc(hidden)]
    pub fn segment_ptrs(&self) -> Vec<(*const u8, *const u8, usize)> {
        let mut out = Vec::new();
        let mut next: *mut rte_mbuf = self.ptr.as_ptr();
        while !next.is_null() {
            // SAFETY: `next` is a segment of the chain we own.
            unsafe {
                out.push((
                    mtod(next).cast_const(),
                    dpdk_sys::sc_pktmbuf_mtod(next).cast::<u8>().cast_const(),
                    (*next).data_len as usize,
                ));
                next = (*next).next;
            }
        }
        out
    }

    /// Grows the data by `len` bytes at the end and returns them (zeroed
    /// contents are not guaranteed); `None` without the tailroom.
    #[inline]
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.writable() || self.segments() != 1 {
            return None;
        }
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: valid, unshared, single-segment mbuf; DPDK checks room and
        // returns NULL without it.
        let p = unsafe { dpdk_sys::sc_pktmbuf_append(self.ptr.as_ptr(), len16) };
        // SAFETY: non-null p points at `len` bytes inside our buffer.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
    }

    /// [`Mbuf::append`] computed here instead of in a DPDK call: for a
    /// single-segment, unshared buffer, grows the data by `len` bytes at the
    /// end and returns them; `None` without the tailroom. The transmit fast
    /// path of `bench` runs this once per frame.
    #[inline]
    pub fn append_inline(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        let m = self.ptr.as_ptr();
        // SAFETY: we own a valid mbuf for our whole lifetime. The refcount
        // is read atomically, as rte_mbuf_refcnt_read does (others may hold
        // a reference and change it); the other fields are ours alone
        // while the buffer is unshared and single-segment, which is checked
        // before they are written. The bytes returned lie between the
        // current end of the data and `buf_len`, inside our buffer, exactly
        // what rte_pktmbuf_append hands out for a single segment.
        unsafe {
            if refcnt_atomic(m).load(Ordering::Relaxed) != 1 || (*m).nb_segs != 1 || (*m).ol_flags & F_INDIRECT != 0 {
                return None;
            }
            let tail = (*m).data_off as usize + (*m).data_len as usize;
            if tail + len > (*m).buf_len as usize {
                return None;
            }
            let p = (*m).buf_addr.cast::<u8>().add(tail);
            (*m).data_len += len16;
            (*m).pkt_len += len as u32;
            Some(std::slice::from_raw_parts_mut(p, len))
        }
    }

    /// Grows the data by `len` bytes at the front (into the headroom) and
    /// returns them; `None` without the headroom.
    #[inline]
    pub fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if !self.writable() {
            return None;
        }
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: valid, unshared mbuf; DPDK checks headroom.
        let p = unsafe { dpdk_sys::sc_pktmbuf_prepend(self.ptr.as_ptr(), len16) };
        // SAFETY: non-null p points at `len` bytes inside our buffer.
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
    }

    /// Drops `len` bytes from the front of the first segment; false if it
    /// holds fewer.
    #[inline]
    pub fn adj(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else { return false };
        // SAFETY: valid mbuf; DPDK checks the length. Moving the data offset
        // of a shared segment would affect its other owners, hence the check.
        self.refcnt() == 1 && unsafe { !dpdk_sys::sc_pktmbuf_adj(self.ptr.as_ptr(), len16).is_null() }
    }

    /// Drops `len` bytes from the end of the last segment; false if it holds
    /// fewer.
    #[inline]
    pub fn trim(&mut self, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else { return false };
        // SAFETY: valid mbuf; DPDK checks the length.
        self.refcnt() == 1
            && self.segments() == 1
            && unsafe { dpdk_sys::sc_pktmbuf_trim(self.ptr.as_ptr(), len16) } == 0
    }

    /// Links `tail` after this packet's last segment. Gives `tail` back if
    /// the chain would exceed DPDK's segment limit.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        let t = tail.into_raw();
        // SAFETY: both are valid mbufs; on success the head owns the tail.
        let rc = unsafe { dpdk_sys::sc_pktmbuf_chain(self.ptr.as_ptr(), t) };
        if rc == 0 {
            Ok(())
        } else {
            // SAFETY: chaining failed, so `t` is still ours alone.
            Err(unsafe { Mbuf::from_raw(NonNull::new_unchecked(t)) })
        }
    }

    /// Links one reference of a shared single-segment buffer after this
    /// packet (the zero-copy way to send data that also waits for its ACK:
    /// a fresh header mbuf followed by the shared payload).
    pub fn chain_shared(&mut self, tail: SharedMbuf) -> Result<(), SharedMbuf> {
        let t = tail.ptr;
        std::mem::forget(tail);
        // SAFETY: the reference we forgot is transferred to the chain; when
        // the chain is freed DPDK decrements the tail's refcount once.
        let rc = unsafe { dpdk_sys::sc_pktmbuf_chain(self.ptr.as_ptr(), t.as_ptr()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(SharedMbuf { ptr: t })
        }
    }

    /// Turns a uniquely owned single-segment mbuf into a shared read-only
    /// handle; gives it back if it has several segments (DPDK refcounts are
    /// per segment, so a shared chain could not be freed correctly).
    pub fn into_shared(self) -> Result<SharedMbuf, Mbuf> {
        if self.segments() != 1 || !self.raw().next.is_null() {
            return Err(self);
        }
        Ok(SharedMbuf { ptr: NonNull::new(self.into_raw()).expect("non-null") })
    }

    /// Frees many mbufs at once (`rte_pktmbuf_free_bulk`), emptying `bufs`.
    pub fn free_bulk(bufs: &mut Vec<Mbuf>) {
        // SAFETY: `Mbuf` is a transparent non-null mbuf pointer, and each element
        // owns its mbuf (one reference) outright.
        unsafe { release_bulk(bufs) }
    }
}

/// Releases one reference of each handle in `bufs` with one `rte_pktmbuf_free_bulk`
/// (which honours refcounts: a buffer returns to its pool with its last reference),
/// then forgets the handles so none is released twice.
///
/// # Safety
/// `T` must be `#[repr(transparent)]` over a non-null `rte_mbuf` pointer, and each
/// element must own the one reference it gives up here.
unsafe fn release_bulk<T>(bufs: &mut Vec<T>) {
    if bufs.is_empty() {
        return;
    }
    // SAFETY: by the caller's contract the vector is an array of valid mbuf pointers,
    // each owning a reference that the bulk free releases; set_len(0) then forgets
    // them without running their `Drop`.
    unsafe {
        dpdk_sys::rte_pktmbuf_free_bulk(bufs.as_mut_ptr().cast(), bufs.len() as u32);
        bufs.set_len(0);
    }
}

/// What the C shim says about an mbuf (see [`Mbuf::via_shim`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShimView {
    pub data_ptr: *const u8,
    pub headroom: usize,
    pub tailroom: usize,
    pub refcnt: u16,
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we are the unique owner; frees every segment once.
        unsafe { dpdk_sys::sc_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

/// A read-only, reference-counted single-segment packet buffer. `Clone` adds
/// a reference (`rte_mbuf_refcnt_update(+1)`), `Drop` releases one; the
/// buffer returns to its pool with the last. This is how data waiting for its
/// ACK is kept and resent without copying.
#[repr(transparent)]
pub struct SharedMbuf {
    ptr: NonNull<rte_mbuf>,
}

// SAFETY: the data is never written while shared (no `&mut` access exists)
// and the refcount is updated atomically by DPDK.
unsafe impl Send for SharedMbuf {}
// SAFETY: as above; `&SharedMbuf` gives read-only access to immutable bytes.
unsafe impl Sync for SharedMbuf {}

impl SharedMbuf {
    /// The payload bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: single-segment mbuf we hold a reference to; nobody writes
        // a shared segment (Mbuf refuses mutation when refcnt > 1).
        unsafe {
            let m = self.ptr.as_ref();
            std::slice::from_raw_parts(mtod(m), m.data_len as usize)
        }
    }

    /// The current reference count (a relaxed atomic load, as
    /// `rte_mbuf_refcnt_read` does).
    #[inline]
    pub fn refcnt(&self) -> u16 {
        // SAFETY: we hold a reference, so the mbuf is alive.
        unsafe { refcnt_atomic(self.ptr.as_ptr()) }.load(Ordering::Relaxed)
    }

    /// The reference count as the C shim's `rte_mbuf_refcnt_read` reads it.
    #[doc(hidden)]
    pub fn refcnt_via_shim(&self) -> u16 {
        // SAFETY: valid mbuf; atomic read.
        unsafe { dpdk_sys::sc_mbuf_refcnt_read(self.ptr.as_ptr()) }
    }

    /// Adds a reference through the C shim's `rte_mbuf_refcnt_update`
    /// instead of the inline update `Clone` does (for tests).
    #[doc(hidden)]
    pub fn clone_via_shim(&self) -> SharedMbuf {
        // SAFETY: we hold a reference, so the mbuf is alive.
        unsafe { dpdk_sys::sc_mbuf_refcnt_update(self.ptr.as_ptr(), 1) };
        SharedMbuf { ptr: self.ptr }
    }

    /// Back to a uniquely owned mbuf if this is the last reference.
    pub fn try_unique(self) -> Result<Mbuf, SharedMbuf> {
        if self.refcnt() == 1 {
            let p = self.ptr;
            std::mem::forget(self);
            // SAFETY: we held the only reference.
            Ok(unsafe { Mbuf::from_raw(p) })
        } else {
            Err(self)
        }
    }
}

impl SharedMbuf {
    /// Releases one reference of each (`rte_pktmbuf_free_bulk`, which honours
    /// refcounts: a buffer returns to its pool with its last reference),
    /// emptying `bufs`.
    pub fn free_bulk(bufs: &mut Vec<SharedMbuf>) {
        // SAFETY: `SharedMbuf` is a transparent non-null mbuf pointer, and each
        // element owns one reference.
        unsafe { release_bulk(bufs) }
    }
}

impl AsRef<[u8]> for SharedMbuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl Clone for SharedMbuf {
    #[inline]
    fn clone(&self) -> Self {
        // `rte_mbuf_refcnt_update(m, 1)`, inline, as an acquire-release
        // atomic add (DPDK's `__rte_mbuf_refcnt_update`). DPDK's own wrapper
        // stores `2` without an atomic add when it reads 1, which assumes the
        // caller is the only holder; a `&SharedMbuf` may be cloned on two
        // threads at once (it is `Sync`), so the add is always atomic here.
        // SAFETY: we hold a reference, so the mbuf is alive.
        unsafe { refcnt_atomic(self.ptr.as_ptr()) }.fetch_add(1, Ordering::AcqRel);
        SharedMbuf { ptr: self.ptr }
    }
}

impl Drop for SharedMbuf {
    #[inline]
    fn drop(&mut self) {
        // Not the last reference: take ours off the count, inline. For a
        // single segment whose count is above 1 this is all
        // rte_pktmbuf_free does (`rte_pktmbuf_prefree_seg` decrements and
        // returns NULL); the compare-exchange never takes the count to 0,
        // so the buffer is freed by whoever holds the last reference.
        // SAFETY: we hold a reference, so the mbuf is alive.
        let refcnt = unsafe { refcnt_atomic(self.ptr.as_ptr()) };
        let mut seen = refcnt.load(Ordering::Relaxed);
        while seen > 1 {
            match refcnt.compare_exchange_weak(seen, seen - 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
        // The last reference: what the other holders wrote happens before
        // the buffer goes back to its pool (DPDK itself reads the count
        // relaxed here).
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: releases the one reference we hold, the last one:
        // rte_pktmbuf_free detaches a clone and returns the buffer to its
        // pool (single segment, so no chain walk).
        unsafe { dpdk_sys::sc_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for SharedMbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMbuf").field("len", &self.data().len()).field("refcnt", &self.refcnt()).finish()
    }
}
