#!/bin/bash
# setup-hugepages.sh -- reserve huge pages per NUMA node and mount hugetlbfs for DPDK.
#
# Usage: scripts/setup-hugepages.sh [--config FILE]              apply (needs root)
#        scripts/setup-hugepages.sh --status [--config FILE]     show pages and mounts (no root)
#        scripts/setup-hugepages.sh --teardown [--force] [--config FILE]   undo (needs root)
#
#   --config FILE  settings file (default: hugepages.conf at the repository root); see that file
#                  for HUGEPAGE_SIZE_KB, HUGEPAGES_PER_NODE, HUGEPAGE_MOUNT and the mount options.
#   --force        --teardown even when pages are still in use (they stay allocated as surplus
#                  until their users exit).
#   -h, --help     show this help.
#
# Apply: for every NUMA node with memory, writes HUGEPAGES_PER_NODE to
#   /sys/devices/system/node/nodeN/hugepages/hugepages-<SIZE>kB/nr_hugepages
# (or, without per-node sysfs, to /sys/kernel/mm/hugepages/hugepages-<SIZE>kB/nr_hugepages),
# reads the value back, and fails if the kernel gave fewer pages than asked (whatever it did
# give stays reserved; --teardown releases it). A node already holding at least the wanted
# number is left alone (applying never shrinks). Then mounts hugetlbfs with pagesize=<SIZE>
# at HUGEPAGE_MOUNT unless a hugetlbfs of that page size is already mounted there.
# Re-running when everything is in place changes nothing.
#
# Teardown rule: the mount point is unmounted ONLY if this script mounted it during the current
# boot (it records that in $HUGEPAGES_STATE_DIR/hugepages-mounts together with the boot id). A
# hugetlbfs mounted by anything else -- systemd's dev-hugepages.mount on /dev/hugepages, fstab,
# an operator -- is left mounted. Pages of HUGEPAGE_SIZE_KB are then released to 0 on every node.
# Teardown refuses (exit 3) while pages are in use, e.g. by a running DPDK process or by stale
# rtemap_* files a crashed one left in the mount, unless --force is given.
#
# Environment (for tests; defaults are the real system):
#   SYSFS_ROOT          prefix for /sys   (fake tree: $SYSFS_ROOT/sys/kernel/mm/hugepages/...)
#   PROC_ROOT           prefix for /proc  ($PROC_ROOT/proc/mounts, .../meminfo, boot_id)
#   MOUNT_CMD, UMOUNT_CMD  commands used instead of mount / umount
#   HUGEPAGES_STATE_DIR where our mounts are recorded (default /run/stripecat)
# With SYSFS_ROOT set, root is not required (nothing real is touched).
#
# Exit codes:
#   0  done (or nothing to do)
#   2  usage error, or a bad value in the config file
#   3  environment: not root, page size not offered by the kernel, the kernel gave fewer pages
#      than asked, mount/umount failed, the mount point holds something else, pages in use
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

SYS="${SYSFS_ROOT:-}/sys"
PROC="${PROC_ROOT:-}/proc"
MOUNT_CMD=${MOUNT_CMD:-mount}
UMOUNT_CMD=${UMOUNT_CMD:-umount}
STATE_DIR=${HUGEPAGES_STATE_DIR:-/run/stripecat}
MARKER="$STATE_DIR/hugepages-mounts"

mode=apply
force=0
config="$(cd "$SCRIPT_DIR/.." && pwd)/hugepages.conf"
while [[ $# -gt 0 ]]; do
    case $1 in
        --status) mode=status ;;
        --teardown) mode=teardown ;;
        --force) force=1 ;;
        --config) sc_need_value "$1" $#; config=$2; shift ;;
        --config=*) config=${1#--config=} ;;
        -h | --help) sc_print_help "$0"; exit 0 ;;
        *) sc_usage_error "unknown argument '$1'" ;;
    esac
    shift
done

[[ -f $config && -r $config ]] ||
    sc_die 2 "config file '$config' not found or not readable" "pass an existing file with --config"
# shellcheck source=/dev/null
source "$config"
: "${HUGEPAGE_SIZE_KB:=2048}" "${HUGEPAGES_PER_NODE:=1024}" "${HUGEPAGE_MOUNT:=/dev/hugepages}"
: "${HUGEPAGE_MOUNT_UID:=0}" "${HUGEPAGE_MOUNT_GID:=0}" "${HUGEPAGE_MOUNT_MODE:=1770}"

bad_config() { sc_die 2 "$config: $1" "fix the value in $config (each setting is documented there)"; }
{ sc_is_uint "$HUGEPAGE_SIZE_KB" && [[ $HUGEPAGE_SIZE_KB -gt 0 ]]; } ||
    bad_config "HUGEPAGE_SIZE_KB='$HUGEPAGE_SIZE_KB' is not a positive number of kB"
