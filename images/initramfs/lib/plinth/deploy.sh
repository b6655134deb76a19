# shellcheck shell=sh
# Deploy: GET {plinth.url}/deploy, stream the image to the disk verifying its sha256, write a
# cloud-init NoCloud seed (a vfat partition labelled CIDATA), POST status "installed".

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

# write_image URL SHA256 FORMAT DISK
write_image() {
  url=$1 want=$2 fmt=$3 disk=$4
  case $fmt in
    raw) dec="cat" ;;
    raw.gz) dec="gunzip -c" ;;
    raw.xz) dec="xz -dc" ;;
    raw.zst) dec="zstd -dcq" ;;
    *) die "unsupported image format $fmt (raw, raw.gz, raw.xz, raw.zst)" ;;
  esac
  rm -f /tmp/img.fifo /tmp/img.sum /tmp/img.fail
  mkfifo /tmp/img.fifo
  sha256sum </tmp/img.fifo >/tmp/img.sum &
  sumpid=$!
  log "writing $url ($fmt) to /dev/$disk"
  { wget -q -O - "$url" || echo "download failed" >>/tmp/img.fail; } |
    tee /tmp/img.fifo |
    { $dec || echo "$fmt decompression failed" >>/tmp/img.fail; } |
    { dd of="/dev/$disk" bs=1M 2>/tmp/dd.log || echo "writing /dev/$disk failed: $(cat /tmp/dd.log)" >>/tmp/img.fail; }
  wait "$sumpid" || true
  sync
  blockdev --flushbufs "/dev/$disk" 2>/dev/null || true
  got=$(cut -d' ' -f1 </tmp/img.sum)
  if [ -s /tmp/img.fail ]; then
    dd if=/dev/zero of="/dev/$disk" bs=1M count=1 conv=fsync 2>/dev/null || true
    die "$(cat /tmp/img.fail)"
  fi
  want=$(printf '%s' "$want" | tr 'A-F' 'a-f')
  if [ "$got" != "$want" ]; then
    # Never leave a half-trusted image bootable.
    dd if=/dev/zero of="/dev/$disk" bs=1M count=1 conv=fsync 2>/dev/null || true
    die "sha256 mismatch: expected $want, got $got"
  fi
  IMAGE_SHA256=$got
  log "image written and verified (sha256 $got)"
}

reread_partitions() {
  sync
  blockdev --rereadpt "/dev/$1" 2>/dev/null || partprobe "/dev/$1" 2>/dev/null || true
  sleep 1
}

# Adds an 8 MiB FAT partition at the end of an MBR disk (ending 1 MiB before its end) in the
# first free slot; prints its name.
mbr_add_seed_partition() {
  d=$1
  sig=$(dd if="/dev/$d" bs=1 skip=510 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$sig" = 55aa ] || die "/dev/$d has no MBR partition table; the image needs a partition labelled cidata"
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
    gpt) die "/dev/$d has a GPT: the image needs a partition labelled cidata" ;;
    full) die "/dev/$d has four primary partitions: no room for the cloud-init seed" ;;
    nospace) die "/dev/$d has no 9 MiB free after the image for the cloud-init seed" ;;
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
  printf "$fmt" | dd of="/dev/$d" bs=1 seek=$((446 + slot * 16)) conv=notrunc 2>/dev/null || die "writing the partition table of /dev/$d failed"
  reread_partitions "$d"
  part_name "$d" $((slot + 1))
}

# YAML single-quoted scalar.
yq() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# write_seed DISK INSTRUCTIONS-DIR
write_seed() {
  d=$1 j=$2
  reread_partitions "$d"
  part=$(find_cidata "$d" || true)
  [ -n "$part" ] || part=$(mbr_add_seed_partition "$d") || exit 1
  i=0
  while [ ! -b "/dev/$part" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ -b "/dev/$part" ] || die "/dev/$part did not appear"
  mkfs.fat -n CIDATA "/dev/$part" >/dev/null || die "mkfs.fat /dev/$part failed"
  mkdir -p /mnt/seed
  mount -t vfat "/dev/$part" /mnt/seed || die "mounting the seed /dev/$part failed"
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
  umount /mnt/seed || die "unmounting the seed failed"
  SEED_PART=$part
  log "cloud-init seed written to /dev/$part"
}

deploy() {
  http_get "$PLINTH_URL/deploy" /tmp/deploy.json || die "GET $PLINTH_URL/deploy failed"
  rm -rf /tmp/deploy
  json_flatten /tmp/deploy </tmp/deploy.json || die "the deploy instructions are not valid JSON"
  url=$(jget /tmp/deploy image.url)
  sha=$(jget /tmp/deploy image.sha256)
  fmt=$(jget /tmp/deploy image.format)
  [ -n "$url" ] || die "the deploy instructions have no image.url"
  [ -n "$sha" ] || die "the deploy instructions have no image.sha256"
  case $url in
    /*) url="$(printf '%s' "$PLINTH_URL" | sed 's#^\(https\{0,1\}://[^/]*\).*#\1#')$url" ;;
  esac
  if [ -z "$fmt" ]; then
    case $url in *.raw.gz | *.img.gz) fmt=raw.gz ;; *.zst) fmt=raw.zst ;; *.xz) fmt=raw.xz ;; *) fmt=raw ;; esac
  fi
  spec=$(jget /tmp/deploy disk)
  disk=$(resolve_disk "$spec")
  [ -n "$disk" ] || die "no disk matches '${spec:-first disk}'"
  post_status writing "" "\"disk\":$(json_str "/dev/$disk")" || true
  write_image "$url" "$sha" "$fmt" "$disk"
  write_seed "$disk" /tmp/deploy
  post_status installed "" "\"disk\":$(json_str "/dev/$disk"),\"sha256\":$(json_str "$IMAGE_SHA256"),\"seed\":$(json_str "/dev/$SEED_PART")" ||
    die "posting installed failed"
}
