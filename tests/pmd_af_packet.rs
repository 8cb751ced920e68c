//! net_af_packet on a veth pair (qdisc_bypass=0, so tc shaping applies):
//! frames sent on one end arrive on the other, byte for byte, both ways.

mod common;

use std::time::Duration;

use common::dpdk::{io, veth_pair, DpdkTest};
use common::frames;
use stripecat::dpdk::{Eal, Mempool, Port, PortConfig};

#[test]
fn af_packet_over_veth_both_directions() {
    let Some(t) = DpdkTest::start("afpkt", Duration::from_secs(90)) else { return };
    let (a, b) = (format!("sct{}a", std::process::id() % 100000), format!("sct{}b", std::process::id() % 100000));
    veth_pair(&a, &b, 1500);
    let mut args = t.eal_args("0");
    args.push(format!("--vdev=net_af_packet0,iface={a},qdisc_bypass=0"));
    args.push(format!("--vdev=net_af_packet1,iface={b},qdisc_bypass=0"));
    let eal = Eal::init_args(&args, 0).expect("EAL init");
    let pool = Mempool::new(&eal, "afp_pool", 4096, 0, 2048 + 128, None).unwrap();
    let pa = Port::configure(&eal, eal.port_by_name("net_af_packet0").unwrap(), &PortConfig::default(), &pool).unwrap();
    let pb = Port::configure(&eal, eal.port_by_name("net_af_packet1").unwrap(), &PortConfig::default(), &pool).unwrap();
    pa.start().unwrap();
    pb.start().unwrap();
    assert_eq!(pa.info().driver, "net_af_packet");
    let (mut txa, mut rxa) = (pa.tx_queue(0).unwrap(), pa.rx_queue(0).unwrap());
    let (mut txb, mut rxb) = (pb.tx_queue(0).unwrap(), pb.rx_queue(0).unwrap());

    for (dir, tx, rx) in [("a->b", &mut txa, &mut rxb), ("b->a", &mut txb, &mut rxa)] {
        let sent: Vec<Vec<u8>> = (0..400).map(|i| frames::frame(i, frames::len_for(i))).collect();
        // Paced in bursts so the 512-frame socket ring never overflows.
        let mut got = Vec::new();
        for chunk in sent.chunks(64) {
            assert_eq!(io::send(tx, &pool, chunk), chunk.len());
            got.extend(io::recv(rx, chunk.len(), Duration::from_secs(5)));
        }
        got.extend(io::recv(rx, sent.len() - got.len(), Duration::from_millis(500)));
        assert_eq!(got.len(), sent.len(), "{dir}: frames received");
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(g, s, "{dir}: frame {} differs", frames::seq_of(s));
        }
    }
    drop((txa, rxa, txb, rxb));
    pa.close().unwrap();
    pb.close().unwrap();
    assert_eq!(pool.in_use(), 0, "every mbuf returned");
}
