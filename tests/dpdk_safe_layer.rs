//! The safe DPDK layer against the real EAL and PMDs: mbuf ownership (no
//! leak, no double free), bursts, shared buffers, ports, lcores, threads.
//!
//! One EAL serves every case (DPDK initialises once per process); cases run
//! one at a time, and the EAL is cleaned up after the last.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::frames;
use libtest_mimic::{Arguments, Failed, Trial};
use stripecat::dpdk::{DpdkError, Eal, Mbuf, Mempool, Port, PortConfig, SharedMbuf, ThreadRegistration};

struct Ctx {
    eal: Eal,
}

static NEXT_VDEV: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// A fresh vdev of `driver` (net_ring or net_null) for one test: closing a
/// port releases a vdev, so tests do not share them.
fn vdev(ctx: &Ctx, driver: &str, args: &str) -> stripecat::dpdk::PortId {
    let n = NEXT_VDEV.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.eal.attach_vdev(&format!("{driver}{n}{args}")).expect("hot-plug vdev")
}

static SERIAL: Mutex<()> = Mutex::new(());
static CTX: Mutex<Option<Ctx>> = Mutex::new(None);

fn with_ctx(f: impl FnOnce(&Ctx) -> Result<(), Failed>) -> Result<(), Failed> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let guard = CTX.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.as_ref().expect("EAL context"))
}

fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn pool(ctx: &Ctx, name: &str, n: u32) -> Mempool {
    // Cache 0: exact in-use accounting.
    Mempool::new(&ctx.eal, name, n, 0, 2048 + 128, None).expect("mempool")
}

fn fill(m: &mut Mbuf, bytes: &[u8]) {
    m.append(bytes.len()).expect("tailroom").copy_from_slice(bytes);
}

fn main() {
    let args = Arguments::from_args();
    let Some(test) = common::dpdk::DpdkTest::start("safe-layer", Duration::from_secs(180)) else {
        // Not root: said loudly by start(); run nothing and report nothing.
        return;
    };
    let mut eal_args = test.eal_args("0-1");
    eal_args.extend(["--vdev=net_ring0".to_string(), "--vdev=net_null0".to_string()]);
    let eal = Eal::init_args(&eal_args, 0).expect("EAL init");
    assert!(
        eal.port_by_name("net_ring0").is_some() && eal.port_by_name("net_null0").is_some(),
        "vdevs from the command line"
    );
    *CTX.lock().unwrap() = Some(Ctx { eal });

    let trials = vec![
        Trial::test("second_eal_init_is_refused", second_eal_init_is_refused),
        Trial::test("tsc_hz_from_the_short_calibration_is_within_one_percent", tsc_hz_accuracy),
        Trial::test("mempool_alloc_free_accounting", mempool_alloc_free_accounting),
        Trial::test("no_double_free_pool_never_overfills", no_double_free_pool_never_overfills),
        Trial::test("bulk_alloc_all_or_nothing_and_bulk_free", bulk_alloc_all_or_nothing_and_bulk_free),
        Trial::test("mbuf_data_room_headroom_append_prepend_adj_trim", mbuf_edits),
        Trial::test("inline_accessors_match_the_shim", inline_accessors_match_shim),
        Trial::test("indirect_clones_share_data_and_refuse_writes", indirect_clones),
        Trial::test("shared_mbuf_refcounts_and_readonly", shared_mbuf_refcounts),
        Trial::test("shared_mbuf_clone_and_drop_race_on_four_threads", shared_clone_drop_race),
        Trial::test("shared_mbuf_bulk_free_releases_one_reference_each", shared_bulk_free),
        Trial::test("ring_loopback_tx_rx_ownership_and_bytes", ring_loopback),
        Trial::test("tx_burst_gives_back_what_was_not_sent", tx_gives_back_unsent),
        Trial::test("null_pmd_tx_frees_and_rx_allocates", null_pmd),
        Trial::test("chained_header_plus_shared_payload_over_ring_pair", chained_shared_over_ring_pair),
        Trial::test("queues_are_handed_out_once_and_close_waits_for_them", queues_once),
        Trial::test("port_info_link_stats_xstats", port_info_stats),
        Trial::test("lcore_launch_returns_value_and_reports_panic", lcore_launch),
        Trial::test("registered_thread_frees_mbufs", registered_thread),
    ];
    let conclusion = libtest_mimic::run(&args, trials);
    // Cleanup order: ports and pools held by the context, then EAL, then the
    // test's runtime directory and lock (DpdkTest's drop).
    drop(CTX.lock().unwrap().take());
    drop(test);
    conclusion.exit();
}

