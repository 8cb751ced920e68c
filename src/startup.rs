//! Starting EAL for a command: pre-flight checks, EAL init with its log kept
//! out of the way, and a check that every `--port` came up. Shared by every
//! DPDK command so they fail the same way on the same mistakes.

use crate::dpdk::{Eal, EalOptions, PortId};
use crate::exit::Failure;
use crate::preflight::{self, Sysfs};
use crate::spec::PortSpec;

/// What a command asks of EAL.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// The `--port`s to probe, in order.
    pub ports: Vec<PortSpec>,
    /// The user's `--eal` string, unsplit.
    pub eal: Option<String>,
    /// `--lcores`: the CPUs for poll loops; `None`: EAL's default.
    pub lcores: Option<String>,
    /// 0: EAL's log kept out of the way; 1 and more: shown.
    pub verbose: u8,
    /// Probe the whole PCI bus when no `--port` is given.
    pub scan_pci_when_empty: bool,
}

/// A running EAL and the port id of each `--port`, in the order given.
pub struct Started {
    pub eal: Eal,
    pub ports: Vec<PortId>,
}

impl Startup {
    pub fn start(&self) -> Result<Started, Failure> {
        let extra = match &self.eal {
            Some(s) => shlex::split(s).ok_or_else(|| {
                Failure::new(crate::exit::ExitCode::Usage, format!("cannot split --eal {s:?} into arguments"))
                    .hint("check the quoting of --eal")
            })?,
            None => Vec::new(),
        };
        let no_huge = extra.iter().any(|a| a == "--no-huge");
        preflight::check_root()?;
        let sys = Sysfs::default();
        if !no_huge {
            preflight::check_hugepages(&sys)?;
        }
        let mut opts = EalOptions {
            lcores: self.lcores.clone(),
            extra,
            verbose: self.verbose,
            pci_scan: self.ports.is_empty() && self.scan_pci_when_empty,
            ..Default::default()
        };
        for p in &self.ports {
            match p {
                PortSpec::Pci { addr, .. } => {
                    preflight::check_pci_bound(&sys, addr)?;
                    opts.pci.push(p.eal_arg());
                }
                PortSpec::Vdev { .. } => opts.vdevs.push(p.eal_arg()),
            }
        }
        let eal = Eal::init(&opts).map_err(|e| explain_init_failure(&e.to_string()))?;
        let mut ids = Vec::with_capacity(self.ports.len());
        for p in &self.ports {
            match eal.port_by_name(p.port_name()) {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {
                    return Err(Failure::env(format!("port {} is given twice", p.port_name()))
                        .hint("give each member port once"))
                }
                None => {
                    let eal_said = crate::dpdk::recent_eal_errors();
                    let hint = if eal_said.as_deref().is_some_and(|l| l.contains("PACKET_FANOUT")) {
                        // DPDK 22.11's af_packet takes its fanout group id from the process
                        // id and the interface index: another af_packet process in this
                        // network namespace can hold the same id on another interface.
                        "another af_packet process in this network namespace holds the same fanout group \
                         (DPDK 22.11 picks it from the process id and the interface): run the command again"
                    } else {
                        "check the devargs (run with -v to see EAL's log)"
                    };
                    return Err(Failure::env(format!(
                        "port {p} did not come up{}",
                        eal_said.map(|l| format!(": {l}")).unwrap_or_default()
                    ))
                    .hint(hint));
                }
            }
        }
        Ok(Started { eal, ports: ids })
    }
}

/// Turns EAL's failure into one line with the hint that fits its cause.
fn explain_init_failure(text: &str) -> Failure {
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("hugepage")
        || lower.contains("cannot allocate memory")
        || lower.contains("cannot init memory")
    {
        "reserve hugepages with scripts/setup-hugepages.sh (as root), or free the ones other DPDK processes hold"
    } else if lower.contains("core list") || lower.contains("lcore") || lower.contains("coremask") {
        "check --lcores/--eal: name only cores this machine has (see nproc)"
    } else if lower.contains("parse device")
        || lower.contains("devargs")
        || lower.contains("vdev")
        || lower.contains("probe")
    {
        "check the --port devargs (net_ring0, net_memif0,role=server,socket=PATH, net_pcap0,iface=IF, ...) and run with -v to see EAL's log"
    } else if lower.contains("option") || lower.contains("command line") {
        "check the --eal string (EAL options are listed by `dpdk-testpmd -h`)"
    } else if lower.contains("permission") {
        "run as root"
    } else {
        "run with -v to see EAL's log"
    };
    Failure::env(format!("cannot start DPDK: {text}")).hint(hint)
}
