//! What a user or packager installs, checked with the real tools: the manual pages
//! rendered by `man`, the completion scripts loaded into bash, zsh and fish and asked
//! to complete a command, and `scripts/install.sh` into a scratch DESTDIR.
//!
//! `man` (man-db), zsh and fish come from `scripts/install-deps.sh`. A missing tool
//! fails the test under `STRIPECAT_NO_SKIP=1` (CI) and is a loud skip otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{assert_one_error_line, bin, run_stripecat, run_with_timeout};

const LIMIT: Duration = Duration::from_secs(60);

/// Every visible command: each has a page and each must be completed.
const COMMANDS: &[&str] = &["send", "recv", "selftest", "ports", "bench", "keygen", "completions", "man"];

/// Whether `tool` is on PATH; when it is not, a failure under `STRIPECAT_NO_SKIP=1`,
/// else a SKIPPED note.
fn have(tool: &str, package: &str) -> bool {
    let found =
        Command::new("bash").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success());
    if !found {
        let strict = std::env::var("STRIPECAT_NO_SKIP").is_ok_and(|v| v == "1");
        assert!(!strict, "{tool} is not installed (package {package}; scripts/install-deps.sh installs it)");
        eprintln!("SKIPPED: {tool} is not installed (package {package}; run scripts/install-deps.sh)");
    }
    found
}

/// `man ARGS`, in the C locale (plain ASCII hyphens) and wide enough that option names
/// are not broken across lines; returns (code, stdout, stderr).
fn man(args: &[&str]) -> (i32, String, String) {
    run_with_timeout(
        Command::new("man").args(args).env("LC_ALL", "C").env("MANWIDTH", "200").env("MANPAGER", "cat"),
        LIMIT,
    )
}

/// Runs `shell ARGS` and returns its stdout, failing on a non-zero exit.
fn shell_out(shell: &str, args: &[&str]) -> String {
    let (code, out, err) = run_with_timeout(Command::new(shell).args(args), LIMIT);
    assert_eq!(code, 0, "{shell} {args:?} failed: {err}\n{out}");
    out
}

/// The directory holding the binary, to put first on a shell's PATH.
fn bin_dir() -> PathBuf {
    Path::new(bin()).parent().unwrap().to_path_buf()
}

#[test]
fn every_manual_page_renders_with_man() {
    if !have("man", "man-db") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("made/man1");
    let (code, out, err) = run_stripecat(&["man", pages.to_str().unwrap()], LIMIT);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""), "stripecat man DIR, a missing DIR created");
    let mut names: Vec<String> =
        std::fs::read_dir(&pages).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("stripecat-{c}.1")).collect();
    want.push("stripecat.1".into());
    want.sort();
    assert_eq!(names, want, "one page per command");
    for name in &names {
        let (code, text, err) = man(&["-l", pages.join(name).to_str().unwrap()]);
        assert_eq!(code, 0, "man -l {name}: {err}");
        assert!(err.is_empty(), "man -l {name} warned: {err}");
        assert!(text.contains("SYNOPSIS") && text.contains("OPTIONS"), "{name}:\n{text}");
    }
    let (_, top, _) = man(&["-l", pages.join("stripecat.1").to_str().unwrap()]);
    for c in COMMANDS {
        assert!(top.contains(&format!("stripecat-{c}(1)")), "stripecat(1) does not list {c}:\n{top}");
    }
    for needle in ["EXIT STATUS", "Usage: a bad command line", "Authentication failed", "--verbose"] {
        assert!(top.contains(needle), "stripecat(1) lacks {needle:?}:\n{top}");
    }
    let (_, send, _) = man(&["-l", pages.join("stripecat-send.1").to_str().unwrap()]);
    for needle in ["--port", "--key-file", "--tcp", "--digest", "AUTHENTICATION AND ENCRYPTION", "stripecat(1)"] {
        assert!(send.contains(needle), "stripecat-send(1) lacks {needle:?}:\n{send}");
    }
}

