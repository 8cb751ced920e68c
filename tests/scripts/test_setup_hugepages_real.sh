#!/bin/bash
# Runs scripts/setup-hugepages.sh for real on this machine (root): apply, apply again (no-op),
# status, teardown, apply again. Uses its own mount point and state directory, 64 pages per
# node, and puts the machine's original page counts back at the end (also on failure).
# Skipped (exit 77) when not root or when 2 MiB pages are in use by someone else, since
# tearing down under a running DPDK process is exactly what the script refuses to do.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

HP="$SCRIPTS/setup-hugepages.sh"
H=/sys/kernel/mm/hugepages/hugepages-2048kB

[[ $EUID -eq 0 ]] || t_skip "needs root"
grep -qw hugetlbfs /proc/filesystems || t_skip "kernel without hugetlbfs"
[[ -d $H ]] || t_skip "no 2048 kB huge pages on this kernel"
in_use=$(($(<$H/nr_hugepages) - $(<$H/free_hugepages) + $(<$H/resv_hugepages)))
[[ $in_use -eq 0 ]] || t_skip "$in_use huge pages of 2048 kB are in use by another process"

# Remember the page counts to put back.
declare -A ORIG=()
for f in $H/nr_hugepages /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages; do
    [[ -e $f ]] && ORIG[$f]=$(<"$f")
done
NODE_FILES=(/sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages)
[[ -e ${NODE_FILES[0]} ]] || NODE_FILES=("$H/nr_hugepages")

MNT=$T_TMP/hugemnt
CONF=$T_TMP/hp.conf
export HUGEPAGES_STATE_DIR=$T_TMP/run
hp_config "$CONF" 64 "$MNT"
chmod 755 "$T_TMP"

restore_machine() {
    if grep -q " $MNT hugetlbfs " /proc/mounts; then umount "$MNT" || true; fi
    local f
    for f in "${NODE_FILES[@]}"; do echo 0 >"$f" || true; done
    for f in "${!ORIG[@]}"; do
        [[ $f == "$H/nr_hugepages" ]] && continue
        echo "${ORIG[$f]}" >"$f" || true
    done
    if [[ ${NODE_FILES[0]} == "$H/nr_hugepages" ]]; then echo "${ORIG[$H/nr_hugepages]}" >"$H/nr_hugepages" || true; fi
}
t_on_exit restore_machine

mounted_here() { grep -c " $MNT hugetlbfs " /proc/mounts || true; }

case_apply() {
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "huge pages ready"
    local f
    for f in "${NODE_FILES[@]}"; do
        [[ $(<"$f") -ge 64 ]] || t_fail "$f holds $(<"$f") pages, want >= 64"
    done
    [[ $(<$H/free_hugepages) -ge 64 ]] || t_fail "fewer than 64 free pages after apply"
    assert_eq 1 "$(mounted_here)" "hugetlbfs mounts at $MNT"
    grep " $MNT hugetlbfs " /proc/mounts | grep -q 'pagesize=2M' || t_fail "mount lacks pagesize=2M: $(grep " $MNT " /proc/mounts)"
    assert_eq "1770 0 0" "$(stat -c '%a %u %g' "$MNT")" "mode/owner of the mount"
    # The pages are usable: a file on the mount takes a page.
    local before
    before=$(<$H/free_hugepages)
    fallocate -l 2M "$MNT/probe" || t_fail "cannot allocate a huge page on $MNT"
    assert_eq $((before - 1)) "$(<$H/free_hugepages)" "free pages after allocating one"
    rm -f "$MNT/probe"
}

case_apply_again_is_noop() {
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_out_contains "nothing to do"
    assert_eq 1 "$(mounted_here)" "still one mount at $MNT"
}

case_status() {
    t_run "$HP" --status --config "$CONF"
    assert_rc 0
    assert_out_contains "2048kB    total"
    assert_out_contains "$MNT pagesize 2048 kB (mounted by setup-hugepages.sh)"
    if can_run_as_nobody; then
        t_run as_nobody env HUGEPAGES_STATE_DIR="$HUGEPAGES_STATE_DIR" "$HP" --status --config "$CONF"
        assert_rc 0
        assert_out_contains "$MNT pagesize 2048 kB"
    fi
    printf '    | %s\n' "${T_OUT//$'\n'/$'\n'    | }"
}

case_teardown_refuses_while_in_use() {
    # hold one page through a file on the mount: teardown must refuse, then succeed once freed
    fallocate -l 2M "$MNT/rtemap_0"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 3
    assert_err_contains "1 huge pages of 2048 kB are in use (files in $MNT: rtemap_0"
    assert_eq 1 "$(mounted_here)" "still mounted after the refusal"
    rm -f "$MNT/rtemap_0"
}

case_teardown() {
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "$MNT: unmounted"
    assert_eq 0 "$(mounted_here)" "mounts at $MNT"
    [[ ! -d $MNT ]] || t_fail "mount point we created is still there"
    assert_eq 0 "$(<$H/nr_hugepages)" "2048 kB pages after teardown"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
    assert_out_contains "nothing to do"
}

case_apply_after_teardown() {
    t_run "$HP" --config "$CONF"
    assert_rc 0
    assert_eq 1 "$(mounted_here)" "mounted again"
    [[ $(<$H/nr_hugepages) -ge 64 ]] || t_fail "pages not reserved again"
    t_run "$HP" --teardown --config "$CONF"
    assert_rc 0
}

t_case "apply reserves 64 pages per node and mounts hugetlbfs" case_apply
t_case "apply again changes nothing" case_apply_again_is_noop
t_case "status shows the pages and our mount (also as non-root)" case_status
t_case "teardown refuses while a page is in use" case_teardown_refuses_while_in_use
t_case "teardown unmounts and releases to 0" case_teardown
t_case "apply works again after teardown" case_apply_after_teardown
t_done
