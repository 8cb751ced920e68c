#!/bin/bash
# install-deps.sh -- install everything stripecat needs to build and test (Debian/Ubuntu, apt).
#
# Usage: scripts/install-deps.sh [--check] [--help]
#
#   (no option)  install whatever is missing (needs root). Idempotent and fast: packages are
#                checked with dpkg-query first, and `apt-get update` + `apt-get install` run
#                only when something is missing.
#   --check      only list what is missing, one package per line; installs nothing, no root needed.
#   -h, --help   show this help.
#
# What gets installed:
#   DPDK         dpdk dpdk-dev libdpdk-dev, and the PMD runtime packages the tests use:
#                librte-net-{ring,null,pcap,af-packet,memif}<ABI> (the ABI suffix, e.g. 23 for
#                DPDK 22.11 on Debian 12, is found with dpkg-query/apt-cache, not hard-coded)
#   build        libpcap-dev pkg-config clang libclang-dev
#   host set-up  iproute2 kmod ethtool (used by setup-hugepages.sh, bind-nics.sh, veth-lab.sh)
#   test peers   netcat-openbsd ncat socat iperf3 iputils-ping
#   bench tools  time jq (scripts/bench), fonts-dejavu-core (its PNG plots); dpdk-testpmd comes with dpdk
#   lint         shellcheck (tests/scripts/test_shellcheck.sh)
#   packaging    man-db zsh fish (tests/packaging.rs renders the man pages and loads the
#                completions in each shell)
#
# Exit codes:
#   0  everything is installed (or was just installed)
#   1  --check: something is missing (listed on stdout)
#   2  usage error
#   3  environment: not root, not an apt system, apt-get failed, or DPDK still not usable
#      by pkg-config after installing
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

PACKAGES=(
    dpdk dpdk-dev libdpdk-dev
    libpcap-dev pkg-config clang libclang-dev
    iproute2 kmod ethtool
    netcat-openbsd ncat socat iperf3 iputils-ping
    time jq
    shellcheck
    fonts-dejavu-core
    man-db zsh fish
)
# PMD runtime packages: stem -> package name is "<stem><ABI>" (librte-net-ring23, ...).
PMD_STEMS=(librte-net-ring librte-net-null librte-net-pcap librte-net-af-packet librte-net-memif)

check_only=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --check) check_only=1 ;;
        -h | --help) sc_print_help "$0"; exit 0 ;;
        *) sc_usage_error "unknown argument '$1'" ;;
    esac
    shift
done

command -v dpkg-query >/dev/null 2>&1 ||
    sc_die 3 "dpkg-query not found: this script supports Debian/Ubuntu (apt) only" \
        "install the equivalent packages with your distribution's tools (see --help for the list)"

# is_installed PKG -- true when dpkg says the package is fully installed
is_installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
    [[ $status == installed ]]
}

# installed_pmd STEM -- print the installed package for a PMD stem (any ABI suffix), if any
installed_pmd() {
    local stem=$1
    # "librte-net-ring*" also matches "librte-net-ring-dev"-like names; accept only <stem><digits>.
    dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${stem}*" 2>/dev/null |
        awk -v stem="$stem" '$2 == "installed" && substr($1, 1, length(stem)) == stem &&
             substr($1, length(stem) + 1) ~ /^-?[0-9]+$/ { print $1; exit }'
}

# missing_list -- print every missing package (PMDs as "<stem>*")
missing_list() {
    local p
    for p in "${PACKAGES[@]}"; do
        is_installed "$p" || printf '%s\n' "$p"
    done
    for p in "${PMD_STEMS[@]}"; do
        [[ -n $(installed_pmd "$p") ]] || printf '%s*\n' "$p"
    done
}

# resolve_pmd STEM -- the concrete package apt can install for a PMD stem
resolve_pmd() {
    local stem=$1
    apt-cache pkgnames "$stem" 2>/dev/null |
        awk -v stem="$stem" 'substr($1, length(stem) + 1) ~ /^-?[0-9]+$/' | sort -V | tail -n 1
}

mapfile -t missing < <(missing_list)

if [[ $check_only -eq 1 ]]; then
    if [[ ${#missing[@]} -eq 0 ]]; then
        sc_info "all dependencies are installed"
        exit 0
    fi
    printf '%s\n' "${missing[@]}"
    printf '%s: %d package(s) missing; run: sudo %s\n' "$SC_PROG" "${#missing[@]}" "$0" >&2
    exit 1
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    sc_info "all dependencies are already installed (nothing to do)"
else
    sc_require_root "installing packages"
    command -v apt-get >/dev/null 2>&1 ||
        sc_die 3 "apt-get not found" "this script supports Debian/Ubuntu only"
    export DEBIAN_FRONTEND=noninteractive
    sc_info "missing: ${missing[*]}"
    sc_info "running apt-get update"
    apt-get update -q >&2 ||
        sc_die 3 "apt-get update failed" "check network access to the apt mirrors"
    to_install=()
    for p in "${missing[@]}"; do
        if [[ $p == *'*' ]]; then
            stem=${p%'*'}
            name=$(resolve_pmd "$stem")
            [[ -n $name ]] || sc_die 3 "no package provides the DPDK PMD '$stem' in the apt sources" \
                "check that the distribution ships DPDK >= 22.11 (apt-cache search librte-net)"
            to_install+=("$name")
        else
            to_install+=("$p")
        fi
    done
    sc_info "installing: ${to_install[*]}"
    apt-get install -y -q --no-install-recommends "${to_install[@]}" >&2 ||
        sc_die 3 "apt-get install failed for: ${to_install[*]}" "see the apt output above"
    mapfile -t still < <(missing_list)
    [[ ${#still[@]} -eq 0 ]] ||
        sc_die 3 "still missing after apt-get install: ${still[*]}" "see the apt output above"
fi

# Final sanity check: the build finds DPDK through pkg-config.
if ! dpdk_version=$(pkg-config --modversion libdpdk 2>/dev/null); then
    sc_die 3 "pkg-config cannot find libdpdk although libdpdk-dev is installed" \
        "check PKG_CONFIG_PATH and 'dpkg -L libdpdk-dev | grep libdpdk.pc'"
fi
sc_info "DPDK $dpdk_version found by pkg-config"
