//! Faults on the links, during a transfer: seeded loss, reordering,
//! duplication and corruption (`--impair` at the DPDK port boundary, over
//! memif), and a member link taken down and brought back (net_af_packet on
//! veth pairs, the receiver in its own network namespace). Every byte
//! arrives, both ends exit 0, and the reports show the resends, the drops
//! by reason and the paths going down and up.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::data::assert_same_file;
use common::data::assert_stream_prefix;
use common::dpdk::{sh, DpdkTest};
use common::transfer::{assert_both_ok, finish, input_output, memif_transfer, wait_output, Feeder, Links};
use common::{file_len, run_stripecat};

/// Hard limit for one impaired two-process run.
const LIMIT: Duration = Duration::from_secs(120);
/// Hard limit for each end of the link-down run, once its input ends.
const LINK_LIMIT: Duration = Duration::from_secs(60);

fn impaired(
    name: &str,
    len: usize,
    send_spec: &str,
    recv_spec: &str,
) -> Option<(serde_json::Value, serde_json::Value)> {
    let t = DpdkTest::start(name, LIMIT + Duration::from_secs(30))?;
    let [s, r] = memif_transfer(&t, len, 4242, &["--impair", recv_spec], &["--impair", send_spec], LIMIT);
    Some((s, r))
}

fn count(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_u64().unwrap_or(0)
}

#[test]
fn one_percent_loss_both_ways() {
    let Some((s, r)) = impaired("imp-1pct", 16 << 20, "loss=1%,seed=11", "loss=1%,seed=12") else { return };
    assert!(count(&s, &["impaired", "dropped"]) > 0 && count(&r, &["impaired", "dropped"]) > 0, "{s}\n{r}");
    assert!(count(&s, &["resends"]) > 0, "lost data was resent: {s}");
}

#[test]
fn five_percent_loss_with_reordering_duplication_and_corruption() {
    let Some((s, r)) =
        impaired("imp-5pct", 16 << 20, "loss=5%,reorder=2%,dup=1%,corrupt=0.5%,seed=7", "loss=1%,dup=1%,seed=8")
    else {
        return;
    };
    for k in ["dropped", "duplicated", "reordered", "corrupted"] {
        assert!(count(&s, &["impaired", k]) > 0, "sender impairer {k}: {s}");
    }
    assert!(count(&s, &["resends"]) > 0, "{s}");
    // Corrupted frames are caught (by the protocol's CRC or a lower checksum)
    // and duplicates are recognised, each counted by reason.
    let drops = &r["drops"];
    let caught: u64 = [
        "bad_checksum",
        "bad_ip_checksum",
        "bad_udp_checksum",
        "malformed_frame",
        "truncated",
        "wrong_udp_port",
        "not_for_us",
        "other_ethertype",
        "bad_magic",
        "unsupported_version",
        "unknown_type",
    ]
    .iter()
    .map(|k| drops[*k].as_u64().unwrap_or(0))
    .sum();
    assert!(caught > 0, "corruption counted by reason: {r}");
    assert!(drops["duplicate"].as_u64().unwrap_or(0) > 0, "duplicates counted: {r}");
}

#[test]
fn bad_impair_spec_is_a_usage_error() {
    let (code, out, err) =
        run_stripecat(&["send", "--port", "net_null0", "--impair", "loss=150%"], Duration::from_secs(30));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("impair"), "{err}");
}

fn set_link(dev: &str, up: bool) {
    sh(&["ip", "link", "set", dev, if up { "up" } else { "down" }]);
}

/// Frames the kernel sent out of `dev` (in this namespace).
fn tx_packets(dev: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/statistics/tx_packets")).unwrap().trim().parse().unwrap()
}

fn path_stat(report: &serde_json::Value, path: usize, key: &str) -> u64 {
    report["paths"][path][key].as_u64().unwrap_or_else(|| panic!("no paths[{path}].{key}: {report}"))
}

