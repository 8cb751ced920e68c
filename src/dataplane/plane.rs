//! One owner of EAL, the packet pools and the member ports, for `send`, `recv`,
//! `selftest` and `bench` alike.
//!
//! [`Plane::open`] starts EAL, sizes the pools from a [`PoolPlan`], opens and starts
//! the members and waits for their links; [`Plane::run_lanes`] runs one
//! [`run_lane`](super::lane::run_lane) per lane on its lcore. Dropping a `Plane`
//! tears down in the one safe order: members (queues, buffered frames), then pools,
//! then EAL (ports stopped and closed, hugepages released). Struct fields drop in
//! declaration order, which is what enforces it.
//!
//! Memory budget (independent of the stream's length; see README): the receiver
//! holds `window / chunk` buffers for the reorder window plus the writer queue; the
//! sender the data in flight (bounded by the receiver's window) plus what the reader
//! may read ahead; both the receive descriptors and transmit backlog of every queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::clock::TscClock;
use super::impair_port::PortImpairer;
use super::lane::{run_lane, LaneIo, Role};
use super::lanes::{LaneShared, Layout, Side};
use super::lcores;
use super::members::{self, FrameCounters, Member};
use super::packet_check::{self, CheckPolicy};
use super::signals::Signals;
use crate::dpdk::{Eal, Mempool, PortId};
use crate::exit::{ExitCode, Failure};
use crate::impair::Impairment;
use crate::spec::PortSpec;
use crate::startup::Startup;

/// Headroom DPDK reserves in every mbuf (RTE_PKTMBUF_HEADROOM).
pub const HEADROOM: u16 = 128;
/// Receiver window (reorder buffer and flow-control credit), bytes.
pub const WINDOW_BYTES: u64 = 32 << 20;
/// Floor under every path's probe timeout: poll loops share CPUs with the reader,
/// the writer and (on small machines) the peer.
pub const MIN_PTO: stripecat_proto::Duration = stripecat_proto::SenderConfig::SHARED_MACHINE_MIN_PTO;
/// Chunks the reader may have read ahead of the poll loop (its intake queue).
pub const INTAKE_CHUNKS: usize = 2048;
/// Chunks the sender's protocol queues before the window takes them (fresh queue).
pub const FRESH_CHUNKS: usize = 4096;
/// Payloads queued for the writer at most.
pub const WRITER_QUEUE: usize = 8192;
/// How long members may take to come up.
pub const LINK_WAIT: Duration = Duration::from_secs(30);

/// Receive buffers per queue: its descriptor ring plus a burst in hand.
const RX_PER_QUEUE: u32 = 2048;
/// Header buffers per queue: frames waiting in its transmit buffer and ring.
const TX_PER_QUEUE: u32 = 2048;
/// Header buffers every process keeps besides: control frames, ARP, answers.
const HEADER_SPARE: u32 = 16384;
/// The same where header buffers hold whole frames (a keyed sender's sealed DATA, a
/// driver that cannot chain): each is freed once its driver sent it, so fewer will do,
/// and each costs a frame of hugepage memory.
const HEADER_SPARE_WHOLE: u32 = 4096;
/// Room for the largest control frame a keyed receiver sends (a sealed HELLO-ACK with a
/// resume point, or an ACK with every range, behind VLAN and IPv6 headers; see the test).
const CONTROL_ROOM: u16 = 512;
/// Room for a header in front of a chained payload, and for unkeyed control frames (an
/// ACK with every range over IPv6 and VLAN is 270 bytes).
const HEADER_ROOM: u16 = 384;
/// Buffers of each pool that the terms above do not name: the per-lcore caches of
/// the mempool (256 per lcore) and bursts between stages.
const POOL_SPARE: u32 = 4096;
/// Data room of a receive or data buffer besides the frame: the chunk-size rounding.
const DATA_ROOM_MIN: u16 = 2048;

