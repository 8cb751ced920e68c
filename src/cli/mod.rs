//! The command line: every clap type lives here, and each command's options
//! become the plain plan its library module takes (`dataplane::send::SendPlan`,
//! `kernel::Plan`, `bench::Plan`, ...), so no library code sees clap. Option
//! names shared by every DPDK command (`--port`, `--eal`, `-v`) are a contract;
//! keep them.
//!
//! - `dpdk.rs` holds the member ports and EAL, the data plane options, `ports`, `selftest`;
//! - `transfer.rs` holds `send` and `recv`, with the shared report, digest and fault options;
//! - `kernel.rs` holds the `--tcp` / `--udp` options;
//! - `bench.rs` holds `bench`;
//! - `key.rs` holds `keygen` and the key options of `send` and `recv`;
//! - `completions.rs` and `man.rs` hold `completions` and `man`, which turn these very
//!   definitions into shell completion scripts and manual pages for installing.

mod bench;
mod completions;
mod dpdk;
mod kernel;
mod key;
mod man;
mod transfer;

use clap::{Parser, Subcommand};

pub use self::bench::BenchArgs;
pub use self::completions::CompletionsArgs;
pub use self::dpdk::{DataPlaneArgs, DpdkArgs, PacketCheckArg, PortsArgs, SelftestArgs, DEFAULT_UDP_PORT};
pub use self::kernel::KernelArgs;
pub use self::key::{KeyArgs, KeygenArgs};
pub use self::man::ManArgs;
pub use self::transfer::{DigestArg, EndArgs, FaultArgs, RecvArgs, ReportArgs, SendArgs};

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
    long_about = "A kernel-bypass (DPDK) netcat: it moves one byte stream (a disk image, a database \
                  dump, `tar c .`) from one host to another by striping packets across every member \
                  NIC, with per-path loss detection and congestion control, reordering across paths, \
                  flow control and an end-to-end digest checked before it says done. Without DPDK it \
                  speaks TCP (netcat-compatible, or striped over several connections) and runs its \
                  protocol over kernel UDP.",
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
    Bench(BenchArgs),
    /// Make a pre-shared key for --key-file: 32 random bytes as hex, to FILE (mode 0600) or stdout.
    Keygen(KeygenArgs),
    /// Print the shell completion script for bash, zsh or fish to stdout.
    Completions(CompletionsArgs),
    /// Write the manual pages: stripecat(1) to stdout, or one page per command into DIR.
    Man(ManArgs),
}

/// Writes generated text to stdout: a reader that stopped early (`| head`) is no
/// error, any other failure is one line with exit 1.
fn write_stdout(bytes: &[u8], what: &str) -> Result<(), crate::exit::Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::exit::Failure::new(crate::exit::ExitCode::Other, format!("cannot write {what}: {e}"))
                .hint("check where stdout goes (a full disk?)"))
        }
        _ => Ok(()),
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
        assert!(!a.end.kernel.active());
        let c = Cli::try_parse_from(["stripecat", "send", "--tcp", "127.0.0.1:9000", "in.bin"]).unwrap();
        let Command::Send(a) = c.command else { panic!() };
        assert_eq!(a.end.kernel.tcp.as_deref(), Some("127.0.0.1:9000"));
        let c = Cli::try_parse_from(["stripecat", "recv", "--tcp", "--listen", "9000", "out.bin"]).unwrap();
        let Command::Recv(a) = c.command else { panic!() };
        assert_eq!(a.end.kernel.tcp.as_deref(), Some(""));
        assert_eq!(a.end.kernel.listen.as_deref(), Some("9000"));
        assert!(Cli::try_parse_from(["stripecat", "send", "--tcp", "h:1", "--udp", "h:2"]).is_err());
    }
}
