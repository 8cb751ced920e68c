//! Packet-buffer pools.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys::rte_mempool;

use super::eal::{Eal, EalInner};
use super::error::{last_rte_errno, DpdkError};
use super::mbuf::Mbuf;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`). Thread-safe and
/// cheap to clone (a reference); freed when the last clone goes, once every
/// mbuf is back (a pool with mbufs still out is leaked on purpose rather than
/// freed under them). Ports keep a clone of their receive pool, so a pool
/// always outlives the ports that fill it.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<rte_mempool>,
    name: String,
    _eal: Arc<EalInner>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer
// is only used through DPDK's thread-safe API.
unsafe impl Send for PoolInner {}
// SAFETY: as above; no method takes interior state without DPDK's locking.
unsafe impl Sync for PoolInner {}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("capacity", &self.capacity())
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl Mempool {
    /// Creates a pool of `count` mbufs, each with `data_room` bytes of data
    /// room (headroom included) and a per-lcore cache of `cache` mbufs
    /// (0 for exact accounting in tests), on NUMA `socket` (`None`: any).
    pub fn new(
        eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
        socket: Option<i32>,
    ) -> Result<Mempool, DpdkError> {
        let err = |reason: String| DpdkError::MempoolCreate { name: name.into(), count, reason };
        let c_name = CString::new(name).map_err(|_| err("name contains a NUL byte".into()))?;
        let socket = socket.unwrap_or(dpdk_sys::SOCKET_ID_ANY);
        // SAFETY: valid C string; numeric arguments are checked by DPDK,
        // which returns NULL and sets rte_errno on any failure.
        let ptr = unsafe { dpdk_sys::rte_pktmbuf_pool_create(c_name.as_ptr(), count, cache, 0, data_room, socket) };
        let ptr = NonNull::new(ptr).ok_or_else(|| err(last_rte_errno()))?;
        Ok(Mempool { inner: Arc::new(PoolInner { ptr, name: name.into(), _eal: Arc::clone(&eal.inner) }) })
    }

    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut rte_mempool {
        self.inner.ptr.as_ptr()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Allocates one mbuf, or `None` when the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid for our lifetime.
        let m = unsafe { dpdk_sys::sc_pktmbuf_alloc(self.as_ptr()) };
        // SAFETY: a fresh mbuf from the pool, owned by nobody else.
        NonNull::new(m).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    /// Appends `n` fresh mbufs to `out`, all or nothing; false when the pool
    /// cannot supply `n`.
    pub fn alloc_bulk(&self, n: usize, out: &mut Vec<Mbuf>) -> bool {
        out.reserve(n);
        let len = out.len();
        // SAFETY: `out` has room for `n` more pointers and Mbuf is a
        // transparent wrapper over a non-null `*mut rte_mbuf`.
        let rc = unsafe { dpdk_sys::sc_pktmbuf_alloc_bulk(self.as_ptr(), out.as_mut_ptr().add(len).cast(), n as u32) };
        if rc != 0 {
            return false;
        }
        // SAFETY: DPDK filled `n` valid, uniquely owned mbuf pointers.
        unsafe { out.set_len(len + n) };
        true
    }

    /// Total number of mbufs in the pool.
    pub fn capacity(&self) -> u32 {
        // SAFETY: pointer valid for our lifetime; `size` is set at creation.
        unsafe { (*self.as_ptr()).size }
    }

    /// Mbufs free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: pointer valid; read-only query.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: pointer valid; read-only query.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// Data room per mbuf (headroom included).
    pub fn data_room(&self) -> u16 {
        // SAFETY: pointer valid; reads the pool's private area.
        unsafe { dpdk_sys::sc_pktmbuf_data_room_size(self.as_ptr()) }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        let p = self.ptr.as_ptr();
        // SAFETY: pointer valid until freed below; read-only query.
        let out = unsafe { dpdk_sys::rte_mempool_in_use_count(p) };
        if out != 0 {
            // Freeing now would leave those mbufs pointing at freed memory.
            eprintln!(
                "stripecat: warning: mempool {} dropped with {out} mbufs still in use; not freeing it",
                self.name
            );
            return;
        }
        // SAFETY: no mbuf is outstanding, and no port uses the pool any more:
        // every port holds a clone of its receive pool and closes before
        // releasing it, so this is the last reference.
        unsafe { dpdk_sys::rte_mempool_free(p) };
    }
}
