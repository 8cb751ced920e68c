//! The one harness every integration test pulls in with `mod common;`.
//!
//! - [`dpdk`]: DPDK tests: root check (a loud skip, or a failure with
//!   `STRIPECAT_NO_SKIP=1`), the machine-wide lock, the watchdog, EAL file
//!   prefixes, veths, namespaces and cleanup of everything a test made, also
//!   when it fails or times out.
//! - [`transfer`]: two `stripecat` processes over DPDK member ports.
//! - [`kernel`]: the kernel transports (`--tcp`, `--udp`) on loopback.
//! - [`data`]: the seeded generator, test data and byte-for-byte checks.
//! - [`frames`]: raw Ethernet test frames for the in-process PMD tests.
//!
//! Below: what all of them share (running the binary with a hard timeout,
//! polling, reading a `--stats-json` report, error-line checks).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod data;
pub mod dpdk;
pub mod frames;
pub mod kernel;
pub mod transfer;

/// The stripecat binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stripecat")
}

/// Waits for `cond` up to `limit`, polling every 20 ms.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Runs the stripecat binary with a hard timeout; returns (code, stdout, stderr).
pub fn run_stripecat(args: &[&str], timeout: Duration) -> (i32, String, String) {
    run_with_timeout(Command::new(bin()).args(args), timeout)
}

/// [`run_stripecat`], also returning how long it took: (code, stderr, time).
pub fn run_stripecat_timed(args: &[&str], timeout: Duration) -> (i32, String, Duration) {
    let began = Instant::now();
    let (code, _, err) = run_stripecat(args, timeout);
    (code, err, began.elapsed())
}

/// Runs `cmd` (stdin null) with a hard timeout; returns (code, stdout, stderr).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let end = Instant::now() + timeout;
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{cmd:?} did not finish within {timeout:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A JSON file (a `--stats-json` report), parsed; panics naming the file.
pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", p.display()))
}

/// The lines of `stderr` that are not blank.
pub fn nonblank_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Asserts `stderr` is one (non-blank) line, `stripecat: error: ...`,
/// naming `what`; returns that line.
pub fn assert_one_error_line<'a>(stderr: &'a str, what: &str) -> &'a str {
    let lines = nonblank_lines(stderr);
    assert_eq!(lines.len(), 1, "expected one error line, got {}: {stderr}", lines.len());
    assert!(lines[0].starts_with("stripecat: error: "), "not an error line: {stderr}");
    assert!(lines[0].contains(what), "the error line does not say {what:?}: {stderr}");
    lines[0]
}

/// The number just before `what` in `s` ("... 1234 bytes were written").
pub fn number_before(s: &str, what: &str) -> Option<u64> {
    let at = s.find(what)?;
    s[..at].trim_end().rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The length of a file, 0 when it does not exist (yet).
pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}
