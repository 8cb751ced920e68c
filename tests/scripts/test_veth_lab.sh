#!/bin/bash
# Runs scripts/veth-lab.sh for real (root): argument checks, then `up 2 --rate --netns --addr`,
# ping across each pair, tbf on every end, IPv6 and offloads off, replacement by a second `up`,
# `down`, and nothing left behind. Uses a prefix unique to this run; a trap removes the lab
# even when a case fails. Skipped (exit 77) when not root.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

LAB="$SCRIPTS/veth-lab.sh"

case_help() {
    t_run "$LAB" --help
    assert_rc 0
    assert_out_contains "Usage: scripts/veth-lab.sh up N"
    assert_out_contains "Exit codes"
}

case_usage_errors() {
    t_run "$LAB"
    assert_rc 2
    assert_err_contains "missing command"
    assert_one_error_line
    t_run "$LAB" sideways
    assert_rc 2
    assert_err_contains "unknown command 'sideways'"
    t_run "$LAB" up
    assert_rc 2
    assert_err_contains "'up' needs the number of pairs"
    t_run "$LAB" up 0
    assert_rc 2
    assert_err_contains "number of pairs must be 1..256"
    t_run "$LAB" up 257
    assert_rc 2
    t_run "$LAB" up 2 --mtu 9
    assert_rc 2
    assert_err_contains "--mtu must be 68..65535"
    t_run "$LAB" up 2 --rate fast
    assert_rc 2
    assert_err_contains "bad --rate 'fast'"
    assert_one_error_line
    t_run "$LAB" up 2 --rate 1gbps
    assert_rc 2
    t_run "$LAB" up 2 --prefix Bad
    assert_rc 2
    assert_err_contains "bad --prefix 'Bad'"
    t_run "$LAB" up 2 --prefix lab7
    assert_rc 2
    assert_err_contains "do not end in a digit"
    t_run "$LAB" up 2 --prefix abcdefghijklmno
    assert_rc 2
    assert_err_contains "longer than 15 characters"
    t_run "$LAB" down --mtu 1500
    assert_rc 2
    assert_err_contains "unknown argument '--mtu' for 'down'"
    t_run "$LAB" up 2 --mtu
    assert_rc 2
    assert_err_contains "option --mtu needs a value"
    t_run "$LAB" up 2 --rates 1gbit
    assert_rc 2
    assert_err_contains "--rates needs 2 rate(s), one per pair"
    assert_one_error_line
    t_run "$LAB" up 2 --rates 1gbit,2gbit,3gbit
    assert_rc 2
    t_run "$LAB" up 2 --rates 1gbit,fast
    assert_rc 2
    assert_err_contains "bad rate in --rates: 'fast'"
    t_run "$LAB" up 2 --rate 1gbit --rates 1gbit,1gbit
    assert_rc 2
    assert_err_contains "give --rate or --rates, not both"
}

[[ $EUID -eq 0 ]] || { t_case "--help" case_help; t_case "usage errors" case_usage_errors; t_done; t_skip "needs root for the real lab"; }
command -v ping >/dev/null 2>&1 || t_skip "ping not installed (scripts/install-deps.sh installs iputils-ping)"

P="t$(printf '%04x' $((RANDOM % 65536)))x"   # e.g. t1a2bx: unique per run, ends in a letter
NS="$P-ns"
t_on_exit "'$LAB' down --prefix $P; ip netns del $NS; ip link del ${P}0a; ip link del ${P}1a; ip link del ${P}0b; ip link del ${P}1b"

# nothing_left -- no interface or namespace of this prefix anywhere
nothing_left() {
    local links
    links=$(ip -o link show | awk '{ print $2 }' | grep "^${P}" || true)
    [[ -z $links ]] || t_fail "interfaces left behind: $links"
    if ip netns list | awk '{ print $1 }' | grep -qxF "$NS"; then t_fail "namespace $NS left behind"; fi
}

