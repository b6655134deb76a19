# shellcheck shell=sh
# Storage for the installer: the disk, its partitions, the layouts, and leaving a disk
# unbootable when a deployment fails. Disks and partitions are named as in /sys/block (vda, vda1,
# nvme0n1p1); devices are /dev/<name>.

# Debian's busybox-static runs its own applets ahead of $PATH (FEATURE_SH_STANDALONE): the
# installer's tools that busybox also has are called by path.
tar() { /usr/bin/tar "$@"; }
blkid() { /usr/sbin/blkid "$@"; }
mke2fs() { /usr/sbin/mke2fs "$@"; }

GPT_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
GPT_BIOS_GRUB=21686148-6449-6E6F-744E-656564454649
GPT_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4
GPT_LINUX_ROOT_X86_64=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
GPT_LVM=E6D6D379-F507-44C2-A23C-238F2A3DF928
LVM_VG=vgroot
LVM_LV=lvroot
LVM_DEV=/dev/mapper/$LVM_VG-$LVM_LV

# resolve_disk SPEC: "" (the first disk), "vda", "/dev/vda" or "serial:XYZ" -> a disk name.
resolve_disk() {
  case $1 in
    '') list_disks | head -n1 ;;
    serial:*)
      for n in $(list_disks); do
        [ "$(disk_serial "$n")" = "${1#serial:}" ] && { echo "$n"; return 0; }
      done
      ;;
    /dev/*) [ -e "/sys/block/${1#/dev/}" ] && echo "${1#/dev/}" ;;
    *) [ -e "/sys/block/$1" ] && echo "$1" ;;
  esac
}

# The partition device name N of disk D (vda1, nvme0n1p1).
part_name() {
  case $1 in *[0-9]) echo "${1}p$2" ;; *) echo "$1$2" ;; esac
}

disk_bytes() {
  echo $(($(cat "/sys/block/$1/size") * 512))
}

# The partitions the kernel sees on disk $1, in order.
disk_partitions() {
  for _sp in /sys/block/"$1"/"$1"*; do
    [ -e "$_sp/partition" ] && echo "$(cat "$_sp/partition") ${_sp##*/}"
  done | sort -n | cut -d' ' -f2
}

reread_partitions() {
  sync
  blockdev --rereadpt "/dev/$1" 2>/dev/null || partprobe "/dev/$1" 2>/dev/null || true
  sleep 1
}

# wait_dev PATH: devtmpfs makes partition nodes as the kernel adds them; give it 5 s.
wait_dev() {
  _wi=0
  while [ ! -b "$1" ] && [ $_wi -lt 50 ]; do sleep 0.1; _wi=$((_wi + 1)); done
  [ -b "$1" ] || fail "$1 did not appear"
}

has_gpt() {
  [ "$(dd if="/dev/$1" bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ]
}

fs_type() {
  blkid -p -o value -s TYPE "$1" 2>/dev/null || true
}

fs_uuid() {
  blkid -p -o value -s UUID "$1" 2>/dev/null || true
}

# partition_disk DISK LAYOUT FIRMWARE: a new GPT with the boot partition the firmware needs
# (512 MiB ESP on UEFI, 1 MiB bios_grub on BIOS) and the root (ext4, or an LVM PV with
# vgroot/lvroot); the file systems made. Sets ROOT_DEV and ESP_DEV ("" on BIOS).
partition_disk() {
  _d=$1 _layout=$2 _fw=$3
  case $_layout in
    lvm) _rtype=$GPT_LVM ;;
    *) _rtype=$GPT_LINUX ;;
  esac
  {
    echo "label: gpt"
    if [ "$_fw" = uefi ]; then
      echo "size=512MiB, type=$GPT_ESP, name=\"EFI System\""
    else
      echo "size=1MiB, type=$GPT_BIOS_GRUB, name=\"BIOS boot\""
    fi
    echo "type=$_rtype, name=\"root\""
  } >/tmp/sfdisk.in
  mark_touched "$_d"
  # --wipe-partitions wipes what an earlier deployment left where the new partitions start (an
  # old PV label would otherwise bring back its volume group).
  run "sfdisk /dev/$_d" sfdisk --wipe always --wipe-partitions always -q "/dev/$_d" </tmp/sfdisk.in
  reread_partitions "$_d"
  _p1=/dev/$(part_name "$_d" 1)
  _p2=/dev/$(part_name "$_d" 2)
  wait_dev "$_p1"
  wait_dev "$_p2"
  ESP_DEV=""
  if [ "$_fw" = uefi ]; then
    ESP_DEV=$_p1
    run "mkfs.fat $_p1" mkfs.fat -F 32 -n EFI "$_p1"
  fi
  if [ "$_layout" = lvm ]; then
    mkdir -p /run/lvm /run/lock/lvm
    run "pvcreate $_p2" lvm pvcreate -ff -y "$_p2"
    run "vgcreate $LVM_VG" lvm vgcreate "$LVM_VG" "$_p2"
    LVM_ACTIVE=1
    run "lvcreate $LVM_VG/$LVM_LV" lvm lvcreate -y -W y -l 100%FREE -n "$LVM_LV" "$LVM_VG"
    wait_dev "$LVM_DEV"
    ROOT_DEV=$LVM_DEV
  else
    ROOT_DEV=$_p2
  fi
  run "mke2fs $ROOT_DEV" mke2fs -t ext4 -F -q "$ROOT_DEV"
}

