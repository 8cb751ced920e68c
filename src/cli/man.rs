//! `stripecat man [DIR]`: the manual pages, generated from the clap definitions
//! (one per command: `stripecat.1`, `stripecat-send.1`, ...) so they say what
//! `--help` says; `scripts/install.sh` puts them under `share/man/man1`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_mangen::Man;

use crate::exit::{ExitCode, Failure};

/// `stripecat man [DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (stripecat.1, stripecat-send.1, ...) into DIR, created if
    /// missing; without DIR, the stripecat(1) page goes to stdout (`stripecat man | man -l -`).
    #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

/// The README's exit-code table, for the EXIT STATUS section of stripecat(1); a unit test
/// checks it names every [`ExitCode`].
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Delivered and digest verified, or the command succeeded."),
    ("1", "Anything else, e.g. the input file cannot be opened."),
    (
        "2",
        "Usage: a bad command line; with --resume, a sender without it against a receiver whose FILE \
         holds data (both ends).",
    ),
    (
        "3",
        "Environment or set-up: not root, no free hugepages, a NIC not bound to a DPDK driver, \
         bad devargs, a member link that never comes up, EAL failure, port in use, a --stats-json \
         FILE that cannot be written.",
    ),
    (
        "4",
        "Transfer failed: peer or gateway unreachable, no member carries full-size frames, idle \
         timeout, reset by the peer, output write error.",
    ),
    (
        "5",
        "Integrity failure: the digest did not match; with --resume, the input does not start with \
         what the receiver's FILE holds (both ends; FILE untouched).",
    ),
    ("6", "Authentication failed: the two ends hold different keys, or only one has a key."),
    ("130", "Interrupted by SIGINT."),
    ("143", "Terminated by SIGTERM."),
];

impl ManArgs {
    /// Writes the pages; a DIR that cannot be created or written is a usage error (exit 2).
    pub fn run(&self) -> Result<(), Failure> {
        let pages = pages();
        match &self.dir {
            None => super::write_stdout(&pages[0].1, "the manual page"),
            Some(dir) => write_pages(dir, &pages),
        }
    }
}

/// Every page as (file name, roff text), stripecat.1 first, then one per command in the
/// order `--help` lists them (hidden commands and `help` get none).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    // Built, every subcommand knows its display name ("stripecat-send"), which names its page.
    cmd.build();
    let mut pages = vec![(page(&cmd).get_filename(), top_page(&cmd))];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = page(sub);
        let mut text = Vec::new();
        man.render(&mut text).expect("a Vec takes every write");
        text.extend_from_slice(b".SH \"SEE ALSO\"\nstripecat(1)\n");
        pages.push((man.get_filename(), text));
    }
    pages
}

/// One command's page; its footer names the package and version only (the long version
/// line, with the git revision, is in the VERSION section).
fn page(cmd: &clap::Command) -> Man {
    Man::new(cmd.clone()).source(concat!("stripecat ", env!("CARGO_PKG_VERSION")))
}

/// stripecat(1): clap_mangen's sections, with EXIT STATUS before VERSION (scripts rely on
/// the codes, and the page is where a user looks them up).
fn top_page(cmd: &clap::Command) -> Vec<u8> {
    let man = page(cmd);
    let mut out = Vec::new();
    let render = |out: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(out)?;
        man.render_name_section(out)?;
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        man.render_options_section(out)?;
        man.render_subcommands_section(out)?;
        writeln!(out, ".SH \"EXIT STATUS\"")?;
        for (code, meaning) in EXIT_STATUS {
            writeln!(out, ".TP\n{code}\n{meaning}")?;
        }
        writeln!(out, ".PP\nErrors are one line on stderr: stripecat: error: WHAT (hint: WHAT TO DO).")?;
        man.render_version_section(out)
    };
    render(&mut out).expect("a Vec takes every write");
    out
}

/// Writes `pages` into `dir`, creating it (and its parents) if missing.
fn write_pages(dir: &Path, pages: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    let unwritable = |what: String, e: std::io::Error| {
        Failure::new(ExitCode::Usage, format!("{what}: {e}"))
            .hint("give a directory you may write, e.g. stripecat man ./man")
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| unwritable(format!("cannot create the directory {}", dir.display()), e))?;
    for (name, text) in pages {
        let path = dir.join(name);
        let mut file = File::create(&path).map_err(|e| unwritable(format!("cannot create {}", path.display()), e))?;
        file.write_all(text)
            .map_err(|e| Failure::new(ExitCode::Other, format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_and_the_exit_codes_on_the_first() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["stripecat.1", "stripecat-send.1", "stripecat-recv.1", "stripecat-man.1"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.contains(&"stripecat-help.1"), "{names:?}");
        let top = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(top.contains(".SH \"EXIT STATUS\""), "{top}");
        let codes = [
            ExitCode::Success,
            ExitCode::Other,
            ExitCode::Usage,
            ExitCode::Environment,
            ExitCode::Transfer,
            ExitCode::Integrity,
            ExitCode::Auth,
            ExitCode::Interrupted,
            ExitCode::Terminated,
        ];
        for code in codes {
            let n = (code as i32).to_string();
            assert!(EXIT_STATUS.iter().any(|(c, _)| *c == n), "exit code {n} missing");
        }
        assert_eq!(EXIT_STATUS.len(), codes.len());
        // Exhaustive: a new ExitCode stops this compiling until it is in `codes` and the table.
        let _ = |c: ExitCode| match c {
            ExitCode::Success
            | ExitCode::Other
            | ExitCode::Usage
            | ExitCode::Environment
            | ExitCode::Transfer
            | ExitCode::Integrity
            | ExitCode::Auth
            | ExitCode::Interrupted
            | ExitCode::Terminated => (),
        };
    }
}
