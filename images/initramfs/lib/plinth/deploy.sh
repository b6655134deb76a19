# shellcheck shell=sh
# Deploy, the installer: GET {plinth.url}/deploy (docs/boot-environment.md), then
# - a root tarball (tgz, txz): a new GPT in the storage layout asked for (storage.sh), the
#   file systems, the tarball unpacked onto them, fstab by UUID, the cloud-init configuration,
#   the image's own GRUB for the firmware this machine booted with (bootloader.sh);
# - a disk image (ddraw/raw, ddgz/raw.gz, ddxz/raw.xz, ddzst/raw.zst): streamed to the disk; a
#   GPT image gets its backup header moved to the disk's end and its last partition and file
#   system grown, and its root the cloud-init configuration; an image with no root holding
#   /etc/cloud (the test disk) gets a NoCloud seed partition instead.
# Each step posts progress; a failure posts "<step>: <the tool's own message>" after leaving the
# disk unbootable. Steps run in a subshell (deploy_run) so that die ends them, and deploy then
# unmounts and wipes.

STEP=""

# step NAME [MESSAGE]: a new step, told to the relay.
step() {
  STEP=$1
  log "step $1${2:+: $2}"
  post_status progress "" "\"step\":$(json_str "$1"),\"message\":$(json_str "${2:-}")" || true
}

fail() {
  die "${STEP:-deploy}: $*"
}

# The last lines a tool wrote, on one line.
tail_lines() {
  cat "$@" 2>/dev/null | sed -e 's/[[:space:]]*$//' -e '/^$/d' | tail -n 4 | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/; /g'
}

# run DESCRIPTION CMD...: CMD, whose failure fails the step with what it wrote.
run() {
  _rd=$1
  shift
  "$@" >/tmp/run.out 2>/tmp/run.err
  _rc=$?
  [ $_rc -eq 0 ] && return 0
  _re=$(tail_lines /tmp/run.err /tmp/run.out)
  fail "$_rd failed: ${_re:-exit status $_rc}"
}

mib_up() {
  echo $((($1 + 1048575) / 1048576))
}

uptime_s() {
  cut -d. -f1 /proc/uptime
}

# progress_monitor PID TOTAL-BYTES VERB: while /tmp/progress.run exists, every 10 s, how much of
# the download PID (wget) has passed on (its write count in /proc/PID/io).
progress_monitor() {
  PLINTH_STATUS_FILE=/tmp/status.progress.json
  _last=$(uptime_s)
  while [ -f /tmp/progress.run ]; do
    sleep 1
    _now=$(uptime_s)
    [ $((_now - _last)) -ge 10 ] || continue
    _last=$_now
    _b=$(awk '$1 == "wchar:" { print $2 }' "/proc/$1/io" 2>/dev/null)
    [ -n "$_b" ] || continue
    _done=$((_b / 1048576))
    if [ -n "$2" ]; then _of=" of $(mib_up "$2")"; else _of=""; fi
    post_status progress "" "\"step\":$(json_str "$STEP"),\"message\":$(json_str "$3 $_done$_of MiB"),\"done_mib\":$_done,\"total_mib\":$(json_int "$([ -n "$2" ] && mib_up "$2")")" || true
  done
}

