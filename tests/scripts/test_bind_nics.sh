#!/bin/bash
# Tests for scripts/bind-nics.sh against a fake sysfs tree (no real PCI device is touched):
# argument handling, refusals, the exact sysfs writes, driver choice, the state file, --restore.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

BIND="$SCRIPTS/bind-nics.sh"
A=0000:03:00.0
B=0000:03:00.1

# A machine with an IOMMU and two ixgbe ports eth1/eth2, vfio-pci and uio_pci_generic loadable.
setup_two() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_iommu "$R"
    fake_pci_device "$R" $A ixgbe eth1
    fake_pci_device "$R" $B ixgbe eth2
    fake_pci_driver "$R" vfio-pci
    bind_env "$R"
}

case_help() {
    t_run "$BIND" --help
    assert_rc 0
    assert_out_contains "Usage: scripts/bind-nics.sh"
    assert_out_contains "Exit codes"
}

case_no_args() {
    setup_two
    t_run "$BIND"
    assert_rc 2
    assert_err_contains "no PCI address given"
    assert_one_error_line
}

case_unknown_option() {
    setup_two
    t_run "$BIND" --frobnicate $A
    assert_rc 2
    assert_err_contains "unknown option '--frobnicate'"
    assert_one_error_line
    t_run "$BIND" --driver igb_uio $A
    assert_rc 2
    assert_err_contains "unknown --driver 'igb_uio'"
    t_run "$BIND" --state-file
    assert_rc 2
    assert_err_contains "option --state-file needs a value"
}

case_malformed_pci() {
    setup_two
    local bad
    for bad in 03:00 0000:03:00.8 zz:00.0 0000:03:20.0 3:00.0 00000:03:00.0 0000:03:00.0x "" eth1; do
        t_run "$BIND" "$bad"
        assert_rc 2
        assert_err_contains "'$bad' is not a PCI address"
        assert_err_contains "e.g. 0000:03:00.0"
        assert_one_error_line
    done
    assert_eq "" "$(writes_of "$R")" "no sysfs writes after usage errors"
    assert_no_file "$STRIPECAT_BIND_STATE"
}

case_bind_short_form() {
    setup_two
    t_run "$BIND" 03:00.0
    assert_rc 0
    assert_out_contains "$A: bound to vfio-pci (was ixgbe)"
    assert_eq "sys/bus/pci/devices/$A/driver_override vfio-pci
sys/bus/pci/drivers/ixgbe/unbind $A
sys/bus/pci/drivers_probe $A" "$(writes_of "$R")" "sysfs writes"
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_eq ixgbe "$(fake_driver_of "$R" $B)" "driver of $B (untouched)"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe vfio-pci"
    assert_eq "" "$(cat "$R/modprobe.log")" "no modprobe when the driver is already loaded"
}

case_bind_uppercase_and_full_form() {
    setup_two
    fake_pci_device "$R" 0000:0a:1f.7 e1000e eth9
    t_run "$BIND" 0000:0A:1F.7 $B
    assert_rc 0
    assert_eq vfio-pci "$(fake_driver_of "$R" 0000:0a:1f.7)" "driver of 0000:0a:1f.7"
    assert_eq vfio-pci "$(fake_driver_of "$R" $B)" "driver of $B"
    assert_file_contains "$STRIPECAT_BIND_STATE" "0000:0a:1f.7 e1000e vfio-pci"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$B ixgbe vfio-pci"
}

case_missing_device() {
    setup_two
    t_run "$BIND" 0000:04:00.0
    assert_rc 3
    assert_err_contains "no PCI device 0000:04:00.0"
    assert_one_error_line
}

