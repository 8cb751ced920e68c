//! net_pcap: frames sent to a `tx_pcap` file, the file checked on its own,
//! then read back through `rx_pcap` and compared byte for byte.

mod common;

use std::time::Duration;

use common::dpdk::{io, DpdkTest};
use common::frames;
use stripecat::dpdk::{Eal, Mempool, Port, PortConfig};

#[test]
fn pcap_tx_file_then_rx_file_round_trip() {
    let Some(t) = DpdkTest::start("pcap", Duration::from_secs(90)) else { return };
    let file = t.path("frames.pcap");
    let mut args = t.eal_args("0");
    args.push(format!("--vdev=net_pcap0,tx_pcap={}", file.display()));
    let eal = Eal::init_args(&args, 0).expect("EAL init");
    let pool = Mempool::new(&eal, "pcap_pool", 1024, 0, 2048 + 128, None).unwrap();

    let sent: Vec<Vec<u8>> = (0..300).map(|i| frames::frame(i, frames::len_for(i))).collect();
    let id = eal.port_by_name("net_pcap0").expect("net_pcap0");
    let port = Port::configure(&eal, id, &PortConfig::default(), &pool).unwrap();
    port.start().unwrap();
    let mut tx = port.tx_queue(0).unwrap();
    assert_eq!(io::send(&mut tx, &pool, &sent), sent.len());
    drop(tx);
    port.close().expect("close flushes the pcap file");
    assert_eq!(pool.in_use(), 0, "pcap tx freed every mbuf");

    // The file itself, parsed independently of DPDK.
    let on_disk = frames::read_pcap(&std::fs::read(&file).unwrap());
    assert_eq!(on_disk.len(), sent.len(), "frames in the file");
    assert!(on_disk == sent, "file contents differ from what was sent");

    // Back in through DPDK's pcap reader.
    let id = eal.attach_vdev(&format!("net_pcap1,rx_pcap={}", file.display())).expect("hot-plug rx_pcap");
    let port = Port::configure(&eal, id, &PortConfig::default(), &pool).unwrap();
    port.start().unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let got = io::recv(&mut rx, sent.len(), Duration::from_secs(10));
    assert_eq!(got.len(), sent.len(), "frames read back");
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(g, s, "frame {} differs after the round trip", frames::seq_of(s));
    }
    drop(rx);
    port.close().unwrap();
    assert_eq!(pool.in_use(), 0);
}
