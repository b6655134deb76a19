# shellcheck shell=sh
# Bring up the NIC that booted (BOOTIF=01-aa-bb-cc-dd-ee-ff) with udhcpc, or the first NIC
# with a link when BOOTIF is absent. Leaves the lease in /run/net.env.

bootif_mac() {
  b=$(cmdline_get BOOTIF)
  [ -n "$b" ] || return 0
  b=${b#01-}
  printf '%s' "$b" | tr 'A-F-' 'a-f:'
}

iface_by_mac() {
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { basename "$d"; return 0; }
  done
  return 1
}

physical_ifaces() {
  for d in /sys/class/net/*; do
    [ -e "$d/device" ] && basename "$d"
  done
}

net_up() {
  ip link set lo up
  mac=$(bootif_mac)
  i=0
  IFACE=""
  while [ $i -lt 100 ]; do
    if [ -n "$mac" ]; then
      IFACE=$(iface_by_mac "$mac" || true)
    else
      IFACE=$(physical_ifaces | head -n1)
    fi
    [ -n "$IFACE" ] && break
    sleep 0.2
    i=$((i + 1))
  done
  [ -n "$IFACE" ] || { log "no network interface${mac:+ with MAC $mac}"; return 1; }
  log "network: $IFACE ${mac:+($mac) }DHCP"
  ip link set "$IFACE" up
  udhcpc -i "$IFACE" -s /etc/udhcpc.script -f -q -n -t 30 -T 3 -x hostname:"$(hostname)" >/tmp/udhcpc.log 2>&1 || {
    cat /tmp/udhcpc.log >/dev/console
    log "no DHCP lease on $IFACE"
    return 1
  }
  # shellcheck disable=SC1091,SC2154 # written by /etc/udhcpc.script: ip, mask, router, dns
  . /run/net.env
  log "network: $IFACE has ${ip:-?}/${mask:-?}"
}
