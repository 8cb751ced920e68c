//! DPDK tests: the root check, the machine-wide lock, the watchdog, EAL
//! file prefixes, veths and namespaces, and cleanup.
//!
//! Every DPDK test:
//! - runs only as root, and otherwise says loudly that it did NOT run (with
//!   `STRIPECAT_NO_SKIP=1`, as in CI, not running is a failure);
//! - holds a machine-wide lock, so DPDK tests run one at a time even across
//!   test binaries;
//! - has a hard timeout (a watchdog ends the process, after cleaning up);
//! - uses its own `--file-prefix`, and registers everything it makes (veths,
//!   sockets, files, child processes, runtime dirs, mounts) for cleanup,
//!   which runs on success, on panic, and on timeout.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Something to undo when a test ends.
#[derive(Debug)]
pub enum Cleanup {
    DeleteLink(String),
    RemovePath(PathBuf),
    Kill(u32),
    DeleteNetns(String),
    /// A mount point (e.g. a small tmpfs); lazily unmounted.
    Unmount(PathBuf),
}

static CLEANUPS: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());

fn run_cleanups() {
    let items = std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for c in items.into_iter().rev() {
        match c {
            Cleanup::DeleteLink(dev) => {
                let _ = Command::new("ip").args(["link", "del", &dev]).stderr(Stdio::null()).status();
            }
            Cleanup::RemovePath(p) => {
                if p.is_dir() {
                    let _ = std::fs::remove_dir_all(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
            Cleanup::Kill(pid) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).stderr(Stdio::null()).status();
            }
            Cleanup::DeleteNetns(ns) => {
                let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
            }
            Cleanup::Unmount(p) => {
                let _ = Command::new("umount").arg("-l").arg(&p).stderr(Stdio::null()).status();
            }
        }
    }
}

pub fn register(c: Cleanup) {
    CLEANUPS.lock().unwrap_or_else(|e| e.into_inner()).push(c);
}

pub fn is_root() -> bool {
    stripecat::preflight::is_root()
}

/// A running DPDK test: lock, watchdog, prefix, cleanup.
pub struct DpdkTest {
    pub name: String,
    pub prefix: String,
    _lock: File,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DpdkTest {
    /// Starts a DPDK test, or returns `None` (after a loud message) when not
    /// root. `timeout` is the hard limit for the whole test.
    pub fn start(name: &str, timeout: Duration) -> Option<DpdkTest> {
        if !is_root() {
            // CI (and scripts/test.sh) set this: there a skip is a failure.
            if std::env::var_os("STRIPECAT_NO_SKIP").is_some_and(|v| v == "1") {
                panic!("{name}: DPDK tests need root, and STRIPECAT_NO_SKIP=1 forbids skipping");
            }
            eprintln!();
            eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            eprintln!("!!! SKIPPED {name}: DPDK tests need root. DPDK was NOT tested here. !!!");
            eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
            return None;
        }
        let lock = File::create("/tmp/stripecat-dpdk-tests.lock").expect("create lock file");
        flock(&lock);
        let prefix = format!("sct-{name}-{}", std::process::id());
        register(Cleanup::RemovePath(PathBuf::from(format!("/var/run/dpdk/{prefix}"))));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let tname = name.to_string();
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("TIMEOUT: DPDK test {tname} exceeded {timeout:?}; cleaning up and failing");
            run_cleanups();
            std::process::exit(101);
        });
        Some(DpdkTest { name: name.into(), prefix, _lock: lock, done })
    }

    /// EAL arguments every in-process test starts with.
    pub fn eal_args(&self, lcores: &str) -> Vec<String> {
        vec![
            "stripecat-test".into(),
            "-l".into(),
            lcores.into(),
            format!("--file-prefix={}", self.prefix),
            "--in-memory".into(),
            "--no-pci".into(),
            "--no-telemetry".into(),
        ]
    }

    /// The `--eal` value that gives a stripecat run this test's file prefix.
    pub fn eal(&self) -> String {
        format!("--file-prefix {}", self.prefix)
    }

    /// Registers EAL file prefix `prefix` (a child process's) for cleanup,
    /// and returns the `--eal` value that selects it.
    pub fn child_eal(&self, prefix: &str) -> String {
        register(Cleanup::RemovePath(PathBuf::from(format!("/var/run/dpdk/{prefix}"))));
        format!("--file-prefix {prefix}")
    }

    /// A scratch path unique to this test, removed at the end.
    pub fn path(&self, what: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("{}-{what}", self.prefix));
        register(Cleanup::RemovePath(p.clone()));
        p
    }
}