/// How many buffers of each kind a process needs; every term is named once.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolPlan {
    /// Members times queues per member.
    pub queues: u32,
    /// Chunks in the receive window (receiver) or in flight (sender): window / chunk.
    pub window_chunks: u32,
    /// Chunks the sender reads ahead: its fresh queue and the reader's intake queue.
    pub read_ahead: u32,
    /// Payloads waiting for the writer (receiver).
    pub writer_queue: u32,
    /// Frame size the ports carry (MTU).
    pub mtu: u16,
    /// Whether the process sends a stream (it then needs data buffers).
    pub sends: bool,
    /// Keyed session: sealed frames are written whole (ciphertext and tag) into header
    /// buffers, which then hold a whole frame.
    pub keyed: bool,
}

impl PoolPlan {
    /// A sender of `chunk`-byte chunks over `queues` queues in all.
    pub fn sender(queues: u32, mtu: u16, chunk: u16) -> PoolPlan {
        PoolPlan {
            queues,
            window_chunks: window_chunks(chunk),
            read_ahead: (FRESH_CHUNKS + INTAKE_CHUNKS) as u32,
            writer_queue: 0,
            mtu,
            sends: true,
            keyed: false,
        }
    }

    /// A receiver of `chunk`-byte chunks over `queues` queues in all.
    pub fn receiver(queues: u32, mtu: u16, chunk: u16) -> PoolPlan {
        PoolPlan {
            queues,
            window_chunks: window_chunks(chunk),
            read_ahead: 0,
            writer_queue: WRITER_QUEUE as u32,
            mtu,
            sends: false,
            keyed: false,
        }
    }

    /// Receive buffers: the receiver's window and writer queue hold received frames.
    pub fn rx_buffers(&self) -> u32 {
        let held = if self.sends { 0 } else { self.window_chunks + self.writer_queue };
        held + self.queues * RX_PER_QUEUE + POOL_SPARE
    }

    /// Header buffers (one per frame sent); `whole`: each holds a whole frame
    /// ([`PoolPlan::header_room`]).
    pub fn header_buffers(&self, whole: bool) -> u32 {
        let spare = if whole { HEADER_SPARE_WHOLE } else { HEADER_SPARE };
        spare + self.queues * TX_PER_QUEUE
    }

    /// The data room of a header buffer. A sender's holds a header when every member
    /// sends the payload chained behind it; a whole frame when it is sealed (keyed: the
    /// ciphertext is written into it) or a driver cannot chain (net_pcap: the payload is
    /// copied in). A receiver sends control frames only (echo replies are made in the
    /// request's buffer, chained frames are joined in the receive pool).
    pub fn header_room(&self, all_chain: bool) -> u16 {
        match (self.sends, self.keyed) {
            (false, false) => HEADROOM + HEADER_ROOM,
            (false, true) => HEADROOM + CONTROL_ROOM,
            (true, false) if all_chain => HEADROOM + HEADER_ROOM,
            (true, _) => self.frame_room(),
        }
    }

    /// Data buffers of a sender: in flight, read ahead, and spare.
    pub fn data_buffers(&self) -> u32 {
        self.window_chunks + self.read_ahead + POOL_SPARE
    }

    /// A sender whose stream is known to be `len` bytes never holds more chunks than the
    /// stream has: the window and read-ahead terms shrink to that (a small file then does
    /// not pay for populating a window's worth of hugepages at start).
    pub fn for_stream(self, len: Option<u64>, chunk: u16) -> PoolPlan {
        let Some(len) = len else { return self };
        let chunks = u32::try_from(len.div_ceil(chunk.max(1) as u64)).unwrap_or(u32::MAX);
        PoolPlan { window_chunks: self.window_chunks.min(chunks), read_ahead: self.read_ahead.min(chunks), ..self }
    }

    /// The same for a keyed session (or not).
    pub fn with_key(self, keyed: bool) -> PoolPlan {
        PoolPlan { keyed, ..self }
    }

    /// The data room of a receive buffer: a whole frame.
    pub fn frame_room(&self) -> u16 {
        HEADROOM + (self.mtu + 14 + 4 + 64).max(DATA_ROOM_MIN)
    }
}

