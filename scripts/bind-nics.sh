#!/bin/bash
# bind-nics.sh -- hand PCI NICs to a DPDK-capable kernel driver, and give them back.
#
# Usage: scripts/bind-nics.sh [options] PCI...        bind each device (needs root)
#        scripts/bind-nics.sh --restore [PCI...]      rebind to the recorded original driver
#                                                     (all recorded devices when none given)
#        scripts/bind-nics.sh --status                list network devices and what we recorded
#
#   PCI            0000:03:00.0 or 03:00.0 (domain 0000 assumed); see `lspci -D` for addresses.
#   --driver D     auto (default) | vfio-pci | uio_pci_generic | vfio-noiommu
#                  auto: vfio-pci when the machine has an IOMMU; without one uio_pci_generic,
#                  and when that module is unavailable vfio-pci in unsafe no-IOMMU mode (warned).
#   --force        bind even if the device's kernel interface has an address or a route
#                  (IPv6 link-local fe80:: addresses/routes do not count: the kernel adds them
#                  to every interface that is up).
#   --dry-run      print what would be written and loaded; change nothing (no root needed).
#   --state-file F where original drivers are recorded (default /var/lib/stripecat/bind-state,
#                  or $STRIPECAT_BIND_STATE).
#   -h, --help     show this help.
#
# Binding writes the driver name to /sys/bus/pci/devices/PCI/driver_override, unbinds the
# current driver (/sys/bus/pci/drivers/OLD/unbind), asks the kernel to probe again
# (/sys/bus/pci/drivers_probe) and checks the device ended up on the new driver. The original
# driver ("none" when it had none) is recorded in the state file before anything is written;
# --restore unbinds, sets driver_override to the original driver, probes, checks, clears
# driver_override and drops the record. A device already on the target driver is left alone.
# All devices are checked (existence, interfaces in use) before any of them is touched.
#
# Environment (for tests; defaults are the real system):
#   SYSFS_ROOT        prefix for /sys (a fake tree: $SYSFS_ROOT/sys/bus/pci/...). With it set,
#                     root is not required.
#   IP_CMD            command used instead of `ip` for the address/route check
#   MODPROBE_CMD      command used instead of `modprobe`
#   SYSFS_WRITE_HOOK  command run after every sysfs write as: HOOK FILE VALUE (lets a test
#                     emulate the kernel's reaction to the write in a fake tree)
#
# Exit codes:
#   0  done (or nothing to do)
#   2  usage error (unknown option, malformed PCI address, nothing to do)
#   3  environment: not root, device not found, interface in use (without --force), no usable
#      driver module, the kernel did not bind the device, state file unusable
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

SYS="${SYSFS_ROOT:-}/sys"
PCI="$SYS/bus/pci"
IP_CMD=${IP_CMD:-ip}
MODPROBE_CMD=${MODPROBE_CMD:-modprobe}
STATE_FILE=${STRIPECAT_BIND_STATE:-/var/lib/stripecat/bind-state}

mode=bind
driver=auto
force=0
dry_run=0
devices=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --restore) mode=restore ;;
        --status) mode=status ;;
        --driver) sc_need_value "$1" $#; driver=$2; shift ;;
        --driver=*) driver=${1#--driver=} ;;
        --force) force=1 ;;
        --dry-run) dry_run=1 ;;
        --state-file) sc_need_value "$1" $#; STATE_FILE=$2; shift ;;
        --state-file=*) STATE_FILE=${1#--state-file=} ;;
        -h | --help) sc_print_help "$0"; exit 0 ;;
        --) shift; devices+=("$@"); break ;;
        -*) sc_usage_error "unknown option '$1'" ;;
        *) devices+=("$1") ;;
    esac
    shift
done

case $driver in
    auto | vfio-pci | uio_pci_generic | vfio-noiommu) ;;
    *) sc_usage_error "unknown --driver '$driver' (expected auto, vfio-pci, uio_pci_generic or vfio-noiommu)" ;;
esac
[[ -n $STATE_FILE ]] || sc_usage_error "--state-file needs a non-empty path"

