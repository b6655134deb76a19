# shellcheck shell=sh
# Shared by the ephemeral environment and the test disk: logging, the kernel command line,
# modules, JSON in and out, and HTTP to the metadata relay (busybox wget).

log() {
  _lt=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)
  echo "plinth: [${_lt:-?}] $*" >/dev/console 2>/dev/null || echo "plinth: $*" >&2
}

# Inside a step (a subshell): record why it failed, then leave the subshell.
die() {
  log "error: $*"
  printf '%s\n' "$*" >/tmp/plinth.error
  exit 1
}

early_mounts() {
  mkdir -p /proc /sys /dev /tmp /run /mnt
  mount -t proc proc /proc 2>/dev/null || true
  mount -t sysfs sysfs /sys 2>/dev/null || true
  mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
  mkdir -p /dev/pts
  mount -t devpts devpts /dev/pts 2>/dev/null || true
  mount -t tmpfs tmpfs /tmp 2>/dev/null || true
  mount -t tmpfs tmpfs /run 2>/dev/null || true
  [ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  echo 1 >/proc/sys/kernel/printk 2>/dev/null || true
  hostname plinth-ephemeral
}

# cmdline_get KEY: the value of KEY=value on the kernel command line (last one wins).
cmdline_get() {
  v=""
  # shellcheck disable=SC2013 # the command line is one line of words
  for w in $(cat /proc/cmdline); do
    case $w in "$1="*) v=${w#*=} ;; esac
  done
  printf '%s' "$v"
}

load_modules() {
  kver=$(uname -r)
  [ -f "/lib/modules/$kver/load-order" ] || return 0
  while read -r m; do
    insmod "/lib/modules/$kver/$m" 2>/dev/null || true
  done <"/lib/modules/$kver/load-order"
}

# The label in a FAT boot sector (FAT12/16 at byte 43, FAT32 at byte 71), trailing blanks
# removed; empty when $1 is not FAT. Read directly: no blkid in busybox, and findfs probes
# every device.
fat_label() {
  if [ "$(dd if="$1" bs=1 skip=82 count=5 2>/dev/null)" = FAT32 ]; then
    dd if="$1" bs=1 skip=71 count=11 2>/dev/null
  elif [ "$(dd if="$1" bs=1 skip=54 count=3 2>/dev/null)" = FAT ]; then
    dd if="$1" bs=1 skip=43 count=11 2>/dev/null
  fi | sed 's/ *$//'
}

# The first partition (of disk $1, or of any disk) with a FAT file system labelled cidata.
find_cidata() {
  for _cp in /sys/class/block/"${1:-}"*; do
    [ -e "$_cp/partition" ] || continue
    case $(fat_label "/dev/${_cp##*/}") in
      CIDATA | cidata) echo "${_cp##*/}"; return 0 ;;
    esac
  done
  return 1
}

# JSON string literal of $1 (control characters dropped, newlines kept as \n).
json_str() {
  printf '"'
  printf '%s' "$1" | tr -d '\000-\010\013-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g' | tr -d '\n'
  printf '"'
}

# JSON string, or null when empty.
json_str_or_null() {
  if [ -n "$1" ]; then json_str "$1"; else printf 'null'; fi
}

# JSON integer, or null when $1 is not a non-negative integer.
json_int() {
  case $1 in
    '' | *[!0-9]*) printf 'null' ;;
    *) printf '%s' "$1" ;;
  esac
}

json_bool() {
  case $1 in 1 | true | yes) printf 'true' ;; 0 | false | no) printf 'false' ;; *) printf 'null' ;; esac
}

