//! EAL initialisation and teardown.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::error::{last_rte_errno, DpdkError};
use super::lcore::{self, LcoreJoin};
use super::log;
use super::port::PortId;

/// The `--file-prefix` we choose: `stripecat-PID`, so stale ones can be
/// recognised and swept.
const OUR_PREFIX_ARG: &str = "--file-prefix=stripecat-";

/// DPDK allows `rte_eal_init` once per process, even after cleanup.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// What to start EAL with. [`EalOptions::to_args`] turns it into the argument
/// vector; `extra` (the user's `--eal` string) always comes last so it can
/// override our defaults.
#[derive(Debug, Clone, Default)]
pub struct EalOptions {
    /// `--lcores`: the lcore map (e.g. `0@(0-1),1@1`). `None`: EAL's default.
    pub lcores: Option<String>,
    /// `-a`: PCI devices to probe (and only those). Empty with no vdevs and
    /// `pci_scan` false means `--no-pci`.
    pub pci: Vec<String>,
    /// `--vdev`: virtual devices (devargs starting `net_`).
    pub vdevs: Vec<String>,
    /// Scan the whole PCI bus (used by `stripecat ports` with no `--port`).
    pub pci_scan: bool,
    /// Extra arguments from the user (`--eal "..."`), already split.
    pub extra: Vec<String>,
    /// 0: EAL's log is captured, not shown; 1: echoed to stderr; 2+: debug.
    pub verbose: u8,
}