fn second_eal_init_is_refused() -> Result<(), Failed> {
    with_ctx(|_| {
        let again = Eal::init_args(&["x".into(), "--no-huge".into()], 0);
        check(matches!(again, Err(DpdkError::EalAlreadyInitialised)), format!("got {again:?}"))
    })
}

/// EAL calibrated the TSC over stripecat's short window (src/dpdk/tsc.rs);
/// the frequency must still agree with the TSC counted over 300 ms of the
/// monotonic clock, within 1 % (the protocol's timers need far less).
fn tsc_hz_accuracy() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let hz = ctx.eal.tsc_hz() as f64;
        let (t0, c0) = (std::time::Instant::now(), stripecat::dpdk::rdtsc());
        std::thread::sleep(Duration::from_millis(300));
        let (c1, t1) = (stripecat::dpdk::rdtsc(), std::time::Instant::now());
        let measured = (c1 - c0) as f64 / (t1 - t0).as_secs_f64();
        let err = (hz - measured).abs() / measured;
        check(err < 0.01, format!("EAL says {hz:.0} Hz, measured {measured:.0} Hz ({:.2} % off)", err * 100.0))
    })
}

fn mempool_alloc_free_accounting() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_acct", 64);
        check(p.capacity() == 64 && p.in_use() == 0 && p.available() == 64, format!("{p:?}"))?;
        let a = p.alloc().expect("alloc");
        let b = p.alloc().expect("alloc");
        check(p.in_use() == 2, format!("in_use {}", p.in_use()))?;
        drop(a);
        check(p.in_use() == 1, "drop frees exactly one")?;
        drop(b);
        check(p.in_use() == 0, "all back")
    })
}

fn no_double_free_pool_never_overfills() -> Result<(), Failed> {
    // A double free would put one mbuf in the pool twice: then more than
    // `capacity` allocations would succeed, or two would share a pointer.
    with_ctx(|ctx| {
        let p = pool(ctx, "t_dfree", 32);
        for round in 0..3 {
            let mut held = Vec::new();
            while let Some(m) = p.alloc() {
                held.push(m);
                if held.len() > 32 {
                    return Err(format!("round {round}: pool handed out more than its capacity").into());
                }
            }
            check(held.len() == 32, format!("round {round}: only {} of 32", held.len()))?;
            let mut addrs: Vec<usize> = held.iter().map(|m| m.data().as_ptr() as usize).collect();
            addrs.sort_unstable();
            addrs.dedup();
            check(addrs.len() == 32, "two handles share one buffer")?;
            // Mix the ways mbufs are released: drop, bulk free, shared.
            let shared: Vec<SharedMbuf> = held.drain(..8).map(|m| m.into_shared().unwrap()).collect();
            let clones: Vec<SharedMbuf> = shared.to_vec();
            drop(shared);
            drop(clones);
            let mut rest: Vec<Mbuf> = held.drain(..12).collect();
            Mbuf::free_bulk(&mut rest);
            drop(held);
            check(p.in_use() == 0, format!("round {round}: in_use {}", p.in_use()))?;
        }
        Ok(())
    })
}

fn bulk_alloc_all_or_nothing_and_bulk_free() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_bulk", 40);
        let mut v = Vec::new();
        check(p.alloc_bulk(30, &mut v) && v.len() == 30, "bulk 30")?;
        check(!p.alloc_bulk(20, &mut v) && v.len() == 30, "bulk beyond capacity fails whole")?;
        check(p.in_use() == 30, "failed bulk took nothing")?;
        Mbuf::free_bulk(&mut v);
        check(v.is_empty() && p.in_use() == 0, "bulk free returns all")
    })
}

