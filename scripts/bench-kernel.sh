#!/bin/bash
# bench-kernel.sh -- loopback throughput of the kernel-socket transports against nc, in one run.
#
# Usage: scripts/bench-kernel.sh [SIZE] [RUNS]
#   SIZE  test file size for head -c (default 2G), written to tmpfs (/dev/shm)
#   RUNS  rounds; each round runs every case once, interleaved (default 5); median and best reported
# Env:    STRIPECAT (default target/release/stripecat, built if missing), BENCH_PORT (default 47800)
#
# Every case moves the same file from /dev/shm to /dev/null over 127.0.0.1 and is timed from the
# sender's start to both ends' exit. Prints a Markdown table with rates and ratios to nc.
# Exit codes: 0 ok; 1 a transfer failed; 3 missing tool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size=${1:-2G}
runs=${2:-5}
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
cases=(nc tcp1 tcp4 udp4)
declare -A proto=([nc]=tcp [tcp1]=tcp [tcp4]=tcp [udp4]=udp) times=()
echo "file: $bytes bytes on /dev/shm; $runs rounds, cases interleaved in each; $(nproc) CPUs; kernel $(uname -r)"
# Rounds run every case once, in turn, so a burst of load from elsewhere on the machine hits all cases
# alike; each run gets its own port (no TIME_WAIT from the previous one).
for r in $(seq 1 "$runs"); do
    for i in "${!cases[@]}"; do
        c=${cases[$i]}
        port=$((${BENCH_PORT:-47800} + r * 10 + i))
        set_cmds "$c"
        t=$(one_run "${proto[$c]}") || exit 1
        times[$c]="${times[$c]:-} $t"
    done
done

# summarize "T1 T2 ...": "MEDIAN BEST"
summarize() {
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1]}'
}
read -r nc_med nc_best <<<"$(summarize "${times[nc]}")"
echo
echo "| case (receiver / sender) | median s | best s | Gbit/s (median) | vs nc (median) | vs nc (best) |"
echo "|---|---|---|---|---|---|"
row() {
    local c=$1 what=$2 med best
    read -r med best <<<"$(summarize "${times[$c]}")"
    awk -v w="$what" -v m="$med" -v x="$best" -v b="$bytes" -v nm="$nc_med" -v nb="$nc_best" \
        'BEGIN {printf "| %s | %.2f | %.2f | %.2f | %.2fx | %.2fx |\n", w, m, x, b * 8 / m / 1e9, nm / m, nb / x}'
}
# shellcheck disable=SC2016 # the backticks are Markdown code spans, not command substitutions
row nc '`nc -l 127.0.0.1 PORT` / `nc -N 127.0.0.1 PORT < FILE`'
# shellcheck disable=SC2016
row tcp1 '`recv --tcp --listen 127.0.0.1:PORT` / `send --tcp 127.0.0.1:PORT FILE`'
# shellcheck disable=SC2016
row tcp4 '`... --streams 4` on both ends'
# shellcheck disable=SC2016
row udp4 '`recv --udp --listen 127.0.0.1:PORT` / `send --udp 127.0.0.1:PORT --paths 4 FILE`'