impl Drop for DpdkTest {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        run_cleanups();
    }
}

/// Blocks until this process holds the machine-wide DPDK test lock.
fn flock(f: &File) {
    f.lock().expect("lock /tmp/stripecat-dpdk-tests.lock");
}

/// Creates a veth pair (names at most 15 bytes), up, without IPv6 (so no
/// router solicitations land in captures), registered for deletion.
pub fn veth_pair(a: &str, b: &str, mtu: u32) {
    let _ = Command::new("ip").args(["link", "del", a]).stderr(Stdio::null()).status();
    register(Cleanup::DeleteLink(a.into()));
    sh(&["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
    for dev in [a, b] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
        sh(&["ip", "link", "set", dev, "mtu", &mtu.to_string(), "up"]);
    }
}

/// Creates a network namespace (registered for deletion) and moves `devs`
/// into it, up, without IPv6. Two processes that both use net_af_packet
/// need separate namespaces: DPDK 22.11 names its PACKET_FANOUT group
/// `(pid ^ ifindex) & 0xffff`, and the kernel's groups are per namespace,
/// so a sender and a receiver with consecutive pids on neighbouring veth
/// ends can pick the same group, and the second one fails with EINVAL.
pub fn netns_with(ns: &str, devs: &[&str]) {
    let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
    register(Cleanup::DeleteNetns(ns.into()));
    sh(&["ip", "netns", "add", ns]);
    for key in ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"] {
        sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", key]);
    }
    for dev in devs {
        sh(&["ip", "link", "set", dev, "netns", ns]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
    }
}

/// Runs a command and panics with its output unless it succeeds.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Spawns a child that is killed at cleanup.
pub fn spawn(cmd: &mut Command) -> Child {
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    register(Cleanup::Kill(child.id()));
    child
}

/// DPDK hugepage files under /dev/hugepages left by EAL prefix `prefix`.
pub fn hugepage_files(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/hugepages")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Frame I/O helpers for in-process PMD tests.
pub mod io {
    use std::time::{Duration, Instant};

    use stripecat::dpdk::{Mbuf, Mempool, RxQueue, TxQueue};

    /// Sends every frame (retrying what the driver gives back), returns the count.
    pub fn send(tx: &mut TxQueue, pool: &Mempool, frames: &[Vec<u8>]) -> usize {
        let mut sent = 0;
        for chunk in frames.chunks(32) {
            let mut burst = Vec::new();
            for f in chunk {
                let mut m = pool.alloc().expect("mempool exhausted");
                m.append(f.len()).expect("tailroom").copy_from_slice(f);
                burst.push(m);
            }
            let end = Instant::now() + Duration::from_secs(5);
            while !burst.is_empty() && Instant::now() < end {
                sent += tx.tx_burst(&mut burst);
            }
            assert!(burst.is_empty(), "driver kept refusing {} frames", burst.len());
        }
        sent
    }

    /// Receives our frames (skipping foreign traffic) until `want` arrived or
    /// `limit` passed; returns them as byte vectors (segments joined).
    pub fn recv(rx: &mut RxQueue, want: usize, limit: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut burst: Vec<Mbuf> = Vec::new();
        let end = Instant::now() + limit;
        while out.len() < want && Instant::now() < end {
            if rx.rx_burst(&mut burst, 32) == 0 {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            for m in burst.drain(..) {
                let bytes: Vec<u8> = m.segment_data().flatten().copied().collect();
                if crate::common::frames::is_ours(&bytes) {
                    out.push(bytes);
                }
            }
        }
        out
    }
}