fn mbuf_edits() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_edit", 8);
        let mut m = p.alloc().unwrap();
        let head0 = m.headroom();
        check(head0 == 128 && m.data_len() == 0, format!("headroom {head0}"))?;
        fill(&mut m, b"payload");
        m.prepend(4).unwrap().copy_from_slice(b"HDR:");
        check(m.data() == b"HDR:payload" && m.headroom() == head0 - 4, "prepend")?;
        check(m.adj(4) && m.data() == b"payload", "adj")?;
        check(m.trim(3) && m.data() == b"payl", "trim")?;
        check(!m.adj(100) && !m.trim(100), "over-long adj/trim refused")?;
        check(m.prepend(head0 + 1).is_none(), "prepend beyond headroom refused")?;
        let tail = m.tailroom();
        check(m.append(tail + 1).is_none() && m.append(tail).is_some(), "append bounded by tailroom")?;
        m.data_mut().unwrap()[0] = b'P';
        check(m.data()[0] == b'P', "data_mut writes")?;
        // append_inline: the same bounds and result as append, without a DPDK call.
        let mut a = p.alloc().unwrap();
        let room = a.tailroom();
        a.append_inline(5).unwrap().copy_from_slice(b"fresh");
        a.append_inline(3).unwrap().copy_from_slice(b"!!!");
        check(
            a.data() == b"fresh!!!" && a.pkt_len() == 8 && a.tailroom() == room - 8,
            "append_inline grows data and pkt_len",
        )?;
        check(
            a.append_inline(room - 7).is_none() && a.append_inline(room - 8).is_some(),
            "append_inline bounded by tailroom",
        )?;
        let shared = a.into_shared().unwrap();
        let other = shared.clone();
        drop(other);
        let mut a = shared.try_unique().unwrap();
        check(a.append_inline(0).is_some(), "unique again after the clone went")
    })
}

/// The accessors computed in Rust from the `rte_mbuf` layout (data pointer,
/// headroom, tailroom, refcount) against the C shim's static inlines, and
/// data_len/pkt_len/segments against what the segments hold.
fn same_as_shim(m: &Mbuf, what: &str) -> Result<(), Failed> {
    let shim = m.via_shim();
    check(
        m.data_ptr() == shim.data_ptr,
        format!("{what}: data pointer {:?} vs shim {:?}", m.data_ptr(), shim.data_ptr),
    )?;
    check(m.data().as_ptr() == shim.data_ptr, format!("{what}: data() starts at mtod"))?;
    check(m.headroom() == shim.headroom, format!("{what}: headroom {} vs shim {}", m.headroom(), shim.headroom))?;
    check(m.tailroom() == shim.tailroom, format!("{what}: tailroom {} vs shim {}", m.tailroom(), shim.tailroom))?;
    check(m.refcnt() == shim.refcnt, format!("{what}: refcnt {} vs shim {}", m.refcnt(), shim.refcnt))?;
    let segs = m.segment_ptrs();
    check(
        segs.len() == m.segments() as usize,
        format!("{what}: {} segments walked, nb_segs {}", segs.len(), m.segments()),
    )?;
    for (i, (inline, shim, _)) in segs.iter().enumerate() {
        check(inline == shim, format!("{what}: segment {i} data pointer {inline:?} vs shim {shim:?}"))?;
    }
    let lens: Vec<usize> = m.segment_data().map(<[u8]>::len).collect();
    check(lens[0] == m.data_len(), format!("{what}: data_len"))?;
    check(lens.iter().sum::<usize>() == m.pkt_len(), format!("{what}: pkt_len {} vs segments {lens:?}", m.pkt_len()))?;
    check(segs.iter().map(|s| s.2).eq(lens.iter().copied()), format!("{what}: segment lengths"))
}

