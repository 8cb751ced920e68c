//! The command line. Option names shared by every DPDK command (`--port`,
//! `--eal`, `-v`) are a contract; keep them.

use clap::{Args, Parser, Subcommand};

use crate::spec::PortSpec;

/// The version line a bug report needs: ours, the git revision, and the DPDK
/// we were built against (the one loaded at run time is added by `main`).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("STRIPECAT_GIT_REV"),
    ", built against DPDK ",
    env!("STRIPECAT_BUILT_DPDK"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "stripecat",
    version = LONG_VERSION,
    about = "A kernel-bypass (DPDK) netcat: one byte stream striped across every member NIC",
    propagate_version = true
)]
pub struct Cli {
    /// Show EAL's log on stderr (-vv: at debug level).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List ports: id, name, driver, MAC, link, MTU, queues, NUMA socket.
    Ports(PortsArgs),
}

/// Options every DPDK command shares.
#[derive(Debug, Clone, Args)]
pub struct DpdkArgs {
    /// Member port: a PCI address (0000:03:00.0) or vdev devargs starting
    /// with net_ (net_memif0,role=server,socket=/run/sc.sock). Repeatable.
    #[arg(long = "port", value_name = "SPEC", value_parser = parse_spec)]
    pub ports: Vec<PortSpec>,

    /// Extra EAL arguments, one shell-quoted string (e.g. "--file-prefix a -m 512").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub eal: Option<String>,
}

fn parse_spec(s: &str) -> Result<PortSpec, String> {
    s.parse::<PortSpec>().map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct PortsArgs {
    #[command(flatten)]
    pub dpdk: DpdkArgs,

    /// Print JSON (one object per port) instead of a table.
    #[arg(long)]
    pub json: bool,
}
