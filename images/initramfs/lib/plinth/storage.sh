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
    # shellcheck disable=SC2034 # read by install_grub (bootloader.sh)
    ROOT_MAPPER=$LVM_DEV
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
  grep -qx "$1" /tmp/deploy.state/disks 2>/dev/null || printf '%s\n' "$1" >>/tmp/deploy.state/disks
}

# Unmount everything under /target (deepest first), deactivate vgroot, and take down what a
# storage plan made (storage_down).
unmount_all() {
  sync
  for _m in $(awk '$2 == "/target" || index($2, "/target/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null || log "cannot unmount $_m"
  done
  [ -b "$LVM_DEV" ] && { lvm vgchange -an "$LVM_VG" >/dev/null 2>&1 || log "cannot deactivate $LVM_VG"; }
  storage_down
  sync
}

# After a failure: nothing left to boot from or to mistake for a deployment. What a storage plan
# made is wiped and taken down (storage_down wipe), then the file system, RAID, LVM and bcache
# signatures of every partition (wipefs, mdadm --zero-superblock, and its first MiB: md and
# bcache superblocks are 4 KiB in), then the first MiB (MBR, primary GPT; a whole-disk member's
# superblock) and the last MiB (backup GPT) of the disk.
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
  storage_down wipe
  for _p in $(disk_partitions "$_d"); do
    wipefs -a -q "/dev/$_p" 2>/dev/null
    mdadm --zero-superblock "/dev/$_p" >/dev/null 2>&1
    dd if=/dev/zero of="/dev/$_p" bs=1M count=1 conv=fsync 2>/dev/null
  done
  wipefs -a -q "/dev/$_d" 2>/dev/null
  mdadm --zero-superblock "/dev/$_d" >/dev/null 2>&1
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

# ---------------------------------------------------------------------------------------------
# Storage plans (shared/storage/plan.ts): the deploy document's storage.plan, steps in order,
# each naming what it works on by the ids of earlier steps. $PLAN/dev/<id> holds the /dev path
# of every id; /tmp/deploy.state/stack the RAID arrays, cache sets, bcache devices and volume
# groups made, in order, so that unmount_all and a failure can take them down again (top first).

PLAN=/tmp/plan
GPT_SWAP=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
GPT_RAID=A19D880F-05FC-4D3B-A006-743F0F84911E

mkswap() { /usr/sbin/mkswap "$@"; }

# pget I KEY: a member of plan step I.
pget() {
  jget /tmp/deploy "storage.plan.$1.$2"
}

plan_len() {
  _pl=$(jget /tmp/deploy storage.plan.length)
  case $_pl in '' | *[!0-9]*) echo 0 ;; *) echo "$_pl" ;; esac
}

# plan_dev ID: the /dev path of an earlier step's id (fails the step when there is none).
plan_dev() {
  [ -f "$PLAN/dev/$1" ] || fail "the plan names $1 before making it"
  cat "$PLAN/dev/$1"
}

# plan_devs I KEY: the /dev paths of the ids in the array KEY of step I.
plan_devs() {
  _pn=$(pget "$1" "$2.length")
  _pk=0
  while [ "$_pk" -lt "${_pn:-0}" ]; do
    plan_dev "$(pget "$1" "$2.$_pk")" || exit 1
    _pk=$((_pk + 1))
  done
}

# kname DEV: the kernel's name of a block device (md127, dm-3, bcache0, vda1).
kname() {
  _kd=$(readlink -f "$1")
  _km=$(stat -L -c '%t %T' "$_kd" 2>/dev/null) || { basename "$_kd"; return 0; }
  # shellcheck disable=SC2086 # two hex numbers
  set -- $_km
  _kl=$(readlink -f "/sys/dev/block/$((0x$1)):$((0x$2))" 2>/dev/null)
  if [ -n "$_kl" ]; then basename "$_kl"; else basename "$_kd"; fi
}

# Steps of a kind, by index.
plan_steps() {
  _ps=0
  _pe=$(plan_len)
  while [ "$_ps" -lt "$_pe" ]; do
    [ "$(pget "$_ps" type)" = "$1" ] && echo "$_ps"
    _ps=$((_ps + 1))
  done
}

plan_count() {
  plan_steps "$1" | wc -l | tr -d ' '
}

# stack_push LINE: a layer to take down again.
stack_push() {
  printf '%s\n' "$*" >>/tmp/deploy.state/stack
}

gpt_type() {
  case $1 in
    esp) echo "$GPT_ESP" ;;
    bios_grub) echo "$GPT_BIOS_GRUB" ;;
    swap) echo "$GPT_SWAP" ;;
    raid) echo "$GPT_RAID" ;;
    lvm) echo "$GPT_LVM" ;;
    *) echo "$GPT_LINUX" ;;
  esac
}

