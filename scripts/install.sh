#!/bin/bash
# install.sh -- install stripecat, its manual pages and its bash/zsh/fish completions.
#
# Usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--bin FILE] [--uninstall] [--help]
#                           [--bash-dir DIR] [--zsh-dir DIR] [--fish-dir DIR]
#
#   --prefix DIR   where to install (default: $PREFIX, else /usr/local)
#   --destdir DIR  stage under DIR instead of / (default: $DESTDIR, else none), for packagers:
#                  files land in DIR/PREFIX/..., and PREFIX is what they are built for
#   --bin FILE     the binary to install (default: target/release/stripecat; build it first
#                  with `cargo build --release`, or `cargo install --path .` and --bin that)
#   --uninstall    remove exactly the files an install puts in place, nothing else
#   --bash-dir DIR, --zsh-dir DIR, --fish-dir DIR
#                  put that shell's completion file in DIR (absolute, also under DESTDIR)
#                  instead of the default below, e.g. --zsh-dir /usr/share/zsh/vendor-completions
#   -h, --help     show this help
#
# What goes where (PREFIX=/usr/local):
#   binary       PREFIX/bin/stripecat
#   man pages    PREFIX/share/man/man1/stripecat.1, stripecat-send.1, ... (one per command)
#   bash         PREFIX/share/bash-completion/completions/stripecat
#   zsh          PREFIX/share/zsh/site-functions/_stripecat
#   fish         PREFIX/share/fish/vendor_completions.d/stripecat.fish
# Where the shells look: bash-completion reads PREFIX/share for /usr/local, /usr and ~/.local;
# Debian's zsh has /usr/local/share/zsh/site-functions on its fpath (for /usr, packagers give
# --zsh-dir /usr/share/zsh/vendor-completions); fish reads /usr and ~/.local, and /usr/local
# where XDG_DATA_DIRS names /usr/local/share.
# The pages and scripts come from the binary itself (`stripecat man DIR`,
# `stripecat completions SHELL`), so they match it. Nothing outside these paths is touched;
# directories are created as needed and never removed.
#
# Exit codes:
#   0  installed (or uninstalled)
#   2  usage error
#   3  environment: the binary is missing or does not run, a target is not writable
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
bin="$SCRIPT_DIR/../target/release/stripecat"
uninstall=0
bash_dir='' zsh_dir='' fish_dir=''
while [[ $# -gt 0 ]]; do
    case $1 in
        --prefix) sc_need_value "$1" "$#"; prefix=$2; shift ;;
        --destdir) sc_need_value "$1" "$#"; destdir=$2; shift ;;
        --bin) sc_need_value "$1" "$#"; bin=$2; shift ;;
        --uninstall) uninstall=1 ;;
        --bash-dir) sc_need_value "$1" "$#"; bash_dir=$2; shift ;;
        --zsh-dir) sc_need_value "$1" "$#"; zsh_dir=$2; shift ;;
        --fish-dir) sc_need_value "$1" "$#"; fish_dir=$2; shift ;;
        -h | --help) sc_print_help "$0"; exit 0 ;;
        *) sc_usage_error "unknown argument '$1'" ;;
    esac
    shift
done
for dir in "$prefix" "$bash_dir" "$zsh_dir" "$fish_dir"; do
    [[ -z $dir || $dir == /* ]] || sc_usage_error "directories must be absolute paths, got '$dir'"
done
[[ -n $prefix ]] || sc_usage_error "--prefix must not be empty"

root="${destdir%/}${prefix%/}"
bin_dir="$root/bin"
man_dir="$root/share/man/man1"
bash_file="${bash_dir:+${destdir%/}$bash_dir}"
bash_file="${bash_file:-$root/share/bash-completion/completions}/stripecat"
zsh_file="${zsh_dir:+${destdir%/}$zsh_dir}"
zsh_file="${zsh_file:-$root/share/zsh/site-functions}/_stripecat"
fish_file="${fish_dir:+${destdir%/}$fish_dir}"
fish_file="${fish_file:-$root/share/fish/vendor_completions.d}/stripecat.fish"

[[ -f $bin && -x $bin ]] ||
    sc_die 3 "no stripecat binary at $bin" "build it first (cargo build --release), or give --bin FILE"

# Everything is generated into a scratch directory first, so a binary that fails half-way
# leaves nothing half-installed.
work=$(mktemp -d "${TMPDIR:-/tmp}/stripecat-install.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
mkdir "$work/man"
"$bin" man "$work/man" ||
    sc_die 3 "$bin could not write its manual pages" "check that it runs: $bin --version"
for shell in bash zsh fish; do
    "$bin" completions "$shell" >"$work/$shell" ||
        sc_die 3 "$bin could not write its $shell completions" "check that it runs: $bin --version"
done
pages=()
for page in "$work"/man/*.1; do pages+=("${page##*/}"); done

# put SRC DEST MODE -- install one file, creating its directory
put() {
    local why
    if ! why=$(install -d -m 0755 "$(dirname "$2")" 2>&1 && install -m "$3" "$1" "$2" 2>&1); then
        sc_die 3 "cannot install $2: ${why//$'\n'/; }" \
            "run as a user who may write there (sudo), or give --prefix/--destdir"
    fi
    sc_info "installed $2"
}

# drop FILE -- remove one installed file, if there
drop() {
    local why
    [[ -e $1 || -L $1 ]] || return 0
    why=$(rm -f -- "$1" 2>&1) || sc_die 3 "cannot remove $1: $why" "run as a user who may write there (sudo)"
    sc_info "removed $1"
}

if [[ $uninstall -eq 1 ]]; then
    drop "$bin_dir/stripecat"
    for page in "${pages[@]}"; do drop "$man_dir/$page"; done
    drop "$bash_file"
    drop "$zsh_file"
    drop "$fish_file"
    exit 0
fi

put "$bin" "$bin_dir/stripecat" 0755
for page in "${pages[@]}"; do put "$work/man/$page" "$man_dir/$page" 0644; done
put "$work/bash" "$bash_file" 0644
put "$work/zsh" "$zsh_file" 0644
put "$work/fish" "$fish_file" 0644
