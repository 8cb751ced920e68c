//! One plain TCP connection, byte for byte what nc sends and expects: no
//! header, no digest. End of input shuts down our write side (nc's `-N`);
//! the receiving end finishes on the peer's end of stream.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};

use super::addr::{self, Endpoint, SocketOptions};
use super::error::{KernelError, Result};
use super::io::{recv_all, send_all, End};
use crate::report::Progress;

/// Opens the one connection: connects, or accepts the first peer.
pub fn establish(ep: &Endpoint, opts: &SocketOptions) -> Result<TcpStream> {
    match ep {
        Endpoint::Connect { addrs, .. } => addr::tcp_connect(addrs, opts),
        Endpoint::Listen(a) => {
            let listener = addr::tcp_listen(*a, opts)?;
            let (s, _) = listener.accept().map_err(KernelError::Socket)?;
            addr::tune(&s, opts)?;
            Ok(s)
        }
    }
}

/// Sends `input` over `sock`, shuts down the write side, then waits for the
/// peer to close (closing earlier could turn unread replies into a reset
/// that discards our last bytes). Whatever the peer says back goes to stdout,
/// as with nc. Returns the bytes sent.
pub fn send(sock: &mut TcpStream, input: &mut End, block: usize, progress: &mut Progress) -> Result<u64> {
    let n = send_all(input, sock, block, progress)?;
    sock.shutdown(Shutdown::Write).map_err(KernelError::socket)?;
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                // A reply nobody reads is not our failure.
                let _ = io::Write::write_all(&mut out, &buf[..k]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset here means the peer gave up with our bytes unread
            // (a normal receiver reads to our FIN and closes cleanly).
            Err(e) => return Err(KernelError::socket(e)),
        }
    }
    let _ = io::Write::flush(&mut out);
    Ok(n)
}

/// Receives until the peer's end of stream into `output`. Returns the bytes received.
pub fn recv(sock: &mut TcpStream, output: &mut End, block: usize, progress: &mut Progress) -> Result<u64> {
    let n = recv_all(sock, output, block, progress)?;
    let _ = sock.shutdown(Shutdown::Both);
    Ok(n)
}
