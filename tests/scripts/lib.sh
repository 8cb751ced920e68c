# shellcheck shell=bash
# Test helpers for tests/scripts/test_*.sh (sourced). Each test file:
#   source "$(dirname "$0")/lib.sh"
#   case_foo() { t_run "$SCRIPTS/x.sh" --bad; assert_rc 2; assert_err_contains "error"; }
#   t_case "bad option is a usage error" case_foo
#   t_done
# A case runs in its own subshell with `set -e`; any failed assertion ends that case.
# A test file exits 0 when every case passed, 1 otherwise, 77 when skipped (t_skip).

set -euo pipefail

T_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$T_DIR/../.." && pwd)
SCRIPTS="$REPO_ROOT/scripts"
FIXTURES="$T_DIR/fixtures"
T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/stripecat-$T_NAME.XXXXXX")
T_PASS=0
T_FAIL=0
T_CLEANUPS=()

# t_on_exit CMD -- run CMD (a string) when the test file exits, last registered first
t_on_exit() { T_CLEANUPS+=("$1"); }
_t_exit() {
    local i
    for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${T_CLEANUPS[i]}" >/dev/null 2>&1 || true
    done
    rm -rf "$T_TMP"
}
trap _t_exit EXIT

t_skip() {
    echo "SKIP $T_NAME: $*"
    exit 77
}

t_fail() {
    echo "    assertion failed: $*" >&2
    exit 1
}

# t_case NAME FUNCTION -- run one case in a subshell, report ok / not ok
t_case() {
    local name=$1 fn=$2 rc
    T_CASE_DIR="$T_TMP/case$((T_PASS + T_FAIL))"
    mkdir -p "$T_CASE_DIR"
    set +e
    (
        set -euo pipefail
        cd "$T_CASE_DIR"
        "$fn"
    )
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        T_PASS=$((T_PASS + 1))
        echo "ok - $name"
    else
        T_FAIL=$((T_FAIL + 1))
        echo "not ok - $name"
    fi
}

t_done() {
    echo "# $T_NAME: $T_PASS passed, $T_FAIL failed"
    [[ $T_FAIL -eq 0 ]]
}

# t_run CMD... -- run a command, keep its exit code in T_RC, stdout in T_OUT, stderr in T_ERR
t_run() {
    set +e
    "$@" >"$T_CASE_DIR/out" 2>"$T_CASE_DIR/err"
    T_RC=$?
    set -e
    T_OUT=$(<"$T_CASE_DIR/out")
    T_ERR=$(<"$T_CASE_DIR/err")
}

t_show() { printf '    command exit %s\n    --- stdout\n%s\n    --- stderr\n%s\n' "$T_RC" "$T_OUT" "$T_ERR" >&2; }

assert_rc() {
    [[ $T_RC -eq $1 ]] || { t_show; t_fail "expected exit $1, got $T_RC"; }
}
assert_out_contains() {
    [[ $T_OUT == *"$1"* ]] || { t_show; t_fail "stdout lacks '$1'"; }
}
assert_err_contains() {
    [[ $T_ERR == *"$1"* ]] || { t_show; t_fail "stderr lacks '$1'"; }
}
assert_out_not_contains() {
    [[ $T_OUT != *"$1"* ]] || { t_show; t_fail "stdout unexpectedly has '$1'"; }
}
assert_err_not_contains() {
    [[ $T_ERR != *"$1"* ]] || { t_show; t_fail "stderr unexpectedly has '$1'"; }
}
# assert_one_error_line -- stderr is exactly one "<script>: error: ... (hint: ...)" line
assert_one_error_line() {
    local n
    n=$(grep -c ': error: ' <<<"$T_ERR" || true)
    [[ $n -eq 1 && $T_ERR == *"(hint: "* ]] || { t_show; t_fail "expected one error line with a hint"; }
}
assert_eq() { # assert_eq EXPECTED ACTUAL WHAT
    [[ $1 == "$2" ]] || t_fail "$3: expected '$1', got '$2'"
}
assert_file_eq() { # assert_file_eq FILE EXPECTED-CONTENT
    local got=""
    [[ -e $1 ]] && got=$(<"$1")
    [[ $got == "$2" ]] || t_fail "$1: expected content '$2', got '$got'"
}
assert_file_contains() {
    [[ -e $1 ]] || t_fail "$1 does not exist"
    grep -qF -- "$2" "$1" || t_fail "$1 lacks '$2' (content: $(cat "$1"))"
}
assert_no_file() { [[ ! -e $1 ]] || t_fail "$1 should not exist (content: $(cat "$1" 2>/dev/null))"; }

# as_nobody CMD... -- run a command as an unprivileged user (for "needs root" checks)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
can_run_as_nobody() {
    [[ $EUID -eq 0 ]] && command -v setpriv >/dev/null 2>&1 &&
        setpriv --reuid=65534 --regid=65534 --clear-groups -- test -r "$SCRIPTS/lib/common.sh"
}

# ------------------------------------------------------------------ fake PCI sysfs

