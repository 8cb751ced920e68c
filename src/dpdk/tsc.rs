//! A shorter TSC calibration at EAL start.
//!
//! `rte_eal_init` needs the TSC frequency. On x86 DPDK 22.11 asks CPUID leaf
//! 0x15 and the platform-info MSR, but never on AMD, and a VM rarely offers
//! either; then it times one `nanosleep` of exactly 100 ms against
//! `CLOCK_MONOTONIC_RAW` (`get_tsc_freq` in `eal_timer.c`) and rounds the
//! result to 10 MHz. Those 100 ms were two thirds of `stripecat ports`.
//!
//! The executable defines `nanosleep`, so the dynamic linker binds
//! `librte_eal`'s calls to it (the executable comes first in symbol lookup).
//! While [`calibrating`] runs on a thread, a request for exactly 100 ms on
//! that thread sleeps [`WINDOW_NS`] instead; every other call, on every
//! thread, is passed to the kernel unchanged. DPDK still measures: it reads
//! the TSC and the raw clock around the sleep, so the estimate stays a
//! measurement over a shorter window (the 10 MHz rounding is 0.4 % of a
//! 2.6 GHz TSC; a 20 ms window resolves 20 µs of jitter below that).
//! `STRIPECAT_TSC_FULL_CALIBRATION=1` keeps DPDK's 100 ms.

use std::cell::Cell;
use std::os::raw::c_int;

/// The calibration window used instead of DPDK's 100 ms.
pub(crate) const WINDOW_NS: libc::c_long = 20_000_000;

/// DPDK's calibration sleep (`NS_PER_SEC / 10`).
const DPDK_WINDOW_NS: libc::c_long = 100_000_000;

thread_local! {
    /// Set on the thread running `rte_eal_init`, while it runs.
    static CALIBRATING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (EAL initialisation) with the short calibration window on this
/// thread, unless `STRIPECAT_TSC_FULL_CALIBRATION` is set.
pub(crate) fn calibrating<T>(f: impl FnOnce() -> T) -> T {
    let short = std::env::var_os("STRIPECAT_TSC_FULL_CALIBRATION").is_none_or(|v| v.is_empty() || v == "0");
    CALIBRATING.with(|c| c.set(short));
    let out = f();
    CALIBRATING.with(|c| c.set(false));
    out
}

/// `nanosleep(2)` as glibc defines it (`clock_nanosleep` on
/// `CLOCK_REALTIME`, -1 and `errno` on failure), with DPDK's calibration
/// sleep shortened while [`calibrating`] runs on the calling thread.
///
/// # Safety
/// As `nanosleep`: `req` must point at a valid timespec, `rem` be null or
/// point at writable memory for one.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    if req.is_null() {
        // SAFETY: errno is this thread's own.
        unsafe { *libc::__errno_location() = libc::EFAULT };
        return -1;
    }
    // SAFETY: the caller passes a valid timespec.
    let mut ts = unsafe { *req };
    // The flag has no destructor and a const initialiser, so reading it is
    // safe at any point of a thread's life.
    if ts.tv_sec == 0 && ts.tv_nsec == DPDK_WINDOW_NS && CALIBRATING.with(Cell::get) {
        ts.tv_nsec = WINDOW_NS;
    }
    // SAFETY: `ts` is a valid timespec; `rem` is the caller's (null or
    // writable), as clock_nanosleep requires.
    let rc = unsafe { libc::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, rem) };
    if rc == 0 {
        return 0;
    }
    // SAFETY: errno is this thread's own.
    unsafe { *libc::__errno_location() = rc };
    -1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(sec: libc::time_t, nsec: libc::c_long) -> (c_int, i32) {
        let ts = libc::timespec { tv_sec: sec, tv_nsec: nsec };
        // SAFETY: a valid timespec and no remainder pointer.
        let rc = unsafe { nanosleep(&ts, std::ptr::null_mut()) };
        (rc, std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    #[test]
    fn behaves_as_nanosleep_on_success_and_errors() {
        assert_eq!(call(0, 1).0, 0);
        assert_eq!(call(0, 2_000_000_000), (-1, libc::EINVAL));
        assert_eq!(call(-1, 0), (-1, libc::EINVAL));
        // SAFETY: null request: EFAULT, as the kernel would say.
        let rc = unsafe { nanosleep(std::ptr::null(), std::ptr::null_mut()) };
        assert_eq!((rc, std::io::Error::last_os_error().raw_os_error()), (-1, Some(libc::EFAULT)));
    }

    #[test]
    fn the_flag_is_per_thread_and_cleared_after() {
        calibrating(|| {
            assert!(CALIBRATING.with(Cell::get) || std::env::var_os("STRIPECAT_TSC_FULL_CALIBRATION").is_some());
            std::thread::spawn(|| assert!(!CALIBRATING.with(Cell::get))).join().unwrap();
        });
        assert!(!CALIBRATING.with(Cell::get));
    }
}
