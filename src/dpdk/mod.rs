//! The safe layer over `dpdk-sys`: the only module of `stripecat`, besides the
//! FFI crate itself, that holds `unsafe` code. Every block carries a
//! `// SAFETY:` comment; every owning handle frees exactly once.
//!
//! Ownership rules this layer enforces:
//! - [`Eal`] is initialised at most once per process (DPDK cannot re-init
//!   after cleanup) and cleans up on drop: ports are stopped and closed first,
//!   then `rte_eal_cleanup` runs.
//! - [`Mbuf`] owns one packet buffer: `Drop` frees it, it is `Send` (it may
//!   move to the writer thread) but not `Sync`.
//! - [`SharedMbuf`] is a read-only, reference-counted view used for data that
//!   waits for its ACK: `Clone` bumps the mbuf refcount, `Drop` releases it.
//! - [`Port::rx_burst`] hands back owned mbufs; [`Port::tx_burst`] takes
//!   ownership of what the driver accepted and leaves the rest with the caller.

mod eal;
mod error;
mod irq;
mod lcore;
mod log;
mod mbuf;
mod mempool;
mod port;
mod tsc;
mod vdev;

pub use eal::{Eal, EalOptions};
pub use error::{rte_errno_text, DpdkError};
pub use irq::IrqWaiter;
pub use lcore::{interrupt_thread_idle, spawn_registered, LcoreJoin, ThreadRegistration};
pub use mbuf::{Mbuf, SharedMbuf, ShimView};
pub use mempool::Mempool;
pub use port::{
    device_info, link_status, mac_address, mtu, DeviceInfo, LinkStatus, Port, PortConfig, PortId, PortStats, RxQueue,
    TxQueue, Xstat, MAX_BURST, RX_OFFLOAD_IPV4_CKSUM, TX_OFFLOAD_IPV4_CKSUM, TX_OFFLOAD_MULTI_SEGS,
    TX_OFFLOAD_UDP_CKSUM,
};

/// The DPDK version this binary was built against.
pub fn build_version() -> &'static str {
    dpdk_sys::DPDK_BUILD_VERSION
}

/// The DPDK version of the library loaded at run time (`rte_version()`).
pub fn runtime_version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string
    // and needs no EAL initialisation.
    let ptr = unsafe { dpdk_sys::rte_version() };
    if ptr.is_null() {
        return "unknown".into();
    }
    // SAFETY: non-null, NUL-terminated, static lifetime (see above).
    unsafe { std::ffi::CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// Reads the time-stamp counter (cheap; one per poll-loop iteration).
/// On x86-64 the instruction is inlined (rte_rdtsc is this very
/// instruction; through the C shim it cost a call per reading).
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions and touches no memory.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: sc_rdtsc wraps rte_rdtsc, a single instruction.
        unsafe { dpdk_sys::sc_rdtsc() }
    }
}

/// A CPU pause hint for spin loops.
#[inline]
pub fn pause() {
    // SAFETY: sc_pause wraps rte_pause, a single pause instruction.
    unsafe { dpdk_sys::sc_pause() }
}

/// The EAL lcore id of the calling thread, or `None` for an unregistered
/// non-EAL thread.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads a thread-local set by EAL; valid on any thread.
    let id = unsafe { dpdk_sys::sc_lcore_id() };
    if id == u32::MAX {
        None
    } else {
        Some(id)
    }
}

/// EAL's recent error lines joined (for messages about things that failed
/// after init, such as a vdev that did not probe); `None` when there are none.
pub fn recent_eal_errors() -> Option<String> {
    let text = log::explain(3);
    (!text.is_empty()).then_some(text)
}

/// Lets the calling thread run on every online CPU. EAL pins the main
/// thread to one core, and threads it spawns inherit that; the reader and
/// writer threads should float instead of fighting the poll loop.
pub fn unpin_current_thread() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET only writes
    // inside it; sched_setaffinity(0, ...) affects only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        for cpu in 0..n.min(libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
