//! What a kernel-socket transfer is asked to do, as plain data (the command
//! line's `--tcp`/`--udp` options become this in `cli/`).

use std::path::PathBuf;

use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::CongestionConfig;

use crate::impair::Impairment;
use crate::report::ReportPlan;

/// Default block: the read/write buffer of a single stream, the chunk of a
/// striped stream and the `sendfile`/`splice` request size. 1 MiB keeps the
/// per-chunk system-call cost below 1% on loopback while still giving several
/// chunks per stream even on a 64 MiB transfer.
pub const DEFAULT_BLOCK: u64 = 1 << 20;

/// The transport options (meanings in docs/KERNEL.md and `stripecat send --help`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--tcp [HOST:PORT]`: `Some("")` when given without a value (with `--listen`).
    pub tcp: Option<String>,
    /// `--udp [HOST:PORT]`, as `tcp`.
    pub udp: Option<String>,
    /// `--listen [HOST:]PORT`: wait for the peer here instead of connecting to it.
    pub listen: Option<String>,
    /// `--streams N`: TCP connections to stripe over (1: plain netcat TCP).
    pub streams: u16,
    /// `--block-size`: the read/write and striping unit (`--udp`: the chunk size).
    pub block_size: Option<u64>,
    /// `--window`: SO_SNDBUF and SO_RCVBUF; `None`: the kernel's own sizing.
    pub window: Option<u64>,
    /// `--nodelay`: TCP_NODELAY.
    pub nodelay: bool,
    /// `--chat`: both directions at once over one TCP connection.
    pub chat: bool,
    /// `--paths N` (`--udp` send): sockets, one path each.
    pub paths: Option<u16>,
    /// `--bind`: local addresses of those sockets, one per path or one for all.
    pub bind: Vec<String>,
    /// `--raw`: bare datagrams, netcat-style, with no protocol.
    pub raw: bool,
    /// Seeded faults on outgoing datagrams (`--udp`, `--udp --raw`).
    pub impair: Option<Impairment>,
}

impl Options {
    /// `--block-size` or its default, as a buffer length.
    pub fn block(&self) -> usize {
        self.block_size.unwrap_or(DEFAULT_BLOCK) as usize
    }
}

/// One kernel-socket `send` or `recv`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub options: Options,
    /// The input (send) or output (recv); `None` for stdin/stdout.
    pub file: Option<PathBuf>,
    /// (send) The digest the FIN carries.
    pub digest: DigestAlgorithm,
    /// (send) The congestion controller of every `--udp` path.
    pub congestion: CongestionConfig,
    /// (send, `--udp`) `--rate`: the session's payload cap, bytes per second.
    pub rate_limit: Option<u64>,
    /// (`--udp`) Zero runs as ZEROS records (send) and holes (recv); off with `--no-sparse`.
    pub sparse: bool,
    /// `--resume` (`--udp` only): continue a stream the receiver's output holds part of.
    pub resume: bool,
    /// (recv) `--listen-timeout`: how long to wait for a sender's session (`--udp`,
    /// `--tcp --streams`); `None`: as long as it runs.
    pub listen_timeout: Option<std::time::Duration>,
    pub report: ReportPlan,
    /// The pre-shared key (`--key-file`, `--key-fd`, `STRIPECAT_KEY`): `--udp` and
    /// `--tcp --streams` sessions are then authenticated and encrypted; one plain
    /// `--tcp` stream, `--raw` and `--chat` refuse it.
    pub key: Option<stripecat_proto::Psk>,
}
