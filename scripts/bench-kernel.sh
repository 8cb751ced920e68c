#!/bin/bash
# bench-kernel.sh -- loopback throughput of the kernel-socket transports against nc, in one run.
#
# Usage: scripts/bench-kernel.sh [SIZE] [RUNS]
#   SIZE  test file size for head -c (default 2G), written to tmpfs (/dev/shm)
#   RUNS  runs per case; the best is reported (default 3)
# Env:    STRIPECAT (default target/release/stripecat, built if missing), BENCH_PORT (default 47800)
#
# Every case moves the same file from /dev/shm to /dev/null over 127.0.0.1 and is timed from the
# sender's start to both ends' exit. Prints a Markdown table with rates and ratios to nc.
# Exit codes: 0 ok; 1 a transfer failed; 3 missing tool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size=${1:-2G}
runs=${2:-3}
port=${BENCH_PORT:-47800}
bin=${STRIPECAT:-target/release/stripecat}
for tool in nc head date awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-kernel.sh: error: $tool not found (hint: scripts/install-deps.sh)" >&2; exit 3; }
done
if [[ ! -x $bin ]]; then
    cargo build --release --bin stripecat
fi

file=$(mktemp /dev/shm/sc-bench.XXXXXX)
trap 'rm -f "$file"' EXIT
head -c "$size" /dev/urandom >"$file"
bytes=$(stat -c %s "$file")

# wait_port PROTO PORT: until something listens (TCP) or is bound (UDP) there, without connecting.
wait_port() {
    local table=/proc/net/$1 hex
    hex=$(printf '%04X' "$2")
    for _ in $(seq 1 500); do
        if awk -v p=":$hex" '$2 ~ p"$" {found=1} END {exit !found}' "$table"; then
            return 0
        fi
        sleep 0.01
    done
    echo "bench-kernel.sh: error: nothing on $1 port $2" >&2
    exit 1
}

# one_run NAME PROTO: runs "$recv_cmd" then "$send_cmd" (arrays set by the caller); prints seconds.
one_run() {
    local proto=$1 t0 t1 rpid
    "${recv_cmd[@]}" >/dev/null 2>/dev/null &
    rpid=$!
    wait_port "$proto" "$port"
    t0=$(date +%s.%N)
    "${send_cmd[@]}" <"$file" >/dev/null 2>/dev/null || { echo "bench-kernel.sh: error: sender failed: ${send_cmd[*]}" >&2; exit 1; }
    wait "$rpid" || { echo "bench-kernel.sh: error: receiver failed: ${recv_cmd[*]}" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

# best NAME PROTO OFFSET: the fastest of $runs runs, in seconds (ports from $port + OFFSET, one per
# run, so no run meets the previous one's TIME_WAIT).
best() {
    local b="" s i
    for i in $(seq 1 "$runs"); do
        port=$((${BENCH_PORT:-47800} + $3 + i))
        set_cmds "$1"
        s=$(one_run "$2")
        if [[ -z $b ]] || awk -v s="$s" -v b="$b" 'BEGIN {exit !(s < b)}'; then
            b=$s
        fi
    done
    echo "$b"
}

set_cmds() {
    case $1 in
    nc)
        recv_cmd=(nc -l 127.0.0.1 "$port")
        send_cmd=(nc -N 127.0.0.1 "$port")
        ;;
    tcp1)
        recv_cmd=("$bin" recv -q --tcp --listen "127.0.0.1:$port" /dev/null)
        send_cmd=("$bin" send -q --tcp "127.0.0.1:$port" "$file")
        ;;
    tcp4)
        recv_cmd=("$bin" recv -q --tcp --listen "127.0.0.1:$port" --streams 4 /dev/null)
        send_cmd=("$bin" send -q --tcp "127.0.0.1:$port" --streams 4 "$file")
        ;;
    udp4)
        recv_cmd=("$bin" recv -q --udp --listen "127.0.0.1:$port" /dev/null)
        send_cmd=("$bin" send -q --udp "127.0.0.1:$port" --paths 4 "$file")
        ;;
    esac
}

declare -a recv_cmd send_cmd
echo "file: $bytes bytes on /dev/shm; best of $runs; $(nproc) CPUs; kernel $(uname -r)"
nc_s=$(best nc tcp 0)
echo
echo "| case | command | seconds | Gbit/s | vs nc |"
echo "|---|---|---|---|---|"
row() {
    local name=$1 s=$2 what=$3
    awk -v n="$name" -v w="$what" -v s="$s" -v b="$bytes" -v nc="$nc_s" \
        'BEGIN {printf "| %s | `%s` | %.2f | %.2f | %.2fx |\n", n, w, s, b * 8 / s / 1e9, nc / s}'
}
row "nc (netcat-openbsd)" "$nc_s" "nc -N 127.0.0.1 PORT < FILE"
row "tcp, 1 stream" "$(best tcp1 tcp 20)" "send --tcp 127.0.0.1:PORT FILE"
row "tcp, 4 streams" "$(best tcp4 tcp 40)" "send --tcp 127.0.0.1:PORT --streams 4 FILE"
row "udp, 4 paths" "$(best udp4 udp 60)" "send --udp 127.0.0.1:PORT --paths 4 FILE"
