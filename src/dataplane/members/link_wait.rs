//! Waiting for member links: at start (restarting memif clients until their
//! server answers, naming the members that stay down) and at the end (a memif
//! peer's departure).

use std::time::{Duration, Instant};

use super::Member;
use crate::exit::Failure;

/// How often a member whose link is down is restarted while waiting (a
/// memif client connects only when started, and does not retry by itself).
const RESTART_EVERY: Duration = Duration::from_millis(250);
/// The longest interval between restarts.
const RESTART_MAX: Duration = Duration::from_secs(2);
/// How often the link wait looks at first, and for how long.
const LINK_POLL_FAST: Duration = Duration::from_millis(1);
const LINK_POLL_FAST_FOR: Duration = Duration::from_millis(100);
/// How often it looks after that.
const LINK_POLL: Duration = Duration::from_millis(20);

/// Waits up to `limit` for every member's link, restarting members that are
/// down so late peers are picked up; names the ones still down.
pub fn wait_links(members: &[Member], limit: Duration) -> Result<(), Failure> {
    wait_links_until(members, limit, &|| false).map(|_| ())
}

/// [`wait_links`] that also gives up when `interrupted()` turns true
/// (SIGINT/SIGTERM: their handlers are installed by then, so without this
/// check a signal was ignored until the wait ran out, up to 30 s, and the
/// process then exited 3 instead of 130/143). `Ok(true)`: every link is
/// up; `Ok(false)`: interrupted.
pub fn wait_links_until(members: &[Member], limit: Duration, interrupted: &dyn Fn() -> bool) -> Result<bool, Failure> {
    let started = Instant::now();
    let end = started + limit;
    let mut every = RESTART_EVERY;
    let mut next_restart = started + every;
    let mut ever_up = vec![false; members.len()];
    // Restarted once more after a member on the same memif socket came up.
    let mut retried_beside_up = vec![false; members.len()];
    let mut cursor = 0;
    loop {
        let up: Vec<bool> = members.iter().map(|m| m.port.link().map(|l| l.up).unwrap_or(false)).collect();
        for (e, u) in ever_up.iter_mut().zip(&up) {
            *e |= *u;
        }
        if up.iter().all(|u| *u) {
            return Ok(true);
        }
        if interrupted() {
            return Ok(false);
        }
        if Instant::now() >= end {
            return Err(links_down(members, &up, &ever_up, limit));
        }
        if Instant::now() >= next_restart {
            // One member per turn: memif clients restarted together on one socket
            // can keep each other from connecting. A client whose socket already
            // serves another member gets one more try: that server is up with all
            // its ids, so if it has none for this client, retrying cannot help (and
            // each refusal can cut the connections it does serve).
            let candidates: Vec<usize> = (0..members.len())
                .filter(|&i| members[i].restart_when_down && !up[i])
                .filter(|&i| !(sibling_up(members, &up, i) && retried_beside_up[i]))
                .collect();
            if let Some(&i) = candidates.iter().find(|&&i| i >= cursor).or(candidates.first()) {
                let _ = members[i].port.stop();
                let _ = members[i].port.start();
                retried_beside_up[i] |= sibling_up(members, &up, i);
                cursor = i + 1;
                if candidates.iter().all(|&j| j <= i) {
                    // A whole turn: back off, a restart cuts a handshake in flight,
                    // and on a loaded machine a handshake can take longer than the
                    // first interval.
                    every = (every * 2).min(RESTART_MAX);
                    cursor = 0;
                }
            }
            next_restart = Instant::now() + every;
        }
        // A peer that is already up connects within a few milliseconds: look often
        // at first (start-up time), then every 20 ms.
        let poll = if started.elapsed() < LINK_POLL_FAST_FOR { LINK_POLL_FAST } else { LINK_POLL };
        std::thread::sleep(poll);
    }
}

/// Whether another member on member `i`'s memif socket is up.
fn sibling_up(members: &[Member], up: &[bool], i: usize) -> bool {
    let Some(sock) = &members[i].memif_socket else { return false };
    members.iter().zip(up).enumerate().any(|(j, (m, u))| j != i && *u && m.memif_socket.as_ref() == Some(sock))
}

/// The failure of a link wait: the members down now, and which of them were up
/// for a while (a peer that has fewer members than we do can make a memif server
/// drop the connections it does serve while it refuses the others).
fn links_down(members: &[Member], up: &[bool], ever_up: &[bool], limit: Duration) -> Failure {
    let names = |want_ever: bool| -> Vec<&str> {
        members
            .iter()
            .zip(up.iter().zip(ever_up))
            .filter(|(_, (u, e))| !**u && **e == want_ever)
            .map(|(m, _)| m.name.as_str())
            .collect()
    };
    let (never, flapped) = (names(false), names(true));
    let refused: Vec<&str> = (0..members.len())
        .filter(|&i| !up[i] && !ever_up[i] && sibling_up(members, up, i))
        .map(|i| members[i].name.as_str())
        .collect();
    let some_up = up.iter().any(|u| *u) || !flapped.is_empty();
    let mut what = String::new();
    if !never.is_empty() {
        let s = if never.len() > 1 { "s" } else { "" };
        what = format!("member link{s} {} did not come up within {} s", never.join(", "), limit.as_secs());
    }
    if !flapped.is_empty() {
        if !what.is_empty() {
            what.push_str("; ");
        }
        let s = if flapped.len() > 1 { "s" } else { "" };
        what.push_str(&format!("member link{s} {} came up but went down again", flapped.join(", ")));
    }
    if !refused.is_empty() {
        what.push_str(&format!(
            " ({} on the same memif socket{} up: its peer has no member with that id)",
            if refused.len() > 1 { "others" } else { "another member" },
            if refused.len() > 1 { " are" } else { " is" }
        ));
    }
    let hint = if some_up {
        "the other end may have fewer members than this one: give both ends the same --port list \
         (for memif, one server per client id and socket)"
    } else {
        "for memif, start the peer with the same socket path; for af_packet/pcap, check the interface is up"
    };
    Failure::env(what).hint(hint)
}

/// The longest memif's interrupt thread is given to finish a peer's disconnect.
const MEMIF_TEARDOWN_GRACE: Duration = Duration::from_millis(100);
/// How often the interrupt thread is looked at meanwhile.
const TEARDOWN_POLL: Duration = Duration::from_millis(1);

/// Waits until every memif member's link is down (its peer left), at most
/// `limit`. Other drivers have no peer process to wait for.
pub fn wait_for_peer_exit(members: &[Member], limit: Duration) {
    if !members.iter().any(|m| m.guard_link) {
        return;
    }
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let waiting = members.iter().any(|m| m.guard_link && m.port.link().map(|l| l.up).unwrap_or(false));
        if !waiting {
            // memif marks the link down first and then tears the connection
            // down in EAL's interrupt thread; closing our ports before it is
            // done would run a second teardown beside the first. Done is when
            // that thread is back waiting for events (seen twice in a row); where
            // it cannot be seen, the whole grace.
            wait_teardown(Instant::now() + MEMIF_TEARDOWN_GRACE);
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until EAL's interrupt thread is idle on two looks in a row, or `until`.
fn wait_teardown(until: Instant) {
    let mut idle_looks = 0;
    while Instant::now() < until {
        std::thread::sleep(TEARDOWN_POLL);
        match crate::dpdk::interrupt_thread_idle() {
            Some(true) => idle_looks += 1,
            Some(false) => idle_looks = 0,
            None => continue,
        }
        if idle_looks >= 2 {
            return;
        }
    }
}
