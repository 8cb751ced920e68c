//! Ports made at run time: vdevs hot-plugged after init, and crossed pairs of
//! in-memory ring ports (what `selftest` runs over: no NIC, no kernel).

use std::ffi::CString;

use super::eal::Eal;
use super::error::{last_rte_errno, rte_errno_text, DpdkError};
use super::port::PortId;

impl Eal {
    /// Hot-plugs a virtual device from devargs (`net_pcap1,rx_pcap=f.pcap`)
    /// and returns its port.
    pub fn attach_vdev(&self, devargs: &str) -> Result<PortId, DpdkError> {
        let c = CString::new(devargs).map_err(|_| DpdkError::BadArgument(devargs.into()))?;
        // SAFETY: valid C string; EAL is initialised (we hold `&Eal`).
        let rc = unsafe { dpdk_sys::rte_dev_probe(c.as_ptr()) };
        if rc != 0 {
            return Err(DpdkError::NoSuchPort(format!(
                "{devargs}: {}{}",
                rte_errno_text(rc),
                super::recent_eal_errors().map(|e| format!(" ({e})")).unwrap_or_default()
            )));
        }
        let name = devargs.split(',').next().unwrap_or(devargs);
        self.port_by_name(name).ok_or_else(|| DpdkError::NoSuchPort(name.into()))
    }

    /// Creates two ring-backed ports, `NAME_a` and `NAME_b`, wired crosswise:
    /// what one transmits on queue q, the other receives on queue q. Each
    /// direction has `queues` rings of `ring_size` slots (a power of two).
    pub fn ring_port_pair(&self, name: &str, queues: u16, ring_size: u32) -> Result<(PortId, PortId), DpdkError> {
        let mut ab = Vec::new();
        let mut ba = Vec::new();
        for q in 0..queues {
            ab.push(make_ring(&format!("{name}_ab{q}"), ring_size)?);
            ba.push(make_ring(&format!("{name}_ba{q}"), ring_size)?);
        }
        let a = from_rings(&format!("{name}_a"), &ba, &ab)?;
        let b = from_rings(&format!("{name}_b"), &ab, &ba)?;
        Ok((a, b))
    }
}

fn make_ring(name: &str, size: u32) -> Result<*mut dpdk_sys::rte_ring, DpdkError> {
    let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
    // SAFETY: valid name; flags 0 = multi-producer/multi-consumer. The ring
    // lives as long as the port that uses it (the process, in practice).
    let r = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), size, dpdk_sys::SOCKET_ID_ANY, 0) };
    if r.is_null() {
        return Err(DpdkError::Unsupported {
            port: u16::MAX,
            what: format!("cannot create ring {name}: {}", last_rte_errno()),
        });
    }
    Ok(r)
}

fn from_rings(name: &str, rx: &[*mut dpdk_sys::rte_ring], tx: &[*mut dpdk_sys::rte_ring]) -> Result<PortId, DpdkError> {
    let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
    // SAFETY: the ring arrays hold valid rings and outlive the call (the
    // PMD copies the pointers); the name is a valid C string.
    let rc = unsafe {
        dpdk_sys::rte_eth_from_rings(c.as_ptr(), rx.as_ptr(), rx.len() as u32, tx.as_ptr(), tx.len() as u32, 0)
    };
    if rc < 0 {
        return Err(DpdkError::NoSuchPort(format!("{name}: {}", last_rte_errno())));
    }
    Ok(PortId(rc as u16))
}