#[test]
fn man_without_a_directory_writes_the_top_page_for_man_to_read_from_stdin() {
    if !have("man", "man-db") {
        return;
    }
    let (code, roff, err) = run_stripecat(&["man"], LIMIT);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("piped.1");
    std::fs::write(&file, &roff).unwrap();
    let (code, text, err) = run_with_timeout(
        Command::new("bash")
            .args(["-c", "man -l - < \"$1\"", "-", file.to_str().unwrap()])
            .env("LC_ALL", "C")
            .env("MANWIDTH", "200"),
        LIMIT,
    );
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("stripecat-send(1)") && text.contains("EXIT STATUS"), "{text}");
}

#[test]
fn man_into_a_directory_that_cannot_be_made_is_one_error_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let target = file.join("man1");
    let (code, out, err) = run_stripecat(&["man", target.to_str().unwrap()], LIMIT);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    let line = assert_one_error_line(&err, "cannot create the directory");
    assert!(line.contains("(hint: "), "{line}");
}

#[test]
fn an_unknown_shell_is_one_error_line_exit_2() {
    let (code, out, err) = run_stripecat(&["completions", "tcsh"], LIMIT);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    let line = assert_one_error_line(&err, "'tcsh'");
    assert!(line.contains("(hint: ") && line.contains("bash, zsh, fish"), "{line}");
}

/// Sources the script into bash, then calls the function `complete` registered with the
/// words of a command line whose last word is being completed; prints one reply a line.
const BASH_COMPLETE: &str = r#"
set -eu
source <(stripecat completions bash)
spec=$(complete -p stripecat)
echo "SPEC $spec"
func=$(sed -n 's/.* -F \([^ ]*\) .*/\1/p' <<<"$spec")
ask() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$func" stripecat "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    echo "ASK $*: ${COMPREPLY[*]}"
}
ask stripecat se
ask stripecat ''
ask stripecat completions ''
ask stripecat send --key
"#;

#[test]
fn bash_completion_loads_and_completes_commands_options_and_shells() {
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let (code, out, err) =
        run_with_timeout(Command::new("bash").args(["--norc", "-c", BASH_COMPLETE]).env("PATH", path), LIMIT);
    assert_eq!(code, 0, "bash: {err}\n{out}");
    assert!(out.contains("SPEC complete ") && out.contains(" stripecat"), "not registered: {out}");
    let reply = |asked: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.starts_with(&format!("ASK {asked}:"))).unwrap_or_else(|| panic!("{out}"));
        line.split_once(':').unwrap().1.split_whitespace().map(String::from).collect()
    };
    let mut se = reply("stripecat se");
    se.sort();
    assert_eq!(se, ["selftest", "send"]);
    let all = reply("stripecat ");
    for c in COMMANDS {
        assert!(all.iter().any(|w| w == c), "{c} not offered: {all:?}");
    }
    let shells = reply("stripecat completions ");
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|w| w == s), "{s} not offered: {shells:?}");
    }
    let mut key = reply("stripecat send --key");
    key.sort();
    assert_eq!(key, ["--key-fd", "--key-file"]);
}

/// Drives an interactive zsh on a pseudo-terminal (zsh/zpty): loads the script from
/// fpath through compinit, types `stripecat se` and TAB, and prints what zsh listed.
const ZSH_COMPLETE: &str = r#"
zmodload zsh/zpty || exit 3
fpath_dir=$1 bin_dir=$2
zpty z 'zsh -f -i'
zpty -w z "PROMPT='> '; PATH=$bin_dir:\$PATH; fpath=($fpath_dir \$fpath)"
zpty -w z "autoload -Uz compinit; compinit -u -d $fpath_dir/.zcompdump"
zpty -w z 'print -r -- LOADED-${_comps[stripecat]}'
zpty -wn z $'stripecat se\t'
out='' chunk=''
deadline=$((SECONDS + 20))
while (( SECONDS < deadline )); do
    if zpty -r -t z chunk; then
        out+=$chunk
        [[ $out == *selftest*--*send*--* || $out == *send*--*selftest*--* ]] && break
    else
        sleep 0.1
    fi
