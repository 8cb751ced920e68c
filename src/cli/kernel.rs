//! The kernel-socket transports' options (`--tcp`, `--udp`), flattened into
//! `send` and `recv`; without either flag those commands use DPDK.

use clap::Args;

use super::parse_size;
use crate::kernel;

/// Kernel-socket transport options.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Kernel sockets (no DPDK, no root)")]
pub struct KernelArgs {
    /// Plain TCP, netcat-compatible: `--tcp HOST:PORT` connects, `--tcp --listen [ADDR:]PORT` listens.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "", conflicts_with = "udp")]
    pub tcp: Option<String>,

    /// The striping protocol over kernel UDP: `--udp HOST:PORT` or `--udp --listen [ADDR:]PORT`.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "")]
    pub udp: Option<String>,

    /// Listen on [ADDR:]PORT instead of connecting.
    #[arg(long, value_name = "[ADDR:]PORT")]
    pub listen: Option<String>,

    /// (TCP) Stripe over N connections to one port (both ends pass N > 1; the connecting end's N wins).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: u16,

    /// Read/write buffer, striping chunk and sendfile/splice request size [default: 1M]; with --udp the chunk size [default: 8K on loopback, 1444 otherwise].
    #[arg(long, value_name = "BYTES", value_parser = parse_block)]
    pub block_size: Option<u64>,

    /// Socket buffers (SO_SNDBUF and SO_RCVBUF), e.g. 4M [default: TCP autotuning; UDP 4M, capped by net.core.rmem_max].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub window: Option<u64>,

    /// (TCP) Disable Nagle's algorithm (TCP_NODELAY): small writes leave at once.
    #[arg(long)]
    pub nodelay: bool,

    /// (TCP, one stream) Both directions at once, like an interactive netcat session:
    /// stdin goes to the peer, the peer's bytes to stdout.
    #[arg(long, conflicts_with = "udp")]
    pub chat: bool,

    /// (UDP) Paths: N sockets on distinct source ports.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub paths: Option<u16>,

    /// (UDP) Local address of one path (ADDR or ADDR:PORT); repeat it to use several interfaces.
    #[arg(long, value_name = "ADDR")]
    pub bind: Vec<String>,

    /// (UDP) Plain datagrams without the striping protocol, for `nc -u`: unreliable, small messages only.
    #[arg(long, conflicts_with = "tcp")]
    pub raw: bool,
}

fn parse_block(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if !(512..=(64 << 20)).contains(&n) {
        return Err(format!("{s:?} is outside 512 bytes ..= 64M"));
    }
    Ok(n)
}

impl KernelArgs {
    /// Whether a kernel transport was asked for.
    pub fn active(&self) -> bool {
        self.tcp.is_some() || self.udp.is_some()
    }

    /// The plain options the kernel transports take; `impair` is `--impair`.
    pub fn options(&self, impair: Option<crate::impair::Impairment>) -> kernel::Options {
        kernel::Options {
            tcp: self.tcp.clone(),
            udp: self.udp.clone(),
            listen: self.listen.clone(),
            streams: self.streams,
            block_size: self.block_size,
            window: self.window,
            nodelay: self.nodelay,
            chat: self.chat,
            paths: self.paths,
            bind: self.bind.clone(),
            raw: self.raw,
            impair,
        }
    }
}