# zero_ends DEV: the first and last MiB.
zero_ends() {
  _zs=$(blockdev --getsize64 "$1" 2>/dev/null || echo 0)
  _zm=$((_zs / 1048576))
  dd if=/dev/zero of="$1" bs=1M count=1 conv=fsync 2>/dev/null
  [ "$_zm" -gt 1 ] && dd if=/dev/zero of="$1" bs=1M seek=$((_zm - 1)) count=1 conv=fsync 2>/dev/null
  return 0
}

# The disks and their partitions: one sfdisk script per GPT disk, written in the plan's order;
# a disk with ptable none is used whole and only wiped.
plan_disks() {
  rm -rf "$PLAN"
  mkdir -p "$PLAN/dev" "$PLAN/sfdisk"
  : >"$PLAN/disks"
  for i in $(plan_steps disk); do
    _id=$(pget "$i" id)
    _match=$(pget "$i" match)
    _d=$(resolve_disk "$_match")
    [ -n "$_d" ] || fail "no disk matches '$_match' ($_id)"
    grep -q " $_d " "$PLAN/disks" && fail "$_id ('$_match') is /dev/$_d, which the plan already names"
    echo "/dev/$_d" >"$PLAN/dev/$_id"
    echo "$_id $_d $(pget "$i" ptable) $(pget "$i" grub)" >>"$PLAN/disks"
  done
  for i in $(plan_steps partition); do
    _id=$(pget "$i" id)
    _disk=$(pget "$i" device)
    _d=$(awk -v id="$_disk" '$1 == id { print $2 }' "$PLAN/disks")
    [ -n "$_d" ] || fail "partition $_id is on $_disk, which is not a disk of the plan"
    [ "$(awk -v id="$_disk" '$1 == id { print $3 }' "$PLAN/disks")" = gpt ] || fail "partition $_id is on $_disk, whose ptable is none"
    _n=$(pget "$i" number)
    _p=$(part_name "$_d" "$_n")
    _start=$(pget "$i" start_mib)
    _size=$(pget "$i" size_mib)
    {
      printf '/dev/%s : start=%s' "$_p" $((_start * 2048))
      [ "${_size:-0}" -gt 0 ] && printf ', size=%s' $((_size * 2048))
      printf ', type=%s\n' "$(gpt_type "$(pget "$i" kind)")"
    } >>"$PLAN/sfdisk/$_disk"
    echo "/dev/$_p" >"$PLAN/dev/$_id"
  done
  while read -r _id _d _pt _grub; do
    mark_touched "$_d"
    if [ "$_pt" = none ]; then
      run "wipefs /dev/$_d" wipefs -a -q "/dev/$_d"
      zero_ends "/dev/$_d"
      continue
    fi
    { echo "label: gpt"; cat "$PLAN/sfdisk/$_id" 2>/dev/null; } >/tmp/sfdisk.in
    # --wipe-partitions: an old array, PV or cache superblock where a new partition starts
    # would otherwise come back.
    run "sfdisk /dev/$_d" sfdisk --wipe always --wipe-partitions always -q "/dev/$_d" </tmp/sfdisk.in
    reread_partitions "$_d"
    # shellcheck disable=SC2013 # one partition name a line
    for _p in $(sed -n 's|^/dev/\([^ ]*\) :.*|\1|p' /tmp/sfdisk.in); do
      wait_dev "/dev/$_p"
      # Below where sfdisk looks: an md superblock 4 KiB in, a bcache one 4 KiB in.
      dd if=/dev/zero of="/dev/$_p" bs=1M count=1 conv=fsync 2>/dev/null
    done
  done <"$PLAN/disks"
}

# new_device DEV: a device just made holds nothing an earlier deployment left there.
new_device() {
  wait_dev "$1"
  run "wipefs $1" wipefs -a -q "$1"
}

plan_raid() {
  _id=$(pget "$1" id)
  _name=$(pget "$1" name)
  _level=$(pget "$1" level)
  _devs=$(plan_devs "$1" devices) || exit 1
  _spares=$(plan_devs "$1" spares) || exit 1
  _nd=$(echo "$_devs" | wc -w)
  _ns=$(echo "$_spares" | wc -w)
  mkdir -p /dev/md /run/mdadm
  # --homehost=any: the name is not tied to the ephemeral environment's host name, so the deployed
  # system assembles it as /dev/md/<name>. --run: no questions.
  # shellcheck disable=SC2046,SC2086 # device lists
  run "mdadm --create /dev/md/$_name (RAID $_level)" mdadm --create "/dev/md/$_name" --run --metadata=1.2 --homehost=any \
    --level="$_level" --raid-devices="$_nd" $_devs $([ "$_ns" -gt 0 ] && echo "--spare-devices=$_ns") $_spares </dev/null
  wait_dev "/dev/md/$_name"
  _md=/dev/$(kname "/dev/md/$_name")
  stack_push md "$_md"
  new_device "$_md"
  echo "$_md" >"$PLAN/dev/$_id"
  echo "$_name $_md" >>"$PLAN/raids"
}

