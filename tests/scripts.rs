//! Runs the shell tests in `tests/scripts/` (the set-up scripts' tests), one `#[test]` each.
//!
//! Each shell test is run with `bash`, in its own process group, with a hard timeout. A test
//! passes when the script exits 0, fails (showing the script's whole output) otherwise. Exit 77
//! means the script skipped itself (e.g. not root); that counts as a pass with a SKIPPED note,
//! unless `STRIPECAT_NO_SKIP=1` is set, which turns skips into failures (use it in CI as root).
//!
//! Uses nothing but std, so it runs even while the rest of the crate is being written.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Every shell test in tests/scripts/, registered below; `all_shell_tests_are_registered`
/// fails when a `test_*.sh` exists that is not in this list (or the other way round).
const SHELL_TESTS: &[&str] = &[
    "test_bench",
    "test_bind_nics",
    "test_install_deps",
    "test_setup_hugepages",
    "test_setup_hugepages_real",
    "test_shellcheck",
    "test_soak",
    "test_veth_lab",
];

const TIMEOUT: Duration = Duration::from_secs(300);
const SKIP_EXIT: i32 = 77;

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("scripts")
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Kills the whole process group led by `pgid` (the shell test and anything it started).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Shell tests that touch machine-wide state (hugepages, network interfaces)
/// hold the same lock as the DPDK integration tests, so none of them runs
/// while a DPDK test needs those pages or links.
const MACHINE_WIDE: &[&str] = &["test_bench", "test_setup_hugepages_real", "test_veth_lab"];

fn run_shell_test(name: &str) {
    use std::os::unix::process::CommandExt;

    let _lock = MACHINE_WIDE.contains(&name).then(|| {
        let f = std::fs::File::create("/tmp/stripecat-dpdk-tests.lock").expect("create the DPDK test lock");
        f.lock().expect("take the DPDK test lock");
        f
    });
    let script = scripts_dir().join(format!("{name}.sh"));
    assert!(script.is_file(), "{} is missing", script.display());
    let mut child = Command::new("bash")
        .arg(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
    let pgid = child.id();
    let out = drain(child.stdout.take().expect("stdout is piped"));
    let err = drain(child.stderr.take().expect("stderr is piped"));

    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > TIMEOUT => {
                kill_group(pgid);
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("waiting for {name}: {e}"),
        }
    };
    // Anything the script left running in its group would keep the pipes open.
    kill_group(pgid);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let report = format!("--- {name}.sh stdout ---\n{stdout}\n--- {name}.sh stderr ---\n{stderr}");

    let Some(status) = status else {
        panic!("{name}.sh timed out after {}s (killed)\n{report}", TIMEOUT.as_secs());
    };
    match status.code() {
        Some(0) => println!("{report}"),
        Some(SKIP_EXIT) => {
            let strict = std::env::var("STRIPECAT_NO_SKIP").is_ok_and(|v| v == "1");
            assert!(!strict, "{name}.sh skipped itself but STRIPECAT_NO_SKIP=1\n{report}");
            eprintln!("SKIPPED {name}.sh\n{report}");
        }
        code => panic!("{name}.sh failed (exit {code:?})\n{report}"),
    }
}

#[test]
fn all_shell_tests_are_registered() {
    let mut found: Vec<String> = std::fs::read_dir(scripts_dir())
        .expect("tests/scripts exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("test_") && n.ends_with(".sh"))
        .map(|n| n.trim_end_matches(".sh").to_owned())
        .collect();
    found.sort();
    let mut registered: Vec<String> = SHELL_TESTS.iter().map(|s| s.to_string()).collect();
    registered.sort();
    assert_eq!(
        found, registered,
        "tests/scripts/test_*.sh and SHELL_TESTS in tests/scripts.rs differ: add a #[test] for each new shell test"
    );
}

#[test]
fn bench() {
    run_shell_test("test_bench");
}

#[test]
fn bind_nics() {
    run_shell_test("test_bind_nics");
}

#[test]
fn install_deps() {
    run_shell_test("test_install_deps");
}

#[test]
fn setup_hugepages() {
    run_shell_test("test_setup_hugepages");
}

#[test]
fn setup_hugepages_real() {
    run_shell_test("test_setup_hugepages_real");
}

#[test]
fn shellcheck() {
    run_shell_test("test_shellcheck");
}

/// Not in MACHINE_WIDE: scripts/soak takes the DPDK test lock itself, around each transfer.
#[test]
fn soak() {
    run_shell_test("test_soak");
}

#[test]
fn veth_lab() {
    run_shell_test("test_veth_lab");
}