done
zpty -d z
print -r -- "$out"
"#;

#[test]
fn zsh_completion_loads_through_compinit_and_completes_commands() {
    if !have("zsh", "zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, script, err) = run_stripecat(&["completions", "zsh"], LIMIT);
    assert_eq!(code, 0, "{err}");
    std::fs::write(dir.path().join("_stripecat"), &script).unwrap();
    shell_out("zsh", &["-n", dir.path().join("_stripecat").to_str().unwrap()]);
    let out =
        shell_out("zsh", &["-f", "-c", ZSH_COMPLETE, "zsh", dir.path().to_str().unwrap(), bin_dir().to_str().unwrap()]);
    assert!(out.contains("LOADED-_stripecat"), "compinit did not register _stripecat:\n{out}");
    assert!(out.contains("selftest") && out.contains("send"), "TAB after 'stripecat se' did not list them:\n{out}");
    assert!(out.contains("Both ends in one process"), "the listing carries the commands' help:\n{out}");
}

#[test]
fn fish_completion_loads_and_completes_commands_and_options() {
    if !have("fish", "fish") {
        return;
    }
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
    let script = "stripecat completions fish | source; or exit 3
        echo ASK1; complete -C 'stripecat se'
        echo ASK2; complete -C 'stripecat send --key'";
    let (code, out, err) =
        run_with_timeout(Command::new("fish").args(["--no-config", "-c", script]).env("PATH", path), LIMIT);
    assert_eq!(code, 0, "fish: {err}\n{out}");
    let (first, second) = out.split_once("ASK2").unwrap_or_else(|| panic!("{out}"));
    let words = |s: &str| -> Vec<String> {
        let mut w: Vec<String> = s
            .lines()
            .filter(|l| !l.is_empty() && *l != "ASK1")
            .filter_map(|l| l.split('\t').next())
            .map(String::from)
            .collect();
        w.sort();
        w
    };
    assert_eq!(words(first), ["selftest", "send"], "{out}");
    assert_eq!(words(second), ["--key-fd", "--key-file"], "{out}");
}

/// `scripts/install.sh` with `args` and `env`; returns (code, stdout, stderr).
fn install_sh(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh");
    let mut cmd = Command::new(script);
    cmd.args(args).env_remove("PREFIX").env_remove("DESTDIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(&mut cmd, LIMIT)
}

/// Every file under `root`, relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

/// The files an install puts under PREFIX, as `scripts/install.sh --help` documents them.
fn documented_files(prefix: &str) -> Vec<String> {
    let mut want = vec![
        format!("{prefix}/bin/stripecat"),
        format!("{prefix}/share/bash-completion/completions/stripecat"),
        format!("{prefix}/share/zsh/site-functions/_stripecat"),
        format!("{prefix}/share/fish/vendor_completions.d/stripecat.fish"),
        format!("{prefix}/share/man/man1/stripecat.1"),
    ];
    want.extend(COMMANDS.iter().map(|c| format!("{prefix}/share/man/man1/stripecat-{c}.1")));
    want.sort();
    want
}

#[test]
fn install_sh_puts_every_file_where_documented_and_uninstall_takes_them_away() {
    let stage = tempfile::tempdir().unwrap();
    let destdir = stage.path().to_str().unwrap();
    let (code, out, err) = install_sh(&["--destdir", destdir, "--prefix", "/opt/sc", "--bin", bin()], &[]);
    assert_eq!(code, 0, "install.sh: {err}\n{out}");
    let want = documented_files("opt/sc");
    assert_eq!(files_under(stage.path()), want, "exactly the documented files, nothing else");
    let root = stage.path().join("opt/sc");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("bin/stripecat"), 0o755);
    assert_eq!(mode("share/man/man1/stripecat.1"), 0o644);
    assert_eq!(mode("share/bash-completion/completions/stripecat"), 0o644);
    let (code, version, err) = run_with_timeout(Command::new(root.join("bin/stripecat")).arg("--version"), LIMIT);
    assert_eq!(code, 0, "the installed binary runs: {err}");
    assert!(version.starts_with("stripecat "), "{version}");
    let (_, generated, _) = run_stripecat(&["completions", "fish"], LIMIT);
    let installed = std::fs::read_to_string(root.join("share/fish/vendor_completions.d/stripecat.fish")).unwrap();
    assert_eq!(installed, generated, "the installed script is the binary's own");
    if have("man", "man-db") {
        // As a user finds it: by name, with the prefix's man directory on the path.
        let (code, text, err) = man(&["-M", root.join("share/man").to_str().unwrap(), "stripecat-recv"]);
        assert_eq!(code, 0, "man stripecat-recv: {err}");
        assert!(text.contains("--listen"), "{text}");
    }
    let (code, out, err) =
        install_sh(&["--destdir", destdir, "--prefix", "/opt/sc", "--bin", bin(), "--uninstall"], &[]);
    assert_eq!(code, 0, "install.sh --uninstall: {err}\n{out}");
    assert_eq!(files_under(stage.path()), Vec::<String>::new(), "every installed file removed");
}

#[test]
fn install_sh_takes_prefix_and_destdir_from_the_environment() {
    let stage = tempfile::tempdir().unwrap();
    let destdir = stage.path().to_str().unwrap();
    let (code, out, err) = install_sh(&["--bin", bin()], &[("DESTDIR", destdir), ("PREFIX", "/usr")]);
    assert_eq!(code, 0, "install.sh: {err}\n{out}");
    assert_eq!(files_under(stage.path()), documented_files("usr"));
}

#[test]
fn install_sh_puts_a_completion_where_a_dir_option_says() {
    let stage = tempfile::tempdir().unwrap();
    let destdir = stage.path().to_str().unwrap();
    let zsh_dir = "/usr/share/zsh/vendor-completions";
    let args = ["--destdir", destdir, "--prefix", "/usr", "--bin", bin(), "--zsh-dir", zsh_dir];
    let (code, out, err) = install_sh(&args, &[]);
    assert_eq!(code, 0, "install.sh: {err}\n{out}");
    let mut want: Vec<String> = documented_files("usr").into_iter().filter(|f| !f.ends_with("/_stripecat")).collect();
    want.push("usr/share/zsh/vendor-completions/_stripecat".into());
    want.sort();
    assert_eq!(files_under(stage.path()), want);
    let (code, _, err) = install_sh(&["--destdir", destdir, "--fish-dir", "relative/dir"], &[]);
    assert_eq!(code, 2, "a relative directory is a usage error: {err}");
}

#[test]
fn install_sh_defaults_to_usr_local_and_documents_itself() {
    let (code, help, err) = install_sh(&["--help"], &[]);
    assert_eq!(code, 0, "{err}");
    for needle in ["Usage:", "PREFIX", "DESTDIR", "/usr/local", "--uninstall", "--zsh-dir", "Exit codes:"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let stage = tempfile::tempdir().unwrap();
    let (code, out, err) = install_sh(&["--bin", bin()], &[("DESTDIR", stage.path().to_str().unwrap())]);
    assert_eq!(code, 0, "install.sh: {err}\n{out}");
    assert_eq!(files_under(stage.path()), documented_files("usr/local"));
}

#[test]
fn install_sh_refuses_a_missing_binary_and_a_bad_option_touching_nothing() {
    let stage = tempfile::tempdir().unwrap();
    let destdir = stage.path().to_str().unwrap();
    let (code, _, err) = install_sh(&["--destdir", destdir, "--bin", "/nonexistent/stripecat"], &[]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(err.contains("install.sh: error: no stripecat binary") && err.contains("(hint: "), "{err}");
    let (code, _, err) = install_sh(&["--destdir", destdir, "--frobnicate"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown argument '--frobnicate'"), "{err}");
    assert_eq!(files_under(stage.path()), Vec::<String>::new());
}
