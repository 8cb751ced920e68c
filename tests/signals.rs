//! SIGTERM and SIGINT: the signalled end leaves at once with 143 / 130
//! (ports stopped, hugepage files gone, output flushed), its peer is told
//! and leaves with 4, and the next run on the same links and EAL prefixes
//! is clean; a receiver still waiting (for a sender's handshake, or for its
//! memif link) leaves at once too.
//!
//! Mid-transfer cases run two `stripecat` processes over net_af_packet on a
//! veth pair (the receiver in its own network namespace), the sender reading
//! a pipe fed at a set pace, so the transfer is still running when the
//! signal comes.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::data::{assert_same_file, assert_stream_prefix, random_file};
use common::dpdk::{hugepage_files, veth_pair, DpdkTest};
use common::transfer::{assert_both_ok, finish, memif_pair, start, stderr, stripecat_args, Links};

/// Hard limit for one two-process run.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn sigterm_and_sigint_mid_transfer_then_the_next_run_is_clean() {
    let Some(t) = DpdkTest::start("rel-signal", Duration::from_secs(150)) else { return };
    let l = Links::new("rlg", 1);
    let recv_prefix = format!("{}-recv", t.prefix);

    // SIGTERM to the receiver: 143, its hugepage files gone; the sender is
    // told (RESET) or gives up: 4.
    let output = t.path("out1.bin");
    let (r, s, feeder) = l.running_transfer(&t, &output, 5, Duration::from_millis(20));
    r.signal("TERM");
    let at = Instant::now();
    let ro = finish(r, Duration::from_secs(20));
    eprintln!("SIGTERM to the receiver: exit {:?}: {}", ro.status.code(), stderr(&ro));
    assert_eq!(ro.status.code(), Some(143), "receiver: {}", stderr(&ro));
    assert!(at.elapsed() < Duration::from_secs(5), "receiver left {:?} after SIGTERM", at.elapsed());
    let left = hugepage_files(&recv_prefix);
    assert!(left.is_empty(), "hugepage files left after SIGTERM: {left:?}");
    let so = finish(s, Duration::from_secs(30));
    feeder.stop();
    eprintln!("sender after the receiver's SIGTERM: exit {:?}: {}", so.status.code(), stderr(&so));
    assert_eq!(so.status.code(), Some(4), "sender after the receiver's SIGTERM: {}", stderr(&so));
    assert_stream_prefix(&output, 5);

    // SIGINT to the sender: 130; the receiver is told: 4.
    let output = t.path("out2.bin");
    let (r, s, feeder) = l.running_transfer(&t, &output, 6, Duration::from_millis(20));
    s.signal("INT");
    let at = Instant::now();
    let so = finish(s, Duration::from_secs(20));
    eprintln!("SIGINT to the sender: exit {:?}: {}", so.status.code(), stderr(&so));
    assert_eq!(so.status.code(), Some(130), "sender: {}", stderr(&so));
    assert!(at.elapsed() < Duration::from_secs(5), "sender left {:?} after SIGINT", at.elapsed());
    feeder.stop();
    let ro = finish(r, Duration::from_secs(30));
    eprintln!("receiver after the sender's SIGINT: exit {:?}: {}", ro.status.code(), stderr(&ro));
    assert_eq!(ro.status.code(), Some(4), "receiver after the sender's SIGINT: {}", stderr(&ro));
    assert_stream_prefix(&output, 6);

    // The same links and EAL prefixes again: a clean, complete transfer.
    let (input, output) = (t.path("in3.bin"), t.path("out3.bin"));
    random_file(&input, 16 << 20, 77);
    let r = l.start_recv(&t, Some(&output), &[], Stdio::null());
    let s = l.start_send(&t, Some(&input), &[]);
    let so = finish(s, LIMIT);
    let ro = finish(r, LIMIT);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
}

/// Starts a receiver with `ports`, lets it wait for `settle`, sends it
/// SIGTERM, and asserts it leaves with 143 promptly.
fn sigterm_while_waiting(t: &DpdkTest, ports: &[String], settle: Duration) {
    let output = t.path("out.bin");
    let r = start(t, "recv", &stripecat_args("recv", ports, &[], Some(&output)), Stdio::null(), Stdio::null());
    std::thread::sleep(settle);
    r.signal("TERM");
    let killed = Instant::now();
    let out = finish(r, Duration::from_secs(40));
    let took = killed.elapsed();
    assert_eq!(out.status.code(), Some(143), "status {:?}; stderr: {}", out.status, stderr(&out));
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
