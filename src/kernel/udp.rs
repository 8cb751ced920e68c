//! The striping protocol over kernel UDP sockets (in progress).

use std::net::SocketAddr;

use super::addr::{Endpoint, SocketOptions};
use super::args::KernelArgs;
use super::error::KernelError;
use super::io::End;
use super::Report;
use crate::report::Progress;
use stripecat_proto::wire::DigestAlgorithm;

pub fn send(
    _k: &KernelArgs,
    _ep: &Endpoint,
    _opts: &SocketOptions,
    _input: &mut End,
    _alg: Option<DigestAlgorithm>,
    _progress: &mut Progress,
    _started: &mut std::time::Instant,
) -> Result<Report, (KernelError, Report)> {
    let _: Option<SocketAddr> = None;
    Err((KernelError::Usage("--udp is not built yet".into()), Report::default()))
}

pub fn recv(
    _k: &KernelArgs,
    _ep: &Endpoint,
    _opts: &SocketOptions,
    _output: &mut End,
    _progress: &mut Progress,
    _started: &mut std::time::Instant,
) -> Result<Report, (KernelError, Report)> {
    Err((KernelError::Usage("--udp is not built yet".into()), Report::default()))
}