# stream URL SHA256 SIZE VERB DECODER SINK...: downloads URL through DECODER into SINK, hashing
# the bytes as served. A failed download, a sha256 that does not match, or a decoder or sink that
# fails (a cut-short or corrupt archive) fails the step.
stream() {
  _su=$1 _sw=$2 _ss=$3 _sv=$4 _sd=$5
  shift 5
  rm -f /tmp/dl.fifo /tmp/sum.fifo /tmp/img.sum /tmp/stream.fail /tmp/wget.err /tmp/dec.err /tmp/sink.err
  mkfifo /tmp/dl.fifo /tmp/sum.fifo
  sha256sum </tmp/sum.fifo >/tmp/img.sum &
  _sumpid=$!
  wget -q -O - "$_su" >/tmp/dl.fifo 2>/tmp/wget.err &
  _wpid=$!
  : >/tmp/progress.run
  progress_monitor "$_wpid" "$_ss" "$_sv" &
  _mpid=$!
  tee /tmp/sum.fifo </tmp/dl.fifo |
    { $_sd 2>/tmp/dec.err || echo dec >>/tmp/stream.fail; } |
    { "$@" 2>/tmp/sink.err || echo sink >>/tmp/stream.fail; }
  wait "$_wpid"
  _wrc=$?
  wait "$_sumpid" || true
  rm -f /tmp/progress.run
  wait "$_mpid" || true
  sync
  _got=$(cut -d' ' -f1 /tmp/img.sum)
  _sw=$(printf '%s' "$_sw" | tr 'A-F' 'a-f')
  # When the whole download went through, a wrong sha256 is the cause of anything else.
  if [ $_wrc -eq 0 ] && [ "$_got" != "$_sw" ]; then
    fail "sha256 mismatch: expected $_sw, got $_got (the image on the server is not the one the deployment names)"
  fi
  if [ -s /tmp/stream.fail ]; then
    if grep -q dec /tmp/stream.fail; then
      fail "the image is cut short or corrupt: $(tail_lines /tmp/dec.err /tmp/sink.err)"
    fi
    fail "$1 failed: $(tail_lines /tmp/sink.err)"
  fi
  [ $_wrc -eq 0 ] || fail "downloading $_su failed: $(tail_lines /tmp/wget.err)"
  IMAGE_SHA256=$_got
  log "$_su verified (sha256 $_got)"
}

# image_needs DECODER: the bytes a disk image covers, from its first MiB: a GPT's backup header
# is its last sector; an MBR's partitions end where they end.
image_needs() {
  { wget -q -O - "$URL" 2>/dev/null | $1 2>/dev/null | head -c 1048576 >/tmp/img.head; } 2>/dev/null
  if [ "$(dd if=/tmp/img.head bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ]; then
    od -An -tu1 -j 544 -N 8 -v /tmp/img.head | awk '{ for (i = NF; i >= 1; i--) v = v * 256 + $i } END { printf "%.0f\n", (v + 1) * 512 }'
  else
    od -An -tu1 -j 446 -N 66 -v /tmp/img.head | awk '
      { for (i = 1; i <= NF; i++) b[n++] = $i }
      END {
        if (n < 66 || b[64] != 85 || b[65] != 170) { print 0; exit }
        for (e = 0; e < 4; e++) {
          o = e * 16
          s = b[o + 8] + b[o + 9] * 256 + b[o + 10] * 65536 + b[o + 11] * 16777216
          c = b[o + 12] + b[o + 13] * 256 + b[o + 14] * 65536 + b[o + 15] * 16777216
          if (b[o + 4] != 0 && s + c > end) end = s + c
        }
        printf "%.0f\n", end * 512
      }'
  fi
}

# Adds an 8 MiB FAT partition at the end of an MBR disk (ending 1 MiB before its end) in the
# first free slot; prints its name.
mbr_add_seed_partition() {
  d=$1
  sig=$(dd if="/dev/$d" bs=1 skip=510 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$sig" = 55aa ] || fail "/dev/$d has no MBR partition table; the image needs a partition labelled cidata"
  sectors=$(cat "/sys/block/$d/size")
  plan=$(dd if="/dev/$d" bs=1 skip=446 count=64 2>/dev/null | od -An -tu1 -v | awk -v total="$sectors" '
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
      slot = -1; end = 0
      for (e = 0; e < 4; e++) {
        o = e * 16
        type = b[o + 4]
        start = b[o + 8] + b[o + 9] * 256 + b[o + 10] * 65536 + b[o + 11] * 16777216
        count = b[o + 12] + b[o + 13] * 256 + b[o + 14] * 65536 + b[o + 15] * 16777216
        if (type == 238) { print "gpt"; exit }
        if (type == 0 && slot < 0) slot = e
        if (type != 0 && start + count > end) end = start + count
      }
      size = 16384
      start = int((total - 2048 - size) / 2048) * 2048
      if (slot < 0) { print "full"; exit }
      if (start < end) { print "nospace"; exit }
      print slot, start, size
    }')
  case $plan in
    gpt) fail "/dev/$d has a GPT with no root holding /etc/cloud: the image needs a partition labelled cidata" ;;
    full) fail "/dev/$d has four primary partitions: no room for the cloud-init seed" ;;
    nospace) fail "/dev/$d has no 9 MiB free after the image for the cloud-init seed" ;;
  esac
  # shellcheck disable=SC2086 # three numbers
  set -- $plan
  slot=$1 start=$2 size=$3
  # status, CHS start (LBA-only marker), type 0x0e FAT16 LBA, CHS end, LBA start, sector count.
  bytes="0 254 255 255 14 254 255 255"
  for v in "$start" "$size"; do
    bytes="$bytes $((v & 255)) $(((v >> 8) & 255)) $(((v >> 16) & 255)) $(((v >> 24) & 255))"
  done
  fmt=""
  for b in $bytes; do fmt="$fmt\\$(printf '%03o' "$b")"; done
  # shellcheck disable=SC2059
  printf "$fmt" | dd of="/dev/$d" bs=1 seek=$((446 + slot * 16)) conv=notrunc 2>/dev/null || fail "writing the partition table of /dev/$d failed"
  reread_partitions "$d"
  part_name "$d" $((slot + 1))
}