case_refuse_address() {
    setup_two
    fake_ip_state eth1 addr "3: eth1    inet 198.18.5.1/24 brd 198.18.5.255 scope global eth1"
    t_run "$BIND" $A
    assert_rc 3
    assert_err_contains "refusing, interface in use"
    assert_err_contains "eth1: has address(es) 198.18.5.1/24"
    assert_err_contains "--force"
    assert_one_error_line
    assert_eq "" "$(writes_of "$R")" "no sysfs writes after a refusal"
    assert_no_file "$STRIPECAT_BIND_STATE"
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_refuse_route() {
    setup_two
    fake_ip_state eth2 route "198.51.100.0/24 via 198.18.0.254 proto static"
    t_run "$BIND" $B
    assert_rc 3
    assert_err_contains "eth2: has route(s): 198.51.100.0/24 via 198.18.0.254"
    fake_ip_state eth2 route ""
    rm -f "$FAKE_IP_DIR/eth2.route"
    fake_ip_state eth2 route6 "2001:db8::/64 proto kernel metric 256"
    t_run "$BIND" $B
    assert_rc 3
    assert_err_contains "eth2: has IPv6 route(s): 2001:db8::/64"
    assert_eq "" "$(writes_of "$R")" "no sysfs writes after a refusal"
}

case_link_local_is_not_in_use() {
    setup_two
    fake_ip_state eth1 addr "3: eth1    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever"
    fake_ip_state eth1 route6 "fe80::/64 proto kernel metric 256 pref medium"
    t_run "$BIND" $A
    assert_rc 0
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_file_contains "$FAKE_IP_DIR/calls.log" "-o addr show dev eth1"
    assert_file_contains "$FAKE_IP_DIR/calls.log" "route show dev eth1"
}

case_refuse_virtio_interface() {
    # virtio-net keeps its interface one level down: devices/PCI/virtio2/net/eth0
    setup_two
    fake_pci_device "$R" 0000:00:03.0 virtio-pci
    mkdir -p "$R/sys/bus/pci/devices/0000:00:03.0/virtio2/net/eth0"
    fake_ip_state eth0 route "default via 192.0.2.1 dev eth0"
    t_run "$BIND" 00:03.0
    assert_rc 3
    assert_err_contains "0000:00:03.0 eth0: has route(s): default via 192.0.2.1"
    assert_eq "" "$(writes_of "$R")" "no sysfs writes after a refusal"
}

case_refusal_is_all_or_nothing() {
    setup_two
    fake_ip_state eth2 addr "4: eth2    inet 198.18.9.1/24 scope global eth2"
    t_run "$BIND" $A $B
    assert_rc 3
    assert_eq "" "$(writes_of "$R")" "nothing written when any device is refused"
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_force_binds_anyway() {
    setup_two
    fake_ip_state eth1 addr "3: eth1    inet 198.18.5.1/24 scope global eth1"
    t_run "$BIND" --force $A
    assert_rc 0
    assert_err_contains "warning: --force: binding although $A eth1: has address(es)"
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_already_bound_is_noop() {
    setup_two
    t_run "$BIND" $A
    assert_rc 0
    : >"$R/writes.log"
    t_run "$BIND" $A
    assert_rc 0
    assert_out_contains "$A: already bound to vfio-pci"
    assert_eq "" "$(writes_of "$R")" "no writes when already bound"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe vfio-pci"
    assert_eq 1 "$(grep -c "^$A " "$STRIPECAT_BIND_STATE")" "one state line for $A"
}

case_rebind_keeps_original_driver() {
    setup_two
    t_run "$BIND" $A
    t_run "$BIND" --driver uio_pci_generic $A
    assert_rc 0
    assert_out_contains "$A: bound to uio_pci_generic (was vfio-pci)"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe uio_pci_generic"
    t_run "$BIND" --restore $A
    assert_rc 0
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A after restore"
}

case_unbound_device() {
    setup_two
    fake_pci_device "$R" 0000:05:00.0 none
    t_run "$BIND" 05:00.0
    assert_rc 0
    assert_out_contains "bound to vfio-pci (was no driver)"
    assert_eq "sys/bus/pci/devices/0000:05:00.0/driver_override vfio-pci
sys/bus/pci/drivers_probe 0000:05:00.0" "$(writes_of "$R")" "no unbind for an unbound device"
    assert_file_contains "$STRIPECAT_BIND_STATE" "0000:05:00.0 none vfio-pci"
    : >"$R/writes.log"
    t_run "$BIND" --restore 0000:05:00.0
    assert_rc 0
    assert_out_contains "it had no driver before"
    assert_eq "sys/bus/pci/drivers/vfio-pci/unbind 0000:05:00.0
sys/bus/pci/devices/0000:05:00.0/driver_override " "$(writes_of "$R")" "restore of a formerly unbound device"
    assert_eq none "$(fake_driver_of "$R" 0000:05:00.0)" "driver after restore"
}

case_loads_module() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_iommu "$R"
    fake_pci_device "$R" $A ixgbe eth1
    bind_env "$R"
    t_run "$BIND" $A
    assert_rc 0
    assert_file_contains "$R/modprobe.log" "vfio-pci"
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_no_iommu_falls_back_to_uio() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_pci_device "$R" $A ixgbe eth1
    bind_env "$R"
    t_run "$BIND" $A
    assert_rc 0
    assert_err_contains "no IOMMU found: using uio_pci_generic"
    assert_eq uio_pci_generic "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe uio_pci_generic"
}

case_iommu_without_vfio_falls_back_to_uio() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_iommu "$R"
    fake_pci_device "$R" $A ixgbe eth1
    FAKE_MODULES=uio_pci_generic bind_env "$R"
    t_run "$BIND" $A
    assert_rc 0
    assert_eq uio_pci_generic "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_no_iommu_no_uio_uses_noiommu_vfio() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_pci_device "$R" $A ixgbe eth1
    FAKE_MODULES=vfio-pci bind_env "$R"
    t_run "$BIND" $A
    assert_rc 0
    assert_err_contains "WARNING: no IOMMU -- using vfio-pci in UNSAFE no-IOMMU mode"
    assert_file_eq "$R/sys/module/vfio/parameters/enable_unsafe_noiommu_mode" Y
    assert_eq "sys/module/vfio/parameters/enable_unsafe_noiommu_mode Y
sys/bus/pci/devices/$A/driver_override vfio-pci
sys/bus/pci/drivers/ixgbe/unbind $A
sys/bus/pci/drivers_probe $A" "$(writes_of "$R")" "sysfs writes"
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_no_driver_available() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_iommu "$R"
    fake_pci_device "$R" $A ixgbe eth1
    FAKE_MODULES=none bind_env "$R"
    t_run "$BIND" $A
    assert_rc 3
    assert_err_contains "neither vfio-pci nor uio_pci_generic can be loaded"
    assert_one_error_line
    t_run "$BIND" --driver vfio-pci $A
    assert_rc 3
    assert_err_contains "cannot load the vfio-pci module"
    assert_eq "" "$(writes_of "$R")" "no writes"
    assert_no_file "$STRIPECAT_BIND_STATE"
}

case_explicit_noiommu_needs_kernel_support() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_pci_device "$R" $A ixgbe eth1
    bind_env "$R"
    mkdir -p "$R/sys/bus/pci/drivers/vfio-pci"   # loaded, but no noiommu parameter
    t_run "$BIND" --driver vfio-noiommu $A
    assert_rc 3
    assert_err_contains "no vfio no-IOMMU mode"
}