case_up_netns_addr_rate() {
    t_run "$LAB" up 2 --rate 100mbit --netns --addr --mtu 9000 --prefix "$P"
    assert_rc 0
    assert_out_contains "pair 0: ${P}0a <-> ${P}0b (in $NS), 198.18.0.1 <-> 198.18.0.2, tbf 100mbit burst 90140"
    assert_out_contains "pair 1: ${P}1a <-> ${P}1b (in $NS), 198.18.1.1 <-> 198.18.1.2"
    assert_out_contains "lab '$P' up: 2 pair(s), mtu 9000"
    local i
    for i in 0 1; do
        ip -o link show dev "${P}${i}a" | grep -q "state UP" || t_fail "${P}${i}a is not up"
        ip -o link show dev "${P}${i}a" | grep -q "mtu 9000" || t_fail "${P}${i}a mtu"
        ip -n "$NS" -o link show dev "${P}${i}b" | grep -q "mtu 9000" || t_fail "${P}${i}b mtu"
        ip -o -4 addr show dev "${P}${i}a" | grep -q "198.18.$i.1/24" || t_fail "${P}${i}a address"
        ip -n "$NS" -o -4 addr show dev "${P}${i}b" | grep -q "198.18.$i.2/24" || t_fail "${P}${i}b address"
        tc qdisc show dev "${P}${i}a" root | grep -q "tbf .*rate 100Mbit" || t_fail "no tbf on ${P}${i}a: $(tc qdisc show dev "${P}${i}a")"
        ip netns exec "$NS" tc qdisc show dev "${P}${i}b" root | grep -q "tbf .*rate 100Mbit" || t_fail "no tbf on ${P}${i}b"
        assert_eq 1 "$(sysctl -n "net.ipv6.conf.${P}${i}a.disable_ipv6")" "IPv6 disabled on ${P}${i}a"
        assert_eq 1 "$(ip netns exec "$NS" sysctl -n "net.ipv6.conf.${P}${i}b.disable_ipv6")" "IPv6 disabled on ${P}${i}b"
        if command -v ethtool >/dev/null 2>&1; then
            ethtool -k "${P}${i}a" | grep -q "^tx-checksumming: off" || t_fail "tx checksum offload still on for ${P}${i}a"
            ethtool -k "${P}${i}a" | grep -q "^generic-segmentation-offload: off" || t_fail "GSO still on for ${P}${i}a"
        fi
        ip link show dev "${P}${i}b" >/dev/null 2>&1 && t_fail "${P}${i}b should be inside $NS only"
    done
    ip -n "$NS" -o link show dev lo | grep -q "UP" || t_fail "lo is not up in $NS"
    ip -6 -o addr show dev "${P}0a" | grep -q inet6 && t_fail "${P}0a has an IPv6 address"
    return 0
}

case_ping_across_pairs() {
    ping -c 3 -i 0.2 -W 2 -I "${P}0a" 198.18.0.2 >"$T_CASE_DIR/ping0" 2>&1 || t_fail "ping over pair 0 failed: $(cat "$T_CASE_DIR/ping0")"
    ip netns exec "$NS" ping -c 3 -i 0.2 -W 2 198.18.1.1 >"$T_CASE_DIR/ping1" 2>&1 || t_fail "ping over pair 1 failed: $(cat "$T_CASE_DIR/ping1")"
    # a full-size frame crosses too (mtu 9000, DF set)
    ping -c 1 -W 2 -M 'do' -s 8972 198.18.1.2 >"$T_CASE_DIR/ping2" 2>&1 || t_fail "jumbo ping failed: $(cat "$T_CASE_DIR/ping2")"
    grep -q " 0% packet loss" "$T_CASE_DIR/ping0" || t_fail "loss on pair 0"
    # and the frames really went through the veth (tbf counted them)
    tc -s qdisc show dev "${P}0a" root | grep -q "Sent [1-9]" || t_fail "tbf on ${P}0a saw no packets"
}

case_status() {
    t_run "$LAB" status --prefix "$P"
    assert_rc 0
    assert_out_contains "lab $P:"
    assert_out_contains "${P}0a"
    assert_out_contains "namespace $NS:"
    assert_out_contains "${P}1b"
    assert_out_contains "198.18.1.2/24"
    assert_out_contains "rate 100Mbit"
    t_run "$LAB" status
    assert_rc 0
    assert_out_contains "lab $P:"
}

case_up_replaces() {
    t_run "$LAB" up 1 --prefix "$P"
    assert_rc 0
    ip -o link show dev "${P}0a" >/dev/null || t_fail "${P}0a missing"
    ip -o link show dev "${P}0b" >/dev/null || t_fail "${P}0b should be in the root namespace now"
    ip -o link show dev "${P}1a" >/dev/null 2>&1 && t_fail "${P}1a from the old lab still there"
    if ip netns list | awk '{ print $1 }' | grep -qxF "$NS"; then t_fail "old namespace still there"; fi
    [[ -z $(ip -o -4 addr show dev "${P}0a") ]] || t_fail "addresses without --addr"
    tc qdisc show dev "${P}0a" root | grep -q tbf && t_fail "tbf without --rate"
    return 0
}

