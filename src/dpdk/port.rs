//! Ethernet ports: configuration, queues, link, counters.

use std::cell::Cell;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dpdk_sys as sys;

use super::eal::{Eal, EalInner};
use super::error::{rte_errno_text, DpdkError};
use super::mbuf::Mbuf;
use super::mempool::Mempool;

// Offload and RSS bits are RTE_BIT64() macros, which bindgen cannot expand.
/// `RTE_ETH_TX_OFFLOAD_MULTI_SEGS`: the driver sends chained mbufs.
pub const TX_OFFLOAD_MULTI_SEGS: u64 = 1 << 15;
/// `RTE_ETH_TX_OFFLOAD_IPV4_CKSUM`.
pub const TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
/// `RTE_ETH_TX_OFFLOAD_UDP_CKSUM`.
pub const TX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
/// `RTE_ETH_RX_OFFLOAD_IPV4_CKSUM`.
pub const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
/// `RTE_ETH_RX_OFFLOAD_UDP_CKSUM`.
pub const RX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
/// `RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP`: spread by UDP flow.
const RSS_IPV4_UDP: u64 = (1 << 2) | (1 << 5);

/// A DPDK port id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl std::fmt::Display for PortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// `None`: leave the device's MTU alone.
    pub mtu: Option<u16>,
    pub promiscuous: bool,
    /// Ask for receive interrupts (`intr_conf.rxq`), so an idle poll loop can sleep
    /// until a frame arrives ([`IrqWaiter`]). A driver that refuses to configure or
    /// start with them is set up again without ([`Port::rx_interrupts`] says which).
    pub rx_interrupts: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            promiscuous: true,
            rx_interrupts: false,
        }
    }
}

/// What a device says about itself.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub max_rx_pktlen: u32,
    pub rx_offload_capa: u64,
    pub tx_offload_capa: u64,
    pub speed_capa: u32,
    /// NUMA socket, `None` when the device does not say.
    pub socket: Option<i32>,
}

/// Link state from `rte_eth_link_get_nowait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub up: bool,
    /// Mbit/s; 0 when unknown.
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// Basic counters from `rte_eth_stats_get`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

/// One extended counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xstat {
    pub name: String,
    pub value: u64,
}

fn port_err(port: u16, op: &'static str, rc: i32) -> DpdkError {
    DpdkError::Port { port, op, reason: rte_errno_text(rc) }
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: DPDK hands out NUL-terminated strings that outlive the call;
    // copied at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Device information for any valid port, configured or not.
pub fn device_info(id: PortId) -> Result<DeviceInfo, DpdkError> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid out-parameter; DPDK validates the id.
    let rc = unsafe { sys::rte_eth_dev_info_get(id.0, &mut info) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_dev_info_get", rc));
    }
    let mut name = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer is RTE_ETH_NAME_MAX_LEN long, as required.
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(id.0, name.as_mut_ptr()) };
    let name = if rc == 0 { cstr(name.as_ptr()) } else { String::new() };
    // SAFETY: plain getter on a valid id.
    let socket = unsafe { sys::rte_eth_dev_socket_id(id.0) };
    Ok(DeviceInfo {
        name,
        driver: cstr(info.driver_name),
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        min_mtu: info.min_mtu,
        max_mtu: info.max_mtu,
        max_rx_pktlen: info.max_rx_pktlen,
        rx_offload_capa: info.rx_offload_capa,
        tx_offload_capa: info.tx_offload_capa,
        speed_capa: info.speed_capa,
        socket: (socket >= 0).then_some(socket),
    })
}

/// Link state of any valid port.
pub fn link_status(id: PortId) -> Result<LinkStatus, DpdkError> {
    let mut link = sys::rte_eth_link::default();
    // SAFETY: valid out-parameter; non-blocking query.
    let rc = unsafe { sys::rte_eth_link_get_nowait(id.0, &mut link) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_link_get_nowait", rc));
    }
    Ok(LinkStatus {
        up: link.link_status() == sys::RTE_ETH_LINK_UP as u16,
        speed_mbps: if link.link_speed == sys::RTE_ETH_SPEED_NUM_UNKNOWN { 0 } else { link.link_speed },
        full_duplex: link.link_duplex() == sys::RTE_ETH_LINK_FULL_DUPLEX as u16,
    })
}

