#!/bin/bash
# veth-lab.sh -- the virtual links stripecat's tests and benchmarks run on (veth pairs).
#
# Usage: scripts/veth-lab.sh up N [--mtu M] [--rate R | --rates R0,R1,...] [--netns] [--addr] [--prefix P] [--keep-offloads]
#        scripts/veth-lab.sh down [--prefix P]
#        scripts/veth-lab.sh status [--prefix P]
#
#   up N           create N veth pairs P0a/P0b ... P<N-1>a/P<N-1>b (1 <= N <= 256), both ends up.
#                  An existing lab with the same prefix is removed first (up replaces it).
#   --mtu M        MTU of both ends (68..65535, default 1500).
#   --rate R       shape both ends with tbf at R (e.g. 1gbit, 500mbit, 10mbit; units bit, kbit,
#                  mbit, gbit, tbit). burst = max(4 ms at R, 10 frames of MTU+14), latency 20ms.
#   --rates LIST   one rate per pair, comma-separated, in pair order (N of them), e.g.
#                  1gbit,1gbit,1gbit,100mbit: pair i is shaped like --rate with the i-th rate.
#                  Not together with --rate.
#   --netns        move every b end into the namespace P-ns (its lo is brought up too).
#   --addr         a end of pair i gets 198.18.i.1/24, b end 198.18.i.2/24 (RFC 2544 benchmark
#                  range). Without it the ends carry no addresses (DPDK af_packet/pcap use the
#                  raw interfaces). Use --netns with --addr, or the kernel short-cuts traffic
#                  between the two ends through lo instead of sending it over the veth.
#   --prefix P     interface name prefix (default scv): lower-case letter first, letters, digits,
#                  '_' or '-', not ending in a digit; P plus index plus a/b must fit in 15 chars.
#   --keep-offloads  leave checksum/segmentation offloads on (default: turned off with ethtool,
#                  because DPDK af_packet would see partial checksums and 64 KiB GSO frames).
#   down           delete this prefix's pairs and its namespace. Only interfaces created by this
#                  script (name P<i>a/P<i>b AND alias "stripecat-veth-lab:P") are touched; the
#                  namespace is deleted only if it holds nothing else.
#   status         list lab interfaces (all labs, or one prefix) with state, MTU, qdisc, addresses.
#
# Every lab interface has IPv6 disabled (no router solicitations or MLD reports polluting
# DPDK captures).
#
# Exit codes:
#   0  done
#   2  usage error
#   3  environment: not root, missing ip/tc, the kernel refused (no veth, name taken by an
#      interface that is not ours, namespace holds foreign interfaces)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

ALIAS_TAG=stripecat-veth-lab
LATENCY=20ms

[[ $# -gt 0 ]] || sc_usage_error "missing command (up, down or status)"
cmd=$1
shift
case $cmd in
    -h | --help) sc_print_help "$0"; exit 0 ;;
    up | down | status) ;;
    *) sc_usage_error "unknown command '$cmd' (expected up, down or status)" ;;
esac

count=""
mtu=1500
rate=""
rates_arg=""
netns=0
addr=0
prefix=scv
prefix_given=0
offloads_off=1
if [[ $cmd == up ]]; then
    [[ $# -gt 0 && $1 != -* ]] || sc_usage_error "'up' needs the number of pairs, e.g. 'up 2'"
    count=$1
    shift
fi
while [[ $# -gt 0 ]]; do
    case $1 in
        --prefix) sc_need_value "$1" $#; prefix=$2; prefix_given=1; shift ;;
        --prefix=*) prefix=${1#--prefix=}; prefix_given=1 ;;
        -h | --help) sc_print_help "$0"; exit 0 ;;
        *)
            [[ $cmd == up ]] || sc_usage_error "unknown argument '$1' for '$cmd'"
            case $1 in
                --mtu) sc_need_value "$1" $#; mtu=$2; shift ;;
                --mtu=*) mtu=${1#--mtu=} ;;
                --rate) sc_need_value "$1" $#; rate=$2; shift ;;
                --rate=*) rate=${1#--rate=} ;;
                --rates) sc_need_value "$1" $#; rates_arg=$2; shift ;;
                --rates=*) rates_arg=${1#--rates=} ;;
                --netns) netns=1 ;;
                --addr) addr=1 ;;
                --keep-offloads) offloads_off=0 ;;
                *) sc_usage_error "unknown argument '$1' for 'up'" ;;
            esac ;;
    esac
    shift
