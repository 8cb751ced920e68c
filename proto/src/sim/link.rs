//! One direction of one simulated member link: a rate-limited FIFO with a tail-drop
//! queue, propagation delay, jitter, and seeded faults.

use crate::sim::rng::Rng;
use crate::time::{Duration, Instant};

/// Gilbert-Elliott burst loss: a two-state chain, lossy in the bad state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Per packet, probability of moving from good to bad.
    pub enter_bad: f64,
    /// Per packet, probability of moving from bad back to good.
    pub leave_bad: f64,
    /// Loss probability while bad.
    pub loss_in_bad: f64,
}

/// Everything about one link direction.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck rate, bits per second of stripecat datagrams.
    pub bandwidth_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra random delay in `[0, jitter]` that keeps FIFO order.
    pub jitter: Duration,
    /// Tail-drop limit of the queue in front of the link, bytes (checked before enqueue).
    pub queue_bytes: u64,
    /// Independent random loss probability.
    pub loss: f64,
    /// Burst loss model, if any.
    pub burst: Option<GilbertElliott>,
    /// Probability a packet is held back by `reorder_delay` (overtaken by later ones).
    pub reorder: f64,
    /// Hold-back for reordered packets.
    pub reorder_delay: Duration,
    /// Probability a packet arrives twice.
    pub duplicate: f64,
    /// Probability a packet has one random bit flipped.
    pub corrupt: f64,
    /// Intervals `[from, to)` during which the link is down (everything sent or
    /// arriving then is lost).
    pub outages: Vec<(Instant, Instant)>,
    /// Largest datagram the link carries (a switch port without jumbo frames); larger
    /// ones are dropped. `None`: any size.
    pub max_datagram: Option<usize>,
}

impl LinkConfig {
    /// A clean link: `mbps` megabits per second, `delay` one way, queue of `queue_ms`
    /// milliseconds at line rate.
    pub fn clean(mbps: u64, delay: Duration, queue_ms: u64) -> Self {
        let bandwidth_bps = mbps * 1_000_000;
        LinkConfig {
            bandwidth_bps,
            delay,
            jitter: Duration::ZERO,
            queue_bytes: bandwidth_bps / 8 * queue_ms / 1000,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            outages: Vec::new(),
            max_datagram: None,
        }
    }

    /// Whether the link is up at `t`.
    pub fn is_up(&self, t: Instant) -> bool {
        !self.outages.iter().any(|&(a, b)| a <= t && t < b)
    }
}

/// What happened on a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams offered.
    pub offered: u64,
    /// Bytes offered.
    pub offered_bytes: u64,
    /// Dropped by the full queue.
    pub queue_drops: u64,
    /// Dropped by random or burst loss.
    pub lost: u64,
    /// Dropped because the link was down.
    pub down_drops: u64,
    /// Bit-flipped.
    pub corrupted: u64,
    /// Duplicated.
    pub duplicated: u64,
    /// Held back (reordered).
    pub reordered: u64,
}

/// One link direction's state.
#[derive(Debug, Clone)]
pub struct Link {
    /// Its configuration (may be changed mid-run by a test script).
    pub config: LinkConfig,
    busy_until_ns: u128,
    last_arrival: Instant,
    bad: bool,
    drop_next: u32,
    /// Counters.
    pub stats: LinkStats,
}

impl Link {
    /// A link in its initial state.
    pub fn new(config: LinkConfig) -> Self {
        Link {
            config,
            busy_until_ns: 0,
            last_arrival: Instant::ZERO,
            bad: false,
            drop_next: 0,
            stats: LinkStats::default(),
        }
    }

    /// Drops the next `n` datagrams offered (test scripts).
    pub fn drop_next(&mut self, n: u32) {
        self.drop_next += n;
    }