/// MAC address of any valid port.
pub fn mac_address(id: PortId) -> Result<[u8; 6], DpdkError> {
    let mut mac = sys::rte_ether_addr::default();
    // SAFETY: valid out-parameter.
    let rc = unsafe { sys::rte_eth_macaddr_get(id.0, &mut mac) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_macaddr_get", rc));
    }
    Ok(mac.addr_bytes)
}

/// Current MTU of any valid port.
pub fn mtu(id: PortId) -> Result<u16, DpdkError> {
    let mut mtu = 0u16;
    // SAFETY: valid out-parameter.
    let rc = unsafe { sys::rte_eth_dev_get_mtu(id.0, &mut mtu) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_dev_get_mtu", rc));
    }
    Ok(mtu)
}

/// A configured port. Control operations (start, stop, link, counters) are
/// thread-safe; each queue is handed out once as an [`RxQueue`]/[`TxQueue`]
/// so exactly one thread polls it.
pub struct Port {
    id: PortId,
    info: DeviceInfo,
    rx_taken: Vec<AtomicBool>,
    tx_taken: Vec<AtomicBool>,
    tx_offloads: u64,
    rx_offloads: u64,
    /// How it was set up, to set it up again without receive interrupts.
    cfg: PortConfig,
    /// Configured (and started) with receive interrupts.
    rx_intr: AtomicBool,
    /// Shared with every queue handle: the port is stopped and closed when
    /// the last of them goes, and keeps its receive pool alive until then.
    inner: Arc<PortInner>,
}

/// What must live exactly as long as the port is open.
struct PortInner {
    id: u16,
    /// The receive pool: the driver holds its mbufs and may touch the pool
    /// until the port is closed, so the pool is freed only after.
    pool: Mempool,
    eal: Arc<EalInner>,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: no Port or queue handle of this port is left (they all hold
        // this Arc); stopping a stopped port and closing are both safe.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
        Eal { inner: Arc::clone(&self.eal) }.forget_port(self.id);
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("id", &self.id).field("name", &self.info.name).finish()
    }
}

