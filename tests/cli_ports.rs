//! `stripecat ports` as a user runs it: the listing, and every set-up mistake
//! turned into one error line with a hint and exit code 3.

mod common;

use std::time::Duration;

use common::dpdk::DpdkTest;
use common::run_stripecat;

const LIMIT: Duration = Duration::from_secs(60);

/// One line on stderr, `stripecat: error: ... (hint: ...)`, nothing on stdout.
fn assert_one_error_line(code: i32, out: &str, err: &str, want_code: i32, needle: &str) {
    assert_eq!(code, want_code, "exit code; stderr: {err}");
    assert!(out.is_empty(), "stdout must stay clean, got: {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one error line, got: {err}");
    assert!(lines[0].starts_with("stripecat: error: "), "{err}");
    assert!(lines[0].contains("(hint: "), "a hint: {err}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn lists_ring_and_null_ports_with_drivers() {
    let Some(t) = DpdkTest::start("cli-list", LIMIT) else { return };
    let (code, out, err) =
        run_stripecat(&["ports", "--port", "net_ring0", "--port", "net_null0", "--eal", &t.eal()], LIMIT);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.is_empty(), "EAL's log stays out of the way without -v: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 ports: {out}");
    assert!(lines[0]
        .split_whitespace()
        .eq(["PORT", "NAME", "DRIVER", "MAC", "LINK", "SPEED", "MTU", "MAX-RXQ", "MAX-TXQ", "NUMA"]));
    let row0: Vec<&str> = lines[1].split_whitespace().collect();
    let row1: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&row0[..3], ["0", "net_ring0", "net_ring"]);
    assert_eq!(&row1[..3], ["1", "net_null0", "net_null"]);
    assert_eq!(row1[3].len(), 17, "MAC shown: {}", row1[3]);
}

#[test]
fn json_listing_is_machine_readable() {
    let Some(t) = DpdkTest::start("cli-json", LIMIT) else { return };
    let (code, out, err) = run_stripecat(
        &["ports", "--json", "--port", "net_null0,size=64", "--port", "net_ring0", "--eal", &t.eal()],
        LIMIT,
    );
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let ports = v.as_array().unwrap();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[0]["driver"], "net_null");
    assert_eq!(ports[1]["name"], "net_ring0");
    assert!(ports[0]["max_rx_queues"].as_u64().unwrap() >= 1);
}

#[test]
fn verbose_shows_eal_log() {
    let Some(t) = DpdkTest::start("cli-verbose", LIMIT) else { return };
    let (code, out, err) = run_stripecat(&["-v", "ports", "--port", "net_ring0", "--eal", &t.eal()], LIMIT);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("EAL:"), "EAL log on stderr with -v: {err}");
    assert!(!out.contains("EAL:"), "and never on stdout: {out}");
}

#[test]
fn bad_devargs_is_environment_error() {
    let Some(t) = DpdkTest::start("cli-baddev", LIMIT) else { return };
    let (code, out, err) = run_stripecat(&["ports", "--port", "net_nosuchpmd0", "--eal", &t.eal()], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "net_nosuchpmd0");
    let (code, out, err) =
        run_stripecat(&["ports", "--port", "net_pcap0,iface=sct-nonexistent", "--eal", &t.eal()], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "sct-nonexistent");
}

#[test]
fn bad_eal_string_keeps_stdout_clean() {
    let Some(t) = DpdkTest::start("cli-badeal", LIMIT) else { return };
    let (code, out, err) =
        run_stripecat(&["ports", "--port", "net_ring0", "--eal", &format!("{} --no-such-eal-option", t.eal())], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "no-such-eal-option");
    let (code, out, err) =
        run_stripecat(&["ports", "--port", "net_ring0", "--eal", &format!("{} -l 0-63", t.eal())], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "--lcores");
}

#[test]
fn pci_device_that_does_not_exist() {
    let Some(_t) = DpdkTest::start("cli-pci", LIMIT) else { return };
    let (code, out, err) = run_stripecat(&["ports", "--port", "0000:ff:1f.7"], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "no PCI device 0000:ff:1f.7");
}

#[test]
fn malformed_spec_is_usage_error() {
    // clap's usage error (2); no DPDK involved.
    let (code, out, err) = run_stripecat(&["ports", "--port", "eth0"], LIMIT);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("neither a PCI address"), "{err}");
}

#[test]
fn not_root_is_environment_error() {
    let Some(_t) = DpdkTest::start("cli-noroot", LIMIT) else { return };
    let (code, out, err) = common::run_with_timeout(
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", common::bin()])
            .args(["ports", "--port", "net_ring0"]),
        LIMIT,
    );
    assert_one_error_line(code, &out, &err, 3, "root");
}

#[test]
fn no_free_hugepages_names_the_setup_script() {
    let Some(t) = DpdkTest::start("cli-nohuge", LIMIT) else { return };
    let knob = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    let before = std::fs::read_to_string(knob).unwrap().trim().to_string();
    struct Restore(&'static str, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0, &self.1);
        }
    }
    let _restore = Restore(knob, before.clone());
    std::fs::write(knob, "0").unwrap();
    let (code, out, err) = run_stripecat(&["ports", "--port", "net_ring0", "--eal", &t.eal()], LIMIT);
    assert_one_error_line(code, &out, &err, 3, "scripts/setup-hugepages.sh");
    drop(_restore);
    assert_eq!(std::fs::read_to_string(knob).unwrap().trim(), before, "hugepages restored");
}

#[test]
fn version_names_git_and_dpdk() {
    let (code, out, _) = run_stripecat(&["--version"], LIMIT);
    assert_eq!(code, 0);
    assert!(out.starts_with("stripecat 0."), "{out}");
    assert!(out.contains("git ") && out.contains("built against DPDK 22.11"), "{out}");
    assert!(out.contains("run time: DPDK 22.11"), "{out}");
}

#[test]
fn runs_leave_no_runtime_directory_behind() {
    let Some(_t) = DpdkTest::start("cli-rundir", LIMIT) else { return };
    // Default prefix (stripecat-PID): ours to remove.
    let (code, _, err) = run_stripecat(&["ports", "--port", "net_ring0"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let left: Vec<String> = std::fs::read_dir("/var/run/dpdk")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("stripecat-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}