# YAML single-quoted scalar.
yq() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# write_seed DISK INSTRUCTIONS-DIR: the NoCloud seed for images without cloud-init config of
# their own (a FAT partition labelled CIDATA: the image's, or a new one).
write_seed() {
  d=$1 j=$2
  reread_partitions "$d"
  part=$(find_cidata "$d" || true)
  [ -n "$part" ] || part=$(mbr_add_seed_partition "$d") || exit 1
  wait_dev "/dev/$part"
  run "mkfs.fat /dev/$part" mkfs.fat -n CIDATA "/dev/$part"
  mkdir -p /mnt/seed
  run "mounting the seed /dev/$part" mount -t vfat "/dev/$part" /mnt/seed
  host=$(jget "$j" hostname)
  iid=$(jget "$j" instance_id)
  [ -n "$iid" ] || iid=${host:-plinth-node}
  {
    echo "instance-id: $(yq "$iid")"
    [ -n "$host" ] && echo "local-hostname: $(yq "$host")"
    n=$(jget "$j" ssh_keys.length)
    if [ "${n:-0}" -gt 0 ]; then
      echo "public-keys:"
      k=0
      while [ "$k" -lt "$n" ]; do
        echo "  - $(yq "$(jget "$j" "ssh_keys.$k")")"
        k=$((k + 1))
      done
    fi
  } >/mnt/seed/meta-data
  if [ -f "$j/user_data" ]; then cp "$j/user_data" /mnt/seed/user-data; else echo "#cloud-config" >/mnt/seed/user-data; fi
  [ -f "$j/network_config" ] && cp "$j/network_config" /mnt/seed/network-config
  [ -f "$j/vendor_data" ] && cp "$j/vendor_data" /mnt/seed/vendor-data
  sync
  run "unmounting the seed" umount /mnt/seed
  SEED_PART=$part
  log "cloud-init seed written to /dev/$part"
}

# The deployment's cloud-init configuration, verbatim, where stock cloud-init reads it.
write_cloud_init() {
  mkdir -p /target/etc/cloud/cloud.cfg.d
  if [ -f /tmp/deploy/cloud_init ]; then
    cp /tmp/deploy/cloud_init /target/etc/cloud/cloud.cfg.d/90_plinth.cfg
  else
    echo "#cloud-config" >/target/etc/cloud/cloud.cfg.d/90_plinth.cfg
  fi
  chmod 600 /target/etc/cloud/cloud.cfg.d/90_plinth.cfg
  # The network the operator designed, as the region rendered it: system configuration ranks
  # above the datasource and cloud-init's DHCP fallback, so this is what the first boot brings up.
  if [ -s /tmp/deploy/network_config ]; then
    cp /tmp/deploy/network_config /target/etc/cloud/cloud.cfg.d/50_plinth_network.cfg
    chmod 600 /target/etc/cloud/cloud.cfg.d/50_plinth_network.cfg
    log "network configuration written ($(wc -l </tmp/deploy/network_config) lines)"
  fi
}

