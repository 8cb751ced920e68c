//! `stripecat completions SHELL`: the shell completion script, generated from the
//! clap definitions themselves so it never falls behind an option, written to
//! stdout for the install script and packagers (`scripts/install.sh`).

use std::io::Write;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::exit::{ExitCode, Failure};

/// The shells a script is made for (each is tested by loading it in that shell).
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// `stripecat completions bash|zsh|fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_name = "SHELL", value_parser = ShellName)]
    pub shell: String,
}

/// Takes any word and offers bash, zsh and fish: the help and the completions list them,
/// while an unknown shell reaches [`CompletionsArgs::run`], whose error is one line with a
/// hint (clap's own rejection spans three lines).
#[derive(Debug, Clone, Copy)]
struct ShellName;

impl TypedValueParser for ShellName {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(SHELLS.iter().map(|s| PossibleValue::new(*s))))
    }
}

impl CompletionsArgs {
    /// Writes the script to stdout; an unknown shell is a usage error (exit 2).
    pub fn run(&self) -> Result<(), Failure> {
        let script = script(&self.shell)?;
        super::write_stdout(&script, "the completion script")
    }
}

/// The completion script for `shell` (one of [`SHELLS`]).
pub fn script(shell: &str) -> Result<Vec<u8>, Failure> {
    let generator = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(Failure::new(ExitCode::Usage, format!("no completions for shell '{other}'"))
                .hint(format!("give one of {}: stripecat completions bash", SHELLS.join(", "))))
        }
    };
    // Into memory first: clap_complete panics when its writer fails (a full disk, a
    // closed pipe), and the error belongs on one line instead.
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut super::Cli::command(), "stripecat", &mut out);
    out.flush().expect("a Vec takes every write");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in SHELLS {
            let text = String::from_utf8(script(shell).unwrap()).unwrap();
            for word in ["send", "recv", "selftest", "keygen", "completions", "man", "--port"] {
                assert!(text.contains(word), "{shell} script lacks {word}");
            }
        }
    }

    #[test]
    fn an_unknown_shell_is_a_usage_error_with_a_hint() {
        let e = script("tcsh").unwrap_err();
        assert_eq!(e.code, ExitCode::Usage);
        assert!(e.to_string().contains("'tcsh'") && e.hint.is_some(), "{e}");
    }
}