fn window_chunks(chunk: u16) -> u32 {
    (WINDOW_BYTES / chunk.max(1) as u64) as u32
}

/// The pools of a plane.
pub struct Pools {
    /// Received frames (and joined copies of chained ones).
    pub rx: Arc<Mempool>,
    /// Headers of sent frames (whole frames where a driver cannot chain).
    pub hdr: Arc<Mempool>,
    /// The sender's chunks, filled by the reader.
    pub data: Option<Arc<Mempool>>,
}

/// What [`Plane::open`] needs to know about the ports.
#[derive(Debug, Clone)]
pub struct PortPlan {
    /// The members, in order.
    pub ports: Vec<PortSpec>,
    /// The user's extra EAL arguments, unsplit.
    pub eal: Option<String>,
    /// Dedicated CPUs for lanes (`--lcores`).
    pub lcores: Option<String>,
    /// Queue pairs per member.
    pub queues: u16,
    /// `--mtu`: the largest IP packet a member sends (the session may settle a smaller one).
    pub mtu: u16,
    /// `--impair`: seeded faults at every member port.
    pub impair: Option<Impairment>,
    /// `--packet-check`: the per-packet check, or auto per port.
    pub packet_check: CheckPolicy,
    /// How long members may take to come up (a memif member: until its peer connects);
    /// `None`: [`LINK_WAIT`]. A receiver's `--listen-timeout` longer than that extends it.
    pub link_wait: Option<Duration>,
}

/// EAL, pools and members, torn down in that reverse order.
pub struct Plane {
    // Declaration order is drop order: members, then pools, then EAL.
    pub members: Vec<Member>,
    pub pools: Pools,
    pub eal: Eal,
    /// Worker lcores for lanes (none: one lane on the main thread).
    pub workers: Vec<u32>,
    pub impair: Option<Impairment>,
}

impl Plane {
    /// Starts EAL, creates the pools, opens the members and waits for their links.
    pub fn open(p: &PortPlan, plan: PoolPlan, verbose: u8, signals: &Signals) -> Result<Plane, Failure> {
        if p.ports.is_empty() {
            return Err(Failure::new(ExitCode::Usage, "no member ports given")
                .hint("name each member with --port (e.g. --port net_memif0,role=server,socket=/run/sc.sock)"));
        }
        let workers = match &p.lcores {
            Some(l) => lcores::parse_cpu_list(l)?,
            None => Vec::new(),
        };
        if workers.len() > p.queues as usize {
            return Err(Failure::new(
                ExitCode::Usage,
                format!(
                    "--lcores {} names {} CPUs but --queues is {}",
                    p.lcores.as_deref().unwrap_or_default(),
                    workers.len(),
                    p.queues
                ),
            )
            .hint(format!(
                "each poll lcore needs a queue of its own on every member: give --queues {} or more",
                workers.len()
            )));
        }
        let started = Startup {
            // memif bsize and af_packet ring geometry sized for the frame, unless given.
            ports: p.ports.iter().cloned().map(|s| crate::spec::with_mtu_defaults(s, p.mtu)).collect(),
            eal: p.eal.clone(),
            lcores: Some(lcores::eal_lcore_map(&workers)),
            verbose,
            scan_pci_when_empty: false,
        }
        .start()?;
        let plan = PoolPlan { queues: started.ports.len() as u32 * p.queues as u32, ..plan };
        let clients: Vec<bool> = p.ports.iter().map(PortSpec::is_memif_client).collect();
        let mut plane =
            Plane::with_ports(started.eal, &started.ports, &clients, p.queues, plan, p.impair, p.packet_check)?;
        plane.workers = workers;
        for (m, spec) in plane.members.iter_mut().zip(p.ports.iter()) {
            m.memif_socket = spec.memif_socket().map(str::to_owned);
        }
        let link_wait = p.link_wait.unwrap_or(LINK_WAIT);
        if !members::wait_links_until(&plane.members, link_wait, &signals.checker())? {
            // SIGINT/SIGTERM while a link was still down (a memif peer that has not
            // come): the plane closes the ports and releases EAL as it drops.
            return Err(signals.failure());
        }
        Ok(plane)
    }