install_tarball() {
  step partitioning "$LAYOUT on /dev/$DISK ($(mib_up "$(disk_bytes "$DISK")") MiB, $FIRMWARE)"
  partition_disk "$DISK" "$LAYOUT" "$FIRMWARE"
  mkdir -p /target
  run "mounting $ROOT_DEV" mount -t ext4 "$ROOT_DEV" /target

  step unpacking "$(if [ -n "$SIZE" ]; then echo "$(mib_up "$SIZE") MiB "; fi)$FORMAT from $URL"
  # GNU tar: --numeric-owner because the ids in the tarball are the target's, not ours;
  # --xattrs for file capabilities (ping) that busybox tar would drop.
  stream "$URL" "$SHA" "$SIZE" unpacked "$DEC" tar -x -f - -C /target --numeric-owner -p --xattrs --xattrs-include='*' --acls
  [ -d /target/etc ] || fail "the tarball has no /etc: not a root file system"

  if [ -n "$ESP_DEV" ]; then
    # Mounted after unpacking: tar cannot give a FAT directory its owner.
    mkdir -p /target/boot/efi
    run "mounting the ESP $ESP_DEV" mount -t vfat -o umask=0077 "$ESP_DEV" /target/boot/efi
  fi
  {
    echo "# Written by the Plinth installer: the file systems it made, by UUID."
    echo "UUID=$(fs_uuid "$ROOT_DEV") / ext4 errors=remount-ro 0 1"
    [ -n "$ESP_DEV" ] && echo "UUID=$(fs_uuid "$ESP_DEV") /boot/efi vfat umask=0077 0 1"
  } >/target/etc/fstab
  if [ "$LAYOUT" = lvm ] && [ ! -e /target/sbin/lvm ] && [ ! -e /target/usr/sbin/lvm ]; then
    fail "the image has no lvm2: its initramfs could not find a root on $LVM_VG (use layout flat)"
  fi

  step bootloader "GRUB for $FIRMWARE on /dev/$DISK"
  install_grub "$DISK" "$FIRMWARE" "$KOPTS"

  step cloud-init "/etc/cloud/cloud.cfg.d/90_plinth.cfg"
  write_cloud_init
  PARTS=$(partitions_json "$DISK")
  unmount_all
}

