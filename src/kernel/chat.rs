//! `--chat`: both directions of one connection at once, like an interactive
//! netcat session. stdin goes to the peer as it is typed (TCP_NODELAY, so a
//! line is not held back by Nagle); the peer's bytes go to stdout at once,
//! unbuffered. End of stdin shuts down our write side; the session ends on
//! the peer's end of stream, as nc's does, even if stdin is still open.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::{KernelError, Result};

/// Bytes each way when the session ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatCounts {
    pub sent: u64,
    pub received: u64,
}

/// Runs the session until the peer closes. Returns the byte counts.
pub fn run(sock: TcpStream) -> Result<ChatCounts> {
    sock.set_nodelay(true).map_err(KernelError::Socket)?;
    let mut writer = sock.try_clone().map_err(KernelError::Socket)?;
    let sent = Arc::new(AtomicU64::new(0));
    let sent_by_thread = Arc::clone(&sent);
    // The stdin side runs on its own thread: a blocking read of a terminal
    // cannot be interrupted, and the session must end when the peer leaves
    // even while that read waits. The thread is detached; process exit ends it.
    let uplink = std::thread::Builder::new()
        .name("chat-stdin".into())
        .spawn(move || -> Result<()> {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(KernelError::Input { what: "stdin".into(), source: e }),
                };
                writer.write_all(&buf[..n]).map_err(KernelError::socket)?;
                sent_by_thread.fetch_add(n as u64, Ordering::Relaxed);
            }
            writer.shutdown(Shutdown::Write).map_err(KernelError::socket)
        })
        .map_err(|e| KernelError::Input { what: "stdin".into(), source: e })?;

    let mut out = std::fs::File::from(
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| KernelError::Open { path: "stdout".into(), source: e })?,
    );
    let mut reader = sock;
    let mut received = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    let downlink: Result<()> = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = out.write_all(&buf[..n]) {
                    break Err(KernelError::Output { what: "stdout".into(), source: e });
                }
                received += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(KernelError::socket(e)),
        }
    };
    // A failure sending what the user typed is worth reporting even though
    // the peer has since left; a still-blocked stdin read is not an error.
    if uplink.is_finished() {
        match uplink.join() {
            Ok(Err(e)) if downlink.is_ok() => return Err(e),
            _ => {}
        }
    }
    downlink?;
    Ok(ChatCounts { sent: sent.load(Ordering::Relaxed), received })
}
