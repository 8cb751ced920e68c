//! Transports over kernel sockets, for hosts without DPDK NICs or root:
//! netcat-compatible TCP, multi-stream TCP, and the striping protocol over UDP.

pub mod args;

use crate::cli::{RecvArgs, SendArgs};
use crate::exit::{ExitCode, Failure};

/// `stripecat send --tcp|--udp ...`.
pub fn send(_args: &SendArgs) -> Result<(), Failure> {
    Err(Failure::new(ExitCode::Other, "kernel transports are being built in this revision"))
}

/// `stripecat recv --tcp|--udp ...`.
pub fn recv(_args: &RecvArgs) -> Result<(), Failure> {
    Err(Failure::new(ExitCode::Other, "kernel transports are being built in this revision"))
}
