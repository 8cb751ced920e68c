#!/bin/bash
# Tests for scripts/setup-hugepages.sh against a fake sysfs/proc tree and fake mount/umount
# (the real machine is exercised by test_setup_hugepages_real.sh).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

HP="$SCRIPTS/setup-hugepages.sh"
H=sys/kernel/mm/hugepages/hugepages-2048kB
N0=sys/devices/system/node/node0/hugepages/hugepages-2048kB
N1=sys/devices/system/node/node1/hugepages/hugepages-2048kB

# setup NODES [PAGES] -- fake tree with NODES nodes and a config asking PAGES (default 16)
setup() {
    R=$T_CASE_DIR/root
    fake_hp_root "$R" "$1"
    hp_env "$R"
    MNT=$T_CASE_DIR/mnt/huge
    CONF=$T_CASE_DIR/hp.conf
    hp_config "$CONF" "${2:-16}" "$MNT"
}

case_help() {
    t_run "$HP" --help
    assert_rc 0
    assert_out_contains "Usage: scripts/setup-hugepages.sh"
    assert_out_contains "Teardown rule"
    assert_out_contains "Exit codes"
}

case_usage_errors() {
    setup 1
    t_run "$HP" --bogus
    assert_rc 2
    assert_err_contains "unknown argument '--bogus'"
    assert_one_error_line
    t_run "$HP" --config
    assert_rc 2
    assert_err_contains "option --config needs a value"
    t_run "$HP" --config "$T_CASE_DIR/nope.conf"
    assert_rc 2
    assert_err_contains "config file '$T_CASE_DIR/nope.conf' not found"
    assert_one_error_line
}

case_bad_config_values() {
    setup 1
    local line
    for line in HUGEPAGES_PER_NODE=lots HUGEPAGE_SIZE_KB=2M HUGEPAGE_SIZE_KB=0 HUGEPAGE_MOUNT=relative/dir \
        "HUGEPAGE_MOUNT='/mnt/with space'" HUGEPAGE_MOUNT=/ HUGEPAGE_MOUNT_MODE=rwx HUGEPAGE_MOUNT_UID=root; do
        hp_config "$CONF" 16 "$MNT"
        echo "$line" >>"$CONF"
        t_run "$HP" --config "$CONF"
        assert_rc 2
        assert_err_contains "$CONF: "
        assert_one_error_line
    done
    assert_eq "" "$(cat "$R/mount.log")" "nothing mounted"
    assert_eq 0 "$(cat "$R/$N0/nr_hugepages")" "nothing reserved"
}

case_apply_per_node() {
    setup 2
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "node0: reserved 16 pages of 2048 kB (was 0)"
    assert_out_contains "node1: reserved 16 pages of 2048 kB (was 0)"
    assert_out_contains "huge pages ready"
    assert_file_eq "$R/$N0/nr_hugepages" 16
    assert_file_eq "$R/$N1/nr_hugepages" 16
    assert_file_eq "$R/$H/nr_hugepages" 0   # global untouched when per-node sysfs exists
    assert_file_eq "$R/mount.log" "mount -t hugetlbfs -o pagesize=2048K,uid=0,gid=0,mode=1770 nodev $MNT"
    [[ -d $MNT ]] || t_fail "mount point not created"
    assert_file_contains "$R/run/hugepages-mounts" "$MNT 11111111-2222-3333-4444-555555555555 created=1"
}

case_apply_is_idempotent() {
    setup 2
    t_run "$HP" --config "$CONF"
    assert_rc 0
    local before
    before=$(stat -c '%y' "$R/$N0/nr_hugepages" "$R/$N1/nr_hugepages")
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "node0: 16 pages of 2048 kB reserved (want 16) - ok"
    assert_out_contains "$MNT: hugetlbfs (pagesize 2048 kB) already mounted - ok"
    assert_out_contains "nothing to do"
    assert_eq "$before" "$(stat -c '%y' "$R/$N0/nr_hugepages" "$R/$N1/nr_hugepages")" "sysfs not rewritten"
    assert_eq 1 "$(wc -l <"$R/mount.log")" "mounted exactly once"
}

case_apply_never_shrinks() {
    setup 2
    echo 64 >"$R/$N0/nr_hugepages"
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "node0: 64 pages of 2048 kB reserved (want 16) - ok"
    assert_file_eq "$R/$N0/nr_hugepages" 64
    assert_file_eq "$R/$N1/nr_hugepages" 16
}

case_apply_without_numa_sysfs() {
    setup 0
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "global (no per-node sysfs): reserved 16 pages"
    assert_file_eq "$R/$H/nr_hugepages" 16
}

