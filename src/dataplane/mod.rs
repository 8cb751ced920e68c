//! The DPDK data plane: `send`, `recv` and `selftest`.
//!
//! A byte's way from the input file to the output file, file by file and queue by
//! queue (docs/DATAPLANE.md has the detail):
//!
//! 1. `send.rs` opens the input (`ends.rs`) and the [`plane::Plane`] (EAL, pools,
//!    member ports), makes the protocol's `Sender` and splits it into one lane per
//!    poll lcore (`lanes.rs` says which lane owns which queues and paths).
//! 2. The reader thread (`io/reader.rs`) reads the input straight into mbuf data rooms, one
//!    protocol chunk per mbuf, and pushes them onto the **intake** queue.
//! 3. Lane 0 (`send_role.rs`, control role) takes chunks from the intake and writes
//!    them into the session; the protocol keeps them in its **fresh** queue
//!    (`SenderShared`) until a path's window takes them.
//! 4. Every lane runs the one loop, `lane.rs::run_lane`: it asks its paths for
//!    transmits and `framing.rs` builds each frame: a fresh header mbuf with the
//!    payload mbuf chained behind it, so data waiting for its ACK is resent by
//!    reference, never copied (a chunk of zeros goes as a short ZEROS record
//!    instead, the mbuf kept for a resend). Frames wait in the queue's transmit buffer
//!    (`members/queue.rs`) and leave in bursts.
//! 5. At the receiver the same loop bursts frames in, classifies and parses each
//!    once (`framing.rs`, `Incoming`), and moves a frame polled by the wrong lane to
//!    its owner's **frame inbox** (`lanes.rs`).
//! 6. The owning lane (`recv_role.rs`) hands the payload, still in its mbuf, to the
//!    reassembler's **chunk inbox** (`ReceiverShared`) and ACKs along the route it
//!    came; lane 0 runs the reassembler and pushes in-order payloads onto the
//!    **writer queue**.
//! 7. The writer thread (`io/writer.rs`) writes them with `writev` and frees them in bulk
//!    (a zero run, a ZEROS record with no mbuf, becomes a hole: `kernel/sparse.rs`);
//!    `recv.rs` reports once the FIN's digest matched what was written.
//!
//! `selftest.rs` runs both ends in one process over ring ports, through the same
//! plane and loop. `summary.rs` builds the final report, `signals.rs` the exit on
//! SIGINT/SIGTERM.

pub mod addr;
pub mod backoff;
pub mod clock;
pub mod ends;
pub mod framing;
pub mod impair_port;
pub mod io;
pub mod lane;
pub mod lanes;
pub mod lcores;
pub mod members;
pub mod neighbor;
pub mod packet_check;
pub mod payload;
pub mod plane;
pub mod recv;
pub mod recv_role;
pub mod selftest;
pub mod send;
pub mod send_role;
pub mod signals;
pub mod summary;

/// Chunk size for an MTU: what is left of an IP packet after IPv4, UDP and the
/// protocol header.
pub fn chunk_for_mtu(mtu: u16) -> u16 {
    chunk_for(mtu, false)
}

/// Chunk size for an MTU when some member runs IPv6 (`v6`): its header is 20 bytes
/// longer, and one chunk size serves every member.
pub fn chunk_for(mtu: u16, v6: bool) -> u16 {
    mtu - ip_udp_len(v6) - stripecat_proto::wire::HEADER_LEN as u16
}

/// IP and UDP header bytes in front of every datagram (within the MTU).
pub fn ip_udp_len(v6: bool) -> u16 {
    if v6 {
        40 + 8
    } else {
        20 + 8
    }
}

/// Whether any member runs IPv6 (the chunk size then leaves room for its header).
pub fn any_v6(nets: &[addr::MemberNet]) -> bool {
    nets.iter().any(addr::MemberNet::is_v6)
}

/// The MTU (IP packet size) that carries a datagram of `datagram` bytes.
pub fn mtu_for_datagram(datagram: u16, v6: bool) -> u16 {
    datagram.saturating_add(ip_udp_len(v6))
}

/// The MTU whose chunk size is `chunk` ([`chunk_for`] backwards).
pub fn mtu_for_chunk(chunk: u16, v6: bool) -> u16 {
    mtu_for_datagram(chunk.saturating_add(stripecat_proto::wire::HEADER_LEN as u16), v6)
}

/// The smaller MTU of the path-MTU check's second probe: 1500 (what every Ethernet
/// port carries) under jumbo frames, else IPv4's 576.
pub fn base_probe_mtu(mtu: u16) -> u16 {
    if mtu > 1500 {
        1500
    } else {
        576
    }
}

/// The chunk of a session (keyed: a sealed DATA packet carries the 16-byte tag too).
pub fn sealed_chunk_for(mtu: u16, v6: bool, keyed: bool) -> u16 {
    chunk_for(mtu, v6) - tag_len(keyed)
}

/// The AEAD tag a keyed session's DATA packets carry after the chunk (0 without a key).
pub fn tag_len(keyed: bool) -> u16 {
    if keyed {
        stripecat_proto::crypto::TAG_LEN as u16
    } else {
        0
    }
}

/// A session id: 64 random bits from the kernel (the protocol core owns no randomness).
pub fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok() {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
}
