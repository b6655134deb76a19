# shellcheck shell=bash
# Callers set $cache (the download cache) and $SOURCE_DATE_EPOCH.
# shellcheck disable=SC2154
# Helpers shared by images/build.sh and images/build-testdisk.sh: Debian packages are fetched
# with `apt-get download` into a cache and unpacked with `dpkg-deb -x`; nothing is installed.

die() {
  echo "images: $*" >&2
  exit 1
}

need_tools() {
  local t missing=""
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
  done
  [ -z "$missing" ] || die "missing build tools:$missing (see test/deps/images.txt; as root: apt-get install cpio kmod dosfstools mtools syslinux syslinux-common zstd)"
}

# load_versions PKG...: the candidate versions of many packages in one apt-cache call (each
# call costs about a second), kept in $cache/versions.list for pkg_version.
load_versions() {
  mkdir -p "$cache"
  apt-cache show --no-all-versions "$@" 2>/dev/null |
    awk '/^Package:/ { p = $2 } /^Version:/ { print p "=" $2 }' >"$cache/versions.list.tmp"
  mv "$cache/versions.list.tmp" "$cache/versions.list"
}

# The candidate version of a Debian package.
pkg_version() {
  local v=""
  [ -f "$cache/versions.list" ] && v=$(awk -v p="$1" 'index($0, p "=") == 1 { print substr($0, length(p) + 2); exit }' "$cache/versions.list")
  [ -n "$v" ] || v=$(apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
  [ -n "$v" ] || die "Debian package $1 is unknown to apt (run apt-get update)"
  printf '%s\n' "$v"
}

# The kernel package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
kernel_pkg() {
  apt-cache show --no-all-versions linux-image-amd64 |
    awk -F': ' '/^Depends:/ { n = split($2, d, /, /); for (i = 1; i <= n; i++) if (d[i] ~ /^linux-image-[0-9]/) { sub(/ .*/, "", d[i]); print d[i]; exit } }'
}

# fetch_deb PKG VERSION: prints the path of the cached .deb, downloading it when absent.
fetch_deb() {
  local pkg=$1 ver=$2 enc f
  enc=$(printf '%s' "$ver" | sed 's/:/%3a/')
  mkdir -p "$cache"
  for f in "$cache/${pkg}_${enc}_"*.deb; do
    [ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
  done
  (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
  for f in "$cache/${pkg}_${enc}_"*.deb; do
    [ -f "$f" ] && { printf '%s\n' "$f"; return 0; }
  done
  die "downloaded $pkg=$ver but cannot find its .deb in $cache"
}

# unpack PKG: unpacks the candidate version of PKG once into $cache/root/PKG_VERSION and prints that path.
unpack() {
  local pkg=$1 ver deb dir
  ver=$(pkg_version "$pkg")
  dir="$cache/root/${pkg}_$(printf '%s' "$ver" | sed 's/:/%3a/')"
  if [ ! -f "$dir/.unpacked" ]; then
    deb=$(fetch_deb "$pkg" "$ver")
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    : >"$dir/.unpacked"
  fi
  printf '%s\n' "$dir"
}

# A reproducible gzip-compressed newc cpio of directory $1 written to $2.
make_cpio() {
  local src=$1 dst=$2
  find "$src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  (cd "$src" && find . -mindepth 1 -print | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -9 >"$dst.tmp"
  mv "$dst.tmp" "$dst"
}

# copy_modules KROOT KVER DEST MODULE...: copies the modules and their dependencies (in load
# order) into DEST/lib/modules/KVER and writes DEST/lib/modules/KVER/load-order.
copy_modules() {
  local kroot=$1 kver=$2 dest=$3 line path rel
  shift 3
  [ -f "$kroot/lib/modules/$kver/modules.dep" ] || depmod -b "$kroot" "$kver"
  mkdir -p "$dest/lib/modules/$kver"
  : >"$dest/lib/modules/$kver/load-order"
  modprobe -d "$kroot" -S "$kver" --show-depends -a "$@" | while read -r line; do
    case $line in
      insmod\ *)
        path=${line#insmod }
        path=${path%% *}
        rel=${path#"$kroot/lib/modules/$kver/"}
        grep -qxF "$rel" "$dest/lib/modules/$kver/load-order" && continue
        mkdir -p "$dest/lib/modules/$kver/$(dirname "$rel")"
        cp "$path" "$dest/lib/modules/$kver/$rel"
        printf '%s\n' "$rel" >>"$dest/lib/modules/$kver/load-order"
        ;;
      builtin\ *) ;;
      *) die "unexpected modprobe output: $line" ;;
    esac
  done
}

# install_busybox BUSYBOX_ROOT DEST: the static busybox and one symlink per applet.
install_busybox() {
  local bb=$1 dest=$2 applet dir
  mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin"
  cp "$bb/bin/busybox" "$dest/bin/busybox"
  "$bb/bin/busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    dir=$(dirname "$applet")
    mkdir -p "$dest/$dir"
    case $dir in
      bin) ln -sf busybox "$dest/$applet" ;;
      sbin | usr/bin | usr/sbin) ln -sf /bin/busybox "$dest/$applet" ;;
      *) ln -sf /bin/busybox "$dest/$applet" ;;
    esac
  done
}

