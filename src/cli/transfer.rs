//! `send` and `recv`: one command line for every transport. Without `--tcp` or
//! `--udp` they run the DPDK data plane ([`SendArgs::dataplane_plan`]), with one
//! of them a kernel transport ([`SendArgs::kernel_plan`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::CongestionConfig;

use super::dpdk::{DataPlaneArgs, DpdkArgs};
use super::kernel::KernelArgs;
use crate::dataplane::addr::{DEFAULT_RECEIVER_IP, DEFAULT_SENDER_IP};
use crate::dataplane::{recv::RecvPlan, send::SendPlan};
use crate::exit::{ExitCode, Failure};
use crate::impair::Impairment;
use crate::kernel;
use crate::report::ReportPlan;

/// Which end-to-end digest the FIN carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigestArg {
    Xxh3,
    Blake3,
    None,
}

impl DigestArg {
    /// The protocol's algorithm for this choice.
    pub fn algorithm(self) -> DigestAlgorithm {
        match self {
            DigestArg::Xxh3 => DigestAlgorithm::Xxh3_128,
            DigestArg::Blake3 => DigestAlgorithm::Blake3,
            DigestArg::None => DigestAlgorithm::None,
        }
    }
}

/// Reporting options shared by every transfer.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Write a machine-readable final report here (schema in docs/STATS.md).
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,

    /// While the transfer runs, add a JSON line of live figures to the --stats-json file
    /// every SECS seconds (e.g. 1 or 0.5); the final report is then the file's last line.
    #[arg(long, value_name = "SECS", requires = "stats_json", value_parser = parse_interval)]
    pub stats_interval: Option<Duration>,

    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

impl ReportArgs {
    /// The plain plan the library takes.
    pub fn plan(&self) -> ReportPlan {
        ReportPlan { stats_json: self.stats_json.clone(), stats_interval: self.stats_interval, quiet: self.quiet }
    }
}

/// Seeded faults, for tests on machines without netem; the same grammar on every transport.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Testing")]
pub struct FaultArgs {
    /// Seeded faults, e.g. loss=1%,reorder=2%,dup=0.5%,corrupt=0.1%,seed=7 (grammar in
    /// docs/KERNEL.md). With --udp: on outgoing datagrams; over DPDK: at every member port, both directions.
    #[arg(long, value_name = "SPEC", value_parser = parse_impair)]
    pub impair: Option<Impairment>,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=86_400.0).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not an interval in seconds from 0.01 to 86400 (e.g. 1 or 0.5)")),
    }
}

fn parse_impair(s: &str) -> Result<Impairment, String> {
    Impairment::parse(s).map_err(|e| e.to_string())
}

/// Parses `--rate` into payload bytes per second: a number with an optional decimal
/// prefix (k, M, G, T), in bits per second (`4G`, `500Mbit/s`, `10Gbps`) or, ending in
/// `B/s` or `Bps`, in bytes per second (`100MB/s`).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a rate like 500M, 4G (bits/s) or 100MB/s (bytes/s)");
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let (prefix, rest) = match unit.chars().next() {
        Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T')) => (Some(c.to_ascii_lowercase()), &unit[1..]),
        _ => (None, unit),
    };
    let mult = match prefix {
        None => 1e0,
        Some('k') => 1e3,
        Some('m') => 1e6,
        Some('g') => 1e9,
        _ => 1e12,
    };
    let bytes = match rest {
        "" | "b" | "bit" | "bit/s" | "bps" | "b/s" => false,
        "B" | "B/s" | "Bps" | "byte/s" => true,
        _ => return Err(bad()),
    };
    let per_sec = value * mult / if bytes { 1.0 } else { 8.0 };
    if !(1.0..1e15).contains(&per_sec) {
        return Err(format!("{s:?}: give a rate between 8 bit/s and 8 Pbit/s"));
    }
    Ok(per_sec as u64)
}

/// `FILE` or `-`: `None` means stdin/stdout.
fn file_arg(file: &Option<PathBuf>) -> Option<PathBuf> {
    file.clone().filter(|p| p.as_os_str() != "-")
}

