#!/bin/bash
# run.sh -- the README's main-job command: set up a fresh machine, build, and run stripecat on
# virtual devices (no NIC needed).
#
# Usage: sudo scripts/run.sh
#
# Exit codes: 0 ok; 3 environment (not root, set-up failed); otherwise stripecat's exit code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh: error: DPDK needs root (hint: sudo scripts/run.sh)" >&2
    exit 3
fi
scripts/install-deps.sh
scripts/setup-hugepages.sh
cargo build --release --locked
bin=target/release/stripecat
"$bin" --version
echo "+ stripecat ports --port net_ring0 --port net_null0"
"$bin" ports --port net_ring0 --port net_null0
