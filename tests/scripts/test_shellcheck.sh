#!/bin/bash
# Runs shellcheck over every set-up script, shared helper, shell test and fixture (all warnings on).
# Skipped (exit 77) when shellcheck is not installed; scripts/install-deps.sh installs it.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v shellcheck >/dev/null 2>&1 || t_skip "shellcheck not installed (run scripts/install-deps.sh)"

case_scripts() {
    # every script in scripts/ (also ones other people add), and the shared helpers
    t_run shellcheck --severity=style "$SCRIPTS"/*.sh "$SCRIPTS"/lib/*.sh
    assert_rc 0
}

case_tests() {
    t_run shellcheck --severity=style "$T_DIR"/*.sh "$T_DIR"/fixtures/*.sh
    assert_rc 0
}

case_every_script_has_help_and_strict_mode() {
    # only the set-up and install scripts: others in scripts/ (run.sh, ...) do real work when run
    local f
    for f in "$SCRIPTS"/{install-deps,install,setup-hugepages,bind-nics,veth-lab}.sh; do
        grep -qx 'set -euo pipefail' "$f" || t_fail "$f lacks 'set -euo pipefail'"
        grep -q '^# Exit codes:' "$f" || t_fail "$f does not document its exit codes"
        [[ -x $f ]] || t_fail "$f is not executable"
        t_run "$f" --help
        assert_rc 0
        assert_out_contains "Usage:"
    done
}

t_case "scripts/ is shellcheck-clean" case_scripts
t_case "tests/scripts/ is shellcheck-clean" case_tests
t_case "every set-up script has strict mode, --help and documented exit codes" case_every_script_has_help_and_strict_mode
t_done
