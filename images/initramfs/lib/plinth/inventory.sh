# shellcheck shell=sh
# Enlist/commission: gather the hardware inventory as JSON documents in /tmp/results and
# POST each to {plinth.url}/commissioning/<name>.

readf() {
  [ -r "$1" ] && tr -d '\000' <"$1" 2>/dev/null | head -n1 | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

inv_cpu() {
  count=$(grep -c '^processor' /proc/cpuinfo)
  model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  vendor=$(awk -F': ' '/^vendor_id/ { print $2; exit }' /proc/cpuinfo)
  sockets=$(awk -F': ' '/^physical id/ { s[$2] = 1 } END { n = 0; for (k in s) n++; print n }' /proc/cpuinfo)
  printf '{"count":%s,"model":%s,"vendor":%s,"architecture":%s,"sockets":%s,"flags":[' \
    "$(json_int "$count")" "$(json_str_or_null "$model")" "$(json_str_or_null "$vendor")" \
    "$(json_str "$(uname -m)")" "$(json_int "$sockets")"
  awk -F': ' '/^flags/ { n = split($2, f, " "); for (i = 1; i <= n; i++) printf "%s\"%s\"", (i > 1 ? "," : ""), f[i]; exit }' /proc/cpuinfo
  printf ']}\n'
}

inv_memory() {
  total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  phys=""
  # Installed memory: the online memory blocks (MemTotal excludes what the kernel reserved).
  if [ -r /sys/devices/system/memory/block_size_bytes ]; then
    bs=$(printf '%d' "0x$(cat /sys/devices/system/memory/block_size_bytes)")
    blocks=0
    for m in /sys/devices/system/memory/memory*; do
      [ "$(cat "$m/state" 2>/dev/null)" = online ] && blocks=$((blocks + 1))
    done
    [ "$blocks" -gt 0 ] && phys=$((blocks * bs))
  fi
  printf '{"total_bytes":%s,"physical_bytes":%s}\n' "$(json_int "$((total_kb * 1024))")" "$(json_int "$phys")"
}

# Whole disks, not partitions, loops, RAM disks, optical drives or device-mapper nodes.
list_disks() {
  for d in /sys/block/*; do
    n=$(basename "$d")
    case $n in loop* | ram* | sr* | zram* | dm-* | md* | fd* | nbd*) continue ;; esac
    [ "$(cat "$d/size" 2>/dev/null || echo 0)" -gt 0 ] || continue
    echo "$n"
  done
}

disk_serial() {
  d=/sys/block/$1
  s=$(readf "$d/serial")
  [ -n "$s" ] || s=$(readf "$d/device/serial")
  if [ -z "$s" ] && [ -r "$d/device/vpd_pg80" ]; then
    # VPD page 0x80: 4 header bytes, then the unit serial number.
    s=$(tail -c +5 "$d/device/vpd_pg80" | tr -d '\000' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  fi
  printf '%s' "$s"
}

disk_json() {
  n=$1
  d=/sys/block/$n
  sectors=$(cat "$d/size")
  printf '{"name":%s,"path":%s,"size_bytes":%s,"model":%s,"vendor":%s,"serial":%s,"wwn":%s,"rotational":%s,"removable":%s,"logical_block_size":%s,"physical_block_size":%s,"driver":%s}' \
    "$(json_str "$n")" "$(json_str "/dev/$n")" "$(json_int "$((sectors * 512))")" \
    "$(json_str_or_null "$(readf "$d/device/model")")" "$(json_str_or_null "$(readf "$d/device/vendor")")" \
    "$(json_str_or_null "$(disk_serial "$n")")" "$(json_str_or_null "$(readf "$d/device/wwid")")" \
    "$(json_bool "$(readf "$d/queue/rotational")")" "$(json_bool "$(readf "$d/removable")")" \
    "$(json_int "$(readf "$d/queue/logical_block_size")")" "$(json_int "$(readf "$d/queue/physical_block_size")")" \
    "$(json_str_or_null "$(disk_driver "$n")")"
}

disk_driver() {
  p=$(readlink -f "/sys/block/$1/device")
  while [ -n "$p" ] && [ "$p" != / ]; do
    if [ -e "$p/driver" ]; then
      drv=$(basename "$(readlink -f "$p/driver")")
      # The SCSI disk layer is not the interesting driver: keep walking to the controller.
      case $drv in sd | sr) ;; *) echo "$drv"; return 0 ;; esac
    fi
    p=$(dirname "$p")
  done
}

inv_disks() {
  printf '{"disks":['
  sep=""
  for n in $(list_disks); do
    printf '%s' "$sep"
    disk_json "$n"
    sep=","
  done
  printf ']}\n'
}

inv_nics() {
  boot=$(bootif_mac)
  printf '{"nics":['
  sep=""
  for d in /sys/class/net/*; do
    [ -e "$d/device" ] || continue
    n=$(basename "$d")
    mac=$(readf "$d/address")
    drv=""
    [ -e "$d/device/driver" ] && drv=$(basename "$(readlink -f "$d/device/driver")")
    speed=$(readf "$d/speed")
    case $speed in -* | '') speed="" ;; esac
    carrier=$(readf "$d/carrier")
    addr=""
    [ "$n" = "${IFACE:-}" ] && addr=${ip:-}
    printf '%s{"name":%s,"mac":%s,"driver":%s,"speed_mbps":%s,"link":%s,"operstate":%s,"mtu":%s,"boot":%s,"ipv4":%s}' \
      "$sep" "$(json_str "$n")" "$(json_str "$mac")" "$(json_str_or_null "$drv")" "$(json_int "$speed")" \
      "$(json_bool "${carrier:-0}")" "$(json_str_or_null "$(readf "$d/operstate")")" "$(json_int "$(readf "$d/mtu")")" \
      "$(if [ "$mac" = "$boot" ]; then echo true; else echo false; fi)" "$(json_str_or_null "$addr")"
    sep=","
  done
  printf ']}\n'
}

inv_dmi() {
  printf '{'
  sep=""
  for f in sys_vendor product_name product_version product_serial product_uuid product_sku product_family \
    board_vendor board_name board_serial chassis_vendor chassis_type chassis_serial bios_vendor bios_version bios_date; do
    printf '%s"%s":%s' "$sep" "$f" "$(json_str_or_null "$(readf "/sys/class/dmi/id/$f")")"
    sep=","
  done
  printf '}\n'
}

inv_firmware() {
  if [ -d /sys/firmware/efi ]; then
    sb=""
    for v in /sys/firmware/efi/efivars/SecureBoot-*; do
      [ -r "$v" ] && sb=$(tail -c 1 "$v" | od -An -tu1 | tr -d ' ')
    done
    printf '{"type":"uefi","secure_boot":%s}\n' "$(json_bool "$sb")"
  else
    printf '{"type":"bios","secure_boot":false}\n'
  fi
}

# The step: each result is posted as soon as it is gathered.
commission() {
  mkdir -p /tmp/results
  for name in cpu memory disks nics dmi firmware; do
    "inv_$name" >"/tmp/results/$name.json" || die "gathering $name failed"
    log "posting $name ($(wc -c <"/tmp/results/$name.json") bytes)"
    http_post_file "$PLINTH_URL/commissioning/$name" "/tmp/results/$name.json" || die "posting $name failed"
  done
}
