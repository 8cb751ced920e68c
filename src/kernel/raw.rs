//! `--udp --raw`: plain datagrams, no protocol, for talking to `nc -u`.
//!
//! Unreliable by design, exactly like nc -u: nothing is acknowledged,
//! retransmitted, reordered or checked, and a datagram lost on the way is
//! gone. Use it for small messages; use `--udp` (the protocol) or `--tcp` for
//! files. The sender sends each read of its input (at most `--block-size`,
//! capped at 65,507 bytes, the largest IPv4 UDP payload) as one datagram and
//! an empty datagram at end of input. The receiver takes datagrams from the
//! first peer that sends one, writes each payload, and ends on an empty
//! datagram or after [`IDLE_END`] without any (nc never signals an end).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::addr::{self, Endpoint, SocketOptions};
use super::error::{KernelError, Result};
use super::io::End;
use crate::impair::{Impairer, Impairment};
use crate::report::Progress;

/// A raw receiver that has heard from its peer ends after this much silence.
pub const IDLE_END: Duration = Duration::from_secs(5);
/// Largest UDP payload over IPv4.
const MAX_PAYLOAD: usize = 65_507;

/// Sends `input` as datagrams to the peer; returns the payload bytes sent.
pub fn send(
    ep: &Endpoint,
    opts: &SocketOptions,
    input: &mut End,
    block: usize,
    impair: Option<Impairment>,
    progress: &mut Progress,
    started: &mut Instant,
) -> Result<u64> {
    let Endpoint::Connect { addrs, .. } = ep else {
        return Err(KernelError::Usage("--raw sends to HOST:PORT; the receiver listens".into()));
    };
    let peer = addrs[0];
    let any = if peer.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    let sock = addr::udp_bind(SocketAddr::new(any, 0), opts)?;
    sock.connect(peer).map_err(|e| KernelError::Connect { addr: peer, source: e })?;
    *started = Instant::now();
    let mut impairer: Option<Impairer<Vec<u8>>> = impair.filter(|i| i.is_active()).map(Impairer::new);
    let mut failure: Option<io::Error> = None;
    let put = |d: Vec<u8>, failure: &mut Option<io::Error>| {
        if let Err(e) = sock.send(&d) {
            failure.get_or_insert(e);
        }
    };
    let mut buf = vec![0u8; block.min(MAX_PAYLOAD)];
    let mut total = 0u64;
    loop {
        let n = match input.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(KernelError::Input { what: input.name.clone(), source: e }),
        };
        let d = buf[..n].to_vec();
        match impairer.as_mut() {
            Some(imp) if n > 0 => imp.push(d, |d| put(d, &mut failure)),
            _ => {
                if let Some(imp) = impairer.as_mut() {
                    imp.flush(|d| put(d, &mut failure));
                }
                put(d, &mut failure);
            }
        }
        if let Some(e) = failure.take() {
            return Err(match e.kind() {
                io::ErrorKind::ConnectionRefused => KernelError::Refused(peer),
                _ => KernelError::Socket(e),
            });
        }
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        progress.update(total, "");
    }
}

/// Receives datagrams from the first peer into `output`; returns the bytes written.
pub fn recv(
    ep: &Endpoint,
    opts: &SocketOptions,
    output: &mut End,
    progress: &mut Progress,
    started: &mut Instant,
) -> Result<u64> {
    let Endpoint::Listen(listen) = ep else {
        return Err(KernelError::Usage("--raw receives with --listen [ADDR:]PORT".into()));
    };
    let sock = addr::udp_bind(*listen, opts)?;
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    let mut total = 0u64;
    let mut peer: Option<SocketAddr> = None;
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(total),
            Err(e) => return Err(KernelError::Socket(e)),
        };
        match peer {
            None => {
                // Like nc -u -l: the first sender becomes the only peer.
                sock.connect(from).map_err(KernelError::Socket)?;
                sock.set_read_timeout(Some(IDLE_END)).map_err(KernelError::Socket)?;
                peer = Some(from);
                *started = Instant::now();
            }
            Some(p) if p != from => continue,
            Some(_) => {}
        }
        if n == 0 {
            return Ok(total);
        }
        output.file.write_all(&buf[..n]).map_err(|e| KernelError::Output { what: output.name.clone(), source: e })?;
        total += n as u64;
        progress.update(total, "");
    }
}
