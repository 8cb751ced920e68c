#!/bin/bash
# Tests scripts/soak (the reliability soak): help, usage errors, shellcheck, and as root
# a short real run (two transfers, one per transport) that must report 0 failures.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SOAK="$SCRIPTS/soak"

case_help() {
    t_run "$SOAK" --help
    assert_rc 0
    assert_out_contains "Usage:"
    assert_out_contains "Exit codes:"
}

case_usage_errors() {
    local args
    for args in "--bogus" "--minutes" "--minutes 0" "--minutes x" "--size 12Q" "--size 1K" \
        "--transports memif,tcp" "--limit 0" "--seed -1" "--transfers x"; do
        # shellcheck disable=SC2086 # split on purpose
        t_run "$SOAK" $args
        [[ $T_RC -eq 2 ]] || { t_show; t_fail "soak $args: exit $T_RC, want 2"; }
        [[ $(wc -l <<<"$T_ERR") -eq 1 && $T_ERR == "soak: error: "* ]] || { t_show; t_fail "soak $args: not one error line"; }
    done
}

case_shellcheck() {
    command -v shellcheck >/dev/null 2>&1 || { echo "    (shellcheck not installed: not checked)"; return 0; }
    t_run shellcheck --severity=style "$SOAK"
    assert_rc 0
    grep -qx 'set -euo pipefail' "$SOAK" || t_fail "scripts/soak lacks 'set -euo pipefail'"
    [[ -x $SOAK ]] || t_fail "scripts/soak is not executable"
}

case_short_run() {
    local bin="$REPO_ROOT/target/release/stripecat"
    [[ -x $bin ]] || t_fail "$bin not built (cargo build --release first)"
    t_run "$SOAK" --minutes 1 --transfers 2 --size 2M --no-build --keep "$T_CASE_DIR/keep" --seed 7
    [[ $T_RC -eq 0 ]] || { t_show; t_fail "soak exited $T_RC"; }
    assert_out_contains "soak: 2 transfers (memif 1, afpacket 1)"
    assert_out_contains " 0 failures"
    jq -e '.transfers == 2 and .failures == 0 and .bytes > 0 and .peak_hugetlb_kib.send > 0' "$T_CASE_DIR/keep/soak.json" >/dev/null ||
        t_fail "soak.json: $(cat "$T_CASE_DIR/keep/soak.json")"
}

t_case "--help" case_help
t_case "usage errors exit 2 with one line" case_usage_errors
t_case "shellcheck-clean, strict mode, executable" case_shellcheck
[[ $EUID -eq 0 ]] || { t_done; t_skip "needs root for the real transfers"; }
t_case "a short real soak: 2 transfers, 0 failures" case_short_run
t_done
