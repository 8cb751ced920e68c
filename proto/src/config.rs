//! Tunables of both ends, with their defaults. `docs/PROTOCOL.md` lists them too.

use crate::congestion::CongestionConfig;
use crate::time::Duration;
use crate::wire::DigestAlgorithm;

/// Sender tunables.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Number of paths (member links) to stripe over.
    pub paths: u16,
    /// Chunk size: every DATA payload is this long except the last one of the stream.
    pub chunk_size: u16,
    /// Digest carried in the FIN.
    pub digest: DigestAlgorithm,
    /// Stream length if known in advance (announced in the HELLO).
    pub total_len: Option<u64>,
    /// Congestion controller per path.
    pub congestion: CongestionConfig,
    /// RTT assumed before the first sample.
    pub initial_rtt: Duration,
    /// Timer granularity: floor for loss delay and RTT variance in the PTO.
    pub granularity: Duration,
    /// The receiver's maximum ACK delay (added to the PTO). Must match the receiver's.
    pub max_ack_delay: Duration,
    /// Floor under the probe timeout. Zero keeps RFC 9002's PTO; a driver on a
    /// shared machine, whose threads can be descheduled for milliseconds, raises
    /// it (to [`SenderConfig::SHARED_MACHINE_MIN_PTO`]) so scheduling hiccups do not
    /// read as silent paths.
    pub min_pto: Duration,
    /// K: consecutive probe timeouts without an ACK after which a path is marked down.
    pub pto_down_threshold: u32,
    /// Interval between probes of a down path.
    pub probe_interval: Duration,
    /// HELLO retransmission interval (doubles per try, capped at 8x).
    pub hello_interval: Duration,
    /// FIN retransmission interval.
    pub fin_interval: Duration,
    /// Give up after this long without progress (nothing newly acknowledged while
    /// something is outstanding; no answer to HELLO or FIN).
    pub give_up_after: Duration,
    /// Capacity of the fresh-data queue, in chunks.
    pub fresh_queue_chunks: usize,
    /// Cap on the payload rate of the whole session (all paths, resends included), in
    /// bytes per second; `None`: no cap.
    pub rate_limit: Option<u64>,
    /// Ask the receiver to settle a smaller chunk size when ours is above what it takes
    /// (HELLO option [`crate::wire::HelloRepr::OPT_SETTLE_CHUNK`]). Only for a driver that
    /// writes no chunk before the handshake and then cuts chunks of
    /// [`crate::Sender::chunk_size`].
    pub settle_chunk: bool,
    /// The path-MTU check: `Some` makes every path carry a full-size probe before data.
    pub path_probe: Option<PathProbe>,
    /// Pre-shared key: with one the session is authenticated and encrypted, and a
    /// receiver without the same key is refused. `None`: unauthenticated.
    pub key: Option<crate::crypto::Psk>,
    /// Keyed: log2 of the packets per path sealed under one key before the next epoch's;
    /// `None` picks [`crate::crypto::epoch_log2_for`] the number of paths.
    pub key_epoch_log2: Option<u8>,
    /// Offer ZEROS records ([`crate::wire::HelloRepr::OPT_ZEROS`]): once the receiver
    /// accepts, a chunk that is all zeros goes as its length instead of its bytes.
    pub zeros: bool,
    /// Offer to resume ([`crate::wire::HelloRepr::OPT_RESUME`]): a receiver that resumes
    /// answers with its output's length and digest ([`crate::Sender::resume_point`]), and
    /// the session carries the stream from there once the driver checked its input's
    /// prefix ([`crate::Sender::resume_with`]).
    pub resume: bool,
}