impl Port {
    /// Configures port `id` with `cfg`, receiving into `pool`. The port is
    /// left stopped; call [`Port::start`]. It is stopped and closed when the
    /// EAL is cleaned up.
    pub fn configure(eal: &Eal, id: PortId, cfg: &PortConfig, pool: &Mempool) -> Result<Port, DpdkError> {
        let info = device_info(id)?;
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(DpdkError::Unsupported {
                port: id.0,
                what: "at least one rx and one tx queue is needed".into(),
            });
        }
        if cfg.rx_queues > info.max_rx_queues || cfg.tx_queues > info.max_tx_queues {
            return Err(DpdkError::Unsupported {
                port: id.0,
                what: format!(
                    "{} rx / {} tx queues asked, driver {} allows {} / {}",
                    cfg.rx_queues, cfg.tx_queues, info.driver, info.max_rx_queues, info.max_tx_queues
                ),
            });
        }
        // Adopted first: EAL cleanup stops and closes it even if the set-up fails halfway.
        eal.adopt_port(id.0);
        let mut rx_intr = cfg.rx_interrupts;
        let (tx_offloads, rx_offloads) = match setup(id, cfg, &info, pool, rx_intr) {
            Ok(o) => o,
            // A driver that refuses receive interrupts still serves by polling.
            Err(_) if rx_intr => {
                rx_intr = false;
                setup(id, cfg, &info, pool, false)?
            }
            Err(e) => return Err(e),
        };
        Ok(Port {
            id,
            info,
            rx_taken: (0..cfg.rx_queues).map(|_| AtomicBool::new(false)).collect(),
            tx_taken: (0..cfg.tx_queues).map(|_| AtomicBool::new(false)).collect(),
            tx_offloads,
            rx_offloads,
            cfg: cfg.clone(),
            rx_intr: AtomicBool::new(rx_intr),
            inner: Arc::new(PortInner { id: id.0, pool: pool.clone(), eal: Arc::clone(&eal.inner) }),
        })
    }

    pub fn id(&self) -> PortId {
        self.id
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// UDP checksum offload: (offered, enabled). Offered when the device lists it for both
    /// transmit and receive (`RTE_ETH_TX_OFFLOAD_UDP_CKSUM`, `RTE_ETH_RX_OFFLOAD_UDP_CKSUM`);
    /// enabled when this port was configured with both. The virtual devices stripecat is
    /// tested on offer neither.
    pub fn udp_checksum_offload(&self) -> (bool, bool) {
        let offered = self.info.tx_offload_capa & TX_OFFLOAD_UDP_CKSUM != 0
            && self.info.rx_offload_capa & RX_OFFLOAD_UDP_CKSUM != 0;
        let enabled = self.tx_offloads & TX_OFFLOAD_UDP_CKSUM != 0 && self.rx_offloads & RX_OFFLOAD_UDP_CKSUM != 0;
        (offered, enabled)
    }

    /// Whether the port sends chained (multi-segment) mbufs.
    pub fn multi_seg_tx(&self) -> bool {
        self.tx_offloads & TX_OFFLOAD_MULTI_SEGS != 0
    }

    pub fn start(&self) -> Result<(), DpdkError> {
        // SAFETY: configured port with all queues set up.
        let mut rc = unsafe { sys::rte_eth_dev_start(self.id.0) };
        if rc != 0 && self.rx_intr.swap(false, Ordering::AcqRel) {
            // Some drivers configure receive interrupts but cannot start with them
            // (no interrupt vector per queue under this kernel driver): set the port
            // up again without and poll it.
            setup(self.id, &self.cfg, &self.info, &self.inner.pool, false)?;
            // SAFETY: as above; the port is stopped (its start failed) and set up again.
            rc = unsafe { sys::rte_eth_dev_start(self.id.0) };
        }
        if rc != 0 {
            return Err(port_err(self.id.0, "rte_eth_dev_start", rc));
        }
        Ok(())
    }

    /// Whether the port was set up and started with receive interrupts
    /// ([`IrqWaiter`] can wait on its queues).
    pub fn rx_interrupts(&self) -> bool {
        self.rx_intr.load(Ordering::Acquire)
    }

    pub fn stop(&self) -> Result<(), DpdkError> {
        // SAFETY: configured port; stopping a stopped port is harmless.
        let rc = unsafe { sys::rte_eth_dev_stop(self.id.0) };
        if rc != 0 {
            return Err(port_err(self.id.0, "rte_eth_dev_stop", rc));
        }
        Ok(())
    }

    /// Stops and closes the port now (e.g. so a pcap file is flushed)
    /// instead of at EAL cleanup.
    /// Fails (and leaves the port alone) while any queue handle is alive.
    /// (Dropping the port and its queues closes it too, silently.)
    pub fn close(self) -> Result<(), DpdkError> {
        if Arc::strong_count(&self.inner) > 1 {
            return Err(DpdkError::Unsupported {
                port: self.id.0,
                what: "cannot close a port while its queues are in use".into(),
            });
        }
        self.stop()?;
        let id = self.id.0;
        let inner = Arc::clone(&self.inner);
        drop(self);
        // SAFETY: the port is stopped and `inner` is the last handle, so
        // nothing can use the port after this close.
        let rc = unsafe { sys::rte_eth_dev_close(id) };
        let eal = Arc::clone(&inner.eal);
        // The close is done: PortInner's drop stops and closes again, which
        // DPDK treats as a no-op on a closed port id.
        drop(inner);
        Eal { inner: eal }.forget_port(id);
        if rc != 0 {
            return Err(port_err(id, "rte_eth_dev_close", rc));
        }
        Ok(())
    }

    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        link_status(self.id)
    }

    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        mac_address(self.id)
    }

    pub fn mtu(&self) -> Result<u16, DpdkError> {
        mtu(self.id)
    }

    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out-parameter.
        let rc = unsafe { sys::rte_eth_stats_get(self.id.0, &mut s) };
        if rc != 0 {
            return Err(port_err(self.id.0, "rte_eth_stats_get", rc));
        }
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        // SAFETY: configured port.
        let rc = unsafe { sys::rte_eth_stats_reset(self.id.0) };
        if rc != 0 {
            return Err(port_err(self.id.0, "rte_eth_stats_reset", rc));
        }
        Ok(())
    }

    /// Every extended counter the driver offers, by name.
    pub fn xstats(&self) -> Result<Vec<Xstat>, DpdkError> {
        // SAFETY: a NULL array with size 0 asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(self.id.0, std::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(port_err(self.id.0, "rte_eth_xstats_get_names", n));
        }
        let n = n as usize;
        let mut names = vec![sys::rte_eth_xstat_name { name: [0; 64] }; n];
        let mut values = vec![sys::rte_eth_xstat { id: 0, value: 0 }; n];
        // SAFETY: both arrays hold `n` elements.
        let got_names = unsafe { sys::rte_eth_xstats_get_names(self.id.0, names.as_mut_ptr(), n as u32) };
        // SAFETY: as above.
        let got_values = unsafe { sys::rte_eth_xstats_get(self.id.0, values.as_mut_ptr(), n as u32) };
        if got_names < 0 || got_values < 0 {
            return Err(port_err(self.id.0, "rte_eth_xstats_get", got_names.min(got_values)));
        }
        let k = (got_names as usize).min(got_values as usize).min(n);
        Ok(values[..k]
            .iter()
            .map(|v| Xstat {
                name: names.get(v.id as usize).map(|nm| cstr(nm.name.as_ptr())).unwrap_or_default(),
                value: v.value,
            })
            .collect())
    }

    /// Hands out receive queue `q`, once.
    pub fn rx_queue(&self, q: u16) -> Option<RxQueue> {
        let taken = self.rx_taken.get(q as usize)?;
        if taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(RxQueue { port: self.id.0, queue: q, _port: Arc::clone(&self.inner), _not_sync: PhantomData })
    }

    /// Hands out transmit queue `q`, once.
    pub fn tx_queue(&self, q: u16) -> Option<TxQueue> {
        let taken = self.tx_taken.get(q as usize)?;
        if taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(TxQueue { port: self.id.0, queue: q, _port: Arc::clone(&self.inner), _not_sync: PhantomData })
    }
}

