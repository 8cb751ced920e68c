//! The `stripecat` binary: parse, dispatch, map failures to exit codes.
#![forbid(unsafe_code)]

use clap::Parser;

use stripecat::cli::{Cli, Command};
use stripecat::exit::{ExitCode, Failure};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 2 && (args[1] == "--version" || args[1] == "-V") {
        // clap prints the build-time line; add the DPDK actually loaded.
        println!(
            "stripecat {} (DPDK loaded at run time: {})",
            stripecat::cli::LONG_VERSION,
            stripecat::dpdk::runtime_version()
        );
        std::process::exit(0);
    }
    let cli = Cli::parse();
    let result: Result<(), Failure> = match &cli.command {
        Command::Ports(args) => stripecat::cmd::ports::run(&args.plan(), cli.verbose),
        Command::Send(args) if args.end.kernel.active() => args.kernel_plan().and_then(|p| stripecat::kernel::send(&p)),
        Command::Recv(args) if args.end.kernel.active() => args.kernel_plan().and_then(|p| stripecat::kernel::recv(&p)),
        Command::Send(args) => args.dataplane_plan(cli.verbose).and_then(|p| stripecat::dataplane::send::run(&p)),
        Command::Recv(args) => args.dataplane_plan(cli.verbose).and_then(|p| stripecat::dataplane::recv::run(&p)),
        Command::Selftest(args) => stripecat::dataplane::selftest::run(&args.plan(cli.verbose)),
        Command::Bench(args) => stripecat::bench::run(&args.plan(), cli.verbose),
        Command::Keygen(args) => stripecat::key::keygen(&args.plan()),
        Command::Completions(args) => args.run(),
        Command::Man(args) => args.run(),
    };
    match result {
        Ok(()) => std::process::exit(ExitCode::Success as i32),
        Err(f) => {
            if !f.is_silent() {
                eprintln!("stripecat: error: {f}");
            }
            std::process::exit(f.code as i32);
        }
    }
}