# json_flatten DIR < JSON: writes every scalar of the document to DIR/<path> (object keys and
# array indexes joined with '.', e.g. image.url, ssh_keys.0); null values are left out.
json_flatten() {
  mkdir -p "$1"
  awk -v dir="$1" '
    function fail(m) { printf "json: %s at offset %d\n", m, pos > "/dev/stderr"; bad = 1; exit 2 }
    function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }
    function hexval(h,   i, v) { v = 0; h = tolower(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
    function utf8(c) {
      if (c < 128) return sprintf("%c", c)
      if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
      return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
    }
    function str(   out, c, rest) {
      pos++
      out = ""
      while (pos <= n) {
        rest = substr(s, pos, 4096)
        if (match(rest, /^[^"\\]+/)) { out = out substr(rest, 1, RLENGTH); pos += RLENGTH; continue }
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        pos++
        c = substr(s, pos, 1)
        if (c == "n") out = out "\n"
        else if (c == "t") out = out "\t"
        else if (c == "r") out = out "\r"
        else if (c == "b") out = out "\b"
        else if (c == "f") out = out "\f"
        else if (c == "u") { out = out utf8(hexval(substr(s, pos + 1, 4))); pos += 4 }
        else out = out c
        pos++
      }
      fail("unterminated string")
    }
    function emit(path, v,   f) {
      if (path == "") path = "_"
      f = dir "/" path
      printf "%s", v > f
      close(f)
      print path >> (dir "/.keys")
    }
    function join(path, k) { gsub(/[^A-Za-z0-9_-]/, "_", k); return path == "" ? k : path "." k }
    function value(path,   c, k, i, lit) {
      ws()
      c = substr(s, pos, 1)
      if (c == "{") {
        pos++; ws()
        if (substr(s, pos, 1) == "}") { pos++; return }
        while (1) {
          ws()
          if (substr(s, pos, 1) != "\"") fail("expected a key")
          k = str(); ws()
          if (substr(s, pos, 1) != ":") fail("expected :")
          pos++
          value(join(path, k)); ws()
          c = substr(s, pos, 1); pos++
          if (c == "}") return
          if (c != ",") fail("expected , or }")
        }
      } else if (c == "[") {
        pos++; ws()
        if (substr(s, pos, 1) == "]") { pos++; emit(path ".length", 0); return }
        i = 0
        while (1) {
          value(join(path, i)); i++; ws()
          c = substr(s, pos, 1); pos++
          if (c == "]") { emit(join(path, "length"), i); return }
          if (c != ",") fail("expected , or ]")
        }
      } else if (c == "\"") {
        emit(path, str())
      } else if (match(substr(s, pos, 64), /^(true|false|null|-?[0-9][0-9.eE+-]*)/)) {
        lit = substr(s, pos, RLENGTH); pos += RLENGTH
        if (lit != "null") emit(path, lit)
      } else fail("unexpected character")
    }
    { s = s $0 "\n" }
    END {
      if (bad) exit 2
      n = length(s); pos = 1
      printf "" > (dir "/.keys")
      value("")
      ws()
      if (pos <= n) fail("trailing data")
    }'
}

# jget DIR PATH: a flattened JSON value, empty when absent.
jget() {
  if [ -f "$1/$2" ]; then cat "$1/$2"; fi
}

# HTTP to the metadata relay: JSON bodies, the node token as a bearer token. Variables here
# are prefixed with _h: ash has no local scope and callers use url, file and the like.
http_post_file() {
  _hurl=$1 _hfile=$2 _htry=1
  while :; do
    if [ -n "${PLINTH_TOKEN:-}" ]; then
      timeout 60 wget -q -O "$_hfile.out" --header "Authorization: Bearer $PLINTH_TOKEN" \
        --header "Content-Type: application/json" --post-file "$_hfile" "$_hurl" && return 0
    else
      timeout 60 wget -q -O "$_hfile.out" --header "Content-Type: application/json" --post-file "$_hfile" "$_hurl" && return 0
    fi
    [ "$_htry" -ge 5 ] && { log "POST $_hurl failed"; return 1; }
    sleep "$_htry"
    _htry=$((_htry + 1))
  done
}

http_get() {
  _hurl=$1 _hdst=$2 _htry=1
  while :; do
    if [ -n "${PLINTH_TOKEN:-}" ]; then
      timeout 60 wget -q -O "$_hdst" --header "Authorization: Bearer $PLINTH_TOKEN" "$_hurl" && return 0
    else
      timeout 60 wget -q -O "$_hdst" "$_hurl" && return 0
    fi
    [ "$_htry" -ge 5 ] && { log "GET $_hurl failed"; return 1; }
    sleep "$_htry"
    _htry=$((_htry + 1))
  done
}

# post_status STATUS [ERROR] [EXTRA-JSON-MEMBERS]: POST {base}/status. A background poster
# (the installer's progress) sets PLINTH_STATUS_FILE so that the two never share a file.
post_status() {
  _hsf=${PLINTH_STATUS_FILE:-/tmp/status.json}
  {
    printf '{"mode":%s,"status":%s' "$(json_str "$PLINTH_MODE")" "$(json_str "$1")"
    [ -n "${2:-}" ] && printf ',"error":%s' "$(json_str "$2")"
    [ -n "${3:-}" ] && printf ',%s' "$3"
    printf '}\n'
  } >"$_hsf"
  http_post_file "$PLINTH_URL/status" "$_hsf"
}