/// Configures port `id` (stopped) as `cfg` says, receiving into `pool`, with receive
/// interrupts or not; returns the transmit and receive offloads switched on.
fn setup(
    id: PortId,
    cfg: &PortConfig,
    info: &DeviceInfo,
    pool: &Mempool,
    rx_intr: bool,
) -> Result<(u64, u64), DpdkError> {
    let mut conf = sys::rte_eth_conf::default();
    if cfg.rx_queues > 1 {
        let mut dev = sys::rte_eth_dev_info::default();
        // SAFETY: valid out-parameter (already validated above).
        unsafe { sys::rte_eth_dev_info_get(id.0, &mut dev) };
        let flow_rss = dev.flow_type_rss_offloads & RSS_IPV4_UDP;
        if flow_rss != 0 {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = flow_rss;
        }
    }
    let tx_offloads = info.tx_offload_capa & TX_OFFLOAD_MULTI_SEGS;
    conf.txmode.offloads = tx_offloads;
    // No receive offloads are requested (UDP checksum offload is not switched on yet:
    // `udp_checksum_offload` reports it offered but not enabled).
    let rx_offloads = conf.rxmode.offloads;
    if rx_intr {
        conf.intr_conf.set_rxq(1);
    }
    // SAFETY: `conf` is a valid, fully initialised configuration.
    let rc = unsafe { sys::rte_eth_dev_configure(id.0, cfg.rx_queues, cfg.tx_queues, &conf) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_dev_configure", rc));
    }
    let (mut rxd, mut txd) = (cfg.rx_desc, cfg.tx_desc);
    // SAFETY: valid out-parameters; DPDK clamps to the device's limits.
    let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id.0, &mut rxd, &mut txd) };
    if rc != 0 {
        return Err(port_err(id.0, "rte_eth_dev_adjust_nb_rx_tx_desc", rc));
    }
    let socket = info.socket.map(|s| s as u32).unwrap_or(sys::SOCKET_ID_ANY as u32);
    for q in 0..cfg.rx_queues {
        // SAFETY: configured port; NULL rx_conf means the driver default;
        // the pool outlives the port's use of it (the data plane stops
        // ports before dropping pools).
        let rc = unsafe { sys::rte_eth_rx_queue_setup(id.0, q, rxd, socket, std::ptr::null(), pool.as_ptr()) };
        if rc != 0 {
            return Err(port_err(id.0, "rte_eth_rx_queue_setup", rc));
        }
    }
    for q in 0..cfg.tx_queues {
        let mut dev = sys::rte_eth_dev_info::default();
        // SAFETY: valid out-parameter.
        unsafe { sys::rte_eth_dev_info_get(id.0, &mut dev) };
        let txconf = sys::rte_eth_txconf { offloads: tx_offloads, ..dev.default_txconf };
        // SAFETY: configured port; txconf is a valid configuration.
        let rc = unsafe { sys::rte_eth_tx_queue_setup(id.0, q, txd, socket, &txconf) };
        if rc != 0 {
            return Err(port_err(id.0, "rte_eth_tx_queue_setup", rc));
        }
    }
    if let Some(m) = cfg.mtu {
        if m < info.min_mtu || m > info.max_mtu {
            return Err(DpdkError::Unsupported {
                port: id.0,
                what: format!("MTU {m} is outside the device's range {}..={}", info.min_mtu, info.max_mtu),
            });
        }
        // SAFETY: configured, stopped port.
        let rc = unsafe { sys::rte_eth_dev_set_mtu(id.0, m) };
        if rc != 0 {
            return Err(port_err(id.0, "rte_eth_dev_set_mtu", rc));
        }
    }
    if cfg.promiscuous {
        // SAFETY: configured port. Drivers without promiscuous mode
        // (ENOTSUP) are fine: they deliver what is addressed to us.
        unsafe { sys::rte_eth_promiscuous_enable(id.0) };
    }
    Ok((tx_offloads, rx_offloads))
}