# fake_pci_root ROOT -- an empty PCI bus (no IOMMU), with logs for writes and modprobe
fake_pci_root() {
    mkdir -p "$1/sys/bus/pci/devices" "$1/sys/bus/pci/drivers" "$1/sys/kernel/iommu_groups" "$1/sys/module"
    : >"$1/sys/bus/pci/drivers_probe"
    : >"$1/writes.log"
    : >"$1/modprobe.log"
}

fake_iommu() { mkdir -p "$1/sys/kernel/iommu_groups/7/devices"; }

# fake_pci_driver ROOT NAME -- a loaded PCI driver
fake_pci_driver() {
    local d="$1/sys/bus/pci/drivers/$2"
    mkdir -p "$d"
    : >"$d/bind"
    : >"$d/unbind"
    : >"$d/new_id"
    if [[ $2 == vfio-pci ]]; then
        mkdir -p "$1/sys/module/vfio/parameters"
        [[ -e $1/sys/module/vfio/parameters/enable_unsafe_noiommu_mode ]] ||
            echo N >"$1/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
    fi
}

# fake_pci_device ROOT ADDR DRIVER|none [IFACE...] -- a NIC (class 0x020000) on DRIVER
fake_pci_device() {
    local root=$1 addr=$2 drv=$3
    shift 3
    local d="$root/sys/bus/pci/devices/$addr"
    mkdir -p "$d"
    echo 0x020000 >"$d/class"
    echo 0x8086 >"$d/vendor"
    echo 0x10fb >"$d/device"
    echo '(null)' >"$d/driver_override"
    echo "$drv" >"$d/.native_driver"
    printf '%s\n' "$@" >"$d/.native_ifaces"
    if [[ $drv != none ]]; then
        fake_pci_driver "$root" "$drv"
        ln -s "$root/sys/bus/pci/drivers/$drv" "$d/driver"
        local i
        for i in "$@"; do mkdir -p "$d/net/$i"; done
    fi
}

fake_driver_of() { # fake_driver_of ROOT ADDR -> current driver or "none"
    local l="$1/sys/bus/pci/devices/$2/driver"
    if [[ -L $l ]]; then basename "$(readlink "$l")"; else echo none; fi
}

# writes_of ROOT -> the logged sysfs writes, paths relative to ROOT
writes_of() { cat "$1/writes.log"; }

# fake_ip_state IF addr|route|route6 TEXT -- what the fake `ip` prints for IF
fake_ip_state() {
    mkdir -p "$FAKE_IP_DIR"
    printf '%s\n' "$3" >"$FAKE_IP_DIR/$1.$2"
}

# bind_env ROOT -- environment for running bind-nics.sh against the fake tree
bind_env() {
    export SYSFS_ROOT=$1
    export FAKE_IP_DIR=$1/ip
    export IP_CMD="$FIXTURES/fake-ip.sh"
    export MODPROBE_CMD="$FIXTURES/fake-modprobe.sh"
    export SYSFS_WRITE_HOOK="$FIXTURES/fake-kernel.sh"
    export STRIPECAT_BIND_STATE=$1/state/bind-state
    export FAKE_MODULES="${FAKE_MODULES:-vfio-pci uio_pci_generic}"
    mkdir -p "$FAKE_IP_DIR"
}

# ------------------------------------------------------------------ fake hugepage sysfs/proc

# fake_hp_root ROOT NODES [SIZE_KB...] -- sysfs+proc with NODES NUMA nodes (0 = no per-node sysfs)
fake_hp_root() {
    local root=$1 nodes=$2
    shift 2
    local sizes=("$@")
    [[ ${#sizes[@]} -gt 0 ]] || sizes=(2048 1048576)
    local s n d
    for s in "${sizes[@]}"; do
        d="$root/sys/kernel/mm/hugepages/hugepages-${s}kB"
        mkdir -p "$d"
        for f in nr_hugepages free_hugepages resv_hugepages surplus_hugepages nr_overcommit_hugepages; do
            echo 0 >"$d/$f"
        done
        for ((n = 0; n < nodes; n++)); do
            d="$root/sys/devices/system/node/node$n/hugepages/hugepages-${s}kB"
            mkdir -p "$d"
            for f in nr_hugepages free_hugepages surplus_hugepages; do echo 0 >"$d/$f"; done
        done
    done
    mkdir -p "$root/proc/sys/kernel/random"
    : >"$root/proc/mounts"
    printf 'MemTotal: 25165824 kB\nHugepagesize:       2048 kB\n' >"$root/proc/meminfo"
    echo 11111111-2222-3333-4444-555555555555 >"$root/proc/sys/kernel/random/boot_id"
    : >"$root/mount.log"
}

# hp_env ROOT -- environment for running setup-hugepages.sh against the fake tree
hp_env() {
    export SYSFS_ROOT=$1 PROC_ROOT=$1
    export MOUNT_CMD="$FIXTURES/fake-mount.sh" UMOUNT_CMD="$FIXTURES/fake-umount.sh"
    export HUGEPAGES_STATE_DIR=$1/run
}

# hp_config FILE PAGES MOUNT [SIZE_KB] -- write a hugepages.conf
hp_config() {
    cat >"$1" <<EOF
HUGEPAGE_SIZE_KB=${4:-2048}
HUGEPAGES_PER_NODE=$2
HUGEPAGE_MOUNT=$3
EOF
}
