//! Where EAL's log lines go.
//!
//! DPDK's Linux default log stream writes to *stdout* (and syslog), which would
//! corrupt `stripecat recv > file`. Before EAL starts we install our own
//! stream: a bounded in-memory ring of recent lines (so an error message can
//! quote EAL's reason), echoed to stderr when the user asked for `-v`.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use dpdk_sys::stdio;

/// How many recent EAL lines are kept for error messages.
const KEEP_LINES: usize = 64;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
static ECHO: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Routes EAL's log into the capture ring (and to stderr when `echo`).
pub(crate) fn install(echo: bool) {
    ECHO.store(echo, Ordering::Relaxed);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let funcs = stdio::CookieIoFunctions { read: None, write: Some(cookie_write), seek: None, close: None };
    // SAFETY: fopencookie with a NULL cookie and a write callback that never
    // touches the cookie; the mode string is a valid C string.
    let stream = unsafe { stdio::fopencookie(std::ptr::null_mut(), c"w".as_ptr(), funcs) };
    if stream.is_null() {
        return; // keep DPDK's default; nothing better to do
    }
    // SAFETY: `stream` is a valid FILE we just opened; unbuffered so each
    // log call reaches the callback at once.
    unsafe { stdio::setvbuf(stream, std::ptr::null_mut(), stdio::IONBF, 0) };
    // SAFETY: the stream stays open for the life of the process (never
    // closed), as rte_openlog_stream requires.
    unsafe { dpdk_sys::rte_openlog_stream(stream) };
}

/// # Safety
/// Called by stdio only, with `size` readable bytes at `buf`.
unsafe extern "C" fn cookie_write(
    _cookie: *mut std::os::raw::c_void,
    buf: *const std::os::raw::c_char,
    size: usize,
) -> isize {
    if buf.is_null() || size == 0 {
        return 0;
    }
    // SAFETY: stdio hands us `size` readable bytes at `buf`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) };
    if ECHO.load(Ordering::Relaxed) {
        let _ = std::io::stderr().write_all(bytes);
    }
    if let Ok(mut recent) = RECENT.lock() {
        for line in String::from_utf8_lossy(bytes).lines() {
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if recent.len() == KEEP_LINES {
                recent.pop_front();
            }
            recent.push_back(line.to_string());
        }
    }
    size as isize
}

/// The most recent captured EAL log lines, oldest first.
pub(crate) fn recent_lines() -> Vec<String> {
    RECENT.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
}

/// Forgets captured lines (so a later error quotes only its own cause).
pub(crate) fn clear() {
    if let Ok(mut r) = RECENT.lock() {
        r.clear();
    }
}

/// EAL's own explanation: up to `n` of the most recent lines that read like
/// errors, oldest first, joined with "; ". Generic summary lines ("Bus probe
/// failed") come after the specific cause, so the cause is kept.
pub(crate) fn explain(n: usize) -> String {
    const WORDS: &[&str] = &[
        "error",
        "fail",
        "cannot",
        "can't",
        "couldn't",
        "unable",
        "invalid",
        "no available",
        "not enough",
        "permission",
        "fatal",
        "no such",
    ];
    let lines = recent_lines();
    let picked: Vec<&str> = lines
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            WORDS.iter().any(|w| l.contains(w))
        })
        .map(|l| l.trim())
        .collect();
    let start = picked.len().saturating_sub(n);
    picked[start..].join("; ")
}