# Remember that the disk was written to: from here a failure wipes it.
mark_touched() {
  printf '%s\n' "$1" >/tmp/deploy.state/disk
}

# Unmount everything under /target (deepest first) and deactivate vgroot.
unmount_all() {
  sync
  for _m in $(awk '$2 == "/target" || index($2, "/target/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null || log "cannot unmount $_m"
  done
  [ -b "$LVM_DEV" ] && { lvm vgchange -an "$LVM_VG" >/dev/null 2>&1 || log "cannot deactivate $LVM_VG"; }
  sync
}

# After a failure: nothing left to boot from or to mistake for a deployment. The file system and
# LVM signatures of every partition, then the first MiB (MBR, primary GPT) and the last MiB
# (backup GPT) of the disk.
wipe_disk() {
  _d=$1
  log "wiping /dev/$_d: it must not boot a half-written system"
  sync
  for _m in $(awk '$2 == "/target" || index($2, "/target/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null
  done
  if [ -b "$LVM_DEV" ]; then
    wipefs -a -q "$LVM_DEV" 2>/dev/null || dd if=/dev/zero of="$LVM_DEV" bs=1M count=1 conv=fsync 2>/dev/null
    lvm vgchange -an "$LVM_VG" >/dev/null 2>&1
  fi
  for _p in $(disk_partitions "$_d"); do
    wipefs -a -q "/dev/$_p" 2>/dev/null || dd if=/dev/zero of="/dev/$_p" bs=1M count=1 conv=fsync 2>/dev/null
  done
  _mib=$(($(cat "/sys/block/$_d/size") / 2048))
  dd if=/dev/zero of="/dev/$_d" bs=1M count=1 conv=fsync 2>/dev/null || log "zeroing the start of /dev/$_d failed"
  [ "$_mib" -gt 1 ] && { dd if=/dev/zero of="/dev/$_d" bs=1M seek=$((_mib - 1)) count=1 conv=fsync 2>/dev/null || log "zeroing the end of /dev/$_d failed"; }
  sync
  blockdev --rereadpt "/dev/$_d" 2>/dev/null || true
}

# partitions_json DISK LAYOUT: the partitions (and the root LV) for the "installed" report.
# Mount points are what the installer mounted (ROOT_DEV, ESP_DEV).
partitions_json() {
  _d=$1
  printf '['
  _sep=""
  for _p in $(disk_partitions "$_d") ${LVM_ACTIVE:+"$LVM_VG-$LVM_LV"}; do
    case $_p in "$LVM_VG-$LVM_LV") _dev=$LVM_DEV _sz=$(cat "/sys/class/block/$(basename "$(readlink -f "$LVM_DEV")")/size") ;; *) _dev=/dev/$_p _sz=$(cat "/sys/class/block/$_p/size") ;; esac
    _mp=""
    [ "$_dev" = "${ROOT_DEV:-}" ] && _mp=/
    [ -n "${ESP_DEV:-}" ] && [ "$_dev" = "$ESP_DEV" ] && _mp=/boot/efi
    printf '%s{"name":%s,"size_bytes":%s,"fstype":%s,"mount":%s,"uuid":%s}' "$_sep" "$(json_str "$_p")" "$((_sz * 512))" \
      "$(json_str "$(fs_type "$_dev")")" "$(json_str "$_mp")" "$(json_str "$(fs_uuid "$_dev")")"
    _sep=","
  done
  printf ']'
}