case_old_kernel_new_id() {
    setup_two
    rm "$R/sys/bus/pci/devices/$A/driver_override" "$R/sys/bus/pci/devices/$B/driver_override"
    t_run "$BIND" $A
    assert_rc 0
    assert_err_contains "no driver_override in sysfs"
    assert_eq "sys/bus/pci/drivers/ixgbe/unbind $A
sys/bus/pci/drivers/vfio-pci/new_id 8086 10fb" "$(writes_of "$R")" "writes on a kernel without driver_override"
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_eq ixgbe "$(fake_driver_of "$R" $B)" "driver of $B (bound, so new_id does not take it)"
    : >"$R/writes.log"
    t_run "$BIND" --restore $A
    assert_rc 0
    assert_eq "sys/bus/pci/drivers/vfio-pci/unbind $A
sys/bus/pci/drivers/ixgbe/bind $A" "$(writes_of "$R")" "restore writes without driver_override"
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A after restore"
}

case_dry_run() {
    R=$T_CASE_DIR/root
    fake_pci_root "$R"
    fake_iommu "$R"
    fake_pci_device "$R" $A ixgbe eth1
    bind_env "$R"
    t_run "$BIND" --dry-run 03:00.0
    assert_rc 0
    assert_out_contains "would run: $MODPROBE_CMD vfio-pci"
    assert_out_contains "would write vfio-pci to $R/sys/bus/pci/devices/$A/driver_override"
    assert_out_contains "would write $A to $R/sys/bus/pci/drivers/ixgbe/unbind"
    assert_out_contains "would write $A to $R/sys/bus/pci/drivers_probe"
    assert_eq "" "$(writes_of "$R")" "dry run writes nothing"
    assert_eq "-n -q vfio-pci" "$(cat "$R/modprobe.log")" "dry run only asks modprobe -n"
    assert_no_file "$STRIPECAT_BIND_STATE"
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A"
}

