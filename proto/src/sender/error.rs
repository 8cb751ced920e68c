//! What a sending session reports: its state, its failure and its counters.

use thiserror::Error;

use crate::crypto::AuthError;
use crate::path_sender::PathSenderStats;
use crate::stats::DropCounters;
use crate::time::Duration;
use crate::wire::{RejectReason, ResetReason, Verdict};

/// Why a sending session failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SenderError {
    /// The receiver turned the HELLO down.
    #[error("receiver rejected the session: {0:?}")]
    Rejected(RejectReason),
    /// No progress for the give-up bound.
    #[error("gave up after {idle} without progress: {acked} of {written} bytes acknowledged in order")]
    GaveUp {
        /// Bytes the receiver confirmed delivered.
        acked: u64,
        /// Bytes the application had written.
        written: u64,
        /// How long nothing moved.
        idle: Duration,
    },
    /// The receiver sent a RESET.
    #[error("receiver reset the session ({reason:?}) after delivering {offset} bytes")]
    PeerReset {
        /// Its reason.
        reason: ResetReason,
        /// Bytes it had delivered.
        offset: u64,
    },
    /// The receiver's FIN-ACK verdict was not Ok.
    #[error("receiver verdict {verdict:?}: it delivered {received} of {sent} bytes")]
    Verdict {
        /// The verdict.
        verdict: Verdict,
        /// Bytes it delivered.
        received: u64,
        /// Bytes we sent.
        sent: u64,
    },
    /// The application aborted.
    #[error("aborted by the application")]
    Aborted,
    /// Every path failed the path-MTU check ([`crate::config::PathProbe`]).
    #[error("no path carries {full_len}-byte datagrams ({base_len}-byte ones {})", if *.base_ok { "do" } else { "do not either" })]
    PathMtu {
        /// Datagram length of the full-size probe.
        full_len: u16,
        /// Datagram length of the base-size probe.
        base_len: u16,
        /// Whether a base-size probe came back on some path.
        base_ok: bool,
    },
    /// The session could not be authenticated (keys differ, or one end has none).
    #[error("authentication failed: {0}")]
    Auth(AuthError),
    /// Resuming: the input does not start with the `held` bytes the receiver's output
    /// holds (`input`: the input's whole length, when it is shorter than that).
    #[error("the input does not start with the {held} bytes the receiver holds")]
    ResumeMismatch {
        /// Bytes the receiver's output holds.
        held: u64,
        /// The input's length when it ended before `held` bytes.
        input: Option<u64>,
    },
    /// Not resuming, the receiver refused: its output holds bytes it will not overwrite.
    #[error("the receiver resumes and this sender does not")]
    ResumeRequired,
}

/// Where the sending session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderState {
    /// HELLO sent, waiting for HELLO-ACK.
    Handshake,
    /// Sending data.
    Transfer,
    /// Everything acknowledged, FIN sent, waiting for FIN-ACK.
    Closing,
    /// FIN-ACK with verdict Ok: the stream arrived intact.
    Done,
    /// Failed; see the error.
    Failed(SenderError),
}

/// Session-level counters of a sender (per-path ones are in [`PathSenderStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Sum over paths.
    pub paths: PathSenderStats,
    /// Control packets sent (HELLO, FIN, RESET).
    pub control_sent: u64,
    /// Incoming packets dropped, by reason.
    pub drops: DropCounters,
}
