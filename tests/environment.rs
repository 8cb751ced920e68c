//! What a run's surroundings can get wrong, before any data moves: no member
//! port given, a port or device that does not exist, a memif peer that never
//! comes (either role), a peer that never answers ARP, an output that cannot
//! be created, hugepages exhausted. Each ends with one error line on stderr
//! and the documented exit code (README, "Exit codes"), in bounded time.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::data::random_file;
use common::dpdk::{register, sh, veth_pair, Cleanup, DpdkTest};
use std::process::Stdio;

use common::transfer::{finish, memif_pair, start, stderr as stderr_of, stripecat_args};
use common::{assert_one_error_line, run_stripecat, run_stripecat_timed, wait_for};

/// [`assert_one_error_line`], and the line carries a hint.
fn assert_one_error_line_with_hint(stderr: &str, what: &str) {
    let line = assert_one_error_line(stderr, what);
    assert!(line.contains("(hint: "), "error line has no hint: {line}");
}

#[test]
fn send_without_a_port_is_a_usage_error() {
    // No DPDK involved: the command line is refused before EAL starts.
    let (code, stdout, stderr) = run_stripecat(&["send", "--quiet"], Duration::from_secs(20));
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stdout.is_empty(), "stdout: {stdout:?}");
    assert_one_error_line_with_hint(&stderr, "no member ports given");
}