# A root tarball onto a storage plan (storage.plan, shared/storage/plan.ts): the disks'
# partitions, then RAID, bcache and LVM in the plan's order, the file systems, mounts, the
# tarball, fstab, mdadm.conf and the target's initramfs, GRUB on every disk marked grub.
install_plan() {
  # shellcheck disable=SC2034 # read by chroot_mounts (bootloader.sh)
  PLAN_ACTIVE=1
  _nd=$(plan_count disk)
  step partitioning "$_nd disks, $(plan_count partition) partitions ($FIRMWARE)"
  plan_disks
  _nraid=$(plan_count raid) _ncs=$(plan_count cache_set) _nbc=$(plan_count bcache) _nvg=$(plan_count vg) _nlv=$(plan_count lv)
  if [ $((_nraid + _ncs + _nbc + _nvg + _nlv)) -gt 0 ]; then
    step storage "$_nraid RAID, $_ncs cache sets, $_nbc bcache, $_nvg volume groups, $_nlv logical volumes"
    _i=0
    _n=$(plan_len)
    while [ "$_i" -lt "$_n" ]; do
      case $(pget "$_i" type) in
        raid) plan_raid "$_i" ;;
        cache_set) plan_cache_set "$_i" ;;
        bcache) plan_bcache "$_i" ;;
        vg) plan_vg "$_i" ;;
        lv) plan_lv "$_i" ;;
      esac
      _i=$((_i + 1))
    done
  fi
  step filesystems "$(plan_count format) file systems, $(plan_count mount) mounts"
  for _i in $(plan_steps format); do plan_format "$_i"; done
  [ -n "$(plan_mounted /)" ] || fail "the plan mounts nothing on /"
  mkdir -p /target
  plan_mounts before

  step unpacking "$(if [ -n "$SIZE" ]; then echo "$(mib_up "$SIZE") MiB "; fi)$FORMAT from $URL"
  stream "$URL" "$SHA" "$SIZE" unpacked "$DEC" tar -x -f - -C /target --numeric-owner -p --xattrs --xattrs-include='*' --acls
  [ -d /target/etc ] || fail "the tarball has no /etc: not a root file system"
  plan_mounts after
  plan_fstab >/target/etc/fstab || exit 1

  step initramfs "$(if [ $((_nraid + _nbc + _nvg)) -gt 0 ]; then echo "update-initramfs -u -k all"; else echo "the image's own"; fi)"
  if [ "$_nraid" -gt 0 ]; then
    [ -e /target/sbin/mdadm ] || [ -e /target/usr/sbin/mdadm ] || fail "the image has no mdadm: its initramfs could not assemble the plan's RAID arrays"
    mkdir -p /target/etc/mdadm
    {
      echo "# Written by the Plinth installer: the storage plan's arrays (mdadm --detail --scan)."
      echo "HOMEHOST <system>"
      echo "MAILADDR root"
      mdadm --detail --scan
    } >/target/etc/mdadm/mdadm.conf
    grep -q '^ARRAY' /target/etc/mdadm/mdadm.conf || fail "mdadm --detail --scan found no arrays"
  fi
  if [ "$_nvg" -gt 0 ] && [ ! -e /target/sbin/lvm ] && [ ! -e /target/usr/sbin/lvm ]; then
    fail "the image has no lvm2: its initramfs could not activate the plan's volume groups"
  fi
  if [ "$_nbc" -gt 0 ] && [ ! -e /target/lib/udev/rules.d/69-bcache.rules ] && [ ! -e /target/usr/lib/udev/rules.d/69-bcache.rules ]; then
    fail "the image has no bcache-tools: its initramfs could not register the plan's bcache devices"
  fi
  # shellcheck disable=SC2034 # read by install_grub (bootloader.sh)
  ROOT_MAPPER=""
  for _i in $(plan_steps lv); do
    _ld=$(plan_dev "$(pget "$_i" id)") || exit 1
    # shellcheck disable=SC2034
    [ "$_ld" = "$(plan_mounted /)" ] && ROOT_MAPPER=$_ld
  done
  chroot_mounts
  # With RAID, bcache or LVM the root may need them before it can be mounted: the image's
  # initramfs is made again with mdadm.conf and the image's hooks. A plan of plain partitions
  # keeps the image's own, as the flat layout does (under emulation this step takes minutes).
  if [ $((_nraid + _nbc + _nvg)) -eq 0 ]; then
    log "plain partitions: the image's initramfs left as it is"
  elif in_target sh -c 'command -v update-initramfs' >/dev/null 2>&1; then
    run "update-initramfs -u -k all" in_target update-initramfs -u -k all
  else
    log "the image has no update-initramfs: its initramfs left as it is"
  fi

  # GRUB: BIOS on every disk marked grub (the first disk when none is); UEFI on the ESP.
  # shellcheck disable=SC2153 # PLAN: storage.sh
  _gdisks=$(awk '$4 == "true" { printf "%s%s", sep, $2; sep = " " }' "$PLAN/disks")
  [ -n "$_gdisks" ] || _gdisks=$(awk 'NR == 1 { print $2 }' "$PLAN/disks")
  step bootloader "GRUB for $FIRMWARE on $(echo "$_gdisks" | sed 's|\([^ ]*\)|/dev/\1|g')"
  install_grub "$_gdisks" "$FIRMWARE" "$KOPTS"

  step cloud-init "/etc/cloud/cloud.cfg.d/90_plinth.cfg"
  write_cloud_init
  PARTS=$(plan_partitions_json)
  unmount_all
}

# The disk image's root: the ext2/3/4 partition whose file system holds /etc/os-release, left
# mounted on /target. Returns 1 when there is none.
mount_image_root() {
  mkdir -p /target
  for _p in $(disk_partitions "$DISK"); do
    case $(fs_type "/dev/$_p") in ext2 | ext3 | ext4) ;; *) continue ;; esac
    mount "/dev/$_p" /target 2>/dev/null || continue
    if [ -e /target/etc/os-release ] || [ -L /target/etc/os-release ]; then
      ROOT_DEV=/dev/$_p
      return 0
    fi
    umount /target
  done
  return 1
}

