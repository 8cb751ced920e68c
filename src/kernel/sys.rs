//! The UDP segmentation-offload socket options (UDP_SEGMENT, UDP_GRO), which
//! rustix does not wrap. They go through nix's safe `setsockopt`
//! (`sockopt::UdpGsoSegment`, `sockopt::UdpGroSegment`), so the kernel
//! transports hold no `unsafe`: everything goes through safe wrappers (std,
//! rustix, nix).

use std::io;
use std::os::fd::AsFd;

use nix::sys::socket::{setsockopt, sockopt};

/// UDP GSO: every send on `sock` longer than `segment` bytes is cut by the
/// kernel (or the NIC) into `segment`-byte datagrams, the last one shorter.
/// Fails on kernels before 4.18.
pub fn set_udp_segment(sock: &impl AsFd, segment: u16) -> io::Result<()> {
    setsockopt(sock, sockopt::UdpGsoSegment, &libc::c_int::from(segment)).map_err(io::Error::from)
}

/// UDP GRO: the kernel may hand a receive several same-flow datagrams
/// glued together (each the same size but the last). Fails before 5.0.
pub fn set_udp_gro(sock: &impl AsFd, on: bool) -> io::Result<()> {
    setsockopt(sock, sockopt::UdpGroSegment, &on).map_err(io::Error::from)
}