done

[[ $prefix =~ ^[a-z]([a-z0-9_-]*[a-z_-])?$ ]] ||
    sc_usage_error "bad --prefix '$prefix': start with a lower-case letter, use [a-z0-9_-], do not end in a digit"
NS="${prefix}-ns"

if [[ $cmd == up ]]; then
    { sc_is_uint "$count" && [[ $count -ge 1 && $count -le 256 ]]; } ||
        sc_usage_error "number of pairs must be 1..256, got '$count'"
    { sc_is_uint "$mtu" && [[ $mtu -ge 68 && $mtu -le 65535 ]]; } ||
        sc_usage_error "--mtu must be 68..65535, got '$mtu'"
    longest="${prefix}$((count - 1))a"
    [[ ${#longest} -le 15 ]] ||
        sc_usage_error "interface name '$longest' is longer than 15 characters; use a shorter --prefix"
    # rates[i]: pair i's tbf rate ("" = not shaped); rates_bps[i] the same in bit/s
    rates=()
    rates_bps=()
    [[ -z $rate || -z $rates_arg ]] || sc_usage_error "give --rate or --rates, not both"
    if [[ -n $rates_arg ]]; then
        IFS=, read -r -a rates <<<"$rates_arg"
        [[ ${#rates[@]} -eq $count && $rates_arg != *, ]] ||
            sc_usage_error "--rates needs $count rate(s), one per pair, got '$rates_arg'"
    else
        for ((i = 0; i < count; i++)); do rates+=("$rate"); done
    fi
    what=--rate
    [[ -z $rates_arg ]] || what="rate in --rates:"
    for r in "${rates[@]}"; do
        if [[ -z $r ]]; then
            rates_bps+=("")
            continue
        fi
        [[ $r =~ ^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit)$ ]] ||
            sc_usage_error "bad $what '$r' (expected e.g. 1gbit, 500mbit, 10mbit)"
        r_bps=$(awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
            m = (u == "bit") ? 1 : (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : 1e12
            printf "%.0f", n * m }')
        [[ $r_bps -ge 8000 ]] || sc_usage_error "$what '$r' is too small (minimum 8kbit)"
        rates_bps+=("$r_bps")
    done
fi

# ------------------------------------------------------------------ helpers

require_tools() {
    command -v ip >/dev/null 2>&1 || sc_die 3 "'ip' not found" "install iproute2 (scripts/install-deps.sh)"
    if [[ -n ${rate:-}${rates_arg:-} ]]; then
        command -v tc >/dev/null 2>&1 || sc_die 3 "'tc' not found" "install iproute2 (scripts/install-deps.sh)"
    fi
}

ns_exists() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$1"; }

# lab_links [ip-args...] -> "NAME ALIAS" for every link whose alias carries our tag
lab_links() {
    ip "$@" -o link show 2>/dev/null | awk -v tag="$ALIAS_TAG:" '{
        name = $2; sub(/:$/, "", name); sub(/@.*/, "", name)
        alias = ""
        if (match($0, /alias [^ \\]+/)) alias = substr($0, RSTART + 6, RLENGTH - 6)
        if (index(alias, tag) == 1) print name, alias }'
}

# ours_in [ip-args...] -> names of this prefix's lab links
ours_in() {
    local name alias
    while read -r name alias; do
        [[ $alias == "$ALIAS_TAG:$prefix" && $name =~ ^${prefix}[0-9]+[ab]$ ]] && printf '%s\n' "$name"
    done < <(lab_links "$@")
    return 0
}

# burst_bytes BPS -> tbf burst for a rate of BPS bit/s and the MTU
burst_bytes() {
    local per_4ms=$(($1 / 8 / 250)) frames=$((10 * (mtu + 14)))
    local b=$((per_4ms > frames ? per_4ms : frames))
    # With offloads on, veth hands tbf 64 KiB GSO frames; a smaller burst would drop them all.
    [[ $offloads_off -eq 0 && $b -lt 131100 ]] && b=131100
    printf '%s\n' "$b"
}

# run_in SIDE CMD... -> run CMD in the namespace of that end (b is in $NS with --netns)
run_in() {
    local side=$1
    shift
    if [[ $side == b && $netns -eq 1 ]]; then
        ip netns exec "$NS" "$@"
    else
        "$@"
    fi
}

do_down() { # do_down [quiet]
    local quiet=${1:-} n=0 l
    # a ends always live in the root namespace: one per pair
    while read -r l; do
        [[ -n $l ]] || continue
        [[ $l == *a ]] && n=$((n + 1))
        if ip link show dev "$l" >/dev/null 2>&1; then
            ip link del dev "$l" 2>/dev/null || true
        fi
    done < <(ours_in)
    if ns_exists "$NS"; then
        local foreign
        foreign=$(ip -n "$NS" -o link show 2>/dev/null | awk '{ n = $2; sub(/:$/, "", n); sub(/@.*/, "", n); print n }' |
            grep -vx lo | grep -vxF -f <(ours_in -n "$NS"; echo lo) || true)
        if [[ -n $foreign ]]; then
            sc_die 3 "namespace $NS holds interfaces that are not part of the lab: $(echo "$foreign" | paste -sd' ' -)" \
                "move or delete them, then run: $0 down --prefix $prefix"
        fi
        while read -r l; do
            [[ -n $l ]] && { ip -n "$NS" link del dev "$l" 2>/dev/null || true; }
        done < <(ours_in -n "$NS")
        ip netns del "$NS" || sc_die 3 "cannot delete namespace $NS" "is a process still running in it? (ip netns pids $NS)"
        [[ -n $quiet ]] || sc_info "deleted namespace $NS"
    fi
    [[ -n $quiet ]] || sc_info "removed $n veth pair(s) with prefix '$prefix'"
    return 0
}

fail_up() { # fail_up MESSAGE [HINT] -- remove what was made so far, then exit 3
    do_down quiet >/dev/null 2>&1 || true
    sc_die 3 "$1" "${2:-see the message above; nothing of the lab was left behind}"
}

do_up() {
    do_down quiet
    local i a b
    for ((i = 0; i < count; i++)); do
        for a in "${prefix}${i}a" "${prefix}${i}b"; do
            if ip link show dev "$a" >/dev/null 2>&1; then
                fail_up "interface $a already exists and is not part of a '$prefix' lab" \
                    "choose another --prefix or delete $a yourself"
            fi
        done
    done
    if [[ $netns -eq 1 ]]; then
        ip netns add "$NS" || fail_up "cannot create namespace $NS"
        ip -n "$NS" link set lo up || fail_up "cannot bring lo up in $NS"
    fi
    local burst="" have_ethtool=0 have_v6=0 pair_rate
    command -v ethtool >/dev/null 2>&1 && have_ethtool=1
    [[ -d /proc/sys/net/ipv6 ]] && have_v6=1
    if [[ $offloads_off -eq 1 && $have_ethtool -eq 0 ]]; then
        sc_warn "ethtool not found: offloads left on (install it with scripts/install-deps.sh)"
    fi
    for ((i = 0; i < count; i++)); do
        a="${prefix}${i}a"
        b="${prefix}${i}b"
        pair_rate=${rates[i]}
        burst=""
        [[ -z $pair_rate ]] || burst=$(burst_bytes "${rates_bps[i]}")
        ip link add "$a" mtu "$mtu" type veth peer name "$b" mtu "$mtu" ||
            fail_up "cannot create veth pair $a/$b" "is the veth module available? (modprobe veth)"
        { ip link set dev "$a" alias "$ALIAS_TAG:$prefix" && ip link set dev "$b" alias "$ALIAS_TAG:$prefix"; } ||
            fail_up "cannot tag $a/$b with alias $ALIAS_TAG:$prefix"
        if [[ $netns -eq 1 ]]; then
            ip link set dev "$b" netns "$NS" || fail_up "cannot move $b into namespace $NS"
        fi
        local side dev
        for side in a b; do
            dev=$a
            [[ $side == b ]] && dev=$b
            if [[ $have_v6 -eq 1 ]]; then
                run_in "$side" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" ||
                    fail_up "cannot disable IPv6 on $dev"
            fi
            if [[ $offloads_off -eq 1 && $have_ethtool -eq 1 ]]; then
                run_in "$side" ethtool -K "$dev" rx off tx off tso off gso off gro off >/dev/null 2>&1 ||
                    sc_warn "could not turn offloads off on $dev"
            fi
            if [[ -n $pair_rate ]]; then
                run_in "$side" tc qdisc replace dev "$dev" root tbf rate "$pair_rate" burst "$burst" latency "$LATENCY" ||
                    fail_up "tc refused tbf on $dev" "is sch_tbf available? (modprobe sch_tbf)"
            fi
            if [[ $addr -eq 1 ]]; then
                local ip4="198.18.$i.1/24"
                [[ $side == b ]] && ip4="198.18.$i.2/24"
                run_in "$side" ip addr add "$ip4" dev "$dev" || fail_up "cannot add $ip4 to $dev"
            fi
            run_in "$side" ip link set dev "$dev" up || fail_up "cannot bring $dev up"
        done
        sc_info "pair $i: $a <-> $b$([[ $netns -eq 1 ]] && echo " (in $NS)")$([[ $addr -eq 1 ]] && echo ", 198.18.$i.1 <-> 198.18.$i.2")$([[ -n $pair_rate ]] && echo ", tbf $pair_rate burst $burst")"
    done
    if [[ $addr -eq 1 && $netns -eq 0 ]]; then
        sc_warn "--addr without --netns: the kernel delivers traffic between the two ends locally, not over the veth"
    fi
    sc_info "lab '$prefix' up: $count pair(s), mtu $mtu"
}

show_link() { # show_link NAME [ip-args...]
    local name=$1
    shift
    local line qdisc addrs
    line=$(ip "$@" -o link show dev "$name" 2>/dev/null) || return 0
    qdisc=$(ip "$@" -o link show dev "$name" | awk '{ for (i = 1; i < NF; i++) if ($i == "qdisc") print $(i + 1) }')
    if [[ $qdisc == tbf ]] && command -v tc >/dev/null 2>&1; then
        qdisc=$(tc "$@" qdisc show dev "$name" root 2>/dev/null | head -n 1 | sed 's/^qdisc //; s/ root.*refcnt [0-9]*//')
        [[ -n $qdisc ]] || qdisc=tbf
    fi
    addrs=$(ip "$@" -o -4 addr show dev "$name" 2>/dev/null | awk '{ printf "%s ", $4 }')
    printf '  %-15s %-5s mtu %-5s qdisc %-30s %s\n' "$name" \
        "$(awk '{ for (i = 1; i < NF; i++) if ($i == "state") print $(i + 1) }' <<<"$line")" \
        "$(awk '{ for (i = 1; i < NF; i++) if ($i == "mtu") print $(i + 1) }' <<<"$line")" \
        "$qdisc" "${addrs:-no address}"
}

do_status() {
    local -a prefixes=()
    if [[ $prefix_given -eq 1 ]]; then
        prefixes=("$prefix")
    else
        mapfile -t prefixes < <(lab_links | awk '{ sub(/^[^:]*:/, "", $2); print $2 }' | sort -u)
    fi
    if [[ ${#prefixes[@]} -eq 0 ]]; then
        echo "no veth lab is up"
        return 0
    fi
    local p l
    for p in "${prefixes[@]}"; do
        prefix=$p
        NS="${p}-ns"
        printf 'lab %s:\n' "$p"
        while read -r l; do [[ -n $l ]] && show_link "$l"; done < <(ours_in)
        if ns_exists "$NS"; then
            if sc_is_root; then
                printf ' namespace %s:\n' "$NS"
                while read -r l; do [[ -n $l ]] && show_link "$l" -n "$NS"; done < <(ours_in -n "$NS")
            else
                printf ' namespace %s (run as root to list its interfaces)\n' "$NS"
            fi
        fi
    done
}

require_tools
case $cmd in
    up) sc_require_root "creating veth pairs"; do_up ;;
    down) sc_require_root "removing veth pairs"; do_down ;;
    status) do_status ;;
esac
