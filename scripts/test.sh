#!/bin/bash
# test.sh -- the README's test command: set up a fresh machine, then run every test.
#
# Usage: sudo scripts/test.sh [extra cargo test arguments]
#
# Installs what is missing (scripts/install-deps.sh), reserves hugepages
# (scripts/setup-hugepages.sh, as hugepages.conf says), then runs the whole workspace's tests:
# unit tests, the protocol simulator, the set-up scripts' tests and the DPDK integration tests
# on virtual devices (net_ring, net_null, net_pcap, net_af_packet on veth, net_memif). DPDK tests
# need root; here a skipped DPDK or script test is a failure (STRIPECAT_NO_SKIP=1).
#
# Fails first on `cargo fmt --check` and on clippy warnings.
#
# Exit codes: 0 all passed; 1 fmt or clippy; 3 environment (not root, set-up failed); otherwise cargo's code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: error: the DPDK tests need root (hint: sudo scripts/test.sh)" >&2
    exit 3
fi
scripts/install-deps.sh
scripts/setup-hugepages.sh
export STRIPECAT_NO_SKIP=1
export CARGO_TERM_COLOR=never
# Hygiene first, each failure as one line that names the fix.
cargo fmt --all --check >/dev/null 2>&1 || {
    echo "test.sh: error: the tree is not formatted (hint: cargo fmt --all; cargo fmt --all --check lists the hunks)" >&2
    exit 1
}
if ! cargo clippy --workspace --all-targets --release --locked -- -D warnings >/tmp/stripecat-clippy.log 2>&1; then
    grep -E '^(error|warning)' /tmp/stripecat-clippy.log | head -20 >&2
    echo "test.sh: error: clippy found warnings (hint: cargo clippy --workspace --all-targets -- -D warnings)" >&2
    exit 1
fi
cargo build --workspace --release --all-targets --locked
exec cargo test --workspace --release --locked "$@"