case_kernel_gives_fewer_pages() {
    setup 2
    # node1's counter swallows writes and reads back empty: the kernel found no free memory there
    rm "$R/$N1/nr_hugepages"
    ln -s /dev/null "$R/$N1/nr_hugepages"
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "the kernel reserved fewer 2048 kB pages than asked: node1 got 0 of 16"
    assert_err_contains "lower HUGEPAGES_PER_NODE"
    assert_err_contains "reboot"
    assert_one_error_line
    assert_file_eq "$R/$N0/nr_hugepages" 16
    assert_eq "" "$(cat "$R/mount.log")" "nothing mounted after a shortfall"
}

case_kernel_refuses_write() {
    setup 1
    rm "$R/$N0/nr_hugepages"
    mkdir "$R/$N0/nr_hugepages"   # writing fails like a kernel returning an error
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "the kernel refused '16' > $R/$N0/nr_hugepages"
    assert_one_error_line
}

case_unsupported_page_size() {
    setup 1
    hp_config "$CONF" 16 "$MNT" 4096
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "the kernel offers no 4096 kB huge pages"
    assert_err_contains "1048576 kB"
    assert_err_contains "2048 kB"
    assert_one_error_line
}

case_system_mount_is_used_and_kept() {
    setup 1
    mkdir -p "$MNT"
    echo "hugetlbfs $MNT hugetlbfs rw,relatime,pagesize=2M 0 0" >>"$R/proc/mounts"
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "$MNT: hugetlbfs (pagesize 2048 kB) already mounted - ok"
    assert_eq "" "$(cat "$R/mount.log")" "no mount call"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "$MNT: left mounted (not mounted by this script"
    assert_eq "" "$(cat "$R/mount.log")" "no umount call"
    assert_file_eq "$R/$N0/nr_hugepages" 0
}

case_default_pagesize_mount() {
    setup 1
    mkdir -p "$MNT"
    echo "nodev $MNT hugetlbfs rw,relatime 0 0" >>"$R/proc/mounts"   # no pagesize= shown: default size
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "already mounted - ok"
}

case_mount_point_conflicts() {
    setup 1
    mkdir -p "$MNT"
    echo "none $MNT hugetlbfs rw,relatime,pagesize=1024M 0 0" >>"$R/proc/mounts"
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "$MNT is a hugetlbfs of 1048576 kB pages, not 2048 kB"
    assert_one_error_line
    : >"$R/proc/mounts"
    echo "tmpfs $MNT tmpfs rw,relatime 0 0" >>"$R/proc/mounts"
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "$MNT is already mounted as tmpfs, not hugetlbfs"
}

case_mount_failure() {
    setup 1
    touch "$R/mount.fail"
    t_run "$HP" --config "$CONF"
    assert_rc 3
    assert_err_contains "mounting hugetlbfs on $MNT failed"
    assert_one_error_line
    [[ ! -d $MNT ]] || t_fail "the mount point we created should be removed again"
    assert_no_file "$R/run/hugepages-mounts"
}

case_teardown() {
    setup 2
    t_run "$HP" --config "$CONF"
    assert_rc 0
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "$MNT: unmounted"
    assert_out_contains "released all 2048 kB huge pages"
    assert_file_contains "$R/mount.log" "umount $MNT"
    assert_file_eq "$R/$N0/nr_hugepages" 0
    assert_file_eq "$R/$N1/nr_hugepages" 0
    [[ ! -d $MNT ]] || t_fail "the mount point we created should be removed"
    assert_eq "" "$(cat "$R/run/hugepages-mounts")" "no mount recorded"
    [[ $(cat "$R/proc/mounts") != *"$MNT"* ]] || t_fail "still mounted"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "nothing to do"
    assert_eq 1 "$(grep -c umount "$R/mount.log")" "unmounted once"
    # and applying again works after a teardown
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_file_eq "$R/$N0/nr_hugepages" 16
}

case_teardown_keeps_existing_dir() {
    setup 1
    mkdir -p "$MNT"
    t_run "$HP" --config "$CONF"
    assert_file_contains "$R/run/hugepages-mounts" "created=0"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    [[ -d $MNT ]] || t_fail "a mount point we did not create must stay"
}

