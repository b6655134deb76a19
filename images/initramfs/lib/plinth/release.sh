# shellcheck shell=sh
# Release: erase disks as plinth.erase says (none, quick, full), then report.

zero_range() {
  # zero_range DEV OFFSET_MIB COUNT_MIB
  dd if=/dev/zero of="$1" bs=1M seek="$2" count="$3" conv=notrunc,fsync 2>/dev/null
}

# wipe_signatures DEV: every signature wipefs knows (file systems, RAID, LVM, bcache, partition
# tables) and an md superblock wherever its version keeps it.
wipe_signatures() {
  wipefs -a -q "$1" >/dev/null 2>&1 || true
  mdadm --zero-superblock "$1" >/dev/null 2>&1 </dev/null || true
}

# Quick: wipe the signatures at the start and end of every partition and of the disk (the first
# MiB holds md 1.1/1.2 and bcache superblocks, 4 KiB in; the last MiB md 0.90/1.0 ones).
erase_quick() {
  d=$1
  for p in /sys/block/"$d"/"$d"*; do
    [ -e "$p/partition" ] || continue
    mib=$(($(cat "$p/size") / 2048))
    pn=$(basename "$p")
    wipe_signatures "/dev/$pn"
    zero_range "/dev/$pn" 0 1 || true
    if [ "$mib" -gt 1 ]; then zero_range "/dev/$pn" $((mib - 1)) 1 || true; fi
  done
  wipe_signatures "/dev/$d"
  mib=$(($(cat "/sys/block/$d/size") / 2048))
  zero_range "/dev/$d" 0 1 || die "erasing the start of /dev/$d failed"
  if [ "$mib" -gt 1 ]; then zero_range "/dev/$d" $((mib - 1)) 1 || die "erasing the end of /dev/$d failed"; fi
  reread_partitions "$d"
}

erase_full() {
  d=$1
  bytes=$(($(cat "/sys/block/$d/size") * 512))
  log "zeroing /dev/$d ($bytes bytes)"
  dd if=/dev/zero of="/dev/$d" bs=1M count=$((bytes / 1048576)) conv=fsync 2>/dev/null || die "zeroing /dev/$d failed"
  rest=$((bytes % 1048576))
  if [ "$rest" -gt 0 ]; then
    dd if=/dev/zero of="/dev/$d" bs=512 seek=$(((bytes - rest) / 512)) count=$((rest / 512)) conv=fsync 2>/dev/null || die "zeroing the tail of /dev/$d failed"
  fi
  reread_partitions "$d"
}

release() {
  how=${PLINTH_ERASE:-none}
  disks=""
  case $how in
    none) ;;
    quick | full)
      for d in $(list_disks); do
        [ "$(cat "/sys/block/$d/removable" 2>/dev/null)" = 1 ] && continue
        log "erasing /dev/$d ($how)"
        "erase_$how" "$d"
        disks="$disks${disks:+,}$(json_str "$d")"
      done
      ;;
    *) die "unknown plinth.erase=$how (none, quick, full)" ;;
  esac
  printf '"erase":%s,"disks":[%s]' "$(json_str "$how")" "$disks" >/tmp/plinth.extra
}
