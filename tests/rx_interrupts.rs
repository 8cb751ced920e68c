//! Receive interrupts: a DPDK receiver on a `net_tap` member (the one virtual driver
//! here with receive interrupts) sleeps on them while it waits, is woken by the
//! frames of a kernel `send --udp` peer on the tap's kernel side, and delivers the
//! stream intact; its report says which ports were waited on by interrupt. A memif
//! member (no receive interrupts in DPDK 22.11) is polled and says so.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::data::assert_same_file;
use common::dpdk::{sh, DpdkTest};
use common::transfer::{finish, input_output, memif_pair, start, stderr, stripecat_args};

const LIMIT: Duration = Duration::from_secs(60);

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("stats file")).expect("stats json")
}

#[test]
fn a_tap_receiver_sleeps_on_interrupts_and_is_woken_by_the_kernel_sender() {
    let Some(t) = DpdkTest::start("rx-irq-tap", LIMIT * 2) else { return };
    // The tap's kernel interface exists while the receiver runs and goes with it.
    let iface = format!("sci{}", std::process::id() % 100_000);
    let (input, output) = input_output(&t, 16 << 20, 0x1e0);
    let stats = t.path("recv.json");
    let port = format!("net_tap0,iface={iface}");
    let extra = ["--local-ip", "198.18.9.2/24", "--stats-json", stats.to_str().unwrap()];
    let recv = start(&t, "recv", &stripecat_args("recv", &[port], &extra, Some(&output)), Stdio::null(), Stdio::null());
    let up = Instant::now() + Duration::from_secs(20);
    while Command::new("ip").args(["link", "show", &iface]).output().map(|o| !o.status.success()).unwrap_or(true) {
        assert!(Instant::now() < up, "the receiver's tap interface {iface} did not appear");
        std::thread::sleep(Duration::from_millis(50));
    }
    sh(&["ip", "addr", "add", "198.18.9.1/24", "dev", &iface]);
    sh(&["ip", "link", "set", &iface, "up"]);
    // Idle for a while first: the receiver has nothing to poll for and sleeps.
    std::thread::sleep(Duration::from_secs(1));
    let send = Command::new("timeout")
        .args(["60", common::bin(), "send", "--quiet", "--udp", "198.18.9.2:47100", input.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("run the kernel sender");
    let recv = finish(recv, LIMIT);
    assert!(
        send.status.success() && recv.status.success(),
        "kernel sender {:?}: {}\nreceiver {:?}: {}",
        send.status,
        String::from_utf8_lossy(&send.stderr),
        recv.status,
        stderr(&recv)
    );
    assert_same_file(&input, &output);
    let s = json(&stats);
    assert_eq!(s["ports"][0]["rx_wait"], "interrupt", "{s}");
    let (sleeps, wakes) = (s["rx_interrupt_sleeps"].as_u64().unwrap(), s["rx_interrupt_wakes"].as_u64().unwrap());
    // A second of waiting is hundreds of 1 ms sleeps; the sender's frames ended some.
    assert!(sleeps >= 100, "{sleeps} interrupt sleeps in a second of waiting: {s}");
    assert!(wakes >= 1 && wakes <= sleeps, "{wakes} of {sleeps} sleeps ended by a frame: {s}");
}

#[test]
fn a_memif_member_is_polled() {
    let Some(t) = DpdkTest::start("rx-irq-memif", LIMIT * 2) else { return };
    let (server, client) = memif_pair(&t, 1, None);
    let (input, output) = input_output(&t, 1 << 20, 0x1e1);
    let stats = t.path("recv.json");
    let rargs = stripecat_args("recv", &server, &["--stats-json", stats.to_str().unwrap()], Some(&output));
    let recv = start(&t, "recv", &rargs, Stdio::null(), Stdio::null());
    let send = start(&t, "send", &stripecat_args("send", &client, &[], Some(&input)), Stdio::null(), Stdio::null());
    let (so, ro) = (finish(send, LIMIT), finish(recv, LIMIT));
    assert!(so.status.success() && ro.status.success(), "send: {}\nrecv: {}", stderr(&so), stderr(&ro));
    assert_same_file(&input, &output);
    let s = json(&stats);
    assert_eq!(s["ports"][0]["rx_wait"], "poll", "{s}");
    assert_eq!(s["rx_interrupt_sleeps"], 0, "{s}");
}
