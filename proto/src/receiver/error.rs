//! What a receiving session reports: its state, its failure and its counters.

use thiserror::Error;

use crate::crypto::AuthError;
use crate::path_receiver::PathReceiverStats;
use crate::stats::DropCounters;
use crate::time::Duration;
use crate::wire::{ResetReason, Verdict};

/// Why a receiving session failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReceiverError {
    /// Nothing arrived for the idle timeout.
    #[error("idle for {idle}: gave up after delivering {delivered} bytes")]
    IdleTimeout {
        /// Bytes delivered in order.
        delivered: u64,
        /// How long nothing arrived.
        idle: Duration,
    },
    /// The sender sent a RESET.
    #[error("sender reset the session ({reason:?}); it had {offset} bytes acknowledged, we delivered {delivered}")]
    PeerReset {
        /// Its reason.
        reason: ResetReason,
        /// What it reported.
        offset: u64,
        /// What we delivered.
        delivered: u64,
    },
    /// The application aborted the session (e.g. its output failed); a RESET
    /// with `reason` went to the sender.
    #[error("aborted ({reason:?}) after delivering {delivered} bytes")]
    Aborted {
        /// The reason sent in the RESET.
        reason: ResetReason,
        /// Bytes delivered.
        delivered: u64,
    },
    /// A sender's HELLO could not be authenticated (keys differ, or one end has none);
    /// nothing was committed (no output). A keyed receiver fails so only when its
    /// listening deadline passes ([`Receiver::listen_for`]) with no session and
    /// `refused` such HELLOs seen; before that it refuses them and listens on.
    #[error("authentication failed: {error}{}", refused_note(*.refused))]
    Auth {
        /// Why (of the last refused HELLO).
        error: AuthError,
        /// HELLOs refused for it (0: the one that ended an unkeyed receiver).
        refused: u64,
    },
    /// No sender came within the listening deadline ([`Receiver::listen_for`]).
    #[error("no sender came within {} s", .waited.as_secs_f64())]
    NoSender {
        /// How long it listened.
        waited: Duration,
    },
    /// This receiver resumes (its output holds `held` bytes) and the sender's HELLO did
    /// not ask to: nothing was committed, the output is untouched.
    #[error("the sender does not resume and the output already holds {held} bytes")]
    ResumeRequired {
        /// Bytes the output holds.
        held: u64,
    },
    /// The stream arrived but failed the FIN check.
    #[error("stream check failed: {verdict:?} (delivered {delivered}, announced {announced})")]
    Verdict {
        /// The verdict sent back.
        verdict: Verdict,
        /// Bytes delivered.
        delivered: u64,
        /// Length in the FIN.
        announced: u64,
    },
}

/// The end of [`ReceiverError::Auth`]'s message when the listening deadline ended it.
fn refused_note(refused: u64) -> String {
    match refused {
        0 => String::new(),
        1 => "; refused 1 sender that did not authenticate, and none that did came".into(),
        n => format!("; refused {n} HELLOs that did not authenticate, and no sender that did came"),
    }
}

/// Where the receiving session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverState {
    /// Waiting for a HELLO.
    Listening,
    /// Serving a session.
    Receiving,
    /// FIN checked, verdict Ok; still answers retransmitted FINs.
    Complete,
    /// Failed; see the error.
    Failed(ReceiverError),
}

/// Counters of a receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Sum over paths.
    pub paths: PathReceiverStats,
    /// Datagrams handed in.
    pub datagrams: u64,
    /// Bytes delivered in order.
    pub delivered: u64,
    /// Drops by reason (path lcores and reassembler together).
    pub drops: DropCounters,
}