fn inline_accessors_match_shim() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_inline", 16);
        let mut m = p.alloc().unwrap();
        same_as_shim(&m, "fresh")?;
        fill(&mut m, b"0123456789");
        same_as_shim(&m, "plain")?;
        check(m.adj(3) && m.data() == b"3456789", "adj")?;
        same_as_shim(&m, "after adj")?;
        m.prepend(2).unwrap().copy_from_slice(b"xy");
        same_as_shim(&m, "after prepend")?;
        check(m.trim(4) && m.data() == b"xy345", "trim")?;
        same_as_shim(&m, "after trim")?;
        m.append_inline(1).unwrap()[0] = b'!';
        same_as_shim(&m, "after append_inline")?;
        // Chained: a header segment, a plain tail and a shared tail.
        let mut t = p.alloc().unwrap();
        fill(&mut t, b"tail-one");
        m.chain(t).map_err(|_| "chain")?;
        let mut s = p.alloc().unwrap();
        fill(&mut s, b"shared-tail");
        check(s.adj(7), "adj before sharing")?;
        let s = s.into_shared().unwrap();
        let keep = s.clone();
        check(keep.refcnt() == 2 && keep.refcnt_via_shim() == 2, "clone counted inline and by the shim alike")?;
        m.chain_shared(s).map_err(|_| "chain_shared")?;
        same_as_shim(&m, "chain of three")?;
        let all: Vec<u8> = m.segment_data().flatten().copied().collect();
        check(all == b"xy345!tail-onetail", format!("chain bytes {:?}", String::from_utf8_lossy(&all)))?;
        // The shared tail's refcount, read inline and by the shim.
        let via_shim = keep.clone_via_shim();
        check(keep.refcnt() == 3 && keep.refcnt_via_shim() == 3, "shim update seen by the inline read")?;
        drop(via_shim);
        drop(m);
        check(keep.refcnt() == 1 && keep.refcnt_via_shim() == 1, "chain and shim clone released theirs")?;
        check(
            keep.data() == b"tail" && keep.data().as_ptr() == keep.try_unique().unwrap().via_shim().data_ptr,
            "shared data",
        )?;
        check(p.in_use() == 0, format!("in_use {}", p.in_use()))
    })
}

fn indirect_clones() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_indirect", 16);
        let clones = pool(ctx, "t_indirect_c", 16);
        let mut m = p.alloc().unwrap();
        fill(&mut m, b"direct-data");
        check(m.adj(7), "adj")?;
        let mut t = p.alloc().unwrap();
        fill(&mut t, b"second");
        m.chain(t).map_err(|_| "chain")?;
        let mut c = m.clone_indirect(&clones).ok_or("clone")?;
        check(c.segments() == 2 && !c.is_direct() && m.is_direct(), "a two-segment indirect clone")?;
        same_as_shim(&c, "indirect clone")?;
        same_as_shim(&m, "original of a clone")?;
        check(m.refcnt() == 2 && c.refcnt() == 1, format!("refcnt {} / {}", m.refcnt(), c.refcnt()))?;
        check(c.data() == b"data" && c.data().as_ptr() == m.data().as_ptr(), "the clone reads the original's bytes")?;
        check(c.data_mut().is_none() && c.append(1).is_none() && c.append_inline(1).is_none(), "clone is read-only")?;
        check(c.prepend(1).is_none() && m.data_mut().is_none(), "prepend refused; original shared")?;
        check(c.adj(2) && c.data() == b"ta" && m.data() == b"data", "adj moves only the clone's view")?;
        same_as_shim(&c, "adjusted clone")?;
        drop(c);
        check(m.refcnt() == 1 && m.data_mut().is_some(), "writable again once the clone is gone")?;
        same_as_shim(&m, "original after the clone")?;
        drop(m);
        check(p.in_use() == 0 && clones.in_use() == 0, format!("in_use {} / {}", p.in_use(), clones.in_use()))
    })
}

/// Clone and drop (both inline atomics) of one buffer from four threads at
/// once: no count is lost, the buffer is freed exactly once, by the last.
fn shared_clone_drop_race() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_race", 4);
        let mut m = p.alloc().unwrap();
        fill(&mut m, b"raced");
        let s = m.into_shared().unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let s = &s;
                scope.spawn(move || {
                    let mut held = Vec::with_capacity(64);
                    for i in 0..20_000 {
                        held.push(s.clone());
                        if i % 3 == t % 3 || held.len() == 64 {
                            held.clear();
                        }
                    }
                });
            }
        });
        check(s.refcnt() == 1 && s.refcnt_via_shim() == 1, format!("refcnt {} after the race", s.refcnt()))?;
        check(p.in_use() == 1 && s.data() == b"raced", "still allocated, bytes intact")?;
        drop(s);
        check(p.in_use() == 0, "the last drop freed it")
    })
}

