//! Failures of `send` and `recv` end with one clear error line (with a
//! hint) and the documented exit code (README, "Exit codes"), in bounded
//! time: a missing `--port`, a memif peer that never comes, a receiver
//! that never answers ARP, an output that cannot be created, and SIGTERM
//! while waiting.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::transfer::{finish, memif_pair, random_file, start};
use common::{run_stripecat, veth_pair, DpdkTest};

/// The stderr lines that are not blank.
fn lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Asserts stderr is exactly one error line naming `what`, with a hint.
fn assert_one_error_line(stderr: &str, what: &str) {
    let l = lines(stderr);
    assert_eq!(l.len(), 1, "expected one error line, got {}: {stderr}", l.len());
    assert!(l[0].starts_with("stripecat: error: "), "not an error line: {}", l[0]);
    assert!(l[0].contains(what), "error line does not say {what:?}: {}", l[0]);
    assert!(l[0].contains("(hint: "), "error line has no hint: {}", l[0]);
}

#[test]
fn send_without_a_port_is_a_usage_error() {
    // No DPDK involved: the command line is refused before EAL starts.
    let (code, stdout, stderr) = run_stripecat(&["send", "--quiet"], Duration::from_secs(20));
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stdout.is_empty(), "stdout: {stdout:?}");
    assert_one_error_line(&stderr, "no member ports given");
}

#[test]
fn memif_client_whose_server_never_comes_is_an_environment_error() {
    let Some(t) = DpdkTest::start("err-memif", Duration::from_secs(60)) else { return };
    let (_server, client) = memif_pair(&t, 1, None);
    let input = t.path("in.bin");
    random_file(&input, 4096, 3);
    let eal = format!("--file-prefix {}", t.prefix);
    let began = Instant::now();
    let (code, _, stderr) = run_stripecat(
        &["send", "--port", &client[0], "--eal", &eal, &input.display().to_string()],
        Duration::from_secs(50),
    );
    let took = began.elapsed();
    assert_eq!(code, 3, "stderr: {stderr}");
    // The link wait is 30 s: it waited that long, and not much longer.
    assert!(took >= Duration::from_secs(29) && took <= Duration::from_secs(38), "exit after {took:?}");
    assert_one_error_line(&stderr, "did not come up");
}

#[test]
fn peer_that_never_answers_arp_is_a_transfer_failure() {
    let Some(t) = DpdkTest::start("err-arp", Duration::from_secs(60)) else { return };
    let id = std::process::id() % 100_000;
    let (a, b) = (format!("sce{id}a"), format!("sce{id}b"));
    // Nothing listens on b, and no address is configured on it: nobody
    // answers for 198.18.0.99.
    veth_pair(&a, &b, 1500);
    let input = t.path("in.bin");
    random_file(&input, 65536, 4);
    let port = format!("net_af_packet0,iface={a},qdisc_bypass=0");
    let eal = format!("--file-prefix {}", t.prefix);
    let began = Instant::now();
    let (code, _, stderr) = run_stripecat(
        &["send", "--quiet", "--port", &port, "--peer-ip", "198.18.0.99", "--eal", &eal, &input.display().to_string()],
        Duration::from_secs(40),
    );
    let took = began.elapsed();
    assert_eq!(code, 4, "stderr: {stderr}");
    // ARP is tried for 10 s.
    assert!(took >= Duration::from_secs(9) && took <= Duration::from_secs(15), "exit after {took:?}");
    assert_one_error_line(&stderr, "198.18.0.99 did not answer ARP");
}

#[test]
fn output_that_cannot_be_created_is_reported_with_a_hint() {
    let Some(t) = DpdkTest::start("err-out", Duration::from_secs(60)) else { return };
    let (server, _client) = memif_pair(&t, 1, None);
    // Root may write anywhere, so use a directory that does not exist.
    let output = t.path("no-such-dir").join("out.bin");
    let eal = format!("--file-prefix {}", t.prefix);
    let began = Instant::now();
    let (code, _, stderr) = run_stripecat(
        &["recv", "--quiet", "--port", &server[0], "--eal", &eal, &output.display().to_string()],
        Duration::from_secs(20),
    );
    // The output is opened before EAL starts, so this fails at once; the
    // README's code for it is 1 ("anything else", like an input that
    // cannot be opened).
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(began.elapsed() < Duration::from_secs(5), "took {:?}", began.elapsed());
    assert_one_error_line(&stderr, "cannot create output");
    assert!(stderr.contains(&output.display().to_string()), "the path is not named: {stderr}");
}

/// Starts a receiver with `ports`, lets it wait for `settle`, sends it
/// SIGTERM, and asserts it leaves with 143 promptly.
fn sigterm_while_waiting(t: &DpdkTest, ports: &[String], settle: Duration) {
    let output = t.path("out.bin");
    let mut args: Vec<String> = vec!["recv".into(), "--quiet".into()];
    for p in ports {
        args.extend(["--port".into(), p.clone()]);
    }
    args.push(output.display().to_string());
    let r = start(t, "recv", &args, Stdio::null(), Stdio::null());
    std::thread::sleep(settle);
    let pid = r.child.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success(), "kill -TERM {pid}");
    let killed = Instant::now();
    let out = finish(r, Duration::from_secs(40));
    let took = killed.elapsed();
    assert_eq!(
        out.status.code(),
        Some(143),
        "status {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(3), "left {took:?} after SIGTERM");
}

#[test]
fn sigterm_while_waiting_for_a_sender_exits_143() {
    let Some(t) = DpdkTest::start("err-term", Duration::from_secs(60)) else { return };
    let id = std::process::id() % 100_000;
    let (a, b) = (format!("sct{id}ta"), format!("sct{id}tb"));
    veth_pair(&a, &b, 1500);
    // af_packet's link is up at once: the receiver is in its poll loop,
    // waiting for a sender's handshake.
    sigterm_while_waiting(&t, &[format!("net_af_packet0,iface={b},qdisc_bypass=0")], Duration::from_secs(2));
}

#[test]
fn sigterm_while_waiting_for_a_memif_peer_exits_143() {
    let Some(t) = DpdkTest::start("err-term-memif", Duration::from_secs(60)) else { return };
    let (server, _client) = memif_pair(&t, 1, None);
    // No client ever connects: the receiver is still in its 30 s link wait.
    sigterm_while_waiting(&t, &server, Duration::from_secs(2));
}