    /// Offers a datagram at `now`; returns the arrival times of the copies that make it
    /// (zero, one, or two when duplicated), with the bytes possibly corrupted.
    pub fn send(&mut self, now: Instant, mut bytes: Vec<u8>, rng: &mut Rng) -> Vec<(Instant, Vec<u8>)> {
        let c = &self.config;
        self.stats.offered += 1;
        self.stats.offered_bytes += bytes.len() as u64;
        if !c.is_up(now) {
            self.stats.down_drops += 1;
            return Vec::new();
        }
        if c.max_datagram.is_some_and(|m| bytes.len() > m) {
            self.stats.lost += 1;
            return Vec::new();
        }
        if self.drop_next > 0 {
            self.drop_next -= 1;
            self.stats.lost += 1;
            return Vec::new();
        }
        let now_ns = now.total_micros() as u128 * 1000;
        let start = self.busy_until_ns.max(now_ns);
        let backlog_bytes = (start - now_ns) * c.bandwidth_bps as u128 / 8 / 1_000_000_000;
        // Byte-limited tail drop, checked before enqueue: a packet enters while the
        // backlog is below the limit (so a queue smaller than one packet still passes one).
        if backlog_bytes >= c.queue_bytes as u128 && backlog_bytes > 0 {
            self.stats.queue_drops += 1;
            return Vec::new();
        }
        let tx_ns = bytes.len() as u128 * 8 * 1_000_000_000 / c.bandwidth_bps.max(1) as u128;
        self.busy_until_ns = start + tx_ns;
        // Loss happens on the wire, after the packet used its share of the link.
        if let Some(ge) = c.burst {
            self.bad = if self.bad { !rng.chance(ge.leave_bad) } else { rng.chance(ge.enter_bad) };
            if self.bad && rng.chance(ge.loss_in_bad) {
                self.stats.lost += 1;
                return Vec::new();
            }
        }
        if rng.chance(c.loss) {
            self.stats.lost += 1;
            return Vec::new();
        }
        let done = Instant::from_micros(self.busy_until_ns.div_ceil(1000) as u64);
        let jitter = Duration::from_micros(rng.below(c.jitter.total_micros() + 1));
        let mut arrival = (done + c.delay + jitter).max(self.last_arrival);
        if rng.chance(c.reorder) {
            self.stats.reordered += 1;
            arrival += c.reorder_delay;
        } else {
            self.last_arrival = arrival;
        }
        if rng.chance(c.corrupt) && !bytes.is_empty() {
            self.stats.corrupted += 1;
            let bit = rng.below(bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        if rng.chance(c.duplicate) {
            self.stats.duplicated += 1;
            let extra = Duration::from_micros(1 + rng.below(50));
            return vec![(arrival, bytes.clone()), (arrival + extra, bytes)];
        }
        vec![(arrival, bytes)]
    }

    /// Line rate in bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.config.bandwidth_bps as f64 / 8.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_queue_and_outage() {
        let mut rng = Rng::new(1);
        // 8 Mbit/s = 1 byte per µs, 1 ms delay, queue of 2 ms = 2000 bytes.
        let mut l = Link::new(LinkConfig::clean(8, Duration::from_millis(1), 2));
        let t = Instant::from_millis(10);
        let a = l.send(t, vec![0; 1000], &mut rng);
        assert_eq!(a[0].0, t + Duration::from_micros(2000));
        let b = l.send(t, vec![0; 1000], &mut rng);
        assert_eq!(b[0].0, t + Duration::from_micros(3000), "waits behind the first");
        assert!(l.send(t, vec![0; 1000], &mut rng).is_empty(), "queue full: 2000 bytes backlog");
        assert_eq!(l.stats.queue_drops, 1);
        l.config.outages.push((Instant::from_millis(20), Instant::from_millis(30)));
        assert!(l.send(Instant::from_millis(25), vec![0; 10], &mut rng).is_empty());
        assert_eq!(l.stats.down_drops, 1);
        assert_eq!(l.send(Instant::from_millis(30), vec![0; 10], &mut rng).len(), 1);
    }
}