fn shared_mbuf_refcounts() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_shared", 8);
        let mut m = p.alloc().unwrap();
        fill(&mut m, b"keep until acked");
        let s = m.into_shared().unwrap();
        let c1 = s.clone();
        let c2 = c1.clone();
        check(s.refcnt() == 3 && c2.as_ref() == b"keep until acked", "three references")?;
        drop(c1);
        check(s.refcnt() == 2 && p.in_use() == 1, "one released")?;
        let s = s.try_unique().expect_err("still shared");
        drop(c2);
        let mut back = s.try_unique().expect("last reference");
        check(back.data_mut().is_some(), "unique again is writable")?;
        drop(back);
        check(p.in_use() == 0, "freed with the last reference")?;
        // A chain cannot become shared (refcounts are per segment).
        let mut head = p.alloc().unwrap();
        head.chain(p.alloc().unwrap()).unwrap();
        check(head.segments() == 2, "chained")?;
        let head = head.into_shared().expect_err("chains are refused");
        drop(head);
        check(p.in_use() == 0, "chain freed whole")
    })
}

fn shared_bulk_free() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_sbulk", 16);
        let mut originals = Vec::new();
        for _ in 0..8 {
            originals.push(p.alloc().unwrap().into_shared().unwrap());
        }
        let mut clones: Vec<SharedMbuf> = originals.to_vec();
        check(originals.iter().all(|m| m.refcnt() == 2), "two references each")?;
        SharedMbuf::free_bulk(&mut clones);
        check(clones.is_empty() && originals.iter().all(|m| m.refcnt() == 1), "one reference released each")?;
        check(p.in_use() == 8, "nothing returned while referenced")?;
        SharedMbuf::free_bulk(&mut originals);
        check(p.in_use() == 0 && p.available() == p.capacity(), format!("all back: in_use {}", p.in_use()))
    })
}

fn configure(ctx: &Ctx, id: stripecat::dpdk::PortId, p: &Mempool, q: u16) -> Port {
    let cfg = PortConfig { rx_queues: q, tx_queues: q, rx_desc: 512, tx_desc: 512, ..Default::default() };
    let port = Port::configure(&ctx.eal, id, &cfg, p).expect("configure");
    port.start().expect("start");
    port
}

/// A started net_ring pair `ring` (one queue, `depth` slots) on a fresh
/// pool `pool_name` of `n` mbufs: (pool, ports, tx queue of a, rx queue of b).
fn ring_pair(
    ctx: &Ctx,
    ring: &str,
    depth: u32,
    pool_name: &str,
    n: u32,
) -> (Mempool, Port, Port, stripecat::dpdk::TxQueue, stripecat::dpdk::RxQueue) {
    let (a, b) = ctx.eal.ring_port_pair(ring, 1, depth).expect("ring pair");
    let p = pool(ctx, pool_name, n);
    let pa = configure(ctx, a, &p, 1);
    let pb = configure(ctx, b, &p, 1);
    let (tx, rx) = (pa.tx_queue(0).unwrap(), pb.rx_queue(0).unwrap());
    (p, pa, pb, tx, rx)
}

fn drain(rx: &mut stripecat::dpdk::RxQueue, want: usize) -> Vec<Mbuf> {
    let mut got = Vec::new();
    for _ in 0..1000 {
        rx.rx_burst(&mut got, 64);
        if got.len() >= want {
            break;
        }
    }
    got
}

fn ring_loopback() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_ringlb", 512);
        let port = configure(ctx, vdev(ctx, "net_ring", ""), &p, 1);
        let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
        let sent_frames: Vec<Vec<u8>> = (0..200).map(|i| frames::frame(i, frames::len_for(i))).collect();
        let mut out = Vec::new();
        for f in &sent_frames {
            let mut m = p.alloc().unwrap();
            fill(&mut m, f);
            out.push(m);
        }
        let mut sent = 0;
        while !out.is_empty() {
            let mut burst: Vec<Mbuf> = out.drain(..out.len().min(32)).collect();
            sent += tx.tx_burst(&mut burst);
            check(burst.is_empty(), "ring took the whole burst")?;
        }
        check(sent == 200 && p.in_use() == 200, format!("sent {sent}, in_use {}", p.in_use()))?;
        let got = drain(&mut rx, 200);
        check(got.len() == 200, format!("received {}", got.len()))?;
        for (m, f) in got.iter().zip(&sent_frames) {
            check(m.data() == &f[..], format!("frame {} differs", frames::seq_of(f)))?;
        }
        drop(got);
        check(p.in_use() == 0, format!("leak: in_use {}", p.in_use()))?;
        let st = port.stats().unwrap();
        check(st.tx_packets == 200 && st.rx_packets == 200, format!("{st:?}"))?;
        drop((rx, tx));
        port.stop().unwrap();
        Ok(())
    })
}

