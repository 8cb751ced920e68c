//! The pre-shared key: `stripecat keygen`, and where `send` and `recv` find the key
//! (`--key-file`, `--key-fd`, `STRIPECAT_KEY`; never the command line itself).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use stripecat_proto::crypto::KEY_LEN;
use stripecat_proto::Psk;

use crate::exit::{ExitCode, Failure};

/// The environment variable a script may pass the key in (64 hex digits).
pub const KEY_ENV: &str = "STRIPECAT_KEY";

/// Where a key is read from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file (refused if group or others may read it).
    File(PathBuf),
    /// An inherited descriptor.
    Descriptor(u32),
    /// [`KEY_ENV`], if set; no key otherwise.
    Environment,
}

/// `stripecat keygen [FILE]`: FILE, or stdout when `None`.
#[derive(Debug, Clone)]
pub struct KeygenPlan {
    pub file: Option<PathBuf>,
}

fn usage(message: String, hint: &str) -> Failure {
    Failure::new(ExitCode::Usage, message).hint(hint)
}

fn parse(text: &str, from: &str) -> Result<Psk, Failure> {
    Psk::parse_hex(text)
        .map_err(|e| usage(format!("{from} does not hold a key: {e}"), "make one with `stripecat keygen FILE`"))
}

/// Reads a key file, refusing one that group or others may read.
pub fn read_key_file(path: &Path) -> Result<Psk, Failure> {
    let name = path.display();
    let f = File::open(path).map_err(|e| usage(format!("cannot open key file {name}: {e}"), "check the path"))?;
    let meta = f.metadata().map_err(|e| usage(format!("cannot stat key file {name}: {e}"), "check the path"))?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(usage(
            format!("key file {name} can be read by others (mode {mode:04o})"),
            &format!("chmod 600 {name}"),
        ));
    }
    let mut text = String::new();
    f.take(4096)
        .read_to_string(&mut text)
        .map_err(|e| usage(format!("cannot read key file {name}: {e}"), "check the file"))?;
    parse(&text, &format!("key file {name}"))
}

/// The key from `source` (`None`: no key was asked for).
pub fn load(source: &KeySource) -> Result<Option<Psk>, Failure> {
    match source {
        KeySource::File(p) => read_key_file(p).map(Some),
        KeySource::Descriptor(fd) => {
            // The inherited descriptor, through procfs: no raw descriptor handling here.
            let path = format!("/proc/self/fd/{fd}");
            let mut text = String::new();
            File::open(&path).and_then(|f| f.take(4096).read_to_string(&mut text)).map_err(|e| {
                usage(format!("cannot read the key from descriptor {fd}: {e}"), "pass it: --key-fd 3 3<FILE")
            })?;
            parse(&text, &format!("descriptor {fd}")).map(Some)
        }
        KeySource::Environment => match std::env::var(KEY_ENV) {
            Ok(v) if !v.is_empty() => parse(&v, KEY_ENV).map(Some),
            _ => Ok(None),
        },
    }
}

/// Makes a key: 32 bytes from the kernel's random source, as 64 hex digits.
pub fn keygen(args: &KeygenPlan) -> Result<(), Failure> {
    let mut bytes = [0u8; KEY_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Failure::env(format!("cannot read /dev/urandom: {e}")))?;
    let key = Psk::from_bytes(bytes);
    bytes.fill(0);
    let line = format!("{}\n", key.to_hex());
    match &args.file {
        None => {
            std::io::stdout()
                .write_all(line.as_bytes())
                .map_err(|e| Failure::new(ExitCode::Other, format!("cannot write the key: {e}")))?;
        }
        Some(p) => {
            let mut f =
                OpenOptions::new().write(true).create_new(true).mode(0o600).open(p).map_err(|e| {
                    usage(format!("cannot create key file {}: {e}", p.display()), "give a new file name")
                })?;
            f.write_all(line.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| Failure::new(ExitCode::Other, format!("cannot write {}: {e}", p.display())))?;
        }
    }
    Ok(())
}

/// The summary's word for a session's authentication.
pub fn auth_label(keyed: bool) -> &'static str {
    if keyed {
        "authenticated"
    } else {
        "unauthenticated"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_a_private_file_that_loads_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        keygen(&KeygenPlan { file: Some(p.clone()) }).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.trim().len(), 64);
        let args = KeySource::File(p.clone());
        assert_eq!(load(&args).unwrap().unwrap().to_hex(), text.trim());
        assert!(keygen(&KeygenPlan { file: Some(p.clone()) }).is_err(), "an existing key is not replaced");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&args).unwrap_err();
        assert!(e.message.contains("can be read by others (mode 0644)"), "{}", e.message);
        assert_eq!(e.code, ExitCode::Usage);
        std::fs::write(dir.path().join("bad"), "xyz").unwrap();
        std::fs::set_permissions(dir.path().join("bad"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&dir.path().join("bad")).is_err());
    }
}
