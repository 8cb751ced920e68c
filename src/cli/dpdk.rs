//! Options of the DPDK commands: the member ports and EAL (shared by every
//! command), the data plane of `send`/`recv`, `ports` and `selftest`.

use clap::Args;

use super::parse_size;
use super::transfer::ReportArgs;
use crate::dataplane::packet_check::CheckPolicy;
use crate::dataplane::plane::PortPlan;
use crate::impair::Impairment;
use crate::spec::PortSpec;

/// The receiver's UDP port when `--udp-port` is not given.
pub const DEFAULT_UDP_PORT: u16 = crate::dataplane::addr::DEFAULT_UDP_PORT;

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

impl PortsArgs {
    /// The plain plan `cmd::ports::run` takes.
    pub fn plan(&self) -> crate::cmd::ports::Plan {
        crate::cmd::ports::Plan { ports: self.dpdk.ports.clone(), eal: self.dpdk.eal.clone(), json: self.json }
    }
}

/// `--packet-check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PacketCheckArg {
    /// Per port: none on shared memory, UDP checksum where offloaded, CRC32C elsewhere.
    #[default]
    Auto,
    /// CRC32C on every port.
    Crc32c,
    /// No per-packet check on any port (the end-to-end digest stays).
    None,
}

impl PacketCheckArg {
    pub fn policy(self) -> CheckPolicy {
        match self {
            PacketCheckArg::Auto => CheckPolicy::Auto,
            PacketCheckArg::Crc32c => CheckPolicy::Crc32c,
            PacketCheckArg::None => CheckPolicy::None,
        }
    }
}

/// Options of the DPDK data plane shared by `send` and `recv`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Data plane (DPDK)")]
pub struct DataPlaneArgs {
    /// Dedicated CPUs for poll loops, e.g. 1 or 2-3 (default: one loop floating over all
    /// CPUs). One lane per CPU, each owning queue q of every member when q mod lanes = k;
    /// give at least as many --queues.
    #[arg(long, value_name = "LIST")]
    pub lcores: Option<String>,

    /// Queues per member port (each is a path).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,

    /// This end's address on the members, IPv4 or IPv6 with an optional prefix length
    /// (198.18.1.5/24, 2001:2::1/64): one for every member, or one per --port in order
    /// (repeat the option or give a comma list) [default: 198.18.0.1/24 for send,
    /// 198.18.0.2/24 for recv].
    #[arg(long, value_name = "IP[/LEN]", value_delimiter = ',')]
    pub local_ip: Vec<String>,

    /// The router towards a peer on another subnet (ARP or neighbour discovery asks for
    /// it; the peer's address stays in the IP header): one for every member, or one per
    /// --port ("none" for a member without). A receiver answers through whoever sent.
    #[arg(long, value_name = "IP", value_delimiter = ',')]
    pub gateway: Vec<String>,

    /// 802.1Q VLAN id (1-4094) that tags the members' frames, ARP and neighbour
    /// discovery included: one for every member, or one per --port ("none": untagged).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub vlan: Vec<String>,

    /// The receiver's UDP port.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_UDP_PORT)]
    pub udp_port: u16,

    /// Frame MTU in bytes (up to 9000 where the ports allow it).
    #[arg(long, value_name = "BYTES", default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=9000))]
    pub mtu: u16,

    /// Poll without backing off when idle (for dedicated cores).
    #[arg(long)]
    pub busy_poll: bool,

    /// Per-packet check: auto (none on memif/ring, CRC32C elsewhere) or forced on every member.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = PacketCheckArg::Auto)]
    pub packet_check: PacketCheckArg,
}

impl DataPlaneArgs {
    pub(super) fn port_plan(&self, dpdk: &DpdkArgs, impair: Option<Impairment>) -> PortPlan {
        PortPlan {
            ports: dpdk.ports.clone(),
            eal: dpdk.eal.clone(),
            lcores: self.lcores.clone(),
            queues: self.queues,
            mtu: self.mtu,
            impair,
            packet_check: self.packet_check.policy(),
            link_wait: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Bytes of generated data to push through.
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = parse_size)]
    pub size: u64,

    /// Ring-port links between the two ends.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub links: u16,

    /// Send this file instead of generated data.
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,

    /// Write what arrives here (compared with the input when given).
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// Frame MTU on the ring links (in-memory: jumbo frames cost nothing).
    #[arg(long, value_name = "BYTES", default_value_t = 9000, value_parser = clap::value_parser!(u16).range(576..=9000))]
    pub mtu: u16,

    /// Extra EAL arguments.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub eal: Option<String>,

    /// Per-packet check on the ring links: auto (none: shared memory) or forced.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = PacketCheckArg::Auto)]
    pub packet_check: PacketCheckArg,

    #[command(flatten)]
    pub report: ReportArgs,
}

impl SelftestArgs {
    /// The plain plan `dataplane::selftest` takes.
    pub fn plan(&self, verbose: u8) -> crate::dataplane::selftest::SelftestPlan {
        crate::dataplane::selftest::SelftestPlan {
            size: self.size,
            links: self.links,
            mtu: self.mtu,
            input: self.input.clone(),
            output: self.output.clone(),
            eal: self.eal.clone(),
            packet_check: self.packet_check.policy(),
            report: self.report.plan(),
            verbose,
        }
    }
}