case_teardown_refuses_pages_in_use() {
    setup 1
    t_run "$HP" --config "$CONF"
    echo 16 >"$R/$H/nr_hugepages"
    echo 10 >"$R/$H/free_hugepages"
    touch "$MNT/rtemap_0"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 3
    assert_err_contains "6 huge pages of 2048 kB are in use (files in $MNT: rtemap_0"
    assert_err_contains "--force"
    assert_one_error_line
    assert_file_eq "$R/$N0/nr_hugepages" 16
    assert_eq 1 "$(wc -l <"$R/mount.log")" "not unmounted"
    t_run "$HP" --teardown --force --config "$CONF"
    assert_rc 0
    assert_file_eq "$R/$N0/nr_hugepages" 0
}

case_stale_marker_from_other_boot() {
    setup 1
    mkdir -p "$MNT" "$R/run"
    echo "nodev $MNT hugetlbfs rw,relatime,pagesize=2M 0 0" >>"$R/proc/mounts"
    echo "$MNT 00000000-dead-beef-0000-000000000000 created=0" >"$R/run/hugepages-mounts"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "left mounted (not mounted by this script"
    assert_eq "" "$(cat "$R/mount.log")" "a mount recorded in an earlier boot is not ours"
}

case_status() {
    setup 2
    t_run "$HP" --config "$CONF"
    echo 32 >"$R/$H/nr_hugepages"
    echo 30 >"$R/$H/free_hugepages"
    echo 1 >"$R/$H/surplus_hugepages"
    echo "nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0" >>"$R/proc/mounts"
    t_run "$HP" --status --config "$CONF"
    assert_rc 0
    assert_out_contains "config $CONF: 16 pages of 2048 kB per node, mount $MNT"
    assert_out_contains "2048kB    total     32  free     30  reserved      0  surplus      1"
    assert_out_contains "  node0   total     16"
    assert_out_contains "  node1   total     16"
    assert_out_contains "1048576kB total      0"
    assert_out_contains "  $MNT pagesize 2048 kB (mounted by setup-hugepages.sh)"
    assert_out_contains "  /dev/hugepages pagesize 2048 kB (not mounted by this script)"
}

case_needs_root_on_real_system() {
    can_run_as_nobody || { echo "    (not root or no setpriv: case not applicable)"; return 0; }
    hp_config "$T_CASE_DIR/hp.conf" 16 /nonexistent/mnt
    chmod 755 "$T_CASE_DIR" "$T_TMP"
    t_run as_nobody env HUGEPAGES_STATE_DIR=/nonexistent "$HP" --config "$T_CASE_DIR/hp.conf"
    assert_rc 3
    assert_err_contains "reserving huge pages needs root"
    assert_one_error_line
    t_run as_nobody env HUGEPAGES_STATE_DIR=/nonexistent "$HP" --teardown --config "$T_CASE_DIR/hp.conf"
    assert_rc 3
    assert_err_contains "releasing huge pages needs root"
    t_run as_nobody env HUGEPAGES_STATE_DIR=/nonexistent "$HP" --status --config "$T_CASE_DIR/hp.conf"
    assert_rc 0
    assert_out_contains "2048kB"
}

t_case "--help documents usage, teardown rule and exit codes" case_help
t_case "usage errors exit 2" case_usage_errors
t_case "bad config values exit 2 and change nothing" case_bad_config_values
t_case "apply reserves per node and mounts with pagesize" case_apply_per_node
t_case "apply twice is a no-op" case_apply_is_idempotent
t_case "apply never shrinks a larger reservation" case_apply_never_shrinks
t_case "without NUMA sysfs the global counter is used" case_apply_without_numa_sysfs
t_case "fewer pages than asked is exit 3 with counts and a hint" case_kernel_gives_fewer_pages
t_case "a refused sysfs write is exit 3" case_kernel_refuses_write
t_case "a page size the kernel lacks is exit 3 listing the sizes" case_unsupported_page_size
t_case "a system hugetlbfs mount is used and never unmounted" case_system_mount_is_used_and_kept
t_case "a hugetlbfs mount without pagesize= means the default size" case_default_pagesize_mount
t_case "a mount point holding another page size or fs is exit 3" case_mount_point_conflicts
t_case "a failed mount is exit 3 and leaves no directory" case_mount_failure
t_case "teardown unmounts our mount and releases every node" case_teardown
t_case "teardown keeps a mount directory it did not create" case_teardown_keeps_existing_dir
t_case "teardown refuses while pages are in use, --force overrides" case_teardown_refuses_pages_in_use
t_case "a mount recorded in another boot is not ours" case_stale_marker_from_other_boot
t_case "--status shows sizes, nodes and mounts" case_status
t_case "real system without root: apply/teardown exit 3, status works" case_needs_root_on_real_system
t_done
