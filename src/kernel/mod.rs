//! Transports over kernel sockets, for hosts without DPDK NICs or root:
//! netcat-compatible TCP ([`tcp`], [`chat`]), multi-stream TCP ([`striped`]),
//! and the striping protocol over UDP ([`udp`]) or plain datagrams ([`raw`]).
//!
//! Each transport returns a typed [`KernelError`]; this module turns the
//! outcome into the shared summary, `--stats-json` and a one-line
//! [`Failure`] with the documented exit code (see docs/KERNEL.md).

pub mod addr;
pub mod chat;
pub mod error;
pub mod io;
pub mod options;
pub mod raw;
pub mod sparse;
pub mod striped;
pub mod sys;
pub mod tcp;
pub mod udp;

use crate::stats_lines::StatsLines;
use std::path::Path;
use std::time::Instant;

use stripecat_proto::wire::DigestAlgorithm;

pub use error::KernelError;
pub use options::{Options, Plan};

use self::addr::{Endpoint, SocketOptions};
use self::io::End;
use self::striped::Role;
use crate::exit::{ExitCode, Failure};
use crate::report::{Progress, ReportPlan, Summary};

/// Which kernel transport the options select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcp,
    Chat,
    Striped,
    Udp,
    Raw,
}

/// Checks the combination of options and picks the mode and endpoint.
fn choose_mode(k: &Options, file: Option<&Path>) -> Result<(Mode, Endpoint), KernelError> {
    let usage = |m: &str| Err(KernelError::Usage(m.to_string()));
    let (flag, value) = match (&k.tcp, &k.udp) {
        (Some(v), None) => ("--tcp", v.as_str()),
        (None, Some(v)) => ("--udp", v.as_str()),
        _ => return usage("give exactly one of --tcp and --udp"),
    };
    let tcp = flag == "--tcp";
    if tcp && (k.paths.is_some() || !k.bind.is_empty() || k.raw || k.impair.is_some()) {
        return usage("--paths, --bind, --raw and --impair belong to --udp");
    }
    if !tcp && (k.streams > 1 || k.chat || k.nodelay) {
        return usage("--streams, --chat and --nodelay belong to --tcp");
    }
    if k.chat && k.streams > 1 {
        return usage("--chat works on one stream; drop --streams");
    }
    if k.chat && file.is_some_and(|f| f.as_os_str() != "-") {
        return usage("--chat uses stdin and stdout; drop FILE");
    }
    if let (Some(n), false) = (k.paths, k.bind.is_empty()) {
        if n as usize != k.bind.len() {
            return usage("--paths and the number of --bind addresses disagree; give one or the other");
        }
    }
    if k.raw && (k.paths.is_some_and(|n| n > 1) || k.bind.len() > 1) {
        return usage("--raw sends plain datagrams on one socket; drop --paths/--bind");
    }
    let mode = match (tcp, k.chat, k.streams > 1, k.raw) {
        (true, true, _, _) => Mode::Chat,
        (true, _, true, _) => Mode::Striped,
        (true, ..) => Mode::Tcp,
        (false, _, _, true) => Mode::Raw,
        (false, ..) => Mode::Udp,
    };
    Ok((mode, addr::endpoint(flag, value, k.listen.as_deref())?))
}

fn socket_options(k: &Options) -> SocketOptions {
    SocketOptions { window: k.window.map(|w| w as usize), nodelay: k.nodelay }
}

/// What a transport hands back for the summary.
#[derive(Debug, Default)]
pub struct Report {
    pub bytes: u64,
    pub digest: Option<(String, String)>,
    pub verified: Option<bool>,
    pub resends: u64,
    pub drops: std::collections::BTreeMap<String, u64>,
    pub paths: Vec<crate::report::PathReport>,
    /// The session was keyed (authenticated and encrypted).
    pub authenticated: bool,
    /// The transfer's own duration when it differs from "since the peer
    /// arrived until now" (a UDP receiver lingers after the end).
    pub elapsed: Option<std::time::Duration>,
    /// What held the transfer back (the striping protocol's transports).
    pub limited_by: Option<crate::limits::LimitReport>,
    /// `--resume`: the stream offset the session started at (the receiver held that).
    pub resumed_from: Option<u64>,
    /// `send --resume` against a receiver that does not resume.
    pub resume_declined: bool,
}

