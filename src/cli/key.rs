//! `keygen`, and where `send` and `recv` find the pre-shared key: `--key-file`,
//! `--key-fd` or `STRIPECAT_KEY` (never the command line itself). The reading and
//! checking is `crate::key`'s.

use std::path::PathBuf;

use clap::Args;
use stripecat_proto::Psk;

use crate::exit::Failure;
use crate::key::{KeySource, KeygenPlan};

/// Where the key comes from.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Authentication and encryption")]
pub struct KeyArgs {
    /// Pre-shared key file from `stripecat keygen`: the session is authenticated and
    /// encrypted, and a peer without the same key is refused. Refused if group or others
    /// may read it. Also: --key-fd, or the STRIPECAT_KEY environment variable.
    #[arg(long, value_name = "FILE", conflicts_with = "key_fd")]
    pub key_file: Option<PathBuf>,

    /// Read the key from inherited descriptor N (scripts: `--key-fd 3 3<migration.key`).
    #[arg(long, value_name = "N")]
    pub key_fd: Option<u32>,
}

impl KeyArgs {
    /// The key asked for, if any: `--key-file`, else `--key-fd`, else `STRIPECAT_KEY`.
    pub fn load(&self) -> Result<Option<Psk>, Failure> {
        let source = match (&self.key_file, self.key_fd) {
            (Some(p), _) => KeySource::File(p.clone()),
            (None, Some(fd)) => KeySource::Descriptor(fd),
            (None, None) => KeySource::Environment,
        };
        crate::key::load(&source)
    }
}

/// `stripecat keygen [FILE]`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the key here (created with mode 0600; an existing file is not replaced)
    /// instead of printing it.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl KeygenArgs {
    /// The plain plan `key::keygen` takes.
    pub fn plan(&self) -> KeygenPlan {
        KeygenPlan { file: self.file.clone() }
    }
}