# bcache_register DEV WHAT: the kernel's reason (its log) when it refuses.
bcache_register() {
  echo "$1" >/sys/fs/bcache/register 2>/tmp/run.err && return 0
  fail "registering the $2 $1 failed: $(tail_lines /tmp/run.err) ($(dmesg | grep bcache | tail -n 2 | tr '\n' ' '))"
}

plan_cache_set() {
  _id=$(pget "$1" id)
  _dev=$(plan_dev "$(pget "$1" device)") || exit 1
  run "wipefs $_dev" wipefs -a -q "$_dev"
  run "make-bcache -C $_dev" make-bcache -C "$_dev" --wipe-bcache
  _cset=$(sed -n 's/^Set UUID:[[:space:]]*//p' /tmp/run.out | head -n1)
  [ -n "$_cset" ] || _cset=$(bcache-super-show "$_dev" 2>/dev/null | awk '$1 == "cset.uuid" { print $2 }')
  [ -n "$_cset" ] || fail "make-bcache -C $_dev printed no cache set UUID"
  bcache_register "$_dev" cache
  _w=0
  while [ ! -d "/sys/fs/bcache/$_cset" ] && [ $_w -lt 50 ]; do sleep 0.1; _w=$((_w + 1)); done
  [ -d "/sys/fs/bcache/$_cset" ] || fail "the cache set $_cset on $_dev did not appear"
  stack_push cset "$_cset"
  echo "$_dev" >"$PLAN/dev/$_id"
  echo "$_cset" >"$PLAN/cset.$_id"
}

plan_bcache() {
  _id=$(pget "$1" id)
  _name=$(pget "$1" name)
  _mode=$(pget "$1" cache_mode)
  _dev=$(plan_dev "$(pget "$1" backing)") || exit 1
  _cs=$(pget "$1" cache_set)
  [ -f "$PLAN/cset.$_cs" ] || fail "bcache $_name names $_cs, which is not a cache set of the plan"
  _cset=$(cat "$PLAN/cset.$_cs")
  run "wipefs $_dev" wipefs -a -q "$_dev"
  run "make-bcache -B $_dev" make-bcache -B "$_dev" --wipe-bcache
  bcache_register "$_dev" "backing device"
  _sys=/sys/class/block/$(kname "$_dev")/bcache
  _w=0
  while [ ! -e "$_sys/dev" ] && [ $_w -lt 100 ]; do sleep 0.1; _w=$((_w + 1)); done
  [ -e "$_sys/dev" ] || fail "no bcache device appeared for $_dev"
  _b=$(basename "$(readlink -f "$_sys/dev")")
  # Written through while installing (nothing dirty in the cache when the machine resets); the
  # plan's mode is set when it is taken down (unmount_all), with the file systems unmounted.
  stack_push bcache "$_b" "$_mode"
  echo "$_cset" >"$_sys/attach" 2>/tmp/run.err || fail "attaching $_dev to the cache set $_cset failed: $(tail_lines /tmp/run.err)"
  echo writethrough >"$_sys/cache_mode" 2>/tmp/run.err || fail "setting the cache mode of /dev/$_b failed: $(tail_lines /tmp/run.err)"
  new_device "/dev/$_b"
  echo "/dev/$_b" >"$PLAN/dev/$_id"
  echo "$_name /dev/$_b" >>"$PLAN/bcaches"
}

plan_vg() {
  _id=$(pget "$1" id)
  _name=$(pget "$1" name)
  _devs=$(plan_devs "$1" devices) || exit 1
  mkdir -p /run/lvm /run/lock/lvm
  for _dev in $_devs; do
    run "pvcreate $_dev" lvm pvcreate -ff -y "$_dev"
  done
  # shellcheck disable=SC2086 # device list
  run "vgcreate $_name" lvm vgcreate "$_name" $_devs
  stack_push vg "$_name"
  echo "$_name" >"$PLAN/vg.$_id"
  echo "/dev/$_name" >"$PLAN/dev/$_id"
}