/// The one handle to a port's receive queue: `Send` (it moves to its lcore),
/// not `Sync` or `Clone` (DPDK queues are single-consumer).
pub struct RxQueue {
    port: u16,
    queue: u16,
    /// Keeps the port open (and its pool alive) while this handle exists.
    _port: Arc<PortInner>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The one handle to a port's transmit queue; see [`RxQueue`].
pub struct TxQueue {
    port: u16,
    queue: u16,
    /// Keeps the port open (and its pool alive) while this handle exists.
    _port: Arc<PortInner>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The largest burst one call moves.
pub const MAX_BURST: usize = 64;

impl RxQueue {
    pub fn port(&self) -> PortId {
        PortId(self.port)
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` packets (at most [`MAX_BURST`]), appending them
    /// to `out` as owned mbufs; returns how many arrived.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let max = max.min(MAX_BURST);
        out.reserve(max);
        let len = out.len();
        // SAFETY: `out` has room for `max` pointers past `len`; Mbuf is a
        // transparent non-null pointer; this handle is the queue's only
        // poller (not Sync, handed out once).
        let n = unsafe { sys::sc_eth_rx_burst(self.port, self.queue, out.as_mut_ptr().add(len).cast(), max as u16) }
            as usize;
        // SAFETY: the driver wrote `n` valid mbufs that we now own.
        unsafe { out.set_len(len + n) };
        n
    }
}

impl TxQueue {
    pub fn port(&self) -> PortId {
        PortId(self.port)
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Offers the packets in `pkts` to the driver, front first. Those it
    /// accepts are removed (the driver owns and frees them now); those it
    /// did not take stay in `pkts`, in order, still owned by the caller.
    /// Returns how many were sent.
    #[inline]
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let len = pkts.len();
        if len == 0 {
            return 0;
        }
        let offer = len.min(u16::MAX as usize) as u16;
        // SAFETY: `pkts` holds `len` owned mbufs; this handle is the queue's
        // only user (not Sync, handed out once).
        let sent = unsafe { sys::sc_eth_tx_burst(self.port, self.queue, pkts.as_mut_ptr().cast(), offer) } as usize;
        // SAFETY: the first `sent` now belong to the driver and must not be
        // dropped; move the rest to the front and shorten without dropping.
        unsafe {
            let p = pkts.as_mut_ptr();
            std::ptr::copy(p.add(sent), p, len - sent);
            pkts.set_len(len - sent);
        }
        sent
    }
}