# A GPT image on a bigger disk: the backup header to the disk's end, then the last partition
# and its file system grown to fill the disk (when it is a Linux file system).
grow_gpt() {
  run "moving the backup GPT to the end of /dev/$DISK" sfdisk --relocate gpt-bak-std "/dev/$DISK"
  reread_partitions "$DISK"
  _last=$(sfdisk -d "/dev/$DISK" 2>/dev/null | sed -n 's/^\/dev\/\([^ ]*\) : start= *\([0-9]*\), size= *[0-9]*, type=\([0-9A-Fa-f-]*\).*/\2 \1 \3/p' | sort -n | tail -n1)
  # shellcheck disable=SC2086 # three words
  set -- $_last
  [ $# -eq 3 ] || return 0
  _p=$2 _t=$(printf '%s' "$3" | tr 'a-f' 'A-F')
  case $_t in "$GPT_LINUX" | "$GPT_LINUX_ROOT_X86_64") ;; *) log "the last partition $_p is not a Linux file system: not grown"; return 0 ;; esac
  _n=${_p##*[!0-9]}
  echo ", +" >/tmp/grow.in
  run "growing $_p" sfdisk -q -N "$_n" "/dev/$DISK" </tmp/grow.in
  reread_partitions "$DISK"
  wait_dev "/dev/$_p"
  case $(fs_type "/dev/$_p") in
    ext2 | ext3 | ext4)
      # e2fsck exits 1 or 2 when it fixed something; 4 and up is a real problem.
      e2fsck -fy "/dev/$_p" >/tmp/run.out 2>/tmp/run.err
      _rc=$?
      [ $_rc -lt 4 ] || fail "e2fsck /dev/$_p failed (exit $_rc): $(tail_lines /tmp/run.err /tmp/run.out)"
      run "resize2fs /dev/$_p" resize2fs "/dev/$_p"
      ;;
    *) log "/dev/$_p holds $(fs_type "/dev/$_p"): not grown" ;;
  esac
}

install_image() {
  _need=$(image_needs "$DEC")
  [ -n "$SIZE" ] && [ "$FORMAT" = raw ] && [ "$SIZE" -gt "${_need:-0}" ] && _need=$SIZE
  _have=$(disk_bytes "$DISK")
  if [ "${_need:-0}" -gt "$_have" ]; then
    STEP=writing
    fail "the image needs $(mib_up "$_need") MiB, /dev/$DISK has $((_have / 1048576)) MiB"
  fi
  step writing "$FORMAT image to /dev/$DISK"
  mark_touched "$DISK"
  stream "$URL" "$SHA" "$SIZE" written "$DEC" dd of="/dev/$DISK" bs=1M
  blockdev --flushbufs "/dev/$DISK" 2>/dev/null || true
  reread_partitions "$DISK"
  if has_gpt "$DISK"; then
    step partitioning "growing the image's last partition to fill /dev/$DISK"
    grow_gpt
  fi
  if mount_image_root && [ -d /target/etc/cloud ]; then
    if [ -n "$KOPTS" ]; then
      step bootloader "kernel options: $KOPTS"
      image_kernel_opts
    fi
    step cloud-init "/etc/cloud/cloud.cfg.d/90_plinth.cfg"
    write_cloud_init
    LAYOUT=image
    ESP_DEV=""
    for _p in $(disk_partitions "$DISK"); do
      [ "$(fs_type "/dev/$_p")" = vfat ] && grep -q '[[:space:]]/boot/efi[[:space:]]' /target/etc/fstab 2>/dev/null && ESP_DEV=/dev/$_p && break
    done
    PARTS=$(partitions_json "$DISK")
    unmount_all
  else
    unmount_all
    step cloud-init "NoCloud seed"
    write_seed "$DISK" /tmp/deploy
    LAYOUT=image
    PARTS=$(partitions_json "$DISK")
  fi
}

# kernel_opts for a disk image: through its own update-grub when it has one, else appended to
# the linux lines of its grub.cfg.
image_kernel_opts() {
  if [ -x /target/usr/sbin/update-grub ] || [ -x /target/usr/sbin/grub-mkconfig ]; then
    chroot_mounts "$DISK"
    grub_defaults "$KOPTS"
    update_grub
  else
    _cfg=$(find /target/boot/grub /target/boot/grub2 -name grub.cfg 2>/dev/null | head -n1)
    [ -n "$_cfg" ] || fail "the image has neither update-grub nor a grub.cfg to put the kernel options in"
    _o=$(printf '%s' "$KOPTS" | sed 's/[\\&|]/\\&/g')
    sed -i "s|^\([[:space:]]*linux[[:space:]].*\)\$|\1 $_o|" "$_cfg"
  fi
}