sc_is_uint "$HUGEPAGES_PER_NODE" ||
    bad_config "HUGEPAGES_PER_NODE='$HUGEPAGES_PER_NODE' is not a number"
[[ $HUGEPAGE_MOUNT == /* && $HUGEPAGE_MOUNT != *[[:space:]]* && $HUGEPAGE_MOUNT != / ]] ||
    bad_config "HUGEPAGE_MOUNT='$HUGEPAGE_MOUNT' must be an absolute path without spaces"
HUGEPAGE_MOUNT=${HUGEPAGE_MOUNT%/}
sc_is_uint "$HUGEPAGE_MOUNT_UID" || bad_config "HUGEPAGE_MOUNT_UID='$HUGEPAGE_MOUNT_UID' is not a number"
sc_is_uint "$HUGEPAGE_MOUNT_GID" || bad_config "HUGEPAGE_MOUNT_GID='$HUGEPAGE_MOUNT_GID' is not a number"
[[ $HUGEPAGE_MOUNT_MODE =~ ^[0-7]{3,4}$ ]] ||
    bad_config "HUGEPAGE_MOUNT_MODE='$HUGEPAGE_MOUNT_MODE' is not an octal mode like 1770"

SIZE=$HUGEPAGE_SIZE_KB
WANT=$HUGEPAGES_PER_NODE
MNT=$HUGEPAGE_MOUNT

# ---------------------------------------------------------------- helpers

read_num() { # read_num FILE -> number in it (0 when empty)
    local v=""
    v=$(<"$1") || return 1
    v=${v//[[:space:]]/}
    [[ -z $v ]] && v=0
    printf '%s\n' "$v"
}

write_sysfs() { # write_sysfs FILE VALUE
    if ! printf '%s\n' "$2" >"$1" 2>/dev/null; then
        sc_die 3 "the kernel refused '$2' > $1" "check dmesg; is hugetlbfs support enabled?"
    fi
}

# size_to_kb 2M|2048K|1G|2048 -> kB
size_to_kb() {
    local v=$1 n unit
    n=${v%%[!0-9]*}
    unit=${v#"$n"}
    [[ -n $n ]] || { echo 0; return; }
    case ${unit^^} in
        "" ) echo $((n / 1024)) ;;     # bytes
        K | KB) echo "$n" ;;
        M | MB) echo $((n * 1024)) ;;
        G | GB) echo $((n * 1024 * 1024)) ;;
        *) echo 0 ;;
    esac
}

default_size_kb() { # the kernel's default huge page size, from meminfo
    awk '/^Hugepagesize:/ { print $2; exit }' "$PROC/meminfo" 2>/dev/null || true
}

boot_id() {
    local id=unknown
    [[ -r $PROC/sys/kernel/random/boot_id ]] && id=$(<"$PROC/sys/kernel/random/boot_id")
    printf '%s\n' "${id:-unknown}"
}

# mount_entry MOUNTPOINT -> "fstype options" of the last mount at MOUNTPOINT, if any
mount_entry() {
    local want=$1 mnt fstype opts rest found=""
    [[ -r $PROC/mounts ]] || return 0
    while read -r _ mnt fstype opts rest; do
        [[ $mnt == "$want" ]] && found="$fstype $opts"
    done <"$PROC/mounts"
    [[ -n $found ]] && printf '%s\n' "$found"
    return 0
}

# pagesize_of OPTIONS -> page size in kB of a hugetlbfs mount (kernel default when not shown)
pagesize_of() {
    local o
    IFS=, read -ra _opts <<<"$1"
    for o in "${_opts[@]}"; do
        if [[ $o == pagesize=* ]]; then
            size_to_kb "${o#pagesize=}"
            return
        fi
    done
    default_size_kb
}

# is_ours MOUNTPOINT -> true if this script mounted it during this boot
is_ours() {
    [[ -r $MARKER ]] || return 1
    local bid
    bid=$(boot_id)
    awk -v m="$1" -v b="$bid" '$1 == m && $2 == b { f = 1 } END { exit !f }' "$MARKER"
}

marker_created_dir() { # -> 1 if we created the directory when mounting
    awk -v m="$1" '$1 == m { c = $3 } END { print (c == "created=1") ? 1 : 0 }' "$MARKER" 2>/dev/null || echo 0
}

marker_remove() {
    [[ -f $MARKER ]] || return 0
    local tmp="$MARKER.tmp.$$"
    { awk -v m="$1" '$1 != m' "$MARKER" >"$tmp" && mv -f "$tmp" "$MARKER"; } ||
        sc_die 3 "cannot update $MARKER" "check permissions of $STATE_DIR"
}

marker_add() { # marker_add MOUNTPOINT CREATED
    mkdir -p "$STATE_DIR" || sc_die 3 "cannot create state directory $STATE_DIR" "check permissions"
    marker_remove "$1"
    printf '%s %s created=%s\n' "$1" "$(boot_id)" "$2" >>"$MARKER"
}

SIZEDIR="$SYS/kernel/mm/hugepages/hugepages-${SIZE}kB"

# node_dirs -> one "NODE DIR" line per NUMA node that offers pages of SIZE
node_dirs() {
    local d n
    for d in "$SYS"/devices/system/node/node[0-9]*/hugepages/hugepages-"${SIZE}"kB; do
        [[ -d $d ]] || continue
        n=${d%/hugepages/*}
        n=${n##*/node}
        printf '%s %s\n' "$n" "$d"
    done | sort -n
}

require_size() {
    if [[ ! -d $SIZEDIR ]]; then
        local avail
        avail=$(find "$SYS/kernel/mm/hugepages" -maxdepth 1 -name 'hugepages-*kB' -printf '%f ' 2>/dev/null |
            sed 's/hugepages-//g; s/kB/ kB/g')
        sc_die 3 "the kernel offers no ${SIZE} kB huge pages ($SIZEDIR missing)" \
            "set HUGEPAGE_SIZE_KB in $config to one of: ${avail:-none (kernel built without hugetlbfs?)}"
    fi
}

require_real_root() {
    [[ -n ${SYSFS_ROOT:-} ]] && return 0
    sc_require_root "$1"
}

# ---------------------------------------------------------------- status

do_status() {
    local d size n nd
    printf 'config %s: %s pages of %s kB per node, mount %s\n' "$config" "$WANT" "$SIZE" "$MNT"
    local any=0
    for d in "$SYS"/kernel/mm/hugepages/hugepages-*kB; do
        [[ -d $d ]] || continue
        any=1
        size=${d##*/hugepages-}
        printf '%-9s total %6s  free %6s  reserved %6s  surplus %6s\n' "$size" \
            "$(read_num "$d/nr_hugepages")" "$(read_num "$d/free_hugepages")" \
            "$(read_num "$d/resv_hugepages" 2>/dev/null || echo 0)" "$(read_num "$d/surplus_hugepages")"
        for nd in "$SYS"/devices/system/node/node[0-9]*/hugepages/hugepages-"$size"; do
            [[ -d $nd ]] || continue
            n=${nd%/hugepages/*}
            n=${n##*/}
            printf '  %-7s total %6s  free %6s  surplus %6s\n' "$n" \
                "$(read_num "$nd/nr_hugepages")" "$(read_num "$nd/free_hugepages")" \
                "$(read_num "$nd/surplus_hugepages")"
        done
    done
    [[ $any -eq 1 ]] || printf 'no huge page sizes in %s/kernel/mm/hugepages\n' "$SYS"
    printf 'hugetlbfs mounts:\n'
    local mnt fstype opts rest m=0 owner
    if [[ -r $PROC/mounts ]]; then
        while read -r _ mnt fstype opts rest; do
            [[ $fstype == hugetlbfs ]] || continue
            m=1
            owner="not mounted by this script"
            is_ours "$mnt" && owner="mounted by setup-hugepages.sh"
            printf '  %s pagesize %s kB (%s)\n' "$mnt" "$(pagesize_of "$opts")" "$owner"
        done <"$PROC/mounts"
    fi
    [[ $m -eq 1 ]] || printf '  none\n'
}

# ---------------------------------------------------------------- apply

do_apply() {
    require_size
    require_real_root "reserving huge pages"
    local changed=0 short=() node dir cur got
    local -a targets=()
    mapfile -t targets < <(node_dirs)
    if [[ ${#targets[@]} -eq 0 ]]; then
        targets=("global $SIZEDIR")
    fi
    for t in "${targets[@]}"; do
        node=${t%% *}
        dir=${t#* }
        cur=$(read_num "$dir/nr_hugepages")
        local label="node$node"
        [[ $node == global ]] && label="global (no per-node sysfs)"
        if [[ $cur -ge $WANT ]]; then
            sc_info "$label: $cur pages of $SIZE kB reserved (want $WANT) - ok"
            continue
        fi
        write_sysfs "$dir/nr_hugepages" "$WANT"
        changed=1
        got=$(read_num "$dir/nr_hugepages")
        if [[ $got -lt $WANT ]]; then
            short+=("$label got $got of $WANT")
        else
            sc_info "$label: reserved $got pages of $SIZE kB (was $cur)"
        fi
    done
    if [[ ${#short[@]} -gt 0 ]]; then
        local IFS=';'
        sc_die 3 "the kernel reserved fewer $SIZE kB pages than asked: ${short[*]}" \
            "memory is too small or fragmented: lower HUGEPAGES_PER_NODE in $config, or reboot and run this early (pages obtained so far stay reserved; --teardown releases them)"
    fi

    local entry fstype opts ps
    entry=$(mount_entry "$MNT")
    if [[ -n $entry ]]; then
        fstype=${entry%% *}
        opts=${entry#* }
        [[ $fstype == hugetlbfs ]] ||
            sc_die 3 "$MNT is already mounted as $fstype, not hugetlbfs" \
                "set HUGEPAGE_MOUNT in $config to a free directory"
        ps=$(pagesize_of "$opts")
        [[ $ps == "$SIZE" ]] ||
            sc_die 3 "$MNT is a hugetlbfs of ${ps} kB pages, not $SIZE kB" \
                "use another HUGEPAGE_MOUNT for $SIZE kB pages, or change HUGEPAGE_SIZE_KB"
        sc_info "$MNT: hugetlbfs (pagesize $SIZE kB) already mounted - ok"
    else
        local created=0
        if [[ ! -d $MNT ]]; then
            mkdir -p "$MNT" || sc_die 3 "cannot create mount point $MNT" "check the path in $config"
            created=1
        fi
        local o="pagesize=${SIZE}K,uid=$HUGEPAGE_MOUNT_UID,gid=$HUGEPAGE_MOUNT_GID,mode=$HUGEPAGE_MOUNT_MODE"
        if ! $MOUNT_CMD -t hugetlbfs -o "$o" nodev "$MNT"; then
            [[ $created -eq 1 ]] && { rmdir "$MNT" 2>/dev/null || true; }
            sc_die 3 "mounting hugetlbfs on $MNT failed" "check dmesg and that $MNT is usable"
        fi
        marker_add "$MNT" "$created"
        changed=1
        sc_info "$MNT: mounted hugetlbfs ($o)"
    fi
    if [[ $changed -eq 0 ]]; then
        sc_info "nothing to do: huge pages already set up"
    else
        sc_info "huge pages ready"
    fi
}

# ---------------------------------------------------------------- teardown

do_teardown() {
    require_size
    require_real_root "releasing huge pages"
    local nr free resv inuse
    nr=$(read_num "$SIZEDIR/nr_hugepages")
    free=$(read_num "$SIZEDIR/free_hugepages")
    resv=0
    [[ -r $SIZEDIR/resv_hugepages ]] && resv=$(read_num "$SIZEDIR/resv_hugepages")
    inuse=$((nr - free + resv))
    if [[ $inuse -gt 0 && $force -eq 0 ]]; then
        local files=""
        [[ -d $MNT ]] && files=$(find "$MNT" -maxdepth 1 -type f -printf '%f ' 2>/dev/null | head -c 200 || true)
        sc_die 3 "$inuse huge pages of $SIZE kB are in use${files:+ (files in $MNT: $files)}" \
            "stop the DPDK processes using them, remove stale rtemap_* files left by crashed ones, or pass --force"
    fi
    local changed=0 entry
    entry=$(mount_entry "$MNT")
    if [[ -n $entry ]]; then
        if is_ours "$MNT"; then
            $UMOUNT_CMD "$MNT" || sc_die 3 "unmounting $MNT failed" "is a process still using it? (fuser -vm $MNT)"
            [[ $(marker_created_dir "$MNT") == 1 ]] && { rmdir "$MNT" 2>/dev/null || true; }
            marker_remove "$MNT"
            changed=1
            sc_info "$MNT: unmounted"
        else
            sc_info "$MNT: left mounted (not mounted by this script; see the teardown rule in --help)"
        fi
    else
        marker_remove "$MNT"
    fi
    local t dir cur got
    local -a targets=()
    mapfile -t targets < <(node_dirs)
    targets+=("global $SIZEDIR")
    for t in "${targets[@]}"; do
        dir=${t#* }
        cur=$(read_num "$dir/nr_hugepages")
        [[ $cur -eq 0 ]] && continue
        write_sysfs "$dir/nr_hugepages" 0
        changed=1
        got=$(read_num "$dir/nr_hugepages")
        if [[ $got -ne 0 ]]; then
            sc_warn "${t%% *}: $got pages still allocated (in use; released when their users exit)"
        fi
    done
    if [[ $changed -eq 0 ]]; then
        sc_info "nothing to do: no $SIZE kB pages reserved and nothing of ours mounted"
    else
        sc_info "released all $SIZE kB huge pages"
    fi
}

case $mode in
    status) do_status ;;
    apply) do_apply ;;
    teardown) do_teardown ;;
esac