impl EalOptions {
    /// The full argument vector, program name first.
    ///
    /// Defaults, each skipped when `extra` already says otherwise:
    /// `--in-memory` (no hugepage files or shared config left behind by a
    /// killed run, so the next run starts cleanly), a per-process
    /// `--file-prefix` (two processes on one host never collide),
    /// `--no-telemetry`, and `--no-pci` when no PCI device is asked for.
    pub fn to_args(&self) -> Vec<String> {
        let has = |flag: &str| self.extra.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        let mut args = vec!["stripecat".to_string()];
        if let Some(l) = &self.lcores {
            if !has("-l") && !has("--lcores") && !has("-c") {
                args.push(format!("--lcores={l}"));
            }
        }
        if !has("--file-prefix") {
            args.push(format!("{OUR_PREFIX_ARG}{}", std::process::id()));
        }
        if !has("--in-memory") && !has("--legacy-mem") && !has("--proc-type") && !has("--no-huge") {
            args.push("--in-memory".into());
        }
        // Telemetry's socket thread costs start-up time and a socket in
        // the runtime directory; nothing here reads it (`--telemetry`
        // in `--eal` brings it back).
        if !has("--telemetry") && !has("--no-telemetry") {
            args.push("--no-telemetry".into());
        }
        if self.verbose >= 2 && !has("--log-level") {
            args.push("--log-level=*:debug".into());
        }
        for p in &self.pci {
            args.push("-a".into());
            args.push(p.clone());
        }
        if self.pci.is_empty() && !self.pci_scan && !has("-a") && !has("--allow") {
            args.push("--no-pci".into());
        }
        for v in &self.vdevs {
            args.push(format!("--vdev={v}"));
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// Shared state behind every handle that must not outlive the EAL.
pub(crate) struct EalInner {
    /// Ports configured through this EAL, stopped and closed on drop.
    ports: Mutex<Vec<u16>>,
    /// Our own runtime directory (`/var/run/dpdk/stripecat-PID`), removed
    /// after cleanup so runs leave nothing behind.
    runtime_dir: Option<PathBuf>,
}

impl Drop for EalInner {
    fn drop(&mut self) {
        let ports = std::mem::take(&mut *self.ports.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ports {
            // SAFETY: `id` was a valid, configured port; stop and close are
            // safe to call on a stopped port, and no queue handle outlives
            // this (they hold an Arc to us).
            unsafe {
                dpdk_sys::rte_eth_dev_stop(id);
                dpdk_sys::rte_eth_dev_close(id);
            }
        }
        // SAFETY: every handle that refers to EAL memory holds an Arc to this
        // value, so nothing uses EAL after this point.
        unsafe { dpdk_sys::rte_eal_cleanup() };
        if let Some(dir) = &self.runtime_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// An initialised EAL. Cheap to clone; cleanup runs when the last clone and
/// every port, queue, mempool and lcore job made from it are gone.
#[derive(Clone)]
pub struct Eal {
    pub(crate) inner: Arc<EalInner>,
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal").finish_non_exhaustive()
    }
}

impl Eal {
    /// Initialises EAL from `opts`. Fails with [`DpdkError::EalInit`]
    /// carrying `rte_errno` and EAL's own last error lines.
    pub fn init(opts: &EalOptions) -> Result<Eal, DpdkError> {
        Self::init_args(&opts.to_args(), opts.verbose)
    }

    /// Initialises EAL from a raw argument vector (program name first).
    pub fn init_args(args: &[String], verbose: u8) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        log::install(verbose > 0);
        log::clear();
        let mut c_args = Vec::with_capacity(args.len() + 1);
        for a in args {
            c_args.push(CString::new(a.as_str()).map_err(|_| DpdkError::BadArgument(a.clone()))?);
        }
        // EAL may keep pointers into argv (devargs, prefixes) for the life of
        // the process, so the strings are leaked on purpose.
        let mut argv: Vec<*mut c_char> = c_args.into_iter().map(|s| s.into_raw()).collect();
        let argc = argv.len() as c_int;
        argv.push(std::ptr::null_mut());
        let argv = Box::leak(argv.into_boxed_slice());
        sweep_stale_runtime_dirs();
        // EAL prints its usage text with printf on bad arguments; keep our
        // stdout (which may be the received stream) clean while it runs.
        let capture = CaptureStdio::new(verbose == 0);
        // SAFETY: argv is a NULL-terminated array of `argc` valid C strings
        // that lives forever; init is called at most once (INITIALISED).
        let rc = super::tsc::calibrating(|| unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) });
        let direct = capture.finish();
        if rc < 0 {
            let mut why = direct_output_reason(&direct);
            let logged = log::explain(3);
            if !logged.is_empty() && !why.contains(&logged) {
                if !why.is_empty() {
                    why.push_str("; ");
                }
                why.push_str(&logged);
            }
            let reason = last_rte_errno();
            // A failed init leaves its runtime directory behind.
            if args.iter().any(|a| a.starts_with(OUR_PREFIX_ARG)) {
                let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/stripecat-{}", std::process::id()));
            }
            return Err(DpdkError::EalInit { reason, log: why });
        }
        // The runtime directory is ours to remove after cleanup when we
        // chose its prefix (DPDK leaves it behind).
        let runtime_dir = if args.iter().any(|a| a.starts_with(OUR_PREFIX_ARG)) {
            // SAFETY: returns a pointer to EAL's static runtime-dir string.
            let p = unsafe { dpdk_sys::rte_eal_get_runtime_dir() };
            (!p.is_null()).then(|| {
                // SAFETY: non-null, NUL-terminated, static.
                PathBuf::from(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            })
        } else {
            None
        };
        Ok(Eal { inner: Arc::new(EalInner { ports: Mutex::new(Vec::new()), runtime_dir }) })
    }

    /// Records a configured port so it is stopped and closed before cleanup.
    pub(crate) fn adopt_port(&self, id: u16) {
        let mut ports = self.inner.ports.lock().unwrap_or_else(|e| e.into_inner());
        if !ports.contains(&id) {
            ports.push(id);
        }
    }

    /// Drops a port from the cleanup list (it was closed early).
    pub(crate) fn forget_port(&self, id: u16) {
        self.inner.ports.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != id);
    }

    /// Ids of every port EAL probed, in id order.
    pub fn ports(&self) -> Vec<PortId> {
        (0..dpdk_sys::RTE_MAX_ETHPORTS as u16)
            // SAFETY: rte_eth_dev_is_valid_port accepts any id.
            .filter(|&id| unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 1)
            .map(PortId)
            .collect()
    }

    /// The port with this name (a PCI address or a vdev name like `net_ring0`).
    pub fn port_by_name(&self, name: &str) -> Option<PortId> {
        let c = CString::new(name).ok()?;
        let mut id: u16 = 0;
        // SAFETY: `c` is a valid C string and `id` a valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        (rc == 0).then_some(PortId(id))
    }

    /// The lcore that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: plain getter, valid after init.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// Worker lcores (every enabled lcore but the main one), ascending.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // "-1": start of iteration
        loop {
            // SAFETY: rte_get_next_lcore accepts any index; skip main, no wrap.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                break;
            }
            out.push(i);
        }
        out
    }

    /// Time-stamp counter ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: plain getter, valid after init.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }

    /// Runs `job` on worker lcore `lcore`; see [`LcoreJoin`].
    pub fn launch<F, T>(&self, lcore: u32, job: F) -> Result<LcoreJoin<T>, DpdkError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        lcore::launch(self, lcore, job)
    }
}

/// While EAL initialises, its direct writes (usage text via printf on
/// stdout, `EAL: FATAL` and getopt complaints on stderr) are caught in a
/// memfd: stdout may be the received stream, and the user should see one
/// error line, not a page. With `-v` stderr is left alone.
struct CaptureStdio {
    memfd: i32,
    saved_out: i32,
    saved_err: i32,
}