#[test]
fn member_link_down_mid_transfer_then_back_up_is_used_again() {
    let Some(t) = DpdkTest::start("rel-linkdown", Duration::from_secs(150)) else { return };
    let l = Links::new("rld", 2);
    let (output, sj, rj) = (t.path("out.bin"), t.path("send.json"), t.path("recv.json"));
    let seed = 0x11d0;
    let (rj_arg, sj_arg) = (rj.display().to_string(), sj.display().to_string());
    let mut r = l.start_recv(&t, Some(&output), &["--stats-json", &rj_arg], Stdio::null());
    let mut s = l.start_send(&t, None, &["--stats-json", &sj_arg]);
    let stdin = s.child.stdin.take().expect("piped stdin");
    // ~20 MiB/s: the stream is still running through every step below.
    let feeder = Feeder::start(stdin, seed, Duration::from_millis(50));
    wait_output(&output, 4 << 20, &mut [&mut r, &mut s]);

    // Link 1 goes down (its sender end: the receiver's end loses carrier):
    // the transfer goes on over link 0 alone.
    set_link(&l.send_if[1], false);
    std::thread::sleep(Duration::from_secs(2));
    let at = file_len(&output);
    wait_output(&output, at + (8 << 20), &mut [&mut r, &mut s]);

    // Link 1 comes back. To show it carries data again, link 0 goes down:
    // from then on link 1 is the only way through.
    set_link(&l.send_if[1], true);
    std::thread::sleep(Duration::from_millis(1500));
    let before = tx_packets(&l.send_if[1]);
    set_link(&l.send_if[0], false);
    std::thread::sleep(Duration::from_secs(2));
    let at = file_len(&output);
    wait_output(&output, at + (8 << 20), &mut [&mut r, &mut s]);
    let carried = tx_packets(&l.send_if[1]) - before;
    set_link(&l.send_if[0], true);
    // Probes find it up within a few of their 20 ms intervals; give the
    // stream time to use both links again before it ends.
    std::thread::sleep(Duration::from_secs(3));

    let fed = feeder.stop();
    let so = finish(s, LINK_LIMIT);
    let ro = finish(r, LINK_LIMIT);
    let report = std::fs::read_to_string(&sj)
        .ok()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .unwrap_or_default();
    eprintln!("link down and up: fed {fed} bytes; link 1 carried {carried} frames alone; paths {}", report["paths"]);
    assert_both_ok(&so, &ro);
    assert_eq!(file_len(&output), fed, "every fed byte arrived");
    assert_stream_prefix(&output, seed);
    // 8 MiB or more went through link 1 alone after it came back: at least
    // 5,000 full-size frames.
    assert!(carried >= 5_000, "link 1 sent {carried} frames while link 0 was down");
    for p in 0..2 {
        assert!(path_stat(&report, p, "downs") >= 1, "path {p} was never marked down: {report}");
        assert!(path_stat(&report, p, "ups") >= 1, "path {p} never came back: {report}");
    }
}

/// A member downed while the sender runs flat out from a file: its driver queue
/// stops taking frames (the af_packet ring fills with frames the kernel will not
/// send), and the frames waiting for it must not hold back the other member's.
/// Before the stall rule, the lane-wide back-pressure stopped every path here and
/// the receiver gave up after its idle timeout.
#[test]
fn member_down_at_full_speed_does_not_stop_the_other() {
    let Some(t) = DpdkTest::start("rel-fulldown", Duration::from_secs(150)) else { return };
    let l = Links::new("rfd", 2);
    let (input, output) = input_output(&t, 384 << 20, 0xfd);
    let sj = t.path("send.json");
    let sj_arg = sj.display().to_string();
    let mut r = l.start_recv(&t, Some(&output), &[], Stdio::null());
    let mut s = l.start_send(&t, Some(&input), &["--stats-json", &sj_arg]);
    wait_output(&output, 16 << 20, &mut [&mut r, &mut s]);
    set_link(&l.send_if[1], false);
    let so = finish(s, LINK_LIMIT);
    let ro = finish(r, LINK_LIMIT);
    assert_both_ok(&so, &ro);
    assert_same_file(&input, &output);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sj).unwrap()).unwrap();
    assert!(path_stat(&report, 1, "downs") >= 1, "path 1 was never marked down: {report}");
}