case_down_leaves_others_alone() {
    # an interface that merely looks like ours (same name pattern, no lab alias) survives `down`
    ip link add "${P}7a" type veth peer name "${P}7b"
    t_run "$LAB" up 1 --prefix "$P" --netns
    assert_rc 0
    t_run "$LAB" down --prefix "$P"
    assert_rc 0
    assert_out_contains "deleted namespace $NS"
    ip -o link show dev "${P}7a" >/dev/null || t_fail "${P}7a (not ours) was deleted"
    # a name collision with a foreign interface is refused at up
    ip link del "${P}7a"
    ip link add "${P}0a" type veth peer name "${P}0z"
    t_run "$LAB" up 1 --prefix "$P"
    assert_rc 3
    assert_err_contains "interface ${P}0a already exists and is not part of a '$P' lab"
    assert_one_error_line
    ip link del "${P}0a"
}

case_down() {
    t_run "$LAB" up 2 --netns --addr --rate 1gbit --prefix "$P"
    assert_rc 0
    t_run "$LAB" down --prefix "$P"
    assert_rc 0
    assert_out_contains "removed 2 veth pair(s) with prefix '$P'"
    nothing_left
    t_run "$LAB" down --prefix "$P"
    assert_rc 0
    assert_out_contains "removed 0 veth pair(s)"
    # both ends in the root namespace
    t_run "$LAB" up 3 --prefix "$P"
    assert_rc 0
    t_run "$LAB" down --prefix "$P"
    assert_rc 0
    assert_out_contains "removed 3 veth pair(s) with prefix '$P'"
    nothing_left
}

case_failure_midway_leaves_nothing() {
    # tc refuses the qdisc on the first end: up must fail with exit 3 and remove what it made
    mkdir -p "$T_CASE_DIR/bin"
    printf '#!/bin/sh\necho "RTNETLINK answers: Operation not supported (fake)" >&2\nexit 2\n' >"$T_CASE_DIR/bin/tc"
    chmod +x "$T_CASE_DIR/bin/tc"
    PATH="$T_CASE_DIR/bin:$PATH" t_run "$LAB" up 2 --rate 1gbit --netns --addr --prefix "$P"
    assert_rc 3
    assert_err_contains "tc refused tbf on ${P}0a"
    assert_one_error_line
    nothing_left
}

case_not_root() {
    can_run_as_nobody || { echo "    (no setpriv: case not applicable)"; return 0; }
    t_run as_nobody "$LAB" up 1 --prefix "$P"
    assert_rc 3
    assert_err_contains "creating veth pairs needs root"
    assert_one_error_line
    t_run as_nobody "$LAB" down --prefix "$P"
    assert_rc 3
    nothing_left
}

case_rates_per_pair() {
    t_run "$LAB" up 2 --rates 200mbit,20mbit --netns --mtu 9000 --prefix "$P"
    assert_rc 0
    assert_out_contains "pair 0: ${P}0a <-> ${P}0b (in $NS), tbf 200mbit burst 100000"
    assert_out_contains "pair 1: ${P}1a <-> ${P}1b (in $NS), tbf 20mbit burst 90140"
    tc qdisc show dev "${P}0a" root | grep -q "tbf .*rate 200Mbit" || t_fail "pair 0: $(tc qdisc show dev "${P}0a")"
    ip netns exec "$NS" tc qdisc show dev "${P}0b" root | grep -q "tbf .*rate 200Mbit" || t_fail "pair 0, b end"
    tc qdisc show dev "${P}1a" root | grep -q "tbf .*rate 20Mbit" || t_fail "pair 1: $(tc qdisc show dev "${P}1a")"
    ip netns exec "$NS" tc qdisc show dev "${P}1b" root | grep -q "tbf .*rate 20Mbit" || t_fail "pair 1, b end"
}

t_case "--help" case_help
t_case "usage errors exit 2 with one line" case_usage_errors
t_case "up 2 --rate --netns --addr --mtu builds the lab" case_up_netns_addr_rate
t_case "ping crosses both pairs through tbf" case_ping_across_pairs
t_case "status lists both sides" case_status
t_case "up 2 --rates shapes each pair at its own rate" case_rates_per_pair
t_case "up again replaces the lab" case_up_replaces
t_case "down never touches interfaces that are not ours" case_down_leaves_others_alone
t_case "down removes everything, twice is fine" case_down
t_case "a failure half-way through up leaves nothing behind" case_failure_midway_leaves_nothing
t_case "without root: exit 3" case_not_root
t_done