/// The path-MTU check ([`SenderConfig::path_probe`]): after the handshake, and again
/// whenever a path that was down comes back, each path sends a PING padded to a full
/// DATA datagram (header plus chunk) beside one padded to `base_len`, and carries no data
/// until the full one is acknowledged. A path without that answer within `timeout` is
/// reported ([`crate::PathEvent::MtuFailed`]) and keeps out of the transfer (probed on,
/// ten times slower); with every path so, the session fails ([`crate::SenderError::PathMtu`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathProbe {
    /// Datagram length of the smaller probe (tells "large packets do not arrive" from
    /// "nothing arrives").
    pub base_len: u16,
    /// How long a path may take to have a full-size probe acknowledged. The verdict
    /// comes sooner when base-size probes come back and four full-size ones sent after
    /// the first of those answers do not.
    pub timeout: Duration,
    /// Interval between probe pairs.
    pub interval: Duration,
}

impl Default for PathProbe {
    fn default() -> Self {
        PathProbe { base_len: 1472, timeout: Duration::from_secs(2), interval: Duration::from_millis(100) }
    }
}

impl SenderConfig {
    /// The `min_pto` of drivers whose threads share CPUs. The RFC 9002 PTO of a
    /// microsecond path is about a millisecond, and three in a row mark the path down:
    /// a receiver descheduled for a few milliseconds, or a lost ACK behind a lost tail
    /// packet under random loss, took healthy paths down and reset their windows (five
    /// times per path in a 1%-loss run over memif). 5 ms still finds a dead path within
    /// about 35 ms (5 + 10 + 20 ms).
    pub const SHARED_MACHINE_MIN_PTO: Duration = Duration::from_millis(5);
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            paths: 1,
            chunk_size: 8192,
            digest: DigestAlgorithm::Xxh3_128,
            total_len: None,
            congestion: CongestionConfig::default(),
            initial_rtt: Duration::from_millis(2),
            granularity: Duration::from_micros(250),
            max_ack_delay: Duration::from_micros(250),
            min_pto: Duration::ZERO,
            pto_down_threshold: 3,
            probe_interval: Duration::from_millis(20),
            hello_interval: Duration::from_millis(20),
            fin_interval: Duration::from_millis(20),
            give_up_after: Duration::from_secs(10),
            fresh_queue_chunks: 4096,
            rate_limit: None,
            settle_chunk: false,
            path_probe: None,
            key: None,
            key_epoch_log2: None,
            zeros: true,
            resume: false,
        }
    }
}

/// Receiver tunables.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Paths this receiver has; a HELLO asking for more is rejected.
    pub paths: u16,
    /// Largest chunk accepted; a HELLO asking for more is rejected.
    pub max_chunk_size: u16,
    /// Reorder window in bytes: the memory budget for out-of-order data. Flow-control
    /// credit is `delivered + window`.
    pub window: u64,
    /// Acknowledge after this many ack-eliciting packets on a path...
    pub ack_every: u32,
    /// ...or after this long, whichever comes first.
    pub max_ack_delay: Duration,
    /// Abort a session that sends nothing for this long.
    pub idle_timeout: Duration,
    /// Capacity of the lcore-to-reassembler hand-off queue, in chunks.
    pub inbox_chunks: usize,
    /// Pre-shared key: with one, only senders holding it are served (no unkeyed
    /// session), and nothing is committed before the sender's first sealed packet.
    pub key: Option<crate::crypto::Psk>,
    /// Most HELLO handshakes (each a Diffie-Hellman) answered per second; more are
    /// dropped as `RateLimited`.
    pub hellos_per_second: u32,
    /// Take all-zero chunks as ZEROS records when the sender offers them
    /// ([`crate::wire::HelloRepr::OPT_ZEROS`]); delivered as [`crate::Piece::Zeros`].
    pub zeros: bool,
    /// Resume: the output already holds these bytes (hashed before listening). A sender
    /// that resumes gets their length and digest and sends what follows; one that does
    /// not is refused when the prefix is not empty ([`crate::ReceiverError::ResumeRequired`]).
    /// `None`: every session starts the stream at 0.
    pub resume: Option<crate::digest::PrefixDigest>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            paths: 1,
            max_chunk_size: 9000,
            window: 64 << 20,
            ack_every: 16,
            max_ack_delay: Duration::from_micros(250),
            idle_timeout: Duration::from_secs(5),
            inbox_chunks: 4096,
            key: None,
            hellos_per_second: 100,
            zeros: true,
            resume: None,
        }
    }
}
