# shellcheck shell=bash
# Shared helpers for stripecat's set-up scripts (sourced, never executed).
#
# Conventions every script follows:
#   exit 0  success
#   exit 1  a check (--check) found something not in place
#   exit 2  usage error (bad option, malformed argument, bad config value)
#   exit 3  environment / set-up error (not root, missing tool or module,
#           the kernel refused or gave less than asked) -- the same meaning
#           exit code 3 has for the stripecat binary itself.
# Errors are printed as ONE line on stderr:  "<script>: error: <what> (hint: <what to do>)"

SC_PROG=${SC_PROG:-$(basename "$0")}
# Sourced without arguments, so "$*" is still the calling script's command line.
SC_ARGS="$*"

# sc_die CODE MESSAGE [HINT]
sc_die() {
    local code=$1 msg=$2 hint=${3:-}
    if [[ -n $hint ]]; then
        printf '%s: error: %s (hint: %s)\n' "$SC_PROG" "$msg" "$hint" >&2
    else
        printf '%s: error: %s\n' "$SC_PROG" "$msg" >&2
    fi
    exit "$code"
}

# sc_usage_error MESSAGE -- exit 2 pointing at --help
sc_usage_error() {
    sc_die 2 "$1" "run '$SC_PROG --help' for usage"
}

sc_warn() { printf '%s: warning: %s\n' "$SC_PROG" "$*" >&2; }
sc_info() { printf '%s: %s\n' "$SC_PROG" "$*"; }

sc_is_root() { [[ ${EUID:-$(id -u)} -eq 0 ]]; }

# sc_require_root WHAT -- exit 3 unless running as root
sc_require_root() {
    sc_is_root || sc_die 3 "$1 needs root (running as uid ${EUID:-$(id -u)})" \
        "re-run with sudo: sudo $0 ${SC_ARGS:-}"
}

# sc_need_value OPTION "$#" -- make sure an option that takes a value got one
sc_need_value() {
    [[ $2 -ge 2 ]] || sc_usage_error "option $1 needs a value"
}

# sc_is_uint VALUE
sc_is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# sc_print_help FILE -- print the leading comment block of FILE (after the shebang)
sc_print_help() {
    sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$1"
}