/// The options both ends of a transfer take: where (DPDK members or a kernel
/// socket), how to report, and test faults.
#[derive(Debug, Args)]
pub struct EndArgs {
    #[command(flatten)]
    pub dpdk: DpdkArgs,
    #[command(flatten)]
    pub plane: DataPlaneArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub faults: FaultArgs,
    #[command(flatten)]
    pub key: super::key::KeyArgs,
}

impl EndArgs {
    fn port_plan(&self) -> crate::dataplane::plane::PortPlan {
        self.plane.port_plan(&self.dpdk, self.faults.impair)
    }

    /// Every member's addressing from `--local-ip`, `peer` (`--peer-ip`), `--gateway`
    /// and `--vlan`; a malformed or inconsistent one is a usage error.
    fn member_nets(
        &self,
        peer: &[String],
        default_local: std::net::Ipv4Addr,
        default_peer: Option<std::net::Ipv4Addr>,
    ) -> Result<Vec<crate::dataplane::addr::MemberNet>, Failure> {
        let names: Vec<String> = self.dpdk.ports.iter().map(|p| p.port_name().to_string()).collect();
        let p = &self.plane;
        let a = crate::dataplane::addr::NetArgs { local: &p.local_ip, peer, gateway: &p.gateway, vlan: &p.vlan };
        crate::dataplane::addr::member_nets(names.len(), &names, &a, default_local, default_peer).map_err(|e| {
            Failure::new(ExitCode::Usage, e)
                .hint("see `stripecat send --help` and docs/NETWORKS.md for the per-member forms")
        })
    }

