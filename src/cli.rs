//! The command line. Option names shared by every DPDK command (`--port`,
//! `--eal`, `-v`) are a contract; keep them.

use clap::{Args, Parser, Subcommand};

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::dataplane::packet_check::PacketCheckArg;
use crate::kernel::args::KernelArgs;
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
    /// Send FILE (or stdin) to a receiver, striped across every member port.
    Send(SendArgs),
    /// Receive a stream into FILE (or stdout).
    Recv(RecvArgs),
    /// Both ends in one process over in-memory ring ports: the main job with no NIC.
    Selftest(SelftestArgs),
    /// List ports: id, name, driver, MAC, link, MTU, queues, NUMA socket.
    Ports(PortsArgs),
    /// Line-rate benchmarking: generate (tx), count (rx) or reflect frames.
    Bench(crate::bench::BenchArgs),
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

/// The receiver's UDP port when `--udp-port` is not given.
pub const DEFAULT_UDP_PORT: u16 = crate::dataplane::addr::DEFAULT_UDP_PORT;

/// Which end-to-end digest the FIN carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestArg {
    Xxh3,
    Blake3,
    None,
}

impl DigestArg {
    /// The protocol's algorithm for this choice.
    pub fn algorithm(self) -> stripecat_proto::wire::DigestAlgorithm {
        use stripecat_proto::wire::DigestAlgorithm;
        match self {
            DigestArg::Xxh3 => DigestAlgorithm::Xxh3_128,
            DigestArg::Blake3 => DigestAlgorithm::Blake3,
            DigestArg::None => DigestAlgorithm::None,
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

    /// This end's IPv4 address on the members [default: 198.18.0.1 for send, 198.18.0.2 for recv].
    #[arg(long, value_name = "IP")]
    pub local_ip: Option<Ipv4Addr>,

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

/// Reporting options shared by every transfer.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Write a machine-readable final report here (schema in docs/STATS.md).
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,

    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub dpdk: DpdkArgs,
    #[command(flatten)]
    pub plane: DataPlaneArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub kernel: KernelArgs,

    /// (DPDK) The receiver's IPv4 address [default: 198.18.0.2].
    #[arg(long, value_name = "IP", help_heading = "Data plane (DPDK)")]
    pub peer_ip: Option<Ipv4Addr>,

    /// (DPDK) The receiver's MAC address (skips ARP).
    #[arg(long, value_name = "MAC", help_heading = "Data plane (DPDK)")]
    pub peer_mac: Option<String>,

    /// End-to-end digest carried in the FIN.
    #[arg(long, value_enum, default_value_t = DigestArg::Xxh3)]
    pub digest: DigestArg,

    /// Congestion controller of every path (DPDK and --udp): reno, or bbr (model-based:
    /// holds its rate under random loss), or fixed:BYTES (a constant window, for tests).
    #[arg(long = "cc", value_name = "NAME", default_value = "reno")]
    pub cc: stripecat_proto::CongestionConfig,

    /// FILE to send; stdin when absent or '-'.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pub dpdk: DpdkArgs,
    #[command(flatten)]
    pub plane: DataPlaneArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub kernel: KernelArgs,

    /// FILE to write; stdout when absent or '-'.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
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
    pub input: Option<PathBuf>,

    /// Write what arrives here (compared with the input when given).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

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

impl ReportArgs {
    /// The plain plan the library takes.
    pub fn plan(&self) -> crate::report::ReportPlan {
        crate::report::ReportPlan { stats_json: self.stats_json.clone(), quiet: self.quiet }
    }
}

impl DataPlaneArgs {
    fn port_plan(
        &self,
        dpdk: &DpdkArgs,
        impair: Option<crate::impair::Impairment>,
    ) -> crate::dataplane::plane::PortPlan {
        crate::dataplane::plane::PortPlan {
            ports: dpdk.ports.clone(),
            eal: dpdk.eal.clone(),
            lcores: self.lcores.clone(),
            queues: self.queues,
            mtu: self.mtu,
            impair,
            packet_check: self.packet_check,
        }
    }
}

impl SendArgs {
    /// The plain plan `dataplane::send` takes; a bad `--peer-mac` is a usage error.
    pub fn dataplane_plan(&self, verbose: u8) -> Result<crate::dataplane::send::SendPlan, crate::exit::Failure> {
        use crate::dataplane::addr::{DEFAULT_RECEIVER_IP, DEFAULT_SENDER_IP};
        let peer_mac = match &self.peer_mac {
            Some(s) => Some(s.parse().map_err(|e: String| {
                crate::exit::Failure::new(crate::exit::ExitCode::Usage, e).hint("give --peer-mac as six hex bytes")
            })?),
            None => None,
        };
        Ok(crate::dataplane::send::SendPlan {
            ports: self.plane.port_plan(&self.dpdk, self.kernel.impair),
            local_ip: self.plane.local_ip.unwrap_or(DEFAULT_SENDER_IP),
            peer_ip: self.peer_ip.unwrap_or(DEFAULT_RECEIVER_IP),
            peer_mac,
            udp_port: self.plane.udp_port,
            busy_poll: self.plane.busy_poll,
            digest: self.digest.algorithm(),
            congestion: self.cc,
            input: self.file.clone().filter(|p| p.as_os_str() != "-"),
            report: self.report.plan(),
            verbose,
        })
    }
}

impl RecvArgs {
    /// The plain plan `dataplane::recv` takes.
    pub fn dataplane_plan(&self, verbose: u8) -> crate::dataplane::recv::RecvPlan {
        crate::dataplane::recv::RecvPlan {
            ports: self.plane.port_plan(&self.dpdk, self.kernel.impair),
            local_ip: self.plane.local_ip.unwrap_or(crate::dataplane::addr::DEFAULT_RECEIVER_IP),
            udp_port: self.plane.udp_port,
            busy_poll: self.plane.busy_poll,
            output: self.file.clone().filter(|p| p.as_os_str() != "-"),
            report: self.report.plan(),
            verbose,
        }
    }
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
            packet_check: self.packet_check,
            report: self.report.plan(),
            verbose,
        }
    }
}

/// Parses sizes like 4096, 64K, 256M, 2G (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => {
            let unit = s[i..].trim().to_ascii_lowercase();
            let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M, G or T)")),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size like 4096, 64K, 256M or 2G"))?;
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn send_dpdk_and_tcp_forms_parse() {
        let c = Cli::try_parse_from(["stripecat", "send", "--port", "net_ring0", "--peer-ip", "198.18.0.2", "in.bin"])
            .unwrap();
        let Command::Send(a) = c.command else { panic!() };
        assert_eq!(a.file.as_deref(), Some(std::path::Path::new("in.bin")));
        assert!(!a.kernel.active());
        let c = Cli::try_parse_from(["stripecat", "send", "--tcp", "127.0.0.1:9000", "in.bin"]).unwrap();
        let Command::Send(a) = c.command else { panic!() };
        assert_eq!(a.kernel.tcp.as_deref(), Some("127.0.0.1:9000"));
        let c = Cli::try_parse_from(["stripecat", "recv", "--tcp", "--listen", "9000", "out.bin"]).unwrap();
        let Command::Recv(a) = c.command else { panic!() };
        assert_eq!(a.kernel.tcp.as_deref(), Some(""));
        assert_eq!(a.kernel.listen.as_deref(), Some("9000"));
        assert!(Cli::try_parse_from(["stripecat", "send", "--tcp", "h:1", "--udp", "h:2"]).is_err());
    }
}
