//! Options of the kernel-socket transports (`--tcp`, `--udp`), flattened into
//! `send` and `recv`. Without either flag those commands use DPDK.

use clap::Args;

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
}

impl KernelArgs {
    /// Whether a kernel transport was asked for.
    pub fn active(&self) -> bool {
        self.tcp.is_some() || self.udp.is_some()
    }
}