    /// Creates the pools and opens `ids` as members (EAL already started).
    pub fn with_ports(
        eal: Eal,
        ids: &[PortId],
        memif_clients: &[bool],
        queues: u16,
        plan: PoolPlan,
        impair: Option<Impairment>,
        packet_check: CheckPolicy,
    ) -> Result<Plane, Failure> {
        let env = alloc_failure;
        let tag = next_pool_tag();
        let room = plan.frame_room();
        let rx = Arc::new(Mempool::new(&eal, &format!("sc_rx{tag}"), plan.rx_buffers(), 256, room, None).map_err(env)?);
        let mut members = members::open(&eal, ids, memif_clients, queues, plan.mtu, &rx)?;
        let impair = impair.filter(|s| s.is_active());
        if let Some(spec) = impair {
            for (i, m) in members.iter_mut().enumerate() {
                m.impair = Some(Box::new(PortImpairer::new(spec, i, (*rx).clone())));
            }
        }
        packet_check::assign(&mut members, packet_check, impair);
        let hdr_room = plan.header_room(members.iter().all(|m| m.chain));
        let hdr_count = plan.header_buffers(hdr_room == room);
        let hdr = Arc::new(Mempool::new(&eal, &format!("sc_hdr{tag}"), hdr_count, 256, hdr_room, None).map_err(env)?);
        let data = if plan.sends {
            let pool = Mempool::new(&eal, &format!("sc_data{tag}"), plan.data_buffers(), 256, room, None);
            Some(Arc::new(pool.map_err(env)?))
        } else {
            None
        };
        Ok(Plane { members, pools: Pools { rx, hdr, data }, eal, workers: Vec::new(), impair })
    }

    /// Every lane's view of the members: lane `k` gets the queues it owns, each
    /// member with its own fault injector under `--impair` (seeds differ per lane).
    /// Lane 0's views are the plane's members themselves, taken out until
    /// [`Plane::take_back`].
    pub fn lane_views(&mut self, layout: Layout) -> Vec<Vec<Member>> {
        let mut views = Vec::with_capacity(layout.lanes as usize);
        let mut rest = std::mem::take(&mut self.members);
        for k in 1..layout.lanes {
            let qids = layout.queues_of(k);
            views.push(
                rest.iter_mut()
                    .enumerate()
                    .map(|(i, m)| {
                        let imp = self
                            .impair
                            .map(|s| Box::new(PortImpairer::new(s, i + 64 * k as usize, (*self.pools.rx).clone())));
                        m.split_off(&qids, imp)
                    })
                    .collect(),
            );
        }
        views.insert(0, rest);
        views
    }

    /// Every lane's queues and framing, over the views of [`Plane::lane_views`], and the
    /// frame inboxes they share. Receivers join chained frames into one buffer (ring
    /// ports hand the sender's chains over); senders take ACKs as they come.
    pub fn lane_ios(
        &mut self,
        layout: Layout,
        nets: &[super::addr::MemberNet],
        clock: TscClock,
        busy_poll: bool,
    ) -> (Vec<LaneIo>, Arc<LaneShared>) {
        let shared = LaneShared::new(layout.lanes);
        let join = (layout.side == Side::Recv).then(|| self.pools.rx.clone());
        let hdr = self.pools.hdr.clone();
        let nets: Arc<[super::addr::MemberNet]> = nets.into();
        let ios = (0..)
            .zip(self.lane_views(layout))
            .map(|(k, views)| {
                LaneIo::new(k, layout, views, shared.clone(), hdr.clone(), join.clone(), nets.clone(), clock, busy_poll)
            })
            .collect();
        (ios, shared)
    }

