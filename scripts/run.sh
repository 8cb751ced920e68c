#!/bin/bash
# run.sh -- the README's main-job command: set up a fresh machine, build, and move data with
# stripecat on virtual devices (no NIC needed).
#
# Usage: sudo scripts/run.sh [--size BYTES]      (default 256M)
#
# 1. installs what is missing and reserves hugepages (scripts/install-deps.sh, setup-hugepages.sh);
# 2. builds the release binary;
# 3. `stripecat selftest`: both ends in one process over in-memory ring links, digest checked;
# 4. a two-process transfer over 2 memif links of a generated file, compared with cmp.
#
# Exit codes: 0 ok; 2 usage; 3 environment (not root, set-up failed); otherwise the failing
# step's exit code (stripecat's: 4 transfer failed, 5 integrity failure; cmp's 1: files differ).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size=256M
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size=${2:?--size needs a value}; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: error: unknown argument $1 (hint: scripts/run.sh --help)" >&2; exit 2 ;;
    esac
done
if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh: error: DPDK needs root (hint: sudo scripts/run.sh)" >&2
    exit 3
fi
scripts/install-deps.sh
scripts/setup-hugepages.sh
cargo build --release --locked
bin=target/release/stripecat
"$bin" --version

echo "+ stripecat selftest --size $size"
"$bin" selftest --size "$size"

work=$(mktemp -d /tmp/stripecat-run.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
echo "+ generating $size of random data"
head -c "$size" /dev/urandom > "$work/in.bin"
ports_recv=() ports_send=()
for i in 0 1; do
    ports_recv+=(--port "net_memif$i,role=server,socket=$work/m$i.sock,socket-abstract=no,bsize=16384")
    ports_send+=(--port "net_memif$i,role=client,socket=$work/m$i.sock,socket-abstract=no,bsize=16384")
done
echo "+ stripecat recv ${ports_recv[*]} --mtu 9000 out.bin  &  stripecat send ${ports_send[*]} --mtu 9000 in.bin"
"$bin" recv "${ports_recv[@]}" --mtu 9000 "$work/out.bin" &
recv_pid=$!
"$bin" send "${ports_send[@]}" --mtu 9000 "$work/in.bin"
wait "$recv_pid"
cmp "$work/in.bin" "$work/out.bin"
echo "run.sh: two-process memif transfer of $size verified with cmp"