case_kernel_refuses_bind_rolls_back() {
    setup_two
    touch "$R/sys/bus/pci/drivers/vfio-pci/.refuse"
    t_run "$BIND" $A
    assert_rc 3
    assert_err_contains "$A did not bind to vfio-pci (now: no driver)"
    assert_err_contains "IOMMU group"
    assert_one_error_line
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A after the rollback"
    assert_eq '(null)' "$(cat "$R/sys/bus/pci/devices/$A/driver_override")" "driver_override cleared"
    assert_eq "" "$(grep -v '^#' "$STRIPECAT_BIND_STATE" || true)" "no state line left"
}

case_restore_all() {
    setup_two
    t_run "$BIND" $A $B
    assert_rc 0
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe vfio-pci"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$B ixgbe vfio-pci"
    [[ ! -e $R/sys/bus/pci/devices/$A/net ]] || t_fail "eth1 should be gone while on vfio-pci"
    : >"$R/writes.log"
    t_run "$BIND" --restore
    assert_rc 0
    assert_out_contains "$A: restored to ixgbe (was vfio-pci)"
    assert_out_contains "$B: restored to ixgbe (was vfio-pci)"
    assert_eq "sys/bus/pci/drivers/vfio-pci/unbind $A
sys/bus/pci/devices/$A/driver_override ixgbe
sys/bus/pci/drivers_probe $A
sys/bus/pci/devices/$A/driver_override 
sys/bus/pci/drivers/vfio-pci/unbind $B
sys/bus/pci/devices/$B/driver_override ixgbe
sys/bus/pci/drivers_probe $B
sys/bus/pci/devices/$B/driver_override " "$(writes_of "$R")" "restore writes"
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_eq ixgbe "$(fake_driver_of "$R" $B)" "driver of $B"
    [[ -d $R/sys/bus/pci/devices/$A/net/eth1 ]] || t_fail "eth1 should be back"
    assert_eq "" "$(grep -v '^#' "$STRIPECAT_BIND_STATE" || true)" "state file emptied"
    t_run "$BIND" --restore
    assert_rc 0
    assert_out_contains "nothing to restore"
}

case_restore_one_of_two() {
    setup_two
    t_run "$BIND" $A $B
    t_run "$BIND" --restore 03:00.1
    assert_rc 0
    assert_eq vfio-pci "$(fake_driver_of "$R" $A)" "driver of $A"
    assert_eq ixgbe "$(fake_driver_of "$R" $B)" "driver of $B"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe vfio-pci"
    if grep -q "^$B " "$STRIPECAT_BIND_STATE"; then t_fail "$B should be gone from the state file"; fi
}

case_restore_unknown_device() {
    setup_two
    t_run "$BIND" --restore $A
    assert_rc 3
    assert_err_contains "$A is not in the state file"
    assert_one_error_line
}

case_restore_failure_keeps_record() {
    setup_two
    t_run "$BIND" $A
    touch "$R/sys/bus/pci/drivers/ixgbe/.refuse"
    t_run "$BIND" --restore $A
    assert_rc 3
    assert_err_contains "$A did not rebind to ixgbe"
    assert_file_contains "$STRIPECAT_BIND_STATE" "$A ixgbe vfio-pci"
    rm "$R/sys/bus/pci/drivers/ixgbe/.refuse"
    t_run "$BIND" --restore $A
    assert_rc 0
    assert_eq ixgbe "$(fake_driver_of "$R" $A)" "driver of $A after the retry"
}

case_state_file_option() {
    setup_two
    t_run "$BIND" --state-file "$T_CASE_DIR/other/state" $A
    assert_rc 0
    assert_file_contains "$T_CASE_DIR/other/state" "$A ixgbe vfio-pci"
    assert_no_file "$STRIPECAT_BIND_STATE"
}

