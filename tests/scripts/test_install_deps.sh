#!/bin/bash
# Tests for scripts/install-deps.sh: the real --check on this machine, the fast path (no apt-get
# when everything is installed), and the install path with shimmed dpkg-query/apt-get/apt-cache
# (nothing is really installed by the shimmed cases).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DEPS="$SCRIPTS/install-deps.sh"

# shims DIR -- put fake apt-get/apt-cache (and optionally dpkg-query) first in PATH.
#   $SHIM/missing lists packages (or PMD globs like librte-net-memif*) the fake dpkg-query
#   calls not installed; the fake apt-get "installs" by removing names from that list.
make_shims() {
    SHIM=$T_CASE_DIR/shim
    mkdir -p "$SHIM"
    : >"$SHIM/missing"
    : >"$SHIM/apt.log"
    cat >"$SHIM/apt-get" <<EOF
#!/bin/bash
echo "apt-get \$*" >>"$SHIM/apt.log"
[[ -e "$SHIM/apt-fail" ]] && { echo "E: Unable to locate package (fake)" >&2; exit 100; }
if [[ \$1 == install ]]; then
    for a in "\$@"; do
        [[ \$a == -* || \$a == install ]] && continue
        grep -vxF -e "\$a" -e "\${a%%[0-9]*}*" "$SHIM/missing" >"$SHIM/missing.new" || true
        mv "$SHIM/missing.new" "$SHIM/missing"
    done
fi
exit 0
EOF
    cat >"$SHIM/apt-cache" <<EOF
#!/bin/bash
echo "apt-cache \$*" >>"$SHIM/apt.log"
[[ \$1 == pkgnames ]] && printf '%s\n' "\${2}23" "\${2}-dev" "\${2}22"
exit 0
EOF
    cat >"$SHIM/dpkg-query" <<EOF
#!/bin/bash
pkg=\${*: -1}
if grep -qxF -- "\$pkg" "$SHIM/missing"; then
    [[ \$pkg == *'*' ]] && exit 1
    printf 'not-installed'
    exit 0
fi
exec /usr/bin/dpkg-query "\$@"
EOF
    chmod 755 "$SHIM" "$SHIM"/* "$T_CASE_DIR" "$T_TMP"
    chmod 666 "$SHIM/missing" "$SHIM/apt.log"
    SHIM_PATH="$SHIM:$PATH"
}

case_help() {
    t_run "$DEPS" --help
    assert_rc 0
    assert_out_contains "Usage: scripts/install-deps.sh [--check]"
    assert_out_contains "Exit codes"
    t_run "$DEPS" --frob
    assert_rc 2
    assert_err_contains "unknown argument '--frob'"
    assert_one_error_line
}

case_real_check() {
    t_run "$DEPS" --check
    [[ $T_RC -eq 0 ]] || { t_show; t_fail "dependencies missing on this machine; run: sudo scripts/install-deps.sh"; }
    assert_out_contains "all dependencies are installed"
}

case_fast_path_never_calls_apt() {
    [[ $EUID -eq 0 ]] || { echo "    (not root: case not applicable)"; return 0; }
    make_shims
    local start end
    start=$(date +%s%N)
    PATH=$SHIM_PATH t_run "$DEPS"
    end=$(date +%s%N)
    assert_rc 0
    assert_out_contains "already installed (nothing to do)"
    assert_out_contains "found by pkg-config"
    assert_eq "" "$(cat "$SHIM/apt.log")" "apt calls on the fast path"
    [[ $(((end - start) / 1000000)) -lt 5000 ]] || t_fail "fast path took $(((end - start) / 1000000)) ms"
}

case_check_lists_missing() {
    make_shims
    printf '%s\n' socat 'librte-net-memif*' >"$SHIM/missing"
    PATH=$SHIM_PATH t_run "$DEPS" --check
    assert_rc 1
    assert_eq "socat
librte-net-memif*" "$T_OUT" "missing packages"
    assert_err_contains "2 package(s) missing"
    assert_eq "" "$(cat "$SHIM/apt.log")" "--check installs nothing"
}

case_installs_missing() {
    [[ $EUID -eq 0 ]] || { echo "    (not root: case not applicable)"; return 0; }
    make_shims
    printf '%s\n' socat 'librte-net-memif*' >"$SHIM/missing"
    PATH=$SHIM_PATH t_run "$DEPS"
    assert_rc 0
    assert_out_contains "missing: socat librte-net-memif*"
    assert_out_contains "installing: socat librte-net-memif23"
    assert_eq "apt-get update -q
apt-cache pkgnames librte-net-memif
apt-get install -y -q --no-install-recommends socat librte-net-memif23" "$(cat "$SHIM/apt.log")" "apt calls"
    PATH=$SHIM_PATH t_run "$DEPS" --check
    assert_rc 0
}

case_install_failures() {
    [[ $EUID -eq 0 ]] || { echo "    (not root: case not applicable)"; return 0; }
    make_shims
    echo iperf3 >"$SHIM/missing"
    touch "$SHIM/apt-fail"
    PATH=$SHIM_PATH t_run "$DEPS"
    assert_rc 3
    assert_err_contains "apt-get update failed"
    assert_one_error_line
    rm "$SHIM/apt-fail"
    # apt "succeeds" but the package is still not there
    cat >"$SHIM/apt-get" <<EOF
#!/bin/bash
echo "apt-get \$*" >>"$SHIM/apt.log"
EOF
    PATH=$SHIM_PATH t_run "$DEPS"
    assert_rc 3
    assert_err_contains "still missing after apt-get install: iperf3"
}

case_not_root() {
    can_run_as_nobody || { echo "    (not root or no setpriv: case not applicable)"; return 0; }
    make_shims
    echo ncat >"$SHIM/missing"
    t_run as_nobody env PATH="$SHIM_PATH" "$DEPS"
    assert_rc 3
    assert_err_contains "installing packages needs root"
    assert_err_contains "sudo"
    assert_one_error_line
    assert_eq "" "$(cat "$SHIM/apt.log")" "no apt calls without root"
    t_run as_nobody env PATH="$SHIM_PATH" "$DEPS" --check
    assert_rc 1
    assert_eq ncat "$T_OUT" "--check works without root"
}

t_case "--help and usage errors" case_help
t_case "--check passes on this machine" case_real_check
t_case "fast path: nothing missing, apt never runs" case_fast_path_never_calls_apt
t_case "--check lists what is missing and exits 1" case_check_lists_missing
t_case "installs only what is missing, resolving the PMD ABI suffix" case_installs_missing
t_case "apt failures are exit 3" case_install_failures
t_case "installing without root is exit 3, --check works" case_not_root
t_done
