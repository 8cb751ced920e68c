//! Typed errors of the safe layer, each carrying DPDK's own reason.

use std::ffi::CStr;

/// What went wrong in a DPDK call, with `rte_errno` (or the negative return
/// code) translated into DPDK's text.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed; `log` holds the last EAL log lines that explain it.
    #[error("EAL initialisation failed: {reason}{}", if log.is_empty() { String::new() } else { format!(" ({log})") })]
    EalInit { reason: String, log: String },
    /// The EAL was already initialised in this process (DPDK allows one init).
    #[error("EAL is already initialised in this process")]
    EalAlreadyInitialised,
    /// An EAL argument contained a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// Creating a mempool failed.
    #[error("cannot create mempool {name:?} of {count} mbufs: {reason}")]
    MempoolCreate { name: String, count: u32, reason: String },
    /// No port with that id or name exists.
    #[error("no such port: {0}")]
    NoSuchPort(String),
    /// A port operation failed.
    #[error("port {port}: {op} failed: {reason}")]
    Port { port: u16, op: &'static str, reason: String },
    /// A request exceeds what the device supports.
    #[error("port {port}: {what}")]
    Unsupported { port: u16, what: String },
    /// Launching work on an lcore failed.
    #[error("cannot launch on lcore {lcore}: {reason}")]
    Launch { lcore: u32, reason: String },
    /// Work launched on an lcore panicked.
    #[error("lcore {lcore} panicked: {message}")]
    LcorePanic { lcore: u32, message: String },
    /// Registering a non-EAL thread failed.
    #[error("cannot register thread with EAL: {0}")]
    ThreadRegister(String),
}

/// DPDK's text for an errno value (positive or negative).
pub fn rte_errno_text(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string for any input.
    let ptr = unsafe { dpdk_sys::rte_strerror(errno.abs()) };
    if ptr.is_null() {
        return format!("errno {}", errno.abs());
    }
    // SAFETY: non-null and NUL-terminated (see above); copied out at once.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// The calling thread's `rte_errno`, as text.
pub(crate) fn last_rte_errno() -> String {
    // SAFETY: sc_errno reads the per-lcore rte_errno variable of this thread.
    let errno = unsafe { dpdk_sys::sc_errno() };
    rte_errno_text(errno)
}
