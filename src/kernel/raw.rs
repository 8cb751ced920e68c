//! Plain datagrams (in progress).
use super::addr::{Endpoint, SocketOptions};
use super::error::{KernelError, Result};
use super::io::End;
use crate::report::Progress;

pub fn send(_ep: &Endpoint, _opts: &SocketOptions, _input: &mut End, _p: &mut Progress, _s: &mut std::time::Instant) -> Result<u64> {
    Err(KernelError::Usage("--raw is not built yet".into()))
}
pub fn recv(_ep: &Endpoint, _opts: &SocketOptions, _output: &mut End, _p: &mut Progress, _s: &mut std::time::Instant) -> Result<u64> {
    Err(KernelError::Usage("--raw is not built yet".into()))
}