fn tx_gives_back_unsent() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let (p, _pa, _pb, mut tx, mut rx) = ring_pair(ctx, "t_small", 64, "t_unsent", 256);
        let mut burst = Vec::new();
        check(p.alloc_bulk(100, &mut burst), "alloc")?;
        for (i, m) in burst.iter_mut().enumerate() {
            fill(m, &frames::frame(i as u32, 64));
        }
        let sent = tx.tx_burst(&mut burst);
        // The ring holds 63; the rest must come back, in order, still ours.
        check(sent == 63 && burst.len() == 37, format!("sent {sent}, left {}", burst.len()))?;
        check(frames::seq_of(burst[0].data()) == 63, "unsent kept in order")?;
        check(p.in_use() == 100, "nothing freed or lost")?;
        drop(burst);
        check(p.in_use() == 63, "unsent freed by the caller")?;
        let got = drain(&mut rx, 63);
        check(got.len() == 63, format!("got {}", got.len()))?;
        drop(got);
        check(p.in_use() == 0, "all back")
    })
}

fn null_pmd() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = pool(ctx, "t_null", 512);
        let port = configure(ctx, vdev(ctx, "net_null", ",size=96"), &p, 1);
        let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
        let mut burst = Vec::new();
        check(p.alloc_bulk(64, &mut burst), "alloc")?;
        for m in burst.iter_mut() {
            fill(m, &[0u8; 60]);
        }
        check(tx.tx_burst(&mut burst) == 64 && burst.is_empty(), "null takes all")?;
        check(p.in_use() == 0, format!("null tx must free: in_use {}", p.in_use()))?;
        let mut got = Vec::new();
        let n = rx.rx_burst(&mut got, 32);
        check(n == 32 && got.iter().all(|m| m.pkt_len() == 96), format!("null rx gave {n}"))?;
        check(p.in_use() == 32, "rx mbufs come from our pool")?;
        drop(got);
        check(p.in_use() == 0, "rx mbufs freed")?;
        drop((rx, tx));
        port.stop().unwrap();
        Ok(())
    })
}

fn chained_shared_over_ring_pair() -> Result<(), Failed> {
    // The zero-copy send path: a fresh header mbuf, then a shared payload
    // that stays referenced until its ACK. The receiver sees both segments.
    with_ctx(|ctx| {
        let (p, _pa, _pb, mut tx, mut rx) = ring_pair(ctx, "t_chain", 256, "t_chainp", 64);
        let mut payload = p.alloc().unwrap();
        fill(&mut payload, b"zero-copy payload");
        let payload = payload.into_shared().unwrap();
        for i in 0..3u8 {
            let mut hdr = p.alloc().unwrap();
            fill(&mut hdr, &[b'H', i]);
            hdr.chain_shared(payload.clone()).map_err(|_| "chain")?;
            check(hdr.pkt_len() == 19 && hdr.segments() == 2, "chained length")?;
            let mut v = vec![hdr];
            check(tx.tx_burst(&mut v) == 1, "sent")?;
        }
        check(payload.refcnt() == 4, format!("refcnt {}", payload.refcnt()))?;
        let got = drain(&mut rx, 3);
        check(got.len() == 3, "received 3")?;
        for (i, m) in got.iter().enumerate() {
            let segs: Vec<&[u8]> = m.segment_data().collect();
            check(segs == vec![&[b'H', i as u8][..], b"zero-copy payload"], format!("{segs:?}"))?;
        }
        drop(got);
        check(payload.refcnt() == 1 && p.in_use() == 1, "receiver released its references")?;
        drop(payload);
        check(p.in_use() == 0, "all back")
    })
}

