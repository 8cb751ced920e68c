#!/bin/bash
# Tests scripts/bench (the comparison suite): help, usage errors, shellcheck, and as root a short
# real run (nc, the kernel UDP case and one byte over memif) whose report carries the cost columns,
# the targets section and the JSON fields. tests/scripts.rs holds /tmp/stripecat-dpdk-tests.lock
# around this test (MACHINE_WIDE), so the run here passes --no-lock; by hand, run it under
# `flock /tmp/stripecat-dpdk-tests.lock bash tests/scripts/test_bench.sh`.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

BENCH="$SCRIPTS/bench"

case_help() {
    t_run "$BENCH" --help
    assert_rc 0
    assert_out_contains "Usage:"
    assert_out_contains "Exit codes:"
    local o
    for o in --shaped-mtu --shaped-rates --shaped-cases memif2-1500 memif2-loss memif2-loss-1500 memif2-key udp4-key udp4 onebyte \
        "CPU s/GiB" "packets/CPU-s" Targets; do
        assert_out_contains "$o"
    done
}

case_usage_errors() {
    local args
    for args in "--bogus" "--size" "--size 12Q" "--rounds 0" "--cases" "--cases nc,memif9" "--parts transfer,x" \
        "--shaped-mtu 10" "--shaped-mtu 1500,9001" "--shaped-rates 1gbit,fast" "--shaped-rates 1gbps" \
        "--shaped-cases stripecat,other" "--cap-sizes 63" "--limit 0"; do
        # shellcheck disable=SC2086 # split on purpose
        t_run "$BENCH" $args
        [[ $T_RC -eq 2 ]] || { t_show; t_fail "bench $args: exit $T_RC, want 2"; }
        [[ $(wc -l <<<"$T_ERR") -eq 1 && $T_ERR == "bench: error: "* ]] || { t_show; t_fail "bench $args: not one error line"; }
    done
}

case_shellcheck() {
    command -v shellcheck >/dev/null 2>&1 || { echo "    (shellcheck not installed: not checked)"; return 0; }
    t_run shellcheck --severity=style "$BENCH"
    assert_rc 0
    grep -qx 'set -euo pipefail' "$BENCH" || t_fail "scripts/bench lacks 'set -euo pipefail'"
    [[ -x $BENCH ]] || t_fail "scripts/bench is not executable"
}

case_short_run() {
    local bin="$REPO_ROOT/target/release/stripecat" j="$T_CASE_DIR/results.json"
    [[ -x $bin ]] || t_fail "$bin not built (cargo build --release first)"
    t_run "$BENCH" --no-build --no-plots --no-lock --rounds 1 --size 64M --parts transfer --mem-sizes none \
        --cases nc,udp4,onebyte --json "$j"
    [[ $T_RC -eq 0 ]] || { t_show; t_fail "bench exited $T_RC"; }
    assert_out_contains "| case | median s | Gbit/s (median) | wall vs nc | CPU s (median) | CPU s/GiB (median) | CPU/GiB vs nc | packets/CPU-s (median) |"
    assert_out_contains "Targets (medians of this run"
    assert_out_contains "| one byte over memif, peer up: <= 150 ms wall |"
    assert_out_contains "| kernel --udp --paths 4 on loopback: wall >= 0.8x nc |"
    assert_out_contains "| memif2 MTU 9000: wall >= 2.0x nc | not run | - |"
    grep -Eq '^\| one byte over memif.*\| (PASS|MISS) \|$' <<<"$T_OUT" || { t_show; t_fail "onebyte target without PASS/MISS"; }
    # (CPU times come in 10 ms steps: a quick nc run can read 0, and then it has no ratio)
    jq -e '.summary.nc.cpu_s_per_gib >= 0 and (.summary.nc.cpu_ratio_to_nc == 1 or .summary.nc.cpu_s_per_gib == 0)
        and .summary.nc.wall_ratio_to_nc == 1 and .summary.udp4.cpu_s_per_gib >= 0 and .summary.onebyte.bytes == 1 and .summary.onebyte.cpu_s_per_gib == null
        and .summary.onebyte.packets_per_cpu_s > 0 and .summary.onebyte.median_cpu_seconds > 0
        and ([.runs[] | select(.case == "onebyte") | .packets > 0 and .cpu_seconds > 0] | all)
        and ([.targets[] | select(.target | startswith("one byte")) | .pass | type == "boolean"] == [true])
        and ([.targets[] | select(.target | startswith("memif2 MTU 9000")) | .pass] == [null, null])' "$j" >/dev/null ||
        t_fail "results.json: $(jq -c '{summary, targets}' "$j")"
}

t_case "--help" case_help
t_case "usage errors exit 2 with one line" case_usage_errors
t_case "shellcheck-clean, strict mode, executable" case_shellcheck
[[ $EUID -eq 0 ]] || { t_done; t_skip "needs root for the real run"; }
t_case "a short real run: cost columns, targets, JSON fields" case_short_run
t_done