/// A transport's result: its report, or the error with whatever report it
/// had gathered (boxed: the pair is large and the error path is cold).
pub type Attempt = Result<Report, Box<(KernelError, Report)>>;

/// Prints the summary (unless `--quiet`), writes `--stats-json`, and maps the
/// result to the process outcome. A failed transfer still gets its report.
fn conclude(
    role: &str,
    mode: Mode,
    keyed: bool,
    report_args: &ReportPlan,
    progress: &mut Progress,
    started: Instant,
    result: Attempt,
) -> Result<(), Failure> {
    progress.finish();
    let (rep, err) = match result {
        Ok(r) => (r, None),
        Err(b) => {
            let (e, r) = *b;
            (r, Some(e))
        }
    };
    let elapsed = rep.elapsed.unwrap_or_else(|| started.elapsed());
    let transport = match mode {
        Mode::Tcp | Mode::Chat | Mode::Striped => "tcp",
        Mode::Udp | Mode::Raw => "udp",
    };
    let mut summary = Summary {
        role: role.to_string(),
        transport: transport.to_string(),
        bytes: rep.bytes,
        resends: rep.resends,
        drops: rep.drops,
        verified: rep.verified,
        paths: rep.paths,
        error: err.as_ref().map(|e| e.to_string()),
        authenticated: keyed,
        limited_by: rep.limited_by,
        resumed_from: rep.resumed_from,
        resume_declined: rep.resume_declined,
        ..Default::default()
    }
    .timed(elapsed);
    if let Some((alg, v)) = rep.digest {
        summary.digest = Some(alg);
        summary.digest_value = Some(v);
    }
    if !report_args.quiet && err.is_none() {
        eprintln!("{}", summary.paragraph());
    }
    summary.write_report(report_args)?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn digest_choice(d: DigestAlgorithm) -> Option<DigestAlgorithm> {
    Some(d).filter(|a| *a != DigestAlgorithm::None)
}

fn bare(e: KernelError) -> Box<(KernelError, Report)> {
    Box::new((e, Report::default()))
}

/// One TCP connection (`--tcp`, `--chat`): connects or accepts, starts the clock once the
/// peer is there, and reports the bytes `transfer` moved over it.
fn over_one_stream(
    ep: &Endpoint,
    opts: &SocketOptions,
    started: &mut Instant,
    transfer: impl FnOnce(std::net::TcpStream) -> Result<u64, KernelError>,
) -> Attempt {
    let s = tcp::establish(ep, opts).map_err(bare)?;
    *started = Instant::now();
    let bytes = transfer(s).map_err(bare)?;
    Ok(Report { bytes, ..Default::default() })
}

/// `stripecat send --tcp|--udp ...`.
pub fn send(a: &Plan) -> Result<(), Failure> {
    let k = &a.options;
    let (mode, ep) = choose_mode(k, a.file.as_deref())?;
    let alg = digest_choice(a.digest);
    if mode == Mode::Striped && alg.is_some_and(|a| a != DigestAlgorithm::Xxh3_128) {
        return Err(KernelError::Usage("--streams carries --digest xxh3 or none".into()).into());
    }
    let key = keyed_mode(mode, a.key.clone())?;
    let keyed = key.is_some();
    let lines = live_lines(mode, &a.report, "send")?;
    resume_mode(mode, a.resume)?;
    let opts = socket_options(k);
    let block = k.block();
    // Open the local end first: a missing file should not cost the peer a connection.
    let mut input = if mode == Mode::Chat { None } else { Some(End::input(a.file.as_deref())?) };
    let mut progress =
        Progress::new(input.as_ref().and_then(End::size), a.report.quiet).with_rate_cap(a.rate_limit).with_lines(lines);
    // The clock starts when the peer is there, not while we wait for it.
    let mut started = Instant::now();
    let result: Attempt = match (mode, input.as_mut()) {
        (Mode::Chat, _) => over_one_stream(&ep, &opts, &mut started, |s| Ok(chat::run(s)?.sent)),
        (Mode::Tcp, Some(input)) => {
            over_one_stream(&ep, &opts, &mut started, |mut s| tcp::send(&mut s, input, block, &mut progress))
        }
        (Mode::Striped, Some(input)) => (|| {
            let socks = striped::establish(&ep, &opts, k.streams, Role::Send)?;
            let keys = striped::key_handshake(&socks, Role::Send, key.as_ref())?;
            started = Instant::now();
            striped::send(&socks, input, block, alg, keys.as_ref(), &mut progress).map(striped_report)
        })()
        .map_err(bare),
        (Mode::Udp, Some(input)) => udp::send(
            k,
            &ep,
            &opts,
            input,
            udp::SessionChoice {
                digest: alg,
                congestion: a.congestion,
                rate_limit: a.rate_limit,
                key,
                sparse: a.sparse,
                resume: a.resume,
            },
            &mut progress,
            &mut started,
        ),
        (Mode::Raw, Some(input)) => raw::send(&ep, &opts, input, block, k.impair, &mut progress, &mut started)
            .map(|bytes| Report { bytes, ..Default::default() })
            .map_err(bare),
        (_, None) => Err(bare(KernelError::Usage("no input".into()))),
    };
    conclude("send", mode, keyed, &a.report, &mut progress, started, result)
}

/// `stripecat recv --tcp|--udp ...`.
pub fn recv(a: &Plan) -> Result<(), Failure> {
    let k = &a.options;
    let (mode, ep) = choose_mode(k, a.file.as_deref())?;
    let key = keyed_mode(mode, a.key.clone())?;
    let keyed = key.is_some();
    let lines = live_lines(mode, &a.report, "recv")?;
    resume_mode(mode, a.resume)?;
    listen_timeout_mode(mode, &ep, a.listen_timeout)?;
    let opts = socket_options(k);
    let block = k.block();
    // `--resume`: what FILE holds is hashed now, before anything listens.
    let held = if a.resume { Some(crate::resume::hash_output(a.file.as_deref())?) } else { None };
    // A keyed receiver opens (creates, truncates) its output only for a session that
    // authenticated: `udp::recv` does it then; a resuming one, without truncating.
    let mut output =
        if mode == Mode::Chat || keyed || held.is_some() { None } else { Some(End::output(a.file.as_deref())?) };
    let mut progress = Progress::new(None, a.report.quiet).with_lines(lines);
    let mut started = Instant::now();
    let result: Attempt = match (mode, output.as_mut()) {
        (Mode::Chat, _) => over_one_stream(&ep, &opts, &mut started, |s| Ok(chat::run(s)?.received)),
        (Mode::Tcp, Some(output)) => {
            over_one_stream(&ep, &opts, &mut started, |mut s| tcp::recv(&mut s, output, block, &mut progress))
        }
        (Mode::Striped, output) => (|| {
            let (socks, keys) = match ep {
                Endpoint::Listen(at) => striped::accept_session(at, &opts, key.as_ref(), a.listen_timeout)?,
                Endpoint::Connect { .. } => {
                    let socks = striped::establish(&ep, &opts, k.streams, Role::Recv)?;
                    let keys = striped::key_handshake(&socks, Role::Recv, key.as_ref())?;
                    (socks, keys)
                }
            };
            // Keyed: the output is created only now, after the sender authenticated.
            let mut opened;
            let output = match output {
                Some(o) => o,
                None => {
                    opened = End::output(a.file.as_deref())?;
                    &mut opened
                }
            };
            started = Instant::now();
            let window = striped::reorder_window(socks.len(), block);
            striped::recv(&socks, output, window, keys.as_ref(), &mut progress).map(striped_report)
        })()
        .map_err(bare),
        (Mode::Udp, _) if keyed || held.is_some() => {
            let mut lazy = match (&held, a.file.as_deref()) {
                (Some(p), Some(f)) => io::LazyOutput::resuming(f, p.len()),
                _ => io::LazyOutput::new(a.file.as_deref()),
            };
            let choice = udp::RecvChoice { key, sparse: a.sparse, resume: held, listen_timeout: a.listen_timeout };
            udp::recv(k, &ep, &opts, &mut lazy, choice, &mut progress, &mut started)
        }
        (Mode::Udp, Some(output)) => {
            let mut ready = io::LazyOutput::ready(output);
            udp::recv(
                k,
                &ep,
                &opts,
                &mut ready,
                udp::RecvChoice { key: None, sparse: a.sparse, resume: None, listen_timeout: a.listen_timeout },
                &mut progress,
                &mut started,
            )
        }
        (Mode::Raw, Some(output)) => raw::recv(&ep, &opts, output, &mut progress, &mut started)
            .map(|bytes| Report { bytes, ..Default::default() })
            .map_err(bare),
        (_, None) => Err(bare(KernelError::Usage("no output".into()))),
    };
    conclude("recv", mode, keyed, &a.report, &mut progress, started, result)
}

/// `--stats-interval` lines come from the striping protocol's loop: `--udp` here
/// (and DPDK); the TCP modes and `--raw` have no such figures to give.
fn live_lines(mode: Mode, plan: &ReportPlan, role: &'static str) -> Result<Option<StatsLines>, Failure> {
    if plan.stats_interval.is_some() && mode != Mode::Udp {
        return Err(Failure::new(ExitCode::Usage, "--stats-interval works over --udp and DPDK, not over TCP or --raw")
            .hint("use --udp, or leave --stats-interval out for the final --stats-json report"));
    }
    StatsLines::open(plan, role)
}

/// `--resume` needs the striping protocol's handshake: `--udp` here (and DPDK).
fn resume_mode(mode: Mode, resume: bool) -> Result<(), Failure> {
    if resume && mode != Mode::Udp {
        return Err(Failure::new(ExitCode::Usage, "--resume works over --udp and DPDK, not over TCP or --raw")
            .hint("use --udp (both ends), or send the whole stream again without --resume"));
    }
    Ok(())
}

/// `--listen-timeout` bounds the wait for a striping session (`--udp`, `--tcp --streams`);
/// one plain `--tcp` stream, `--raw` and `--chat` wait as nc does.
fn listen_timeout_mode(mode: Mode, ep: &Endpoint, within: Option<std::time::Duration>) -> Result<(), Failure> {
    if within.is_some() && !matches!(mode, Mode::Udp | Mode::Striped) {
        return Err(Failure::new(ExitCode::Usage, "--listen-timeout works over --udp, --tcp --streams N and DPDK")
            .hint("bound a plain --tcp, --raw or --chat receiver with timeout(1) instead"));
    }
    if within.is_some() && matches!(ep, Endpoint::Connect { .. }) {
        return Err(Failure::new(ExitCode::Usage, "--listen-timeout bounds a receiver that listens")
            .hint("give recv --listen [ADDR:]PORT, or drop --listen-timeout"));
    }
    Ok(())
}

/// A key works with the striping protocol (`--udp`) and striped TCP (`--streams N`); the
/// other TCP modes would carry the bytes in the clear, so a key there is refused.
fn keyed_mode(mode: Mode, key: Option<stripecat_proto::Psk>) -> Result<Option<stripecat_proto::Psk>, Failure> {
    if key.is_some() && !matches!(mode, Mode::Udp | Mode::Striped) {
        return Err(Failure::new(
            ExitCode::Usage,
            "a key (--key-file, --key-fd, STRIPECAT_KEY) works over --udp, --tcp --streams N and DPDK; one --tcp stream, --raw and --chat are unencrypted",
        )
        .hint("use --udp or --streams 2 or more, or leave the key out for netcat-compatible bytes"));
    }
    Ok(key)
}

fn striped_report(o: striped::Outcome) -> Report {
    Report {
        bytes: o.bytes,
        digest: o.digest.map(|(a, d)| striped::digest_text(a, &d)),
        verified: o.verified,
        ..Default::default()
    }
}
