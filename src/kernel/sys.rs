//! The one place the kernel transports call libc directly: the UDP
//! segmentation-offload socket options (UDP_SEGMENT, UDP_GRO), which rustix
//! does not wrap. Everything else goes through safe wrappers (std, rustix).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Sets an integer option at the SOL_UDP level.
fn set_udp_option(sock: &impl AsFd, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let fd = sock.as_fd().as_raw_fd();
    // SAFETY: `fd` is an open socket borrowed from `sock` for the whole call;
    // the option value points at `value`, a live `c_int` on this stack frame,
    // and the length passed is exactly its size; setsockopt only reads it
    // during the call and keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            name,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// UDP GSO: every send on `sock` longer than `segment` bytes is cut by the
/// kernel (or the NIC) into `segment`-byte datagrams, the last one shorter.
/// Fails on kernels before 4.18.
pub fn set_udp_segment(sock: &impl AsFd, segment: u16) -> io::Result<()> {
    set_udp_option(sock, libc::UDP_SEGMENT, segment as libc::c_int)
}

/// UDP GRO: the kernel may hand a receive several same-flow datagrams
/// glued together (each the same size but the last). Fails before 5.0.
pub fn set_udp_gro(sock: &impl AsFd, on: bool) -> io::Result<()> {
    set_udp_option(sock, libc::UDP_GRO, on as libc::c_int)
}