case_status() {
    setup_two
    fake_pci_device "$R" 0000:00:1f.0 lpc_ich
    echo 0x060100 >"$R/sys/bus/pci/devices/0000:00:1f.0/class"
    t_run "$BIND" $A
    t_run "$BIND" --status
    assert_rc 0
    assert_out_contains "$A 8086:10fb drv=vfio-pci if=none  [bound by bind-nics.sh; original driver ixgbe]"
    assert_out_contains "$B 8086:10fb drv=ixgbe if=eth2"
    assert_out_not_contains "0000:00:1f.0"
    rm -rf "${R:?}/sys/bus/pci/devices/$A"
    t_run "$BIND" --status
    assert_out_contains "$A (not present) [recorded: original driver ixgbe, bound to vfio-pci]"
    t_run "$BIND" --status $A
    assert_rc 2
}

case_needs_root_on_real_sysfs() {
    can_run_as_nobody || { echo "    (not root or no setpriv: case not applicable)"; return 0; }
    t_run as_nobody env -u SYSFS_ROOT STRIPECAT_BIND_STATE=/nonexistent/state "$BIND" 0000:03:00.0
    assert_rc 3
    assert_err_contains "binding devices needs root"
    assert_err_contains "sudo"
    assert_one_error_line
    t_run as_nobody env -u SYSFS_ROOT STRIPECAT_BIND_STATE=/nonexistent/state "$BIND" --restore
    assert_rc 3
    assert_err_contains "needs root"
    # --status only reads: fine without root (on the real, empty-of-NICs-we-own sysfs)
    t_run as_nobody env -u SYSFS_ROOT STRIPECAT_BIND_STATE=/nonexistent/state "$BIND" --status
    assert_rc 0
    assert_out_contains "state file: /nonexistent/state"
}

t_case "--help prints usage and exit codes" case_help
t_case "no PCI address is a usage error" case_no_args
t_case "unknown options are usage errors" case_unknown_option
t_case "malformed PCI addresses are refused (exit 2)" case_malformed_pci
t_case "short form 03:00.0 binds with the right sysfs writes and state" case_bind_short_form
t_case "upper-case and full-form addresses are normalized" case_bind_uppercase_and_full_form
t_case "a device that does not exist is exit 3" case_missing_device
t_case "refuses an interface with an address" case_refuse_address
t_case "refuses an interface with a route (IPv4 and IPv6)" case_refuse_route
t_case "IPv6 link-local only does not count as in use" case_link_local_is_not_in_use
t_case "refuses a virtio-net interface (nested under virtioN/)" case_refuse_virtio_interface
t_case "a refusal of one device touches no device" case_refusal_is_all_or_nothing
t_case "--force binds an interface in use, with a warning" case_force_binds_anyway
t_case "binding an already bound device changes nothing" case_already_bound_is_noop
t_case "rebinding keeps the first original driver" case_rebind_keeps_original_driver
t_case "a device with no driver binds and restores to none" case_unbound_device
t_case "loads vfio-pci with modprobe when needed" case_loads_module
t_case "no IOMMU: falls back to uio_pci_generic" case_no_iommu_falls_back_to_uio
t_case "IOMMU but no vfio-pci module: uio_pci_generic" case_iommu_without_vfio_falls_back_to_uio
t_case "no IOMMU and no uio: vfio no-IOMMU mode with a loud warning" case_no_iommu_no_uio_uses_noiommu_vfio
t_case "no usable driver module is exit 3" case_no_driver_available
t_case "--driver vfio-noiommu without kernel support is exit 3" case_explicit_noiommu_needs_kernel_support
t_case "kernels without driver_override bind through new_id" case_old_kernel_new_id
t_case "--dry-run writes, loads and records nothing" case_dry_run
t_case "a failed bind is rolled back" case_kernel_refuses_bind_rolls_back
t_case "--restore without arguments restores every recorded device" case_restore_all
t_case "--restore PCI restores only that device" case_restore_one_of_two
t_case "--restore of an unrecorded device is exit 3" case_restore_unknown_device
t_case "a failed restore keeps the record for a retry" case_restore_failure_keeps_record
t_case "--state-file overrides the state location" case_state_file_option
t_case "--status lists NICs and recorded devices" case_status
t_case "real sysfs without root: bind/restore exit 3, status works" case_needs_root_on_real_sysfs
t_done
