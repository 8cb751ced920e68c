//! What can go wrong on a kernel transport, and which exit code each case
//! gets. The variants are typed so tests and callers can match on them; they
//! become a one-line [`Failure`] only at the command's edge.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

use crate::exit::{ExitCode, Failure};

/// A kernel-transport error.
#[derive(Debug, Error)]
pub enum KernelError {
    /// The command line combined options that do not go together.
    #[error("{0}")]
    Usage(String),
    /// An address that is not HOST:PORT or [ADDR:]PORT.
    #[error("{spec:?} is not {want}")]
    BadAddress { spec: String, want: &'static str },
    /// The host name did not resolve.
    #[error("cannot resolve {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    /// Nothing listens at the address.
    #[error("connection to {0} refused")]
    Refused(SocketAddr),
    /// Connecting failed otherwise (unreachable, timed out).
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    /// Another socket holds the address.
    #[error("{0} is already in use")]
    AddrInUse(SocketAddr),
    /// Binding or listening failed otherwise (permission, no such address).
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The input file or the output file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    /// Reading the input failed mid-transfer.
    #[error("reading {what} failed: {source}")]
    Input { what: String, source: io::Error },
    /// Writing the output failed (a closed pipe, a full disk).
    #[error("writing {what} failed: {source}")]
    Output { what: String, source: io::Error },
    /// The peer reset or closed the connection before the transfer ended.
    #[error("the peer closed the connection early{detail}")]
    PeerClosed { detail: String },
    /// Any other socket error during the transfer.
    #[error("connection failed: {0}")]
    Socket(io::Error),
    /// The peer does not speak our framing (or another session's stream arrived).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Nothing arrived for too long.
    #[error("{0}")]
    Timeout(String),
    /// The end-to-end digest differs: the bytes written are not the bytes sent.
    #[error("digest mismatch: sent {sent}, received {received}")]
    DigestMismatch { sent: String, received: String },
    /// The session could not be authenticated.
    #[error("authentication failed: {0}")]
    Auth(stripecat_proto::AuthError),
    /// A keyed receiver's `--listen-timeout` passed with only senders that did not
    /// authenticate (the protocol's message, with how many it refused).
    #[error("{0}")]
    AuthRefused(String),
    /// `--listen-timeout` passed with no sender at all.
    #[error("{0}")]
    NoSender(String),
    /// `--resume` could not go on: a prefix that differs (exit 5) or a sender that does
    /// not resume (exit 2); worded by [`crate::resume`], the same as over DPDK.
    #[error("{}", .0.message)]
    Resume(Failure),
}

impl KernelError {
    /// Classifies a socket error seen mid-transfer.
    pub fn socket(e: io::Error) -> KernelError {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
                KernelError::PeerClosed { detail: format!(" ({e})") }
            }
            _ => KernelError::Socket(e),
        }
    }

    /// The documented exit code of this error.
    pub fn code(&self) -> ExitCode {
        use KernelError::*;
        match self {
            Usage(_) | BadAddress { .. } => ExitCode::Usage,
            AddrInUse(_) | Bind { .. } | Open { .. } => ExitCode::Environment,
            Resolve { .. }
            | Refused(_)
            | Connect { .. }
            | PeerClosed { .. }
            | Socket(_)
            | Protocol(_)
            | Timeout(_)
            | NoSender(_)
            | Input { .. }
            | Output { .. } => ExitCode::Transfer,
            DigestMismatch { .. } => ExitCode::Integrity,
            Auth(_) | AuthRefused(_) => ExitCode::Auth,
            Resume(f) => f.code,
        }
    }

    /// A hint for the user, where one helps.
    pub fn hint(&self) -> Option<&'static str> {
        use KernelError::*;
        Some(match self {
            Usage(_) => "see stripecat send --help / recv --help",
            BadAddress { .. } => "write HOST:PORT to connect, [ADDR:]PORT with --listen, [v6]:PORT for IPv6",
            Resolve { .. } => "check the host name, or give an IP address",
            Refused(_) => "start the receiving side first (e.g. stripecat recv --tcp --listen PORT, or --udp)",
            Connect { .. } => "check the address, routes and firewalls",
            AddrInUse(_) => "pick another port, or stop the program holding it (ss -ltnup)",
            Bind { .. } => "ports below 1024 need privileges; the address must be local",
            Open { .. } => "check the path and its permissions",
            Output { .. } => "the reader of the output went away or the disk is full",
            PeerClosed { .. } => "the other side exited or was interrupted; see its error",
            DigestMismatch { .. } => "the data was altered in transit or on disk; send it again",
            Auth(_) | AuthRefused(_) => AUTH_HINT,
            NoSender(_) => NO_SENDER_HINT,
            Timeout(_) => "is the other side still running and reachable?",
            Protocol(_) => "both ends must be stripecat with the same --streams/--udp mode",
            Socket(_) | Input { .. } | Resume(_) => return None,
        })
    }
}

/// Tells the operator, once per reason, that a keyed receiver refused a sender whose
/// HELLO did not authenticate and listens on (the protocol's count, seen each loop).
#[derive(Debug, Default)]
pub struct RefusalReport {
    seen: u64,
    said: Option<stripecat_proto::AuthError>,
}

impl RefusalReport {
    /// Looks at the receiver's `(count, last reason)`; prints a warning line when a
    /// refusal has a reason not reported yet.
    pub fn observe(&mut self, (count, why): (u64, Option<stripecat_proto::AuthError>)) {
        if count == self.seen {
            return;
        }
        self.seen = count;
        if let Some(e) = why.filter(|e| self.said != Some(*e)) {
            self.said = Some(e);
            eprintln!(
                "stripecat: warning: refused a sender that did not authenticate: {e}; still listening for one \
                 with the key (hint: {AUTH_HINT})"
            );
        }
    }
}

/// What to do when `--listen-timeout` passed with no sender (every transport says the same).
pub const NO_SENDER_HINT: &str = "start the sender within --listen-timeout, or give it longer";

/// What to do when the keys do not match (both transports say the same).
pub const AUTH_HINT: &str =
    "both ends need the same key: give each the same --key-file (made once with stripecat keygen), or neither";

impl From<KernelError> for Failure {
    fn from(e: KernelError) -> Failure {
        if let KernelError::Resume(f) = e {
            return f;
        }
        let f = Failure::new(e.code(), e.to_string());
        match e.hint() {
            Some(h) => f.hint(h),
            None => f,
        }
    }
}

/// Shorthand for the transports' results.
pub type Result<T> = std::result::Result<T, KernelError>;
