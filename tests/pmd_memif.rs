//! net_memif between two processes: DPDK's own testpmd is the server and
//! swaps MAC addresses on every frame it gets (macswap); we are the client,
//! and every frame must come back with only its addresses swapped.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::dpdk::{io, register, spawn, Cleanup, DpdkTest};
use common::{frames, wait_for};
use stripecat::dpdk::{Eal, Mempool, Port, PortConfig};

#[test]
fn memif_to_testpmd_and_back() {
    let Some(t) = DpdkTest::start("memif", Duration::from_secs(120)) else { return };
    let sock = t.path("memif.sock");
    let peer_prefix = format!("{}-peer", t.prefix);
    register(Cleanup::RemovePath(format!("/var/run/dpdk/{peer_prefix}").into()));
    let mut peer = spawn(
        Command::new("dpdk-testpmd")
            .args(["-l", "0-1", "--in-memory", "--no-pci", "--no-telemetry"])
            .arg(format!("--file-prefix={peer_prefix}"))
            .arg(format!("--vdev=net_memif0,role=server,socket={},socket-abstract=no", sock.display()))
            .args(["--", "--forward-mode=macswap", "--auto-start", "--total-num-mbufs=4096", "--no-mlockall"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(wait_for(Duration::from_secs(20), || sock.exists()), "testpmd never created {}", sock.display());

    let mut args = t.eal_args("0");
    args.push(format!("--vdev=net_memif0,role=client,socket={},socket-abstract=no", sock.display()));
    let eal = Eal::init_args(&args, 0).expect("EAL init");
    let pool = Mempool::new(&eal, "memif_pool", 4096, 0, 2048 + 128, None).unwrap();
    let port = Port::configure(&eal, eal.port_by_name("net_memif0").unwrap(), &PortConfig::default(), &pool).unwrap();
    port.start().unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || port.link().map(|l| l.up).unwrap_or(false)),
        "memif link never came up"
    );
    let (mut tx, mut rx) = (port.tx_queue(0).unwrap(), port.rx_queue(0).unwrap());

    // testpmd starts forwarding a little after the link is up: probe until
    // one frame comes back, then drain, then count from a clean slate.
    let probe = frames::frame(0xffff_0000, 64);
    assert!(
        wait_for(Duration::from_secs(20), || {
            io::send(&mut tx, &pool, std::slice::from_ref(&probe));
            !io::recv(&mut rx, 1, Duration::from_millis(100)).is_empty()
        }),
        "testpmd never reflected a probe frame"
    );
    io::recv(&mut rx, usize::MAX, Duration::from_millis(300));

    let sent: Vec<Vec<u8>> = (0..2000).map(|i| frames::frame(i, frames::len_for(i))).collect();
    let mut got = Vec::new();
    for chunk in sent.chunks(128) {
        assert_eq!(io::send(&mut tx, &pool, chunk), chunk.len());
        got.extend(io::recv(&mut rx, chunk.len(), Duration::from_secs(5)));
    }
    let seqs: Vec<u32> = got.iter().map(|g| frames::seq_of(g)).collect();
    let missing: Vec<u32> = (0..sent.len() as u32).filter(|s| !seqs.contains(s)).collect();
    assert_eq!(got.len(), sent.len(), "frames reflected; missing {missing:?}");
    for (g, s) in got.iter().zip(&sent) {
        let mut want = s.clone();
        want[0..6].copy_from_slice(&s[6..12]);
        want[6..12].copy_from_slice(&s[0..6]);
        assert_eq!(g, &want, "frame {} differs after the round trip", frames::seq_of(s));
    }
    let st = port.stats().unwrap();
    assert!(st.tx_packets >= 2000 && st.rx_packets >= 2000, "{st:?}");
    drop((tx, rx));
    port.close().unwrap();
    assert_eq!(pool.in_use(), 0);

    // Ask testpmd to quit (it waits for a newline), then make sure it did.
    let _ = peer.stdin.take().map(|mut s| s.write_all(b"\n"));
    assert!(
        wait_for(Duration::from_secs(10), || peer.try_wait().map(|s| s.is_some()).unwrap_or(true)),
        "testpmd did not exit"
    );
}