# The device-mapper name of VG/LV: dashes doubled.
mapper_name() {
  printf '%s-%s' "$(printf '%s' "$1" | sed 's/-/--/g')" "$(printf '%s' "$2" | sed 's/-/--/g')"
}

plan_lv() {
  _id=$(pget "$1" id)
  _name=$(pget "$1" name)
  _size=$(pget "$1" size_mib)
  _vgid=$(pget "$1" vg)
  [ -f "$PLAN/vg.$_vgid" ] || fail "logical volume $_name names $_vgid, which is not a volume group of the plan"
  _vg=$(cat "$PLAN/vg.$_vgid")
  if [ "${_size:-0}" -gt 0 ]; then _sz="-L ${_size}m"; else _sz="-l 100%FREE"; fi
  # shellcheck disable=SC2086 # two words
  run "lvcreate $_vg/$_name" lvm lvcreate -y -W y -Z y $_sz -n "$_name" "$_vg"
  _dev=/dev/mapper/$(mapper_name "$_vg" "$_name")
  new_device "$_dev"
  echo "$_dev" >"$PLAN/dev/$_id"
  echo "$(mapper_name "$_vg" "$_name") $_dev" >>"$PLAN/lvs"
}

plan_format() {
  _dev=$(plan_dev "$(pget "$1" device)") || exit 1
  _fs=$(pget "$1" fstype)
  _label=$(pget "$1" label)
  _uuid=$(pget "$1" uuid)
  case $_fs in
    ext4 | ext3 | ext2)
      run "mke2fs -t $_fs $_dev" mke2fs -t "$_fs" -F -q ${_label:+-L "$_label"} ${_uuid:+-U "$_uuid"} "$_dev" ;;
    xfs)
      run "mkfs.xfs $_dev" mkfs.xfs -f -q ${_label:+-L "$_label"} ${_uuid:+-m "uuid=$_uuid"} "$_dev" ;;
    vfat)
      # A FAT volume id is 8 hex digits ("ABCD-1234"); another uuid is not one.
      _vid=$(printf '%s' "$_uuid" | tr -d '-')
      case $_vid in [0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]) ;; *) _vid="" ;; esac
      run "mkfs.fat $_dev" mkfs.fat -F 32 ${_label:+-n "$_label"} ${_vid:+-i "$_vid"} "$_dev" ;;
    swap)
      run "mkswap $_dev" mkswap -f ${_label:+-L "$_label"} ${_uuid:+-U "$_uuid"} "$_dev" ;;
    *) fail "unsupported file system $_fs" ;;
  esac
  echo "$_fs" >"$PLAN/fs.$(pget "$1" device)"
}

# plan_mounts before|after: the plan's file systems under /target, in the plan's order; VFAT
# after unpacking (tar cannot give a FAT directory its owner), "/" and the others before.
plan_mounts() {
  for i in $(plan_steps mount); do
    _ref=$(pget "$i" device)
    _path=$(pget "$i" path)
    _dev=$(plan_dev "$_ref") || exit 1
    _fs=$(cat "$PLAN/fs.$_ref" 2>/dev/null)
    [ -n "$_fs" ] || fail "the plan mounts $_ref on $_path without formatting it"
    [ "$_fs" = swap ] && continue
    [ "$_path" = none ] && continue
    if [ "$_path" != / ]; then
      if [ "$_fs" = vfat ]; then [ "$1" = after ] || continue; else [ "$1" = before ] || continue; fi
    else
      [ "$1" = before ] || continue
    fi
    mkdir -p "/target$_path"
    if [ "$_fs" = vfat ]; then
      run "mounting $_dev on $_path" mount -t vfat -o umask=0077 "$_dev" "/target$_path"
    else
      run "mounting $_dev on $_path" mount -t "$_fs" "$_dev" "/target$_path"
    fi
  done
}

# /etc/fstab: every mounted file system and swap of the plan, by UUID.
plan_fstab() {
  echo "# Written by the Plinth installer: the file systems of the storage plan, by UUID."
  for i in $(plan_steps mount); do
    _ref=$(pget "$i" device)
    _path=$(pget "$i" path)
    _opts=$(pget "$i" options)
    _dev=$(plan_dev "$_ref") || exit 1
    _fs=$(cat "$PLAN/fs.$_ref")
    _u=$(fs_uuid "$_dev")
    [ -n "$_u" ] || fail "$_dev ($_path) has no file system UUID"
    if [ "$_fs" = swap ]; then
      echo "UUID=$_u none swap ${_opts:-sw} 0 0"
      continue
    fi
    if [ -z "$_opts" ]; then
      case $_fs:$_path in
        ext4:/) _opts=errors=remount-ro ;;
        vfat:/boot/efi) _opts=umask=0077 ;;
        *) _opts=defaults ;;
      esac
    fi
    if [ "$_path" = / ]; then _pass=1; else _pass=2; fi
    echo "UUID=$_u $_path $_fs $_opts 0 $_pass"
  done
}