    /// Runs the lanes ([`Plane::run_lanes`]), then folds them back: lane 0's role takes
    /// the others' ([`Role::join`]) and the plane its members ([`Plane::take_back`]).
    /// Returns lane 0's role, how it ended, and every lane's frame counters.
    pub fn run_to_end<R>(
        &mut self,
        lanes: Vec<(LaneIo, R)>,
        shared: &Arc<LaneShared>,
    ) -> Result<(R, R::End, FrameCounters), Failure>
    where
        R: Role + Send + 'static,
        R::End: Send + 'static,
    {
        let mut runs = self.run_lanes(lanes, shared)?.into_iter();
        let (io0, mut role0, end) = runs.next().expect("lane 0 ran");
        let mut ios = vec![io0];
        for (io, role, _) in runs {
            role0.join(role);
            ios.push(io);
        }
        Ok((role0, end, self.take_back(ios, shared)))
    }

    /// Takes every lane's member views back (lane 0's first) with their frame
    /// counters, and counts the frames lost to full frame inboxes.
    pub fn take_back(&mut self, lanes: Vec<LaneIo>, shared: &LaneShared) -> FrameCounters {
        let mut counters = FrameCounters::default();
        for (k, io) in lanes.into_iter().enumerate() {
            counters.merge(&io.counters);
            if k == 0 {
                self.members = io.members;
            } else {
                for (m, v) in self.members.iter_mut().zip(io.members) {
                    m.absorb(v);
                }
            }
        }
        let inbox_full = shared.inbox_full.load(Ordering::Relaxed);
        if inbox_full > 0 {
            *counters.drops.entry("lane_inbox_full").or_default() += inbox_full;
        }
        counters
    }

    /// Runs one lane per entry, lane 0 on the first worker lcore (or right here
    /// without workers), lane `k` on worker `k`; when lane 0 ends, the others are
    /// told to stop. Returns every lane with how it ended, in lane order.
    pub fn run_lanes<R>(&self, lanes: Vec<(LaneIo, R)>, shared: &Arc<LaneShared>) -> Result<Vec<LaneRun<R>>, Failure>
    where
        R: Role + Send + 'static,
        R::End: Send + 'static,
    {
        let mut lanes = lanes.into_iter();
        let Some(first) = lanes.next() else { return Ok(Vec::new()) };
        let mut jobs = Vec::new();
        for (i, (mut io, mut role)) in lanes.enumerate() {
            let lcore = i as u32 + 2;
            match self.eal.launch(lcore, move || {
                let end = run_lane(&mut io, &mut role);
                (io, role, end)
            }) {
                Ok(j) => jobs.push(j),
                Err(e) => {
                    shared.quit.store(true, Ordering::Release);
                    for j in jobs {
                        let _ = j.join();
                    }
                    return Err(Failure::env(format!("cannot start lane {} on lcore {lcore}: {e}", i + 1)));
                }
            }
        }
        let lane0 = if self.workers.is_empty() {
            let (mut io, mut role) = first;
            let end = run_lane(&mut io, &mut role);
            Ok((io, role, end))
        } else {
            let (mut io, mut role) = first;
            self.eal
                .launch(1, move || {
                    let end = run_lane(&mut io, &mut role);
                    (io, role, end)
                })
                .map_err(|e| Failure::env(e.to_string()))
                .and_then(|j| j.join().map_err(|e| Failure::new(ExitCode::Other, e.to_string())))
        };
        shared.quit.store(true, Ordering::Release);
        let mut out = Vec::with_capacity(jobs.len() + 1);
        let mut err = None;
        for j in jobs {
            match j.join() {
                Ok(l) => out.push(l),
                // A lane that panicked: its queues and paths are lost to the report only.
                Err(e) => err = Some(e.to_string()),
            }
        }
        shared.drain();
        out.insert(0, lane0?);
        match err {
            Some(e) => Err(Failure::new(ExitCode::Other, e)),
            None => Ok(out),
        }
    }

    /// Waits until every memif member's link is down (its peer left), at most
    /// `limit`. Other drivers have no peer process to wait for.
    pub fn wait_for_peer_exit(&self, limit: Duration) {
        members::wait_for_peer_exit(&self.members, limit);
    }
}

/// A lane after its loop: its queues and framing, its role, how it ended.
pub type LaneRun<R> = (LaneIo, R, <R as Role>::End);

