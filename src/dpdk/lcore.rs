//! Running Rust closures on EAL lcores, and registering non-EAL threads.

use std::any::Any;
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use super::eal::{Eal, EalInner};
use super::error::{last_rte_errno, rte_errno_text, DpdkError};

type Job = Box<dyn FnOnce() + Send + 'static>;
type Slot<T> = Arc<Mutex<Option<std::thread::Result<T>>>>;

/// A job running on a worker lcore. [`LcoreJoin::join`] waits for it and
/// returns its value, or [`DpdkError::LcorePanic`] if it panicked. Dropping
/// the handle also waits, so EAL is never cleaned up under a running job.
pub struct LcoreJoin<T> {
    lcore: u32,
    slot: Slot<T>,
    waited: bool,
    _eal: Arc<EalInner>,
}

pub(crate) fn launch<F, T>(eal: &Eal, lcore: u32, job: F) -> Result<LcoreJoin<T>, DpdkError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let slot: Slot<T> = Arc::new(Mutex::new(None));
    let out = Arc::clone(&slot);
    let job: Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(job));
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
    });
    let arg = Box::into_raw(Box::new(job)).cast::<c_void>();
    // SAFETY: `trampoline` takes back ownership of `arg` exactly once when
    // the launch succeeds; on failure we take it back below instead.
    let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if rc != 0 {
        // SAFETY: the launch failed, so the trampoline never ran and `arg` is
        // still the box we leaked above.
        drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        return Err(DpdkError::Launch { lcore, reason: rte_errno_text(rc) });
    }
    Ok(LcoreJoin { lcore, slot, waited: false, _eal: Arc::clone(&eal.inner) })
}

/// # Safety
/// `arg` must be a `Box<Job>` leaked by [`launch`], passed exactly once.
unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: guaranteed by the caller contract above.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    job(); // panics are caught inside the job
    0
}

impl<T> LcoreJoin<T> {
    /// The lcore the job runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    fn wait(&mut self) {
        if !self.waited {
            // SAFETY: waits for our own job on `lcore`; safe from the main lcore.
            unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
            self.waited = true;
        }
    }

    /// Waits for the job and returns what it returned.
    pub fn join(mut self) -> Result<T, DpdkError> {
        self.wait();
        let result = self
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("an lcore job always stores its result before returning");
        result.map_err(|payload| DpdkError::LcorePanic { lcore: self.lcore, message: panic_message(&payload) })
    }
}

impl<T> Drop for LcoreJoin<T> {
    fn drop(&mut self) {
        self.wait();
    }
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// A non-EAL thread registered with EAL (`rte_thread_register`), so it has an
/// lcore id and may use per-lcore mempool caches when freeing mbufs. The
/// registration ends when this guard drops; it stays on its thread.
pub struct ThreadRegistration {
    lcore: u32,
    _not_send: PhantomData<*const ()>,
}

impl ThreadRegistration {
    /// Registers the calling thread.
    pub fn register(_eal: &Eal) -> Result<ThreadRegistration, DpdkError> {
        // SAFETY: registers the calling thread; needs an initialised EAL,
        // which the `&Eal` proves.
        let rc = unsafe { dpdk_sys::rte_thread_register() };
        if rc != 0 {
            return Err(DpdkError::ThreadRegister(last_rte_errno()));
        }
        Ok(ThreadRegistration { lcore: super::current_lcore().unwrap_or(u32::MAX), _not_send: PhantomData })
    }

    /// The lcore id EAL gave this thread.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }
}

/// Starts a helper thread (reader, writer, a second poll loop) that floats over
/// every CPU instead of inheriting the main thread's pinning, registered with EAL
/// for as long as `f` runs.
pub fn spawn_registered<T: Send + 'static>(
    eal: &Eal,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let eal = eal.clone();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        super::unpin_current_thread();
        let _reg = ThreadRegistration::register(&eal).ok();
        f()
    })
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        // SAFETY: this guard is !Send, so we are on the registered thread.
        unsafe { dpdk_sys::rte_thread_unregister() };
    }
}

/// The system call number of `epoll_wait` on x86-64, where EAL's interrupt thread
/// blocks between events.
const SYS_EPOLL_WAIT: &str = "232";
/// ... and `epoll_pwait`, which other builds of the same thread use.
const SYS_EPOLL_PWAIT: &str = "281";

/// Whether EAL's interrupt thread (`eal-intr-thread`, which runs link and memif
/// control events) is idle, blocked in `epoll_wait` for its next event; `None` when
/// the thread or its `/proc` entry cannot be read. Read from `/proc/self/task`, so
/// a caller can wait for an event's handling to finish instead of sleeping a guess.
pub fn interrupt_thread_idle() -> Option<bool> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end() != "eal-intr-thread" {
            continue;
        }
        let syscall = std::fs::read_to_string(path.join("syscall")).ok()?;
        let nr = syscall.split_whitespace().next()?;
        return Some(nr == SYS_EPOLL_WAIT || nr == SYS_EPOLL_PWAIT);
    }
    None
}
