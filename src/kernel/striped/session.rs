//! Opening a striped session: N connections, each with its hello, in index order.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::{hello, parse_hello, session_id, Role, GATHER_TIMEOUT, HELLO_LEN};
use crate::kernel::addr::{self, Endpoint, SocketOptions};
use crate::kernel::error::{KernelError, Result};

/// Opens the session's connections, in index order. The connecting end opens
/// `streams`; the listening end accepts as many as the first hello announces.
pub fn establish(ep: &Endpoint, opts: &SocketOptions, streams: u16, role: Role) -> Result<Vec<TcpStream>> {
    match ep {
        Endpoint::Connect { addrs, .. } => {
            let session = session_id();
            (0..streams)
                .map(|i| {
                    let mut s = addr::tcp_connect(addrs, opts)?;
                    s.write_all(&hello(i, streams, role, session)).map_err(KernelError::socket)?;
                    Ok(s)
                })
                .collect()
        }
        Endpoint::Listen(a) => gather(&addr::tcp_listen(*a, opts)?, opts, role),
    }
}

fn read_hello(s: &mut TcpStream) -> Result<[u8; HELLO_LEN]> {
    s.set_read_timeout(Some(GATHER_TIMEOUT)).map_err(KernelError::Socket)?;
    let mut b = [0u8; HELLO_LEN];
    s.read_exact(&mut b).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            KernelError::Timeout("a connection sent no stripecat hello within 10 s".into())
        }
        io::ErrorKind::UnexpectedEof => {
            KernelError::Protocol("a connection closed before its hello (is the peer nc?)".into())
        }
        _ => KernelError::socket(e),
    })?;
    s.set_read_timeout(None).map_err(KernelError::Socket)?;
    Ok(b)
}

/// The listening end of striped sessions: one listener kept open, so a keyed receiver
/// that refused a sender gathers the next one's connections without a gap in which
/// connecting would be refused.
pub struct Listener {
    listener: TcpListener,
    opts: SocketOptions,
    /// `--listen-timeout`: when the first connection must have come by.
    deadline: Option<Instant>,
}

impl Listener {
    /// Listens on `addr`; `within` bounds the wait for the first connection of a session.
    pub fn bind(addr: std::net::SocketAddr, opts: &SocketOptions, within: Option<Duration>) -> Result<Listener> {
        let listener = addr::tcp_listen(addr, opts)?;
        Ok(Listener { listener, opts: *opts, deadline: within.map(|d| Instant::now() + d) })
    }

    /// The next session's connections, in index order. `Ok(None)`: the deadline passed
    /// before a first connection came.
    pub fn gather(&self, role: Role) -> Result<Option<Vec<TcpStream>>> {
        match self.deadline {
            Some(deadline) => match accept_until(&self.listener, deadline)? {
                Some(first) => gather_after(&self.listener, first, &self.opts, role).map(Some),
                None => Ok(None),
            },
            None => {
                self.listener.set_nonblocking(false).map_err(KernelError::Socket)?;
                gather(&self.listener, &self.opts, role).map(Some)
            }
        }
    }
}

/// The next connection `listener` accepts (the listener polled without blocking; the
/// connection blocks), or `None` once `deadline` has passed.
fn accept_until(listener: &TcpListener, deadline: Instant) -> Result<Option<TcpStream>> {
    listener.set_nonblocking(true).map_err(KernelError::Socket)?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(KernelError::Socket)?;
                return Ok(Some(s));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(KernelError::Socket(e)),
        }
    }
}

fn gather(listener: &TcpListener, opts: &SocketOptions, role: Role) -> Result<Vec<TcpStream>> {
    let (first, _) = listener.accept().map_err(KernelError::Socket)?;
    gather_after(listener, first, opts, role)
}

/// The rest of a session whose first connection `first` was accepted.
fn gather_after(
    listener: &TcpListener,
    mut first: TcpStream,
    opts: &SocketOptions,
    role: Role,
) -> Result<Vec<TcpStream>> {
    let (index, count, peer_role, session) = parse_hello(&read_hello(&mut first)?)?;
    if peer_role == role {
        let both = if role == Role::Send { "sending" } else { "receiving" };
        return Err(KernelError::Protocol(format!("both ends are {both}: run send on one end and recv on the other")));
    }
    let mut slots: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    slots[index as usize] = Some(first);
    let mut have = 1;
    let deadline = Instant::now() + GATHER_TIMEOUT;
    while have < count {
        let Some(mut s) = accept_until(listener, deadline)? else {
            return Err(KernelError::Timeout(format!(
                "only {have} of {count} connections arrived within {} s",
                GATHER_TIMEOUT.as_secs()
            )));
        };
        let (i, c, r, sess) = parse_hello(&read_hello(&mut s)?)?;
        // A connection from another session (a stale retry) is
        // turned away rather than mixed into this stream.
        if sess != session || c != count || r != peer_role {
            let _ = s.shutdown(Shutdown::Both);
            continue;
        }
        if slots[i as usize].replace(s).is_some() {
            return Err(KernelError::Protocol(format!("connection {i} opened twice")));
        }
        have += 1;
    }
    let streams: Vec<TcpStream> = slots.into_iter().flatten().collect();
    for s in &streams {
        addr::tune(s, opts)?;
    }
    Ok(streams)
}
