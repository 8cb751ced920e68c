//! `--udp`: the striping protocol (`stripecat_proto`) over kernel UDP sockets.
//!
//! The same sans-IO [`Sender`]/[`Receiver`] the DPDK data plane drives, here
//! driven by one thread over ordinary sockets:
//! * the sender opens one socket per path (`--paths N` distinct source ports,
//!   or one per `--bind ADDR`), each connected to the receiver's address, so
//!   the kernel's flow hashing and routing treat the paths as distinct flows;
//! * the receiver listens on one socket and answers each path at the source
//!   address that path's packets come from.
//!
//! Each loop iteration follows the core's documented order: read the clock
//! once, feed received datagrams, run expired timers, hand over input (sender)
//! or take delivered chunks (receiver), then send what `poll_transmit` offers,
//! at most a burst per iteration so ACKs are read between bursts. When there is
//! nothing to do the thread sleeps in `poll(2)` until a socket is readable or
//! the core's next timer. `--impair` applies to every datagram this end sends.
//!
//! The sender connects and the receiver listens; the protocol's HELLO goes
//! from sender to receiver, so the reverse arrangement is not offered.
//!
//! Files: [`send`] (the sender's loop), [`recv`] (the receiver's loop),
//! [`batch`] (GSO and `sendmmsg` bursts); this module holds what both ends share.

mod batch;
mod recv;
mod send;

pub use self::recv::{recv, RecvChoice};
pub use self::send::{send, SessionChoice};

use std::io;
use std::net::UdpSocket;
use std::time::Instant as StdInstant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::Instant;

use crate::kernel::addr::SocketOptions;
use crate::kernel::error::KernelError;

/// Datagrams sent per loop iteration before received ACKs are read again.
const BURST: usize = 64;
/// Largest datagram we read.
const MAX_DATAGRAM: usize = 65_536;
/// Largest chunk a receiver accepts and `--block-size` may ask for: a
/// datagram of it plus headers still fits the 65,535-byte IP limit.
const MAX_CHUNK: u16 = 65_000;
/// Socket buffers when `--window` is not given. The kernel's UDP default
/// (about 208 KiB) overflows within a fraction of a millisecond at loopback
/// rates, and every overflow is a loss the protocol must repair and back off
/// for; the kernel caps this at net.core.rmem_max/wmem_max.
const DEFAULT_UDP_BUFFER: usize = 4 << 20;

fn udp_options(opts: &SocketOptions) -> SocketOptions {
    SocketOptions { window: Some(opts.window.unwrap_or(DEFAULT_UDP_BUFFER)), ..*opts }
}

/// A datagram on its way out, with the path whose socket sends it (so the
/// impairer can hold it back and release it on the same path).
#[derive(Clone)]
struct Outgoing {
    path: u16,
    bytes: Vec<u8>,
}

impl AsMut<[u8]> for Outgoing {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// The protocol clock: microseconds since the driver started.
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }
}

/// Whether to use UDP GSO/GRO: yes unless `STRIPECAT_UDP_NO_OFFLOAD` is set
/// (a diagnostic switch for offload trouble; it also lets the tests drive the
/// plain `sendmmsg` path on kernels that have GSO).
fn offload_wanted() -> bool {
    std::env::var_os("STRIPECAT_UDP_NO_OFFLOAD").is_none()
}

/// Waits shorter than this yield instead of sleeping.
const SPIN_BELOW_US: u64 = 200;

/// Sleeps until one of `socks` is readable or `until` (protocol time) passes,
/// at most `cap` microseconds.
fn wait(socks: &[UdpSocket], clock: &Clock, until: Option<Instant>, cap_us: u64) {
    let now = clock.now().total_micros();
    let us = until.map_or(cap_us, |t| t.total_micros().saturating_sub(now).min(cap_us));
    if us == 0 {
        return;
    }
    if us < SPIN_BELOW_US {
        // A sleep this short would overshoot by the timer slack (50 us by
        // default), which at loopback rates is several datagrams of pacing.
        std::thread::yield_now();
        return;
    }
    let mut fds: Vec<PollFd> = socks.iter().map(|s| PollFd::new(s, PollFlags::IN)).collect();
    let ts = Timespec { tv_sec: (us / 1_000_000) as i64, tv_nsec: ((us % 1_000_000) * 1000) as i64 };
    let _ = poll(&mut fds, Some(&ts));
}

/// The summary's name and hex value of a FIN digest; `None` when the stream
/// carried none (`--digest none`).
fn digest_report(alg: DigestAlgorithm, d: &[u8; 32]) -> Option<(String, String)> {
    if alg == DigestAlgorithm::None {
        return None;
    }
    Some((alg.name().to_string(), d[..alg.digest_len()].iter().map(|b| format!("{b:02x}")).collect()))
}

fn sock_err(e: io::Error) -> KernelError {
    KernelError::Socket(e)
}