# normalize_pci ADDR -> DDDD:BB:DD.F in lower case, or exit 2
normalize_pci() {
    local a=${1,,}
    [[ $a =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] && a="0000:$a"
    if [[ ! $a =~ ^[0-9a-f]{4}:[0-9a-f]{2}:([0-9a-f]{2})\.[0-7]$ ]] ||
        ((16#${BASH_REMATCH[1]} > 16#1f)); then
        sc_die 2 "'$1' is not a PCI address" \
            "use DDDD:BB:DD.F or BB:DD.F with device <= 1f and function 0-7, e.g. 0000:03:00.0 (see lspci -D)"
    fi
    printf '%s\n' "$a"
}

for i in "${!devices[@]}"; do
    devices[i]=$(normalize_pci "${devices[i]}")
done

# ------------------------------------------------------------------ helpers

current_driver() { # current_driver ADDR -> driver name, or empty
    local link="$PCI/devices/$1/driver"
    [[ -L $link ]] || return 0
    basename "$(readlink "$link")"
}

interfaces_of() { # interfaces_of ADDR -> kernel interface names, one per line
    # net/IF directly (most NICs) or one level down, e.g. virtioN/net/IF for virtio-net
    local d
    for d in "$PCI/devices/$1"/net/* "$PCI/devices/$1"/*/net/*; do
        [[ -e $d ]] && basename "$d"
    done
    return 0
}

sysfs_write() { # sysfs_write FILE VALUE
    local file=$1 value=$2
    if [[ $dry_run -eq 1 ]]; then
        printf 'would write %q to %s\n' "$value" "$file"
        return 0
    fi
    if ! printf '%s\n' "$value" >"$file" 2>/dev/null; then
        sc_die 3 "the kernel refused writing '$value' to $file" "see dmesg for the reason"
    fi
    if [[ -n ${SYSFS_WRITE_HOOK:-} ]]; then
        $SYSFS_WRITE_HOOK "$file" "$value"
    fi
}

sysfs_write_try() { # sysfs_write_try FILE VALUE -- like sysfs_write, but returns 1 on a refused write
    local file=$1 value=$2
    if [[ $dry_run -eq 1 ]]; then
        printf 'would write %q to %s\n' "$value" "$file"
        return 0
    fi
    printf '%s\n' "$value" >"$file" 2>/dev/null || return 1
    if [[ -n ${SYSFS_WRITE_HOOK:-} ]]; then
        $SYSFS_WRITE_HOOK "$file" "$value"
    fi
}

has_override() { [[ -e $PCI/devices/$1/driver_override ]]; }

clear_override() { # clear_override ADDR
    if has_override "$1"; then sysfs_write "$PCI/devices/$1/driver_override" ""; fi
}

# bind_by_id ADDR DRIVER -- for kernels without driver_override (before 3.16): teach DRIVER the
# device's vendor/device ID through new_id, then bind explicitly if new_id did not already.
bind_by_id() {
    local a=$1 d=$2 id
    id="$(sed 's/^0x//' "$PCI/devices/$a/vendor") $(sed 's/^0x//' "$PCI/devices/$a/device")"
    # new_id fails with EEXIST when the driver already knows the ID; that is fine.
    sysfs_write_try "$PCI/drivers/$d/new_id" "$id" || true
    if [[ $dry_run -eq 1 || $(current_driver "$a") != "$d" ]]; then
        sysfs_write_try "$PCI/drivers/$d/bind" "$a" || true
    fi
}

# ensure_module MODULE DRIVER_DIR_NAME -> 0 when the driver is (or can be) available
ensure_module() {
    local mod=$1 name=$2
    [[ -d $PCI/drivers/$name ]] && return 0
    if [[ $dry_run -eq 1 ]]; then
        if $MODPROBE_CMD -n -q "$mod" >/dev/null 2>&1; then
            printf 'would run: %s %s\n' "$MODPROBE_CMD" "$mod"
            return 0
        fi
        return 1
    fi
    $MODPROBE_CMD "$mod" >/dev/null 2>&1 || return 1
    [[ -d $PCI/drivers/$name ]]
}

has_iommu() {
    local g
    for g in "$SYS"/kernel/iommu_groups/*; do
        [[ -e $g ]] && return 0
    done
    return 1
}

noiommu_warning() {
    cat >&2 <<'EOF'
##########################################################################################
#  WARNING: no IOMMU -- using vfio-pci in UNSAFE no-IOMMU mode.                          #
#  The device can DMA anywhere in host memory; a buggy or malicious DPDK process (or     #
#  device) can corrupt the kernel. Fine for a lab or CI VM, NOT for production: enable   #
#  the IOMMU (intel_iommu=on / amd_iommu=on, VT-d/AMD-Vi in firmware) instead.           #
##########################################################################################
EOF
}

enable_noiommu() {
    local p="$SYS/module/vfio/parameters/enable_unsafe_noiommu_mode"
    ensure_module vfio-pci vfio-pci ||
        sc_die 3 "cannot load the vfio-pci module" "install the kernel's extra modules (linux-image-*), then retry"
    if [[ ! -e $p && $dry_run -eq 0 ]]; then
        sc_die 3 "this kernel has no vfio no-IOMMU mode ($p missing)" \
            "enable the IOMMU, or use a kernel with CONFIG_VFIO_NOIOMMU, or install uio_pci_generic"
    fi
    noiommu_warning
    [[ -e $p && $(<"$p") == Y ]] || sysfs_write "$p" Y
}

# choose_driver -> sets TARGET (the driver name in /sys/bus/pci/drivers)
choose_driver() {
    case $driver in
        vfio-pci)
            ensure_module vfio-pci vfio-pci ||
                sc_die 3 "cannot load the vfio-pci module" "try --driver uio_pci_generic"
            has_iommu || sc_warn "no IOMMU found: vfio-pci will refuse the device unless no-IOMMU mode is on (use --driver vfio-noiommu)"
            TARGET=vfio-pci ;;
        uio_pci_generic)
            ensure_module uio_pci_generic uio_pci_generic ||
                sc_die 3 "cannot load the uio_pci_generic module" "try --driver vfio-pci"
            TARGET=uio_pci_generic ;;
        vfio-noiommu)
            enable_noiommu
            TARGET=vfio-pci ;;
        auto)
            if has_iommu && ensure_module vfio-pci vfio-pci; then
                TARGET=vfio-pci
            elif ensure_module uio_pci_generic uio_pci_generic; then
                has_iommu || sc_warn "no IOMMU found: using uio_pci_generic (no DMA isolation; fine for labs and CI)"
                TARGET=uio_pci_generic
            elif ! has_iommu; then
                enable_noiommu
                TARGET=vfio-pci
            else
                sc_die 3 "neither vfio-pci nor uio_pci_generic can be loaded" \
                    "install the kernel's extra modules (linux-image-*), then retry"
            fi ;;
    esac
}

# ------------------------------------------------------------------ state file
# Format: one line per device we bound: "PCI ORIGINAL_DRIVER BOUND_DRIVER" (ORIGINAL may be none).

state_get() { # state_get ADDR -> "ORIGINAL BOUND" or nothing
    [[ -r $STATE_FILE ]] || return 0
    awk -v a="$1" '$1 == a { print $2, $3; exit }' "$STATE_FILE"
}

state_put() { # state_put ADDR ORIGINAL BOUND (keeps an existing ORIGINAL)
    [[ $dry_run -eq 1 ]] && return 0
    local dir
    dir=$(dirname "$STATE_FILE")
    mkdir -p "$dir" 2>/dev/null || sc_die 3 "cannot create $dir for the state file" "use --state-file"
    local tmp="$STATE_FILE.tmp.$$"
    {
        printf '# stripecat bind-nics.sh state: PCI ORIGINAL_DRIVER BOUND_DRIVER\n'
        [[ -r $STATE_FILE ]] && awk -v a="$1" '$1 != a && $1 !~ /^#/' "$STATE_FILE"
        printf '%s %s %s\n' "$1" "$2" "$3"
    } >"$tmp" 2>/dev/null || sc_die 3 "cannot write the state file $STATE_FILE" "check permissions or use --state-file"
    mv -f "$tmp" "$STATE_FILE" ||
        sc_die 3 "cannot write the state file $STATE_FILE" "check permissions or use --state-file"
}

state_del() { # state_del ADDR
    [[ $dry_run -eq 1 || ! -e $STATE_FILE ]] && return 0
    local tmp="$STATE_FILE.tmp.$$"
    { awk -v a="$1" '$1 != a' "$STATE_FILE" >"$tmp" && mv -f "$tmp" "$STATE_FILE"; } ||
        sc_die 3 "cannot write the state file $STATE_FILE" "check permissions or use --state-file"
}

state_devices() {
    [[ -r $STATE_FILE ]] || return 0
    awk '$1 !~ /^#/ && NF >= 3 { print $1 }' "$STATE_FILE"
}

# ------------------------------------------------------------------ checks

require_device() {
    [[ -d $PCI/devices/$1 ]] ||
        sc_die 3 "no PCI device $1 on this machine" "list devices with: lspci -D (or $0 --status)"
}

# in_use ADDR -> prints "IF: reason" lines for interfaces carrying addresses or routes
in_use() {
    local ifc out
    while read -r ifc; do
        [[ -n $ifc ]] || continue
        out=$($IP_CMD -o addr show dev "$ifc" 2>/dev/null | grep -v ' inet6 fe80:' || true)
        [[ -n $out ]] && printf '%s: has address(es) %s\n' "$ifc" \
            "$(awk '{ print $4 }' <<<"$out" | paste -sd' ' -)"
        out=$($IP_CMD route show dev "$ifc" 2>/dev/null || true)
        [[ -n $out ]] && printf '%s: has route(s): %s\n' "$ifc" "$(head -n 1 <<<"$out" | sed 's/ *$//')"
        out=$($IP_CMD -6 route show dev "$ifc" 2>/dev/null | grep -v '^fe80::' || true)
        [[ -n $out ]] && printf '%s: has IPv6 route(s): %s\n' "$ifc" "$(head -n 1 <<<"$out" | sed 's/ *$//')"
    done < <(interfaces_of "$1")
    return 0
}

join_by() { # join_by SEP ITEM...
    local sep=$1 out=$2
    shift 2
    local x
    for x in "$@"; do out+="$sep$x"; done
    printf '%s\n' "$out"
}

require_real_root() {
    [[ -n ${SYSFS_ROOT:-} || $dry_run -eq 1 ]] && return 0
    sc_require_root "$1"
}

# ------------------------------------------------------------------ actions

bind_one() { # bind_one ADDR
    local a=$1 cur
    cur=$(current_driver "$a")
    if [[ $cur == "$TARGET" ]]; then
        sc_info "$a: already bound to $TARGET"
        return 0
    fi
    local rec orig=${cur:-none}
    rec=$(state_get "$a")
    [[ -n $rec ]] && orig=${rec%% *}
    state_put "$a" "$orig" "$TARGET"
    if has_override "$a"; then
        sysfs_write "$PCI/devices/$a/driver_override" "$TARGET"
        [[ -n $cur ]] && sysfs_write "$PCI/drivers/$cur/unbind" "$a"
        sysfs_write "$PCI/drivers_probe" "$a"
    else
        sc_warn "$a: no driver_override in sysfs (kernel < 3.16): binding through new_id, which also hands $TARGET other unbound devices with the same ID"
        [[ -n $cur ]] && sysfs_write "$PCI/drivers/$cur/unbind" "$a"
        bind_by_id "$a" "$TARGET"
    fi
    [[ $dry_run -eq 1 ]] && return 0
    local now
    now=$(current_driver "$a")
    if [[ $now != "$TARGET" ]]; then
        # Put things back the way they were before failing.
        clear_override "$a"
        if [[ -n $cur && -z $now ]]; then
            if has_override "$a"; then
                sysfs_write "$PCI/drivers_probe" "$a"
            else
                sysfs_write_try "$PCI/drivers/$cur/bind" "$a" || true
            fi
        fi
        [[ -z $rec ]] && state_del "$a"
        sc_die 3 "$a did not bind to $TARGET (now: ${now:-no driver})" \
            "see dmesg; with vfio-pci every device in the same IOMMU group must be unbound from host drivers"
    fi
    sc_info "$a: bound to $TARGET (was ${cur:-no driver})"
}

restore_one() { # restore_one ADDR
    local a=$1 rec orig cur
    rec=$(state_get "$a")
    [[ -n $rec ]] || sc_die 3 "$a is not in the state file $STATE_FILE" "run $0 --status to see what was recorded"
    orig=${rec%% *}
    require_device "$a"
    cur=$(current_driver "$a")
    if [[ $orig != none && $cur == "$orig" ]]; then
        clear_override "$a"
        state_del "$a"
        sc_info "$a: already on $orig"
        return 0
    fi
    [[ -n $cur ]] && sysfs_write "$PCI/drivers/$cur/unbind" "$a"
    if [[ $orig == none ]]; then
        clear_override "$a"
        state_del "$a"
        sc_info "$a: unbound from ${cur:-no driver} (it had no driver before)"
        return 0
    fi
    ensure_module "$orig" "$orig" ||
        sc_warn "$a: driver $orig not loaded and modprobe $orig failed; trying anyway"
    if has_override "$a"; then
        sysfs_write "$PCI/devices/$a/driver_override" "$orig"
        sysfs_write "$PCI/drivers_probe" "$a"
    else
        sysfs_write_try "$PCI/drivers/$orig/bind" "$a" || true
    fi
    if [[ $dry_run -eq 0 && $(current_driver "$a") != "$orig" ]]; then
        sc_die 3 "$a did not rebind to $orig (now: $(current_driver "$a"))" \
            "see dmesg; the record stays in $STATE_FILE so you can retry --restore"
    fi
    clear_override "$a"
    state_del "$a"
    sc_info "$a: restored to $orig (was ${cur:-no driver})"
}

do_status() {
    printf 'state file: %s\n' "$STATE_FILE"
    local d a class cur ifs rec note seen=" "
    for d in "$PCI"/devices/*; do
        [[ -e $d ]] || continue
        a=$(basename "$d")
        class=$(cat "$d/class" 2>/dev/null || echo 0x000000)
        rec=$(state_get "$a")
        [[ $class == 0x02* || -n $rec ]] || continue
        cur=$(current_driver "$a")
        ifs=$(interfaces_of "$a" | paste -sd, -)
        note=""
        [[ -n $rec ]] && note="  [bound by bind-nics.sh; original driver ${rec%% *}]"
        printf '%s %s:%s drv=%s if=%s%s\n' "$a" \
            "$(sed 's/^0x//' "$d/vendor" 2>/dev/null || echo ????)" \
            "$(sed 's/^0x//' "$d/device" 2>/dev/null || echo ????)" \
            "${cur:-none}" "${ifs:-none}" "$note"
        seen+="$a "
    done
    while read -r a; do
        [[ -n $a && $seen != *" $a "* ]] || continue
        rec=$(state_get "$a")
        printf '%s (not present) [recorded: original driver %s, bound to %s]\n' "$a" "${rec%% *}" "${rec#* }"
    done < <(state_devices)
    return 0
}

case $mode in
    status)
        [[ ${#devices[@]} -eq 0 ]] || sc_usage_error "--status takes no PCI address"
        do_status ;;
    bind)
        [[ ${#devices[@]} -gt 0 ]] || sc_usage_error "no PCI address given"
        require_real_root "binding devices"
        problems=()
        for a in "${devices[@]}"; do
            require_device "$a"
            mapfile -t why < <(in_use "$a")
            for w in "${why[@]}"; do problems+=("$a $w"); done
        done
        if [[ ${#problems[@]} -gt 0 ]]; then
            if [[ $force -eq 0 ]]; then
                sc_die 3 "refusing, interface in use: $(join_by '; ' "${problems[@]}")" \
                    "remove the addresses/routes first (ip addr flush dev IF; ip route flush dev IF) or pass --force"
            fi
            sc_warn "--force: binding although $(join_by '; ' "${problems[@]}")"
        fi
        TARGET=""
        choose_driver
        for a in "${devices[@]}"; do bind_one "$a"; done ;;
    restore)
        require_real_root "restoring drivers"
        if [[ ${#devices[@]} -eq 0 ]]; then
            mapfile -t devices < <(state_devices)
            if [[ ${#devices[@]} -eq 0 ]]; then
                sc_info "nothing to restore (no devices recorded in $STATE_FILE)"
                exit 0
            fi
        fi
        for a in "${devices[@]}"; do restore_one "$a"; done ;;
esac
