//! What held a transfer back, and for how much of the time: the bottleneck
//! verdict of the summary and `--stats-json` (`limited_by`).
//!
//! Each end's poll loop already knows, every iteration, whether it waited and
//! on what: the sender's reader had nothing queued (the input), the protocol
//! refused data for want of the receiver's credit (the peer), data waited but
//! no window would take it (the network), or the loop always had work (the
//! CPU); the receiver's writer queue was full (the output) or nothing arrived
//! (the peer). The loop tells a [`LimitMeter`] the state it is in; the time
//! until the next observation is counted to that state. Nothing is sampled or
//! guessed beyond that.

use serde::Serialize;

/// What one end was waiting on at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The sender's reader waited on its source (nothing queued to send).
    Input,
    /// The receiver's writer waited on its sink (its queue was full).
    Output,
    /// The other end: for the sender, the receiver's flow-control credit was
    /// used up; for the receiver, nothing arrived.
    Peer,
    /// Data waited, but no path's congestion window or pacer would take it.
    Network,
    /// The loop had work every time it looked: it ran as fast as the CPU let it.
    Cpu,
}

impl Limit {
    const ALL: [Limit; 5] = [Limit::Input, Limit::Output, Limit::Peer, Limit::Network, Limit::Cpu];

    /// The name in `--stats-json`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Input => "input",
            Limit::Output => "output",
            Limit::Peer => "peer",
            Limit::Network => "network",
            Limit::Cpu => "cpu",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Time spent in each [`Limit`] state, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitTimes([u64; 5]);

impl LimitTimes {
    fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The times accumulated since `earlier` (an interval's share).
    pub fn since(&self, earlier: &LimitTimes) -> LimitTimes {
        let mut d = LimitTimes::default();
        for i in 0..5 {
            d.0[i] = self.0[i].saturating_sub(earlier.0[i]);
        }
        d
    }

    /// Each state's share of the time observed, 0..=1, by name.
    pub fn shares(&self) -> Shares {
        let total = self.total().max(1) as f64;
        let s = |l: Limit| self.0[l.index()] as f64 / total;
        Shares {
            input: s(Limit::Input),
            output: s(Limit::Output),
            peer: s(Limit::Peer),
            network: s(Limit::Network),
            cpu: s(Limit::Cpu),
        }
    }

    /// The state that took the most time, with its share (None before any time).
    pub fn dominant(&self) -> Option<(Limit, f64)> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let l = Limit::ALL.into_iter().max_by_key(|l| self.0[l.index()])?;
        Some((l, self.0[l.index()] as f64 / total as f64))
    }
}

/// Shares of the time, for `--stats-json`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Shares {
    pub input: f64,
    pub output: f64,
    pub peer: f64,
    pub network: f64,
    pub cpu: f64,
}

/// Counts the time a loop spends in each state.
#[derive(Debug, Clone, Default)]
pub struct LimitMeter {
    last: Option<(u64, Limit)>,
    times: LimitTimes,
}

impl LimitMeter {
    /// The loop is in `state` from `now_us` on; the time since the previous
    /// observation goes to the previous state.
    #[inline]
    pub fn observe(&mut self, now_us: u64, state: Limit) {
        if let Some((t, s)) = self.last {
            self.times.0[s.index()] += now_us.saturating_sub(t);
        }
        self.last = Some((now_us, state));
    }

    /// [`observe`](Self::observe) while `on` (the transfer phase runs).
    #[inline]
    pub fn note(&mut self, on: bool, now_us: u64, state: Limit) {
        if on {
            self.observe(now_us, state);
        }
    }

    /// Stops counting (the transfer phase ended); a later `observe` starts again.
    pub fn pause(&mut self, now_us: u64) {
        if let Some((_, s)) = self.last {
            self.observe(now_us, s);
        }
        self.last = None;
    }

    /// The time counted so far.
    pub fn times(&self) -> LimitTimes {
        self.times
    }
}

/// The verdict in the final report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LimitReport {
    /// The state that took the most time: `input`, `output`, `peer`, `network`, `cpu`.
    pub by: &'static str,
    /// Its share of the transfer's time, 0..=1.
    pub share: f64,
    /// What that means at this end, in words.
    pub detail: String,
    /// Every state's share.
    pub shares: Shares,
    /// Who `by` is in words: "the input", "the receiver", ...
    #[serde(skip)]
    who: &'static str,
}

impl LimitReport {
    /// The verdict of `times` at the end in `role` ("send" or "recv"); `what`
    /// names this end's input (sender) or output (receiver) for the text.
    pub fn of(times: &LimitTimes, role: &str, what: &str) -> Option<LimitReport> {
        let (l, share) = times.dominant()?;
        let send = role == "send";
        let detail = match l {
            Limit::Input => format!("the reader waited on {what}"),
            Limit::Output => format!("the writer waited on {what}"),
            Limit::Peer if send => "its flow-control window was full: its output or CPU kept up no faster".into(),
            Limit::Peer => "nothing arrived: its input, its CPU or the network kept up no faster".into(),
            Limit::Network => "data waited for the paths' congestion windows or pacing".into(),
            Limit::Cpu => "the poll loop always had work".into(),
        };
        let who = match l {
            Limit::Input => "the input",
            Limit::Output => "the output",
            Limit::Peer if send => "the receiver",
            Limit::Peer => "the sender",
            Limit::Network => "the network",
            Limit::Cpu => "the CPU",
        };
        Some(LimitReport { by: l.name(), share, detail, shares: times.shares(), who })
    }

    /// "limited by the input for 91% of the time (the reader waited on stdin)".
    pub fn sentence(&self) -> String {
        format!("limited by {} for {:.0}% of the time ({})", self.who, self.share * 100.0, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter that saw each `(time in µs, state)` in turn.
    fn observed(steps: &[(u64, Limit)]) -> LimitMeter {
        let mut m = LimitMeter::default();
        for &(t, l) in steps {
            m.observe(t, l);
        }
        m
    }

    #[test]
    fn time_goes_to_the_state_observed_before_it() {
        let m = observed(&[(0, Limit::Input), (900, Limit::Cpu), (1000, Limit::Input), (1000, Limit::Input)]);
        let t = m.times();
        assert_eq!(t.0[Limit::Input.index()], 900);
        assert_eq!(t.0[Limit::Cpu.index()], 100);
        assert_eq!(t.dominant(), Some((Limit::Input, 0.9)));
    }

    #[test]
    fn a_pause_stops_the_clock_until_the_next_observation() {
        let mut m = observed(&[(0, Limit::Network)]);
        m.pause(100);
        m.observe(5_000, Limit::Cpu);
        m.observe(5_100, Limit::Cpu);
        let t = m.times();
        assert_eq!(t.0[Limit::Network.index()], 100);
        assert_eq!(t.0[Limit::Cpu.index()], 100);
    }

    #[test]
    fn the_sentence_names_the_limit_share_and_cause() {
        let m = observed(&[(0, Limit::Input), (91, Limit::Cpu), (100, Limit::Cpu)]);
        let r = LimitReport::of(&m.times(), "send", "stdin").unwrap();
        assert_eq!(r.sentence(), "limited by the input for 91% of the time (the reader waited on stdin)");
        assert!((r.shares.cpu - 0.09).abs() < 1e-9);
        let interval = m.times().since(&LimitTimes::default());
        assert_eq!(interval, m.times());
    }

    #[test]
    fn no_time_no_verdict() {
        assert!(LimitReport::of(&LimitMeter::default().times(), "recv", "out").is_none());
    }
}