impl CaptureStdio {
    fn new(capture_stderr: bool) -> CaptureStdio {
        // SAFETY: memfd_create/dup/dup2 on the process's own descriptors;
        // every failure leaves the descriptor it would have changed alone.
        unsafe {
            let memfd = libc::memfd_create(c"stripecat-eal".as_ptr(), libc::MFD_CLOEXEC);
            let target = if memfd >= 0 && capture_stderr { memfd } else { 2 };
            let saved_out = libc::dup(1);
            if saved_out >= 0 {
                libc::dup2(target, 1);
            }
            let mut saved_err = -1;
            if capture_stderr && memfd >= 0 {
                saved_err = libc::dup(2);
                if saved_err >= 0 {
                    libc::dup2(memfd, 2);
                }
            }
            CaptureStdio { memfd, saved_out, saved_err }
        }
    }

    /// Restores stdout/stderr and returns what was caught.
    fn finish(self) -> String {
        let mut text = Vec::new();
        // SAFETY: flush C stdio (EAL's printf) into the redirected fds, put
        // the saved descriptors back, then read the memfd from the start
        // into a buffer we own.
        unsafe {
            libc::fflush(std::ptr::null_mut());
            if self.saved_out >= 0 {
                libc::dup2(self.saved_out, 1);
                libc::close(self.saved_out);
            }
            if self.saved_err >= 0 {
                libc::dup2(self.saved_err, 2);
                libc::close(self.saved_err);
            }
            if self.memfd >= 0 {
                libc::lseek(self.memfd, 0, libc::SEEK_SET);
                let mut buf = [0u8; 4096];
                loop {
                    let n = libc::read(self.memfd, buf.as_mut_ptr().cast(), buf.len());
                    if n <= 0 || text.len() > 1 << 20 {
                        break;
                    }
                    text.extend_from_slice(&buf[..n as usize]);
                }
                libc::close(self.memfd);
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// The lines of EAL's direct output worth quoting (getopt complaints and
/// FATAL lines, not the usage text).
fn direct_output_reason(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.contains("unrecognized option")
                || l.contains("invalid option")
                || l.contains("requires an argument")
                || l.starts_with("EAL: FATAL")
                || l.starts_with("EAL: Error")
        })
        .fold(Vec::<&str>::new(), |mut v, l| {
            if !v.contains(&l) && v.len() < 3 {
                v.push(l);
            }
            v
        })
        .join("; ")
}

/// Removes `/var/run/dpdk/stripecat-PID` directories of processes that no
/// longer exist (left by a killed run), so they never pile up.
fn sweep_stale_runtime_dirs() {
    let Ok(entries) = std::fs::read_dir("/var/run/dpdk") else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("stripecat-").and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pci: &[&str], vdevs: &[&str], extra: &[&str]) -> EalOptions {
        EalOptions {
            pci: pci.iter().map(|s| s.to_string()).collect(),
            vdevs: vdevs.iter().map(|s| s.to_string()).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn vdev_only_start_skips_pci_and_telemetry() {
        let a = opts(&[], &["net_null0"], &[]).to_args();
        for flag in ["--in-memory", "--no-pci", "--no-telemetry", "--vdev=net_null0"] {
            assert!(a.iter().any(|x| x == flag), "{flag} missing from {a:?}");
        }
        assert!(a.iter().any(|x| x.starts_with(OUR_PREFIX_ARG)));
    }

    #[test]
    fn pci_ports_or_a_scan_keep_the_pci_bus() {
        let a = opts(&["0000:03:00.0"], &[], &[]).to_args();
        assert!(!a.iter().any(|x| x == "--no-pci") && a.windows(2).any(|w| w == ["-a", "0000:03:00.0"]), "{a:?}");
        let scan = EalOptions { pci_scan: true, ..Default::default() }.to_args();
        assert!(!scan.iter().any(|x| x == "--no-pci"), "{scan:?}");
    }

    #[test]
    fn the_users_eal_args_override_the_defaults() {
        let a = opts(&[], &[], &["--telemetry", "--file-prefix=mine", "-a", "0000:01:00.0"]).to_args();
        assert!(!a.iter().any(|x| x == "--no-telemetry" || x == "--no-pci" || x.starts_with(OUR_PREFIX_ARG)), "{a:?}");
        let a = opts(&[], &[], &["--no-telemetry"]).to_args();
        assert_eq!(a.iter().filter(|x| *x == "--no-telemetry").count(), 1, "{a:?}");
    }
}
