//! Sending a burst of datagrams in few system calls: UDP GSO, or `sendmmsg`.

use std::io;
use std::net::UdpSocket;

use rustix::io::IoSlice;
use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags};
use stripecat_proto::{Keyring, SharedBytes, Transmit};

/// Most datagrams glued into one GSO send (the kernel allows 64; the
/// total must also stay under the 64 KiB UDP limit).
const GSO_SEGMENTS: usize = 64;

/// Sends a burst with UDP GSO: per path, runs of full-size datagrams (and
/// one shorter one ending a run) are copied back to back into one buffer and
/// handed to the kernel in one send, which cuts them at `segment` bytes.
/// Returns false when the kernel refuses GSO sends, so the caller falls back
/// to `sendmmsg` (the refused datagrams are loss to the protocol).
pub(super) fn send_gso(
    socks: &[UdpSocket],
    batch: &[Transmit<SharedBytes>],
    segment: usize,
    gbuf: &mut Vec<u8>,
    keyring: &Keyring,
) -> bool {
    let max = GSO_SEGMENTS.min(65_000 / segment).max(1);
    for (p, sock) in socks.iter().enumerate() {
        let mut n = 0;
        gbuf.clear();
        let flush = |gbuf: &mut Vec<u8>, n: &mut usize| -> bool {
            let ok = match sock.send(gbuf) {
                Ok(_) => true,
                // A full socket buffer: loss, repaired by the protocol.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) => !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP)),
            };
            gbuf.clear();
            *n = 0;
            ok
        };
        for t in batch.iter().filter(|t| t.path as usize % socks.len() == p) {
            let len = if t.is_sealed() { t.sealed_len() } else { t.wire_len() };
            if len > segment && !flush(gbuf, &mut n) {
                return false;
            }
            let at = gbuf.len();
            gbuf.resize(at + len, 0);
            if t.is_sealed() {
                // Sealing writes header, ciphertext and tag in one pass over the payload.
                if t.seal(&mut gbuf[at..], keyring).is_err() {
                    gbuf.truncate(at);
                    continue;
                }
            } else {
                let h = t.emit(&mut gbuf[at..]);
                if let Some(payload) = &t.payload {
                    gbuf[at + h..at + len].copy_from_slice(payload.as_ref());
                }
            }
            n += 1;
            // A short datagram can only end a GSO run; so can a full buffer.
            if (len != segment || n == max) && !flush(gbuf, &mut n) {
                return false;
            }
        }
        if n > 0 && !flush(gbuf, &mut n) {
            return false;
        }
    }
    true
}

/// Sends a burst with one `sendmmsg` per path socket: headers from
/// `headers` (reused between bursts), payloads gathered straight from their
/// handles, so no chunk is copied in user space. What the kernel does not
/// take (a full socket buffer) is loss to the protocol, which repairs it.
pub(super) fn send_batch(
    socks: &[UdpSocket],
    batch: &[Transmit<SharedBytes>],
    headers: &mut Vec<Vec<u8>>,
    keyring: &Keyring,
) {
    let mut lens = Vec::with_capacity(batch.len());
    for (i, t) in batch.iter().enumerate() {
        if headers.len() <= i {
            headers.push(Vec::new());
        }
        // A sealed datagram is written whole (ciphertext and tag) into its buffer.
        let need = if t.is_sealed() { t.sealed_len() } else { t.header_len() };
        if headers[i].len() < need {
            headers[i].resize(need, 0);
        }
        lens.push(if t.is_sealed() { t.seal(&mut headers[i], keyring).unwrap_or(0) } else { t.emit(&mut headers[i]) });
    }
    for (p, sock) in socks.iter().enumerate() {
        let mine: Vec<usize> = (0..batch.len()).filter(|&i| batch[i].path as usize % socks.len() == p).collect();
        if mine.is_empty() {
            continue;
        }
        let iovs: Vec<[IoSlice; 2]> = mine
            .iter()
            .map(|&i| {
                let payload: &[u8] = match &batch[i].payload {
                    Some(b) if !batch[i].is_sealed() => b.as_ref(),
                    _ => &[],
                };
                [IoSlice::new(&headers[i][..lens[i]]), IoSlice::new(payload)]
            })
            .collect();
        let mut controls: Vec<SendAncillaryBuffer> = mine.iter().map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr> =
            iovs.iter().zip(controls.iter_mut()).map(|(iov, c)| MMsgHdr::new(iov, c)).collect();
        let mut done = 0;
        while done < msgs.len() {
            match sendmmsg(sock, &mut msgs[done..], SendFlags::empty()) {
                Ok(n) if n > 0 => done += n,
                Err(e) if e == rustix::io::Errno::INTR => {}
                _ => break,
            }
        }
    }
}