fn queues_once() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let (a, _b) = ctx.eal.ring_port_pair("t_q", 2, 64).expect("ring pair");
        let p = pool(ctx, "t_qp", 256);
        let port = configure(ctx, a, &p, 2);
        let q0 = port.rx_queue(0).expect("q0");
        check(port.rx_queue(0).is_none(), "rx queue 0 handed out twice")?;
        check(port.rx_queue(2).is_none(), "no queue 2")?;
        let t1 = port.tx_queue(1).expect("t1");
        check(port.tx_queue(1).is_none(), "tx queue 1 handed out twice")?;
        drop(q0);
        drop(t1);
        port.close().map_err(|e| format!("close: {e}"))?;
        Ok(())
    })
}

fn port_info_stats() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let ring = ctx.eal.port_by_name("net_ring0").unwrap();
        let info = stripecat::dpdk::device_info(ring).unwrap();
        check(info.driver == "net_ring" && info.name == "net_ring0", format!("{info:?}"))?;
        check(info.max_rx_queues >= 1 && info.max_tx_queues >= 1, "queues")?;
        let null = vdev(ctx, "net_null", "");
        let info = stripecat::dpdk::device_info(null).unwrap();
        check(info.driver == "net_null", format!("{info:?}"))?;
        let p = pool(ctx, "t_stats", 128);
        let port = configure(ctx, null, &p, 1);
        port.reset_stats().unwrap();
        let mut tx = port.tx_queue(0).unwrap();
        let mut v = Vec::new();
        p.alloc_bulk(10, &mut v);
        for m in v.iter_mut() {
            fill(m, &[1u8; 100]);
        }
        tx.tx_burst(&mut v);
        let st = port.stats().unwrap();
        // net_null counts packets, not bytes.
        check(st.tx_packets == 10 && st.rx_packets == 0, format!("{st:?}"))?;
        let xs = port.xstats().unwrap();
        let opk = xs.iter().find(|x| x.name == "tx_good_packets").map(|x| x.value);
        check(opk == Some(10), format!("xstats tx_good_packets {opk:?}"))?;
        check(port.link().unwrap().up, "null link up when started")?;
        check(port.mtu().unwrap() >= 1500, "mtu")?;
        drop(tx);
        drop(port);
        check(stripecat::dpdk::device_info(null).is_err(), "dropping the last handle closes the port")?;
        Ok(())
    })
}

fn lcore_launch() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let workers = ctx.eal.worker_lcores();
        check(workers == vec![1], format!("workers {workers:?}"))?;
        let job = ctx.eal.launch(1, stripecat::dpdk::current_lcore).map_err(|e| e.to_string())?;
        check(job.join().map_err(|e| e.to_string())? == Some(1), "ran on lcore 1")?;
        let job = ctx.eal.launch(1, || -> u32 { panic!("boom on purpose") }).map_err(|e| e.to_string())?;
        match job.join() {
            Err(DpdkError::LcorePanic { lcore: 1, message }) if message.contains("boom") => {}
            other => return Err(format!("expected LcorePanic, got {other:?}").into()),
        }
        // The lcore is usable again after a panic.
        let job = ctx.eal.launch(1, || 7).map_err(|e| e.to_string())?;
        check(job.join().map_err(|e| e.to_string())? == 7, "relaunch")?;
        // Launching on the main lcore is refused, not a hang.
        check(ctx.eal.launch(0, || ()).is_err(), "main lcore refused")
    })
}

fn registered_thread() -> Result<(), Failed> {
    with_ctx(|ctx| {
        let p = std::sync::Arc::new(pool(ctx, "t_thread", 64));
        let mut v = Vec::new();
        p.alloc_bulk(20, &mut v);
        let eal = ctx.eal.clone();
        let p2 = p.clone();
        let lcore = std::thread::spawn(move || {
            let reg = ThreadRegistration::register(&eal).expect("register");
            let id = reg.lcore();
            Mbuf::free_bulk(&mut v);
            let in_use = p2.in_use();
            drop(reg);
            (id, in_use, stripecat::dpdk::current_lcore())
        })
        .join()
        .map_err(|_| "thread panicked")?;
        check(lcore.0 != u32::MAX && lcore.0 >= 2, format!("registered lcore {}", lcore.0))?;
        check(lcore.1 == 0, "freed on the registered thread")?;
        check(lcore.2.is_none(), "unregistered after drop")?;
        Ok(())
    })
}