# The device mounted on PATH by the plan ("" when none).
plan_mounted() {
  for _pi in $(plan_steps mount); do
    [ "$(pget "$_pi" path)" = "$1" ] && { plan_dev "$(pget "$_pi" device)"; return 0; }
  done
  return 0
}

# /dev paths of everything the plan made, for /dev/disk/by-uuid in the chroot.
plan_all_devs() {
  cat "$PLAN"/dev/* 2>/dev/null | sort -u
}

# partitions_json for a plan: every partition of its disks (a disk with ptable none itself), then
# its RAID arrays (by the plan's name), logical volumes (by their device-mapper name) and bcache
# devices (by the plan's name), with the plan's mount points.
plan_partitions_json() {
  {
    while read -r _id _d _pt _grub; do
      if [ "$_pt" = none ]; then echo "$_d /dev/$_d"; else for _p in $(disk_partitions "$_d"); do echo "$_p /dev/$_p"; done; fi
    done <"$PLAN/disks"
    cat "$PLAN/raids" "$PLAN/lvs" "$PLAN/bcaches" 2>/dev/null
  } >/tmp/plan.report
  for i in $(plan_steps mount); do
    echo "$(plan_dev "$(pget "$i" device)") $(pget "$i" path)"
  done >/tmp/plan.mounts
  printf '['
  _sep=""
  while read -r _name _dev; do
    _sz=$(cat "/sys/class/block/$(kname "$_dev")/size" 2>/dev/null || echo 0)
    _mp=$(awk -v d="$_dev" '$1 == d { print $2; exit }' /tmp/plan.mounts)
    printf '%s{"name":%s,"size_bytes":%s,"fstype":%s,"mount":%s,"uuid":%s}' "$_sep" "$(json_str "$_name")" "$((_sz * 512))" \
      "$(json_str "$(fs_type "$_dev")")" "$(json_str "$_mp")" "$(json_str "$(fs_uuid "$_dev")")"
    _sep=","
  done </tmp/plan.report
  printf ']'
}

# storage_down [wipe]: the arrays, bcache devices and volume groups the installer made, taken
# down top first (bcache devices get the plan's cache mode first; wipe: the signatures on each
# are wiped first, after a failure).
storage_down() {
  [ -s /tmp/deploy.state/stack ] || return 0
  sync
  tac /tmp/deploy.state/stack >/tmp/stack.down
  while read -r _kind _a _b; do
    case $_kind in
      vg)
        if [ "${1:-}" = wipe ]; then
          for _lv in $(lvm lvs --noheadings -o lv_path "$_a" 2>/dev/null </dev/null); do wipefs -a -q "$_lv" 2>/dev/null; done
        fi
        lvm vgchange -an "$_a" >/dev/null 2>&1 </dev/null || log "cannot deactivate the volume group $_a"
        ;;
      bcache)
        _s=/sys/block/$_a/bcache
        [ -e "$_s" ] || continue
        [ "${1:-}" = wipe ] && wipefs -a -q "/dev/$_a" 2>/dev/null
        [ -n "$_b" ] && { echo "$_b" >"$_s/cache_mode" 2>/dev/null || log "cannot set the cache mode of $_a to $_b"; }
        echo 1 >"$_s/stop" 2>/dev/null
        _w=0
        while [ -e "/sys/block/$_a" ] && [ $_w -lt 100 ]; do sleep 0.1; _w=$((_w + 1)); done
        [ -e "/sys/block/$_a" ] && log "cannot stop $_a"
        ;;
      cset)
        [ -e "/sys/fs/bcache/$_a" ] || continue
        echo 1 >"/sys/fs/bcache/$_a/stop" 2>/dev/null
        _w=0
        while [ -e "/sys/fs/bcache/$_a" ] && [ $_w -lt 100 ]; do sleep 0.1; _w=$((_w + 1)); done
        [ -e "/sys/fs/bcache/$_a" ] && log "cannot stop the cache set $_a"
        ;;
      md)
        [ -e "/sys/class/block/${_a#/dev/}/md" ] || continue
        [ "${1:-}" = wipe ] && wipefs -a -q "$_a" 2>/dev/null
        mdadm --stop "$_a" >/dev/null 2>&1 </dev/null || log "cannot stop $_a"
        ;;
    esac
  done </tmp/stack.down
  : >/tmp/deploy.state/stack
  sync
}