# The device nodes the kernel needs before /init mounts devtmpfs.
make_dev_nodes() {
  local dest=$1
  mkdir -p "$dest/dev"
  [ -e "$dest/dev/console" ] || mknod -m 600 "$dest/dev/console" c 5 1 || die "mknod /dev/console failed (build as root)"
  [ -e "$dest/dev/null" ] || mknod -m 666 "$dest/dev/null" c 1 3
}

# Fingerprint of the given files (contents and names).
fingerprint() {
  (for f in "$@"; do printf '%s ' "$f"; sha256sum <"$f"; done) | sha256sum | cut -d' ' -f1
}

# soname_pkg SONAME FROM-PKG: the Debian package that ships SONAME. The build host's copy (found
# with ldconfig; the host is Debian 12 like the packages) is asked of `dpkg -S`; when the host
# has none, FROM-PKG's own Depends are unpacked and searched.
soname_pkg() {
  local so=$1 from=$2 path owner d
  path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ { print $NF; exit }')
  if [ -n "$path" ]; then
    # dpkg knows the path as the package shipped it: /lib/... or /usr/lib/... (usrmerge).
    owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null) || owner=""
    owner=${owner%%:*}
    owner=${owner%%,*}
    [ -n "$owner" ] && { printf '%s\n' "$owner"; return 0; }
  fi
  for d in $(apt-cache depends --no-recommends --no-suggests "$from" 2>/dev/null | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }'); do
    if find "$(unpack "$d")" -name "$so" | grep -q .; then
      printf '%s\n' "$d"
      return 0
    fi
  done
  die "cannot find the package that ships $so (needed by $from)"
}

# install_elf PKG PATH-IN-PKG STAGE [DEST-DIR]: copies an ELF binary from Debian package PKG
# into STAGE/DEST-DIR (default: its own directory in the package) replacing any busybox applet
# of the same name, and every shared library it needs, transitively (readelf -d NEEDED; each
# soname taken from the package that owns it, downloaded and unpacked into the cache), into
# STAGE/lib/x86_64-linux-gnu. The packages used are appended to $stage_pkgs_file when set.
install_elf() {
  local pkg=$1 rel=$2 stage=$3 destdir=${4:-} root name todo so f p d
  root=$(unpack "$pkg")
  [ -f "$root/$rel" ] || die "$pkg has no $rel"
  name=$(basename "$rel")
  [ -n "$destdir" ] || destdir=$(dirname "$rel")
  for d in bin sbin usr/bin usr/sbin; do
    [ -L "$stage/$d/$name" ] && rm -f "$stage/$d/$name"
  done
  mkdir -p "$stage/$destdir" "$stage/lib/x86_64-linux-gnu"
  cp -L "$root/$rel" "$stage/$destdir/$name"
  [ -n "${stage_pkgs_file:-}" ] && printf '%s\n' "$pkg" >>"$stage_pkgs_file"
  todo=$(readelf -d "$root/$rel" | awk -F'[][]' '/\(NEEDED\)/ { print $2 }')
  while [ -n "$todo" ]; do
    so=$(printf '%s\n' "$todo" | head -n1)
    todo=$(printf '%s\n' "$todo" | tail -n +2)
    [ -e "$stage/lib/x86_64-linux-gnu/$so" ] && continue
    p=$(soname_pkg "$so" "$pkg")
    f=$(find "$(unpack "$p")" -name "$so" \( -type f -o -type l \) | LC_ALL=C sort | head -n1)
    [ -n "$f" ] || die "$so not found in $p"
    cp -L "$f" "$stage/lib/x86_64-linux-gnu/$so"
    [ -n "${stage_pkgs_file:-}" ] && printf '%s\n' "$p" >>"$stage_pkgs_file"
    todo=$(printf '%s\n%s\n' "$todo" "$(readelf -d "$stage/lib/x86_64-linux-gnu/$so" | awk -F'[][]' '/\(NEEDED\)/ { print $2 }')" | sed '/^$/d')
  done
}
