//! `stripecat bench`'s options, turned into a [`bench::Plan`](crate::bench::Plan).

use std::path::PathBuf;

use clap::Args;

use super::dpdk::DpdkArgs;
use crate::bench::{self, gen, rate::Rate};

/// What a `bench` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Generate frames on every port and queue.
    Tx,
    /// Count frames and check every flow's sequence.
    Rx,
    /// Send every bench frame back to its sender.
    Reflect,
}

/// `stripecat bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// tx: generate; rx: count and check sequences; reflect: send frames back.
    #[arg(value_enum)]
    pub mode: ModeArg,

    #[command(flatten)]
    pub dpdk: DpdkArgs,

    /// CPUs for the poll loops, e.g. 1 or 1-3: one loop per CPU, the
    /// (port, queue) pairs shared out among them [default: one loop on the
    /// main lcore, floating].
    #[arg(long, value_name = "LIST")]
    pub lcores: Option<String>,

    /// Queue pairs per port (each is a flow of its own).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub queues: u16,

    /// (tx) Frame size in bytes, FCS included (64..9018; jumbo frames need
    /// ports whose buffers hold them).
    #[arg(long, value_name = "BYTES", conflicts_with = "imix", value_parser = clap::value_parser!(u16).range(gen::MIN_FRAME as i64..=gen::MAX_FRAME as i64))]
    pub size: Option<u16>,

    /// (tx) Simple IMIX: 64, 594 and 1518-byte frames, 7:4:1.
    #[arg(long)]
    pub imix: bool,

    /// (tx) Rate per port: bits per second on the wire (10G, 500M: frame,
    /// FCS, preamble and gap) or packets per second (5Mpps) [default: as
    /// fast as the port takes them].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// Seconds to run [tx default: 10; rx and reflect: until 2 s without
    /// traffic after some came, or SIGINT].
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<f64>,

    /// (tx) Timestamp frames and measure the round trip through a
    /// `bench reflect` peer (HDR histogram: min, p50, p90, p99, p99.9, max).
    #[arg(long)]
    pub latency: bool,

    /// Write the final report as JSON here (schema in docs/BENCHMARKS.md).
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    s.parse()
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!("{s:?}: give 0 < SECS <= 86400"));
    }
    Ok(v)
}

impl BenchArgs {
    /// The plain plan `bench::run` takes.
    pub fn plan(&self) -> bench::Plan {
        bench::Plan {
            mode: match self.mode {
                ModeArg::Tx => bench::Mode::Tx,
                ModeArg::Rx => bench::Mode::Rx,
                ModeArg::Reflect => bench::Mode::Reflect,
            },
            ports: self.dpdk.ports.clone(),
            eal: self.dpdk.eal.clone(),
            lcores: self.lcores.clone(),
            queues: self.queues,
            size: self.size,
            imix: self.imix,
            rate: self.rate,
            duration: self.duration,
            latency: self.latency,
            stats_json: self.stats_json.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use crate::bench::{check, Mode};
    use crate::exit::ExitCode;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<bench::Plan, clap::Error> {
        let mut v = vec!["stripecat", "bench"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.command {
            Command::Bench(b) => b.plan(),
            _ => panic!("not bench"),
        })
    }

    #[test]
    fn options_parse() {
        let b = parse(&[
            "tx",
            "--port",
            "net_ring0",
            "--size",
            "1518",
            "--rate",
            "10G",
            "--duration",
            "2.5",
            "--latency",
            "--queues",
            "2",
        ])
        .unwrap();
        assert_eq!(
            (b.mode, b.size, b.rate, b.duration, b.latency, b.queues),
            (Mode::Tx, Some(1518), Some(Rate::BitsPerSec(10e9)), Some(2.5), true, 2)
        );
        assert!(check(&b).is_ok());
        let b = parse(&["rx", "--port", "net_ring0"]).unwrap();
        assert!(check(&b).is_ok());
        assert!(parse(&["tx", "--size", "63"]).is_err());
        assert!(parse(&["tx", "--size", "9019"]).is_err());
        assert!(parse(&["tx", "--size", "64", "--imix"]).is_err());
        assert!(parse(&["tx", "--rate", "fast"]).is_err());
        assert!(parse(&["tx", "--duration", "0"]).is_err());
        assert!(parse(&["sideways"]).is_err());
    }

    #[test]
    fn tx_options_on_the_receiving_side_are_usage_errors() {
        for extra in [&["--rate", "1G"][..], &["--latency"], &["--imix"], &["--size", "128"]] {
            let mut v = vec!["rx", "--port", "net_ring0"];
            v.extend_from_slice(extra);
            let e = check(&parse(&v).unwrap()).unwrap_err();
            assert_eq!(e.code, ExitCode::Usage, "{extra:?}");
        }
        let e = check(&parse(&["tx"]).unwrap()).unwrap_err();
        assert_eq!(e.code, ExitCode::Usage);
    }
}