deploy_run() {
  http_get "$PLINTH_URL/deploy" /tmp/deploy.json || die "GET $PLINTH_URL/deploy failed"
  rm -rf /tmp/deploy
  json_flatten /tmp/deploy </tmp/deploy.json || die "the deploy instructions are not valid JSON"
  URL=$(jget /tmp/deploy image.url)
  SHA=$(jget /tmp/deploy image.sha256)
  FORMAT=$(jget /tmp/deploy image.format)
  SIZE=$(jget /tmp/deploy image.size)
  case $SIZE in *[!0-9]*) SIZE="" ;; esac
  KOPTS=$(jget /tmp/deploy kernel_opts)
  LAYOUT=$(jget /tmp/deploy storage.layout)
  [ -n "$URL" ] || die "the deploy instructions have no image.url"
  [ -n "$SHA" ] || die "the deploy instructions have no image.sha256"
  case $URL in
    /*) URL="$(printf '%s' "$PLINTH_URL" | sed 's#^\(https\{0,1\}://[^/]*\).*#\1#')$URL" ;;
  esac
  if [ -z "$FORMAT" ]; then
    case $URL in *.tgz | *.tar.gz) FORMAT=tgz ;; *.txz | *.tar.xz) FORMAT=txz ;; *.gz) FORMAT=raw.gz ;; *.zst) FORMAT=raw.zst ;; *.xz) FORMAT=raw.xz ;; *) FORMAT=raw ;; esac
  fi
  # MAAS's names and Plinth's.
  case $FORMAT in
    tgz | tar.gz) FORMAT=tgz DEC="gzip -dc" ;;
    txz | tar.xz) FORMAT=txz DEC="xz -dc" ;;
    ddraw | raw) FORMAT=raw DEC=cat ;;
    ddgz | raw.gz) FORMAT=raw.gz DEC="gzip -dc" ;;
    ddxz | raw.xz) FORMAT=raw.xz DEC="xz -dc" ;;
    ddzst | raw.zst) FORMAT=raw.zst DEC="zstd -dcq" ;;
    *) die "unsupported image format $FORMAT (tgz, txz, ddraw/raw, ddgz/raw.gz, ddxz/raw.xz, ddzst/raw.zst)" ;;
  esac
  # A storage plan (tarballs only) makes what the layout names; without one, the layout is made
  # on the boot disk.
  PLAN_STEPS=$(plan_len)
  if [ "$PLAN_STEPS" -gt 0 ]; then
    LAYOUT=${LAYOUT:-custom}
  else
    case ${LAYOUT:-flat} in
      flat | lvm) LAYOUT=${LAYOUT:-flat} ;;
      *) die "unsupported storage layout $LAYOUT (flat, lvm)" ;;
    esac
  fi
  # v1 documents named the disk at the top level.
  spec=$(jget /tmp/deploy storage.disk)
  [ -n "$spec" ] || spec=$(jget /tmp/deploy disk)
  DISK=$(resolve_disk "$spec")
  [ -n "$DISK" ] || die "no disk matches '${spec:-first disk}'"
  FIRMWARE=$(firmware)
  SEED_PART=""
  _t0=$(uptime_s)
  case $FORMAT in
    tgz | txz) if [ "$PLAN_STEPS" -gt 0 ]; then install_plan; else install_tarball; fi ;;
    *) install_image ;;
  esac
  log "installed in $(($(uptime_s) - _t0)) s"
  extra="\"disk\":$(json_str "/dev/$DISK"),\"sha256\":$(json_str "$IMAGE_SHA256"),\"layout\":$(json_str "$LAYOUT"),\"firmware\":$(json_str "$FIRMWARE"),\"partitions\":$PARTS"
  [ -n "$SEED_PART" ] && extra="$extra,\"seed\":$(json_str "/dev/$SEED_PART")"
  post_status installed "" "$extra" || die "posting installed failed"
}

deploy() {
  rm -rf /tmp/deploy.state
  mkdir -p /tmp/deploy.state
  (deploy_run) && return 0
  # Before unmount_all, which would take a plan's arrays and volume groups down unwiped:
  # wipe_disk unmounts, wipes what is on them and takes them down first.
  if [ -f /tmp/deploy.state/disks ]; then
    while read -r _wd; do wipe_disk "$_wd" </dev/null; done </tmp/deploy.state/disks
  fi
  unmount_all
  return 1
}
