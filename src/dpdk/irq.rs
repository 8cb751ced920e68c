//! Receive interrupts for an idle poll loop, in the pattern of DPDK's l3fwd-power
//! example: a loop that has found nothing to do for a while arms its queues'
//! interrupts, polls once more (a frame may have come in before they were armed),
//! sleeps in its thread's epoll set until a frame arrives or a timeout passes, and
//! disarms them again. Only ports set up with receive interrupts
//! ([`super::PortConfig::rx_interrupts`], [`super::Port::rx_interrupts`]) take part,
//! and only drivers that have them (real NICs under vfio-pci, `net_tap`; not memif,
//! af_packet, pcap or ring in DPDK 22.11).

use std::marker::PhantomData;

use dpdk_sys as sys;

use super::port::{PortId, RxQueue};

/// Events taken from the epoll set per wait.
const EVENTS: usize = 8;

/// Receive queues registered in the calling thread's epoll set. Not `Send`: DPDK's
/// per-thread epoll set belongs to the thread that registered them.
pub struct IrqWaiter {
    queues: Vec<(u16, u16)>,
    armed: bool,
    _not_send: PhantomData<*const ()>,
}

impl IrqWaiter {
    /// Registers `queues` in this thread's epoll set; `None` when there are none or any
    /// of them cannot take part (its port has no receive interrupts), so the caller
    /// polls and sleeps as before.
    pub fn register<'a>(queues: impl IntoIterator<Item = &'a RxQueue>) -> Option<IrqWaiter> {
        let mut w = IrqWaiter { queues: Vec::new(), armed: false, _not_send: PhantomData };
        for q in queues {
            let (PortId(port), queue) = (q.port(), q.queue());
            // SAFETY: a started port's queue (the handle keeps the port open); the
            // per-thread epoll set is this thread's; a null user pointer is allowed.
            let rc = unsafe {
                sys::rte_eth_dev_rx_intr_ctl_q(
                    port,
                    queue,
                    sys::RTE_EPOLL_PER_THREAD,
                    sys::RTE_INTR_EVENT_ADD as i32,
                    std::ptr::null_mut(),
                )
            };
            if rc != 0 {
                // Drop unregisters what was registered so far.
                return None;
            }
            w.queues.push((port, queue));
        }
        (!w.queues.is_empty()).then_some(w)
    }

    /// Arms every queue's interrupt; the loop then polls once more before
    /// [`IrqWaiter::wait`]. False (and nothing armed) if a driver refused. A driver
    /// without the operation (tap: its queue's descriptor is the event, readable
    /// whenever a frame waits) counts as armed.
    pub fn arm(&mut self) -> bool {
        for (i, &(port, queue)) in self.queues.iter().enumerate() {
            // SAFETY: a registered queue of a started port.
            let rc = unsafe { sys::rte_eth_dev_rx_intr_enable(port, queue) };
            if rc != 0 && rc != -(sys::ENOTSUP as i32) {
                for &(p, q) in &self.queues[..i] {
                    // SAFETY: as above; armed just now.
                    unsafe { sys::rte_eth_dev_rx_intr_disable(p, q) };
                }
                return false;
            }
        }
        self.armed = true;
        true
    }

    /// Whether the queues are armed (between [`IrqWaiter::arm`] and
    /// [`IrqWaiter::disarm`]).
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// Back to polling: the queues' interrupts off.
    pub fn disarm(&mut self) {
        if !std::mem::take(&mut self.armed) {
            return;
        }
        for &(port, queue) in &self.queues {
            // SAFETY: a registered, armed queue of a started port.
            unsafe { sys::rte_eth_dev_rx_intr_disable(port, queue) };
        }
    }

    /// Sleeps until a frame arrives on an armed queue or `timeout_ms` passes: `Some(true)`
    /// when a frame's interrupt woke it, `Some(false)` on the timeout, `None` if the wait
    /// failed (the caller goes back to sleeping in steps rather than spin on a failing
    /// wait).
    pub fn wait(&mut self, timeout_ms: i32) -> Option<bool> {
        let mut events: [sys::rte_epoll_event; EVENTS] = Default::default();
        // SAFETY: `events` holds EVENTS entries; the per-thread epoll set is this
        // thread's (the queues were registered here). DPDK reads the interrupt's
        // counter where its handle type has one.
        let n =
            unsafe { sys::rte_epoll_wait(sys::RTE_EPOLL_PER_THREAD, events.as_mut_ptr(), EVENTS as i32, timeout_ms) };
        (n >= 0).then_some(n > 0)
    }
}

impl Drop for IrqWaiter {
    fn drop(&mut self) {
        self.disarm();
        for &(port, queue) in &self.queues {
            // SAFETY: registered by this thread (the waiter is not Send); the port is
            // still open (the lane's queue handles outlive its waiter).
            unsafe {
                sys::rte_eth_dev_rx_intr_ctl_q(
                    port,
                    queue,
                    sys::RTE_EPOLL_PER_THREAD,
                    sys::RTE_INTR_EVENT_DEL as i32,
                    std::ptr::null_mut(),
                )
            };
        }
    }
}