/// Pool names must be unique per EAL; selftest opens two planes in one process.
fn next_pool_tag() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    match NEXT.fetch_add(1, Ordering::Relaxed) {
        0 => String::new(),
        n => format!("_{n}"),
    }
}

/// A packet-buffer pool that could not be created at start: hugepages ran out
/// (another DPDK process holds them, or too few are reserved). Says so, with how
/// many are free, and names the fix.
pub fn alloc_failure(e: crate::dpdk::DpdkError) -> Failure {
    let h = crate::preflight::Sysfs::default().hugepages();
    let what = match &e {
        crate::dpdk::DpdkError::MempoolCreate { name, count, reason } => {
            format!("not enough hugepage memory for {count} packet buffers (pool {name}): {reason}")
        }
        other => other.to_string(),
    };
    Failure::env(format!("{what}; {} of {} hugepages are free", h.free, h.total)).hint(
        "stop other DPDK processes holding hugepages, or reserve more with scripts/setup-hugepages.sh (see hugepages.conf)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_holds_its_window_and_writer_queue_in_receive_buffers() {
        let p = PoolPlan::receiver(4, 1500, 1424);
        assert_eq!(p.window_chunks, (32 << 20) / 1424);
        assert_eq!(p.rx_buffers(), p.window_chunks + 8192 + 4 * 2048 + 4096);
        assert_eq!(p.header_buffers(false), 16384 + 4 * 2048);
        assert_eq!(p.header_buffers(true), 4096 + 4 * 2048);
    }

    #[test]
    fn header_rooms_hold_the_largest_control_frames() {
        use stripecat_proto::{crypto, wire};
        // Ethernet, 802.1Q tag, IPv6, UDP.
        let l2_l4 = 14 + 4 + 40 + 8;
        // ACK: largest, delay, count, pad, delivered, max offset, first range; then 8 per range.
        let ack = 36 + (wire::MAX_ACK_RANGES - 1) * 8;
        let hello_ack = 16 + crypto::hello_ack_handshake_len(crypto::HELLO_ACK_PAYLOAD_MAX);
        let frame = |body: usize, tag: usize| l2_l4 + wire::HEADER_LEN + body + tag;
        assert!(frame(ack.max(hello_ack), crypto::TAG_LEN) <= CONTROL_ROOM as usize);
        // Unkeyed: the ACK, and a resuming HELLO-ACK (16 + a 48-byte point).
        assert!(frame(ack.max(16 + 48), 0) <= HEADER_ROOM as usize);
        let keyed_rx = PoolPlan::receiver(2, 9000, 8924).with_key(true);
        assert_eq!(keyed_rx.header_room(true), HEADROOM + CONTROL_ROOM);
        let keyed_tx = PoolPlan::sender(2, 9000, 8924).with_key(true);
        assert_eq!(keyed_tx.header_room(true), keyed_tx.frame_room());
        assert_eq!(PoolPlan::sender(2, 9000, 8924).header_room(true), HEADROOM + HEADER_ROOM);
    }

    #[test]
    fn a_sender_needs_data_buffers_for_flight_and_read_ahead_only() {
        let p = PoolPlan::sender(2, 9000, 8924);
        assert_eq!(p.rx_buffers(), 2 * 2048 + 4096);
        assert_eq!(p.data_buffers(), p.window_chunks + 4096 + 2048 + 4096);
        assert!(p.frame_room() >= 128 + 9000 + 18);
    }

    #[test]
    fn a_known_short_stream_needs_only_its_own_chunks() {
        let p = PoolPlan::sender(2, 9000, 8924);
        assert_eq!(p.for_stream(Some(1), 8924).data_buffers(), 1 + 1 + 4096);
        assert_eq!(p.for_stream(Some(10 * 8924 + 1), 8924).data_buffers(), 11 + 11 + 4096);
        // A pipe (length unknown) and a long file keep the whole budget.
        assert_eq!(p.for_stream(None, 8924).data_buffers(), p.data_buffers());
        assert_eq!(p.for_stream(Some(1 << 40), 8924).data_buffers(), p.data_buffers());
    }
}
