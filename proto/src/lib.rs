//! stripecat's striping protocol: one reliable, in-order byte stream over several
//! member links ("paths") at once, as a sans-IO core.
//!
//! No I/O, no clock reads, no threads: the driver (DPDK lcores, a kernel UDP socket
//! loop, or the [`sim`] simulator) hands in `now` and datagrams and asks what to send.
//! Start with [`Sender`] and [`Receiver`]; `docs/PROTOCOL.md` has the wire format,
//! state machines, loss detection, path health, congestion control, flow control and
//! the multi-core split.
//!
//! Module map:
//! * [`wire`]: header view, typed bodies, CRC32C;
//! * [`crypto`]: pre-shared key, Noise handshake, AES-256-GCM sealing, replay window;
//! * [`time`], [`timer`]: microsecond time, fixed timer tables;
//! * [`rtt`], [`recovery`], [`congestion`], [`pacer`]: per-path transport machinery;
//! * [`path_sender`], [`path_receiver`]: the per-lcore halves of a path;
//! * [`shared`]: the only state that crosses cores;
//! * [`reassembly`]: the reorder window;
//! * [`sender`], [`receiver`]: session control and single-threaded composition;
//! * [`digest`]: XXH3-128 / BLAKE3 stream digest;
//! * [`sim`]: the deterministic multipath simulator.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod congestion;
pub mod crypto;
pub mod digest;
pub mod incoming;
pub mod pacer;
pub mod path_receiver;
pub mod path_sender;
pub mod path_set;
pub mod payload;
pub mod rate_limit;
pub mod reassembly;
pub mod receiver;
pub mod receiver_lane;
pub mod recovery;
pub mod rtt;
pub mod sender;
pub mod sender_lane;
pub mod shared;
pub mod sim;
pub mod stats;
pub mod time;
pub mod timer;
pub mod transmit;
pub mod wire;

pub use config::{PathProbe, ReceiverConfig, SenderConfig};
pub use congestion::{CongestionConfig, CongestionControl, Controller};
pub use crypto::{AuthError, Keyring, Psk};
pub use digest::StreamDigest;
pub use incoming::{Incoming, Route};
pub use path_receiver::PathReceiver;
pub use path_sender::{PathEvent, PathHealth, PathMtu, PathSender, PathSnapshot};
pub use payload::{is_zero, Payload, Piece, SharedBytes};
pub use rate_limit::RateLimit;
pub use reassembly::Reassembler;
pub use receiver::{Receiver, ReceiverError, ReceiverState, ReceiverStats};
pub use receiver_lane::ReceiverLane;
pub use sender::{Sender, SenderError, SenderState, SenderStats};
pub use sender_lane::SenderLane;
pub use shared::{Chunk, NextChunk, PushError, ReceiverShared, SenderShared};
pub use stats::{DropCounters, DropReason};
pub use time::{Duration, Instant};
pub use transmit::Transmit;
