//! A peer killed (SIGKILL) in the middle of a transfer, on the real data
//! plane: two `stripecat` processes over net_af_packet on a veth pair (the
//! receiver in its own network namespace), the sender reading a pipe fed at
//! a set pace so the transfer is still running when the peer dies. The
//! survivor must leave in bounded time with exit 4 and a message that says
//! how far the transfer got, and that count must be true.
//!
//! af_packet, not memif: DPDK 22.11's memif PMD can crash the survivor when
//! its peer dies under a running burst.

mod common;

use std::time::{Duration, Instant};

use common::data::assert_stream_prefix;
use common::dpdk::DpdkTest;
use common::transfer::{finish, stderr, Links};
use common::{file_len, number_before};

/// Hard limit for one two-process run.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn receiver_killed_mid_transfer_sender_gives_up_with_acknowledged_bytes() {
    let Some(t) = DpdkTest::start("rel-rkill", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("rlk", 1);
    let output = t.path("out.bin");
    let (r, s, feeder) = l.running_transfer(&t, &output, 31, Duration::from_millis(20));
    r.signal("KILL");
    let killed = Instant::now();
    let so = finish(s, Duration::from_secs(40));
    let took = killed.elapsed();
    let fed = feeder.stop();
    let _ = finish(r, Duration::from_secs(10));
    let e = stderr(&so);
    eprintln!("receiver killed: sender left after {took:?}: {e}");
    assert_eq!(so.status.code(), Some(4), "{e}");
    // It gives up after 10 s without progress; CI machines are slow.
    assert!(took >= Duration::from_secs(8) && took <= Duration::from_secs(20), "sender left {took:?} after the kill");
    let acked = number_before(&e, "bytes acknowledged").unwrap_or_else(|| panic!("no acknowledged byte count: {e}"));
    assert!(acked > 0 && acked <= fed, "acknowledged {acked} of {fed} fed: {e}");
}

#[test]
fn sender_killed_mid_transfer_receiver_keeps_the_written_prefix() {
    let Some(t) = DpdkTest::start("rel-skill", LIMIT + Duration::from_secs(30)) else { return };
    let l = Links::new("rlj", 1);
    let output = t.path("out.bin");
    let seed = 0x5e4d;
    let (r, s, feeder) = l.running_transfer(&t, &output, seed, Duration::from_millis(20));
    s.signal("KILL");
    let killed = Instant::now();
    let ro = finish(r, Duration::from_secs(40));
    let took = killed.elapsed();
    let fed = feeder.stop();
    let _ = finish(s, Duration::from_secs(10));
    let e = stderr(&ro);
    eprintln!("sender killed: receiver left after {took:?}: {e}");
    assert_eq!(ro.status.code(), Some(4), "{e}");
    // The idle timeout is 5 s.
    assert!(took >= Duration::from_secs(4) && took <= Duration::from_secs(15), "receiver left {took:?} after the kill");
    let written = number_before(&e, "bytes were written").unwrap_or_else(|| panic!("no written length in: {e}"));
    assert_eq!(file_len(&output), written, "the output holds what the message says: {e}");
    assert!(written >= 4 << 20 && written <= fed, "written {written}, fed {fed}");
    assert_stream_prefix(&output, seed);
}