    fn kernel_plan(
        &self,
        file: &Option<PathBuf>,
        digest: DigestAlgorithm,
        congestion: CongestionConfig,
    ) -> Result<kernel::Plan, Failure> {
        Ok(kernel::Plan {
            options: self.kernel.options(self.faults.impair),
            file: file.clone(),
            digest,
            congestion,
            rate_limit: None,
            sparse: true,
            resume: false,
            listen_timeout: None,
            report: self.report.plan(),
            key: self.key.load()?,
        })
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub end: EndArgs,

    /// (DPDK) The receiver's address, IPv4 or IPv6: one for every member, or one per
    /// --port in order (repeat or comma list) [default: 198.18.0.2].
    #[arg(long, value_name = "IP", help_heading = "Data plane (DPDK)", value_delimiter = ',')]
    pub peer_ip: Vec<String>,

    /// (DPDK) The receiver's MAC address (skips ARP).
    #[arg(long, value_name = "MAC", help_heading = "Data plane (DPDK)")]
    pub peer_mac: Option<String>,

    /// End-to-end digest carried in the FIN.
    #[arg(long, value_enum, default_value_t = DigestArg::Xxh3)]
    pub digest: DigestArg,

    /// Congestion controller of every path (DPDK and --udp): reno, or bbr (model-based:
    /// holds its rate under random loss), or fixed:BYTES (a constant window, for tests).
    #[arg(long = "cc", value_name = "NAME", default_value = "reno")]
    pub cc: CongestionConfig,

    /// Cap the session's payload rate across all paths (DPDK and --udp): bits per second
    /// (500M, 4G, 10G) or bytes per second with B/s (100MB/s, 1.5GB/s); decimal units.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<u64>,

    /// Send all-zero chunks as data: by default (DPDK and --udp) a chunk of zeros goes
    /// as a short ZEROS record (its length, no payload).
    #[arg(long)]
    pub no_sparse: bool,

    /// Continue an interrupted transfer (DPDK and --udp; the receiver too runs with
    /// --resume): the receiver says how much its output holds, this end checks that its
    /// input starts with those bytes and sends only the rest (a pipe input is read past
    /// them). A prefix that differs is exit 5, and the output is left as it was.
    #[arg(long)]
    pub resume: bool,

    /// FILE to send; stdin when absent or '-'.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pub end: EndArgs,

    /// Write zero runs out as zeros: by default (DPDK and --udp) a run the sender carried
    /// as a ZEROS record becomes a hole in a regular output file (a pipe or device gets
    /// the zeros either way).
    #[arg(long)]
    pub no_sparse: bool,

    /// Keep what FILE already holds and take only the rest from a sender run with
    /// --resume (DPDK and --udp): FILE is hashed at start-up, never truncated; a sender
    /// without --resume is refused (exit 2) while FILE holds data. Needs a regular FILE
    /// (it may not exist yet).
    #[arg(long)]
    pub resume: bool,

    /// Give up (exit 4) when no sender has started a session within SECS of the members
    /// coming up (DPDK, --udp, --tcp --streams); exit 6 instead when, keyed, only senders
    /// that did not authenticate came. A memif member comes up once its sender connects:
    /// it waits 30 s for that, or SECS if longer. Without it, recv waits for its sender as
    /// long as it runs once its members are up (a keyed one refuses those that do not
    /// authenticate and waits on).
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub listen_timeout: Option<Duration>,

    /// FILE to write; stdout when absent or '-'.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl SendArgs {
    /// The plain plan `dataplane::send` takes; a bad `--peer-mac` is a usage error.
    pub fn dataplane_plan(&self, verbose: u8) -> Result<SendPlan, Failure> {
        let peer_mac = match &self.peer_mac {
            Some(s) => Some(
                s.parse()
                    .map_err(|e: String| Failure::new(ExitCode::Usage, e).hint("give --peer-mac as six hex bytes"))?,
            ),
            None => None,
        };
        let nets = self.end.member_nets(&self.peer_ip, DEFAULT_SENDER_IP, Some(DEFAULT_RECEIVER_IP))?;
        Ok(SendPlan {
            ports: self.end.port_plan(),
            nets,
            peer_mac,
            udp_port: self.end.plane.udp_port,
            busy_poll: self.end.plane.busy_poll,
            digest: self.digest.algorithm(),
            congestion: self.cc,
            rate_limit: self.rate,
            sparse: !self.no_sparse,
            resume: self.resume,
            input: file_arg(&self.file),
            key: self.end.key.load()?,
            report: self.end.report.plan(),
            verbose,
        })
    }

    /// The plain plan `kernel::send` takes; an unusable key is a usage error.
    pub fn kernel_plan(&self) -> Result<kernel::Plan, Failure> {
        Ok(kernel::Plan {
            rate_limit: self.rate,
            sparse: !self.no_sparse,
            resume: self.resume,
            ..self.end.kernel_plan(&self.file, self.digest.algorithm(), self.cc)?
        })
    }
}

impl RecvArgs {
    /// The plain plan `dataplane::recv` takes; bad member addressing is a usage error.
    pub fn dataplane_plan(&self, verbose: u8) -> Result<RecvPlan, Failure> {
        Ok(RecvPlan {
            key: self.end.key.load()?,
            ports: self.end.port_plan(),
            nets: self.end.member_nets(&[], DEFAULT_RECEIVER_IP, None)?,
            udp_port: self.end.plane.udp_port,
            busy_poll: self.end.plane.busy_poll,
            output: file_arg(&self.file),
            sparse: !self.no_sparse,
            resume: self.resume,
            listen_timeout: self.listen_timeout,
            report: self.end.report.plan(),
            verbose,
        })
    }

    /// The plain plan `kernel::recv` takes (digest and congestion are the sender's choice).
    pub fn kernel_plan(&self) -> Result<kernel::Plan, Failure> {
        Ok(kernel::Plan {
            sparse: !self.no_sparse,
            resume: self.resume,
            listen_timeout: self.listen_timeout,
            ..self.end.kernel_plan(&self.file, DigestAlgorithm::None, CongestionConfig::default())?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates_in_bits_and_bytes() {
        assert_eq!(parse_rate("4G"), Ok(500_000_000));
        assert_eq!(parse_rate("500M"), Ok(62_500_000));
        assert_eq!(parse_rate("10Gbit/s"), Ok(1_250_000_000));
        assert_eq!(parse_rate("1.5Gbps"), Ok(187_500_000));
        assert_eq!(parse_rate("100MB/s"), Ok(100_000_000));
        assert_eq!(parse_rate("2GBps"), Ok(2_000_000_000));
        assert_eq!(parse_rate("8000"), Ok(1000));
        for bad in ["", "fast", "4Q", "1.2.3G", "0", "-5M", "4 Gigs"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