#[test]
fn port_that_does_not_exist_is_an_environment_error() {
    let Some(t) = DpdkTest::start("rel-noport", Duration::from_secs(60)) else { return };
    let input = t.path("in.bin");
    random_file(&input, 4096, 1);
    let (code, err, took) = run_stripecat_timed(
        &["send", "--quiet", "--port", "0000:ff:1f.7", "--eal", &t.eal(), &input.display().to_string()],
        Duration::from_secs(30),
    );
    eprintln!("port that does not exist: exit {code} after {took:?}: {err}");
    assert_eq!(code, 3, "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_one_error_line(&err, "0000:ff:1f.7");
}

#[test]
fn memif_peer_that_never_comes_is_an_environment_error() {
    let Some(t) = DpdkTest::start("rel-nopeer", Duration::from_secs(70)) else { return };
    let (server, _client) = memif_pair(&t, 1, None);
    let output = t.path("out.bin");
    let (code, err, took) = run_stripecat_timed(
        &["recv", "--quiet", "--port", &server[0], "--eal", &t.eal(), &output.display().to_string()],
        Duration::from_secs(50),
    );
    eprintln!("memif peer that never comes: exit {code} after {took:?}: {err}");
    assert_eq!(code, 3, "{err}");
    assert!(took >= Duration::from_secs(29) && took <= Duration::from_secs(38), "took {took:?}");
    assert_one_error_line(&err, "did not come up");
}

#[test]
fn memif_client_whose_server_never_comes_is_an_environment_error() {
    let Some(t) = DpdkTest::start("err-memif", Duration::from_secs(60)) else { return };
    let (_server, client) = memif_pair(&t, 1, None);
    let input = t.path("in.bin");
    random_file(&input, 4096, 3);
    let (code, stderr, took) = run_stripecat_timed(
        &["send", "--port", &client[0], "--eal", &t.eal(), &input.display().to_string()],
        Duration::from_secs(50),
    );
    assert_eq!(code, 3, "stderr: {stderr}");
    // The link wait is 30 s: it waited that long, and not much longer.
    assert!(took >= Duration::from_secs(29) && took <= Duration::from_secs(38), "exit after {took:?}");
    assert_one_error_line_with_hint(&stderr, "did not come up");
}

#[test]
fn a_directory_as_input_is_refused_at_open() {
    // Refused before EAL, ARP or any link wait: at once, exit 1, its own message.
    let Some(t) = DpdkTest::start("err-dir", Duration::from_secs(60)) else { return };
    let dir = t.path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, stderr, took) = run_stripecat_timed(
        &["send", "--quiet", "--port", "net_null0", "--eal", &t.eal(), &dir.display().to_string()],
        Duration::from_secs(30),
    );
    eprintln!("directory as input: exit {code} after {took:?}: {stderr}");
    assert_eq!(code, 1, "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let line = assert_one_error_line(&stderr, "cannot open input");
    assert!(line.contains("Is a directory") && line.contains("(hint: "), "{line}");
}

#[test]
fn a_receiver_with_fewer_memif_members_is_named_as_the_cause() {
    // The receiver serves one memif member; the sender has two clients on that
    // socket. The member the receiver serves comes up (it may drop again while
    // the server refuses the other id); the one it lacks never does, and the
    // message says the ends may disagree on their members.
    let Some(t) = DpdkTest::start("err-fewer", Duration::from_secs(90)) else { return };
    let (server, client) = memif_pair(&t, 1, None);
    let second = client[0].replace("net_memif0", "net_memif1") + ",id=1";
    let output = t.path("out.bin");
    let input = t.path("in.bin");
    random_file(&input, 4096, 5);
    let r = start(&t, "recv", &stripecat_args("recv", &server, &[], Some(&output)), Stdio::null(), Stdio::null());
    let ports = [client[0].clone(), second];
    let (code, stderr, took) = run_stripecat_timed(
        &["send", "--quiet", "--port", &ports[0], "--port", &ports[1], "--eal", &t.eal(), &input.display().to_string()],
        Duration::from_secs(50),
    );
    r.signal("TERM");
    let ro = finish(r, Duration::from_secs(20));
    eprintln!("receiver with fewer members: exit {code} after {took:?}: {stderr}; receiver: {}", stderr_of(&ro));
    assert_eq!(code, 3, "{stderr}");
    let line = assert_one_error_line(&stderr, "net_memif1 did not come up");
    // Only the member without a peer is said to be missing; the one with a peer came up
    // (if it is named at all, it is as one that came up and dropped again).
    let missing = line.split("; ").find(|c| c.contains("did not come up")).unwrap_or_default();
    assert!(!missing.contains("net_memif0"), "the member with a peer is said to be missing: {line}");
    if let Some(other) = line.split("; ").find(|c| c.contains("net_memif0")) {
        assert!(other.contains("came up but went down again"), "{line}");
    }
    assert!(line.contains("fewer members"), "{line}");
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
    let (code, stderr, took) = run_stripecat_timed(
        &[
            "send",
            "--quiet",
            "--port",
            &port,
            "--peer-ip",
            "198.18.0.99",
            "--eal",
            &t.eal(),
            &input.display().to_string(),
        ],
        Duration::from_secs(40),
    );
    assert_eq!(code, 4, "stderr: {stderr}");
    // ARP is tried for 10 s.
    assert!(took >= Duration::from_secs(9) && took <= Duration::from_secs(15), "exit after {took:?}");
    assert_one_error_line_with_hint(&stderr, "198.18.0.99 did not answer ARP");
}

#[test]
fn output_that_cannot_be_created_is_reported_with_a_hint() {
    let Some(t) = DpdkTest::start("err-out", Duration::from_secs(60)) else { return };
    let (server, _client) = memif_pair(&t, 1, None);
    // Root may write anywhere, so use a directory that does not exist.
    let output = t.path("no-such-dir").join("out.bin");
    let (code, stderr, took) = run_stripecat_timed(
        &["recv", "--quiet", "--port", &server[0], "--eal", &t.eal(), &output.display().to_string()],
        Duration::from_secs(20),
    );
    // The output is opened before EAL starts, so this fails at once; the
    // README's code for it is 1 ("anything else", like an input that
    // cannot be opened).
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_one_error_line_with_hint(&stderr, "cannot create output");
    assert!(stderr.contains(&output.display().to_string()), "the path is not named: {stderr}");
}

const HP_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";

fn free_hugepages() -> u64 {
    std::fs::read_to_string(format!("{HP_DIR}/free_hugepages")).unwrap().trim().parse().unwrap()
}

/// Takes all but `leave` free 2 MiB hugepages into a file on a hugetlbfs of
/// our own (another process's pages, as far as stripecat can tell); the
/// file, the mount and its directory go at cleanup, also on failure.
fn hog_hugepages(t: &DpdkTest, leave: u64) -> PathBuf {
    let dir = t.path(&format!("hugetlbfs-{leave}"));
    std::fs::create_dir_all(&dir).unwrap();
    sh(&["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", &dir.display().to_string()]);
    register(Cleanup::Unmount(dir.clone()));
    let hog = dir.join("hog");
    register(Cleanup::RemovePath(hog.clone()));
    let take = free_hugepages().saturating_sub(leave);
    sh(&["fallocate", "-l", &format!("{}M", take * 2), &hog.display().to_string()]);
    hog
}

#[test]
fn hugepages_exhausted_is_one_clear_environment_error() {
    let Some(t) = DpdkTest::start("rel-nohuge", Duration::from_secs(90)) else { return };
    let free_before = free_hugepages();
    assert!(free_before >= 64, "only {free_before} free hugepages to start with");
    let input = t.path("in.bin");
    random_file(&input, 1 << 20, 3);
    // None free: the check before EAL starts. A few free: EAL starts, the
    // packet-buffer pools do not fit.
    for (leave, cmd, what) in [
        (0, "send", "hugepages are in use"),
        (4, "recv", "not enough hugepage memory"),
        (4, "send", "not enough hugepage memory"),
    ] {
        let hog = hog_hugepages(&t, leave);
        let eal = t.child_eal(&format!("{}-{leave}-{cmd}", t.prefix));
        let file = if cmd == "send" { input.display().to_string() } else { t.path("out.bin").display().to_string() };
        let (code, err, took) = run_stripecat_timed(
            &[cmd, "--quiet", "--port", "net_null0", "--eal", &eal, &file],
            Duration::from_secs(30),
        );
        eprintln!("{leave} hugepages left, {cmd}: exit {code} after {took:?}: {err}");
        assert_eq!(code, 3, "{cmd} with {leave} hugepages left: {err}");
        assert!(took < Duration::from_secs(15), "took {took:?}");
        assert_one_error_line(&err, what);
        assert!(err.contains("scripts/setup-hugepages.sh"), "the hint names the set-up script: {err}");
        std::fs::remove_file(&hog).unwrap();
        // Nothing of the failed run holds pages any more.
        assert!(
            wait_for(Duration::from_secs(5), || free_hugepages() + 8 >= free_before),
            "{} free after, {free_before} before",
            free_hugepages()
        );
    }
}
