#!/bin/bash
# `npm run images -- os debian/bookworm [--formats tgz,ddzst,...]`: a deployable Debian 12 cloud
# image built from Debian's packages with mmdebstrap, from the mirror the host uses. Output in
# images/build/os/debian-bookworm/ (or $PLINTH_IMAGES_OUT/os/debian-bookworm/):
#   root.tgz / root.txz      root tarball (MAAS's root-tgz), empty fstab: the installer writes it
#   disk.ddraw / disk.dd{zst,gz,xz}  GPT disk image, BIOS and UEFI bootable, fstab by UUID
#   manifest.json, SHA256SUMS, .stamp
# Formats: tgz txz ddraw ddzst ddgz ddxz (default tgz,ddzst; any dd format keeps disk.ddraw,
# which is sparse). A second run with the same inputs does nothing. docs/images.md explains.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
base=${PLINTH_IMAGES_OUT:-$here/build}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
# shellcheck source=images/lib.sh
. "$here/lib.sh"

usage() { die "usage: npm run images -- os debian/bookworm [--formats tgz,txz,ddraw,ddzst,ddgz,ddxz]"; }

target=""
formats=tgz,ddzst
while [ $# -gt 0 ]; do
  case $1 in
    --formats) [ $# -ge 2 ] || usage; formats=$2; shift 2 ;;
    --formats=*) formats=${1#--formats=}; shift ;;
    -*) usage ;;
    *) [ -z "$target" ] || usage; target=$1; shift ;;
  esac
done
case $target in
  debian/bookworm) ;;
  "") usage ;;
  *) die "unknown OS image '$target' (known: debian/bookworm)" ;;
esac
want_tgz="" want_txz="" want_disk="" dd_compress=""
for f in $(printf '%s' "$formats" | tr ',' ' '); do
  case $f in
    tgz) want_tgz=1 ;;
    txz) want_txz=1 ;;
    ddraw) want_disk=1 ;;
    ddzst | ddgz | ddxz) want_disk=1; dd_compress="$dd_compress ${f#dd}" ;;
    *) die "unknown format '$f' (known: tgz txz ddraw ddzst ddgz ddxz)" ;;
  esac
done
# The canonical spelling, so "ddzst,tgz" and "tgz,ddzst" share a stamp.
formats=$(printf '%s' "$formats" | tr ',' '\n' | LC_ALL=C sort -u | paste -sd, -)

name=debian-bookworm
osdir=$here/os/$name
out=$base/os/$name
cache=$base/cache
debs=$cache/os-$name-debs
work=$out/work
root=$work/root
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)

# One build of an image at a time: `npm test` starts this in the background and the tests that
# need the image run it again, which waits here and then finds the stamp current.
mkdir -p "$out"
exec 8>"$out/.lock"
flock 8

need_tools mmdebstrap apt-cache chroot findmnt tar gzip xz zstd sha256sum sfdisk mke2fs mkfs.vfat mmd mcopy dd truncate node
[ "$(id -u)" = 0 ] || die "build OS images as root (mmdebstrap's root mode, device nodes, file owners)"

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$osdir/packages" | grep -v '^$')
# What apt would install for each listed package today, from the host's view of the same mirror.
versions=$(apt-cache policy "${pkgs[@]}" | awk '
  /^[^ ]/ { p = $1; sub(/:$/, "", p) }
  /^  Candidate:/ { print p "=" $2 }')
for p in "${pkgs[@]}"; do
  v=$(printf '%s\n' "$versions" | awk -v p="$p" -F= '$1 == p { print $2 }')
  [ -n "$v" ] && [ "$v" != "(none)" ] || die "Debian package $p has no candidate version (run apt-get update)"
done

inputs=$(
  printf '%s\n' "$versions" "$SOURCE_DATE_EPOCH" "$formats" "${mirrors[@]}"
  # shellcheck disable=SC2046 # paths under images/os have no spaces
  cd "$here" && fingerprint build-os.sh lib.sh $(find os -type f | LC_ALL=C sort)
)
stamp=$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)

outputs="manifest.json SHA256SUMS"
[ -z "$want_tgz" ] || outputs="$outputs root.tgz"
[ -z "$want_txz" ] || outputs="$outputs root.txz"
[ -z "$want_disk" ] || outputs="$outputs disk.ddraw"
for c in $dd_compress; do outputs="$outputs disk.dd$c"; done

uptodate=1
[ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] || uptodate=""
for f in $outputs; do [ -f "$out/$f" ] || uptodate=""; done
if [ -n "$uptodate" ]; then
  echo "images: os $target up to date ($out)"
  exit 0
fi

# Progress: "step N of M" with the seconds since the build started; each step's time goes
# into the manifest.
steps=3
[ -z "$want_tgz$want_txz" ] || steps=$((steps + 1))
[ -z "$want_disk" ] || steps=$((steps + 2))
[ -z "$dd_compress" ] || steps=$((steps + 1))
t0=$(date +%s)
step_no=0
step_name=""
step_t=$t0
timings=""
step() {
  local now
  now=$(date +%s)
  [ -z "$step_name" ] || timings="$timings $step_name=$((now - step_t))"
  step_name=$1
  step_t=$now
  [ -n "$step_name" ] || return 0
  step_no=$((step_no + 1))
  echo "images: [step $step_no of $steps, ${SECONDS}s] $2"
}
SECONDS=0

# mmdebstrap mounts /proc, /sys, /dev/pts and /dev/shm in the tree while it runs; if one
# was interrupted they may still be there, and removing the tree would reach into the host's.
still_mounted() { findmnt -rn -o TARGET | grep -F "$work/" || true; }
[ -z "$(still_mounted)" ] || die "still mounted from an interrupted build (umount them first): $(still_mounted | tr '\n' ' ')"
rm -rf "$work" "$out/.stamp"
mkdir -p "$out" "$work" "$debs"

step mmdebstrap "mmdebstrap: Debian bookworm, minbase + ${#pkgs[@]} packages (downloads cached in $debs)"
include=$(printf '%s,' "${pkgs[@]}")
# force-unsafe-io: dpkg skips its fsync per file while building the tree (taken out again below).
# Downloaded .debs are kept between builds (mmdebstrap's documented sync-in/sync-out cache);
# apt still checks each against the mirror's signed index.
mmdebstrap --mode=root --variant=minbase --format=directory \
  --include="${include%,}" \
  --dpkgopt="$osdir/dpkg-nodoc.cfg" \
  --dpkgopt=force-unsafe-io \
  --skip=essential/unlink --skip=download/empty \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
  bookworm "$root" "${mirrors[@]}"

step configure "configure: stock cloud image (no host keys, no machine-id, no hostname, no root password)"
cp -R --preserve=mode "$osdir/files/." "$root/"
# No fsync per unpacked file was for the build alone (a throwaway tree: minutes saved); the
# deployed system's dpkg syncs as Debian's does.
dpkgcfg=$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap
[ ! -f "$dpkgcfg" ] || sed -i '/^force-unsafe-io$/d' "$dpkgcfg"
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/etc/hostname" "$root/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"
printf '%s\n' "127.0.0.1 localhost" "::1 localhost ip6-localhost ip6-loopback" "ff02::1 ip6-allnodes" "ff02::2 ip6-allrouters" >"$root/etc/hosts"
sed -i 's/^root:[^:]*:/root:*:/' "$root/etc/shadow"
printf '# The installer writes this file (filesystems by UUID).\n' >"$root/etc/fstab"
# resolvconf makes it a link into /run (its own, filled at boot): kept; otherwise emptied.
[ -L "$root/etc/resolv.conf" ] || : >"$root/etc/resolv.conf"
mkdir -p "$root/boot/efi"
# Build leftovers that differ from run to run and mean nothing on a deployed machine.
rm -rf "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/var/log/alternatives.log "$root"/var/log/bootstrap.log \
  "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
  "$root"/var/cache/ldconfig/aux-cache "$root"/tmp/* "$root"/var/tmp/*
kver=$(basename "$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort | tail -n1)")
[ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] || die "no kernel and initrd for $kver in /boot"
chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Installed-Size}\n' >"$work/installed.tsv"
rootfs_kib=$(du -s -k "$root" | cut -f1)
modules_kib=$(du -s -k "$root/lib/modules" | cut -f1)

# A tarball of the tree as it is: numeric owners, xattrs, names sorted, mtimes clamped.
make_tar() {
  tar --sort=name --numeric-owner --xattrs --xattrs-include='*' --format=pax \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime -C "$root" -c .
}
if [ -n "$want_tgz$want_txz" ]; then
  step tarball "root tarball:$([ -z "$want_tgz" ] || echo " root.tgz")$([ -z "$want_txz" ] || echo " root.txz")"
  [ -z "$want_tgz" ] || { make_tar | gzip -n -6 >"$out/root.tgz.tmp" && mv "$out/root.tgz.tmp" "$out/root.tgz"; }
  [ -z "$want_txz" ] || { make_tar | xz -T0 -6 >"$out/root.txz.tmp" && mv "$out/root.txz.tmp" "$out/root.txz"; }
fi
rm -f "$out/root.tgz.tmp" "$out/root.txz.tmp"
[ -n "$want_tgz" ] || rm -f "$out/root.tgz"
[ -n "$want_txz" ] || rm -f "$out/root.txz"

# UUIDs and the ESP's volume id come from the stamp: the same inputs give the same identities.
derived_uuid() {
  local h
  h=$(printf '%s:%s' "$stamp" "$1" | sha256sum | cut -c1-32)
  printf '%s-%s-4%s-8%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}
root_uuid=$(derived_uuid root-fs)
esp_id=$(printf '%s:esp' "$stamp" | sha256sum | cut -c1-8 | tr a-f A-F)
esp_uuid="${esp_id:0:4}-${esp_id:4:4}"

if [ -n "$want_disk" ]; then
  step rootfs "disk: GRUB for BIOS and UEFI, ext4 root filesystem (UUID $root_uuid)"
  # GPT layout in MiB: 1 reserved | 1 bios_grub | 128 ESP | root (last, so it can grow) | 1 backup GPT.
  esp_mib=128
  root_mib=$(((rootfs_kib * 13 / 10 / 1024 + 64 + 3) / 4 * 4))
  disk_mib=$((1 + 1 + esp_mib + root_mib + 1))
  root_start=$(((2 + esp_mib) * 2048))
  printf '%s\n' \
    "UUID=$root_uuid / ext4 errors=remount-ro 0 1" \
    "UUID=$esp_uuid /boot/efi vfat umask=0077 0 1" >"$root/etc/fstab"
  # As grub-install would: the modules under /boot/grub, where the core images look for them.
  rm -rf "$root/boot/grub"
  mkdir -p "$root/boot/grub"
  cp -R "$root/usr/lib/grub/i386-pc" "$root/usr/lib/grub/x86_64-efi" "$root/boot/grub/"
  # grub-mkconfig cannot probe a file: the menu is written here; update-grub on the deployed
  # machine replaces it (with /etc/default/grub's console settings) on the next kernel update.
  cmdline="root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8"
  cat >"$root/boot/grub/grub.cfg" <<EOF
# Written by Plinth's image builder; update-grub regenerates it from /etc/default/grub.
set default=0
set timeout=1
serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
insmod all_video
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry 'Debian GNU/Linux 12 (bookworm)' {
	insmod gzio
	echo 'Loading Linux $kver ...'
	linux /boot/vmlinuz-$kver $cmdline
	echo 'Loading initial ramdisk ...'
	initrd /boot/initrd.img-$kver
}
EOF
  # The core images, made by the image's own grub-mkimage and modules, find the root
  # filesystem by UUID and read /boot/grub/grub.cfg from it.
  gw=/tmp/plinth-grub
  mkdir -p "$root$gw"
  printf 'search.fs_uuid %s root\nset prefix=($root)/boot/grub\n' "$root_uuid" >"$root$gw/early.cfg"
  chroot "$root" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -p /boot/grub -c $gw/early.cfg -o $gw/core.img \
    biosdisk part_gpt part_msdos ext2 search_fs_uuid configfile normal
  chroot "$root" grub-mkimage -O x86_64-efi -d /usr/lib/grub/x86_64-efi -p /boot/grub -c $gw/early.cfg -o $gw/grubx64.efi \
    part_gpt part_msdos ext2 fat search_fs_uuid configfile normal
  mv "$root$gw" "$work/grub"
  cp "$root/usr/lib/grub/i386-pc/boot.img" "$work/grub/boot.img"
  find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  truncate -s "${root_mib}M" "$work/root.ext4"
  E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -F -t ext4 -L root -U "$root_uuid" \
    -E "hash_seed=$(derived_uuid root-hash),root_owner=0:0" -d "$root" "$work/root.ext4"

  step disk "disk: GPT disk.ddraw ($disk_mib MiB), ESP, GRUB boot code"
  rm -f "$out/disk.ddraw"
  truncate -s "${disk_mib}M" "$work/disk.ddraw"
  sfdisk -q --no-reread --no-tell-kernel "$work/disk.ddraw" <<EOF
label: gpt
label-id: $(derived_uuid disk)
unit: sectors
first-lba: 2048
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, uuid=$(derived_uuid part-bios), name="bios"
start=4096, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$(derived_uuid part-esp), name="esp"
start=$root_start, size=$((root_mib * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$(derived_uuid part-root), name="root"
EOF
  # --invariant fixes what mkfs.fat would take from the clock; -i after it sets our volume id.
  mkfs.vfat -C -F 32 -n EFI --invariant -i "$esp_id" "$work/esp.img" $((esp_mib * 1024)) >/dev/null
  export MTOOLS_SKIP_CHECK=1
  mmd -i "$work/esp.img" ::EFI ::EFI/BOOT ::EFI/debian
  touch -d "@$SOURCE_DATE_EPOCH" "$work/grub/grubx64.efi"
  mcopy -m -i "$work/esp.img" "$work/grub/grubx64.efi" ::EFI/BOOT/BOOTX64.EFI
  mcopy -m -i "$work/esp.img" "$work/grub/grubx64.efi" ::EFI/debian/grubx64.efi
  dd if="$work/esp.img" of="$work/disk.ddraw" bs=1M seek=2 conv=notrunc,sparse status=none
  dd if="$work/root.ext4" of="$work/disk.ddraw" bs=1M seek=$((2 + esp_mib)) conv=notrunc,sparse status=none
  node "$here/os/grub-bios-setup.mjs" "$work/disk.ddraw" "$work/grub/boot.img" "$work/grub/core.img" 2048 2048
  mv "$work/disk.ddraw" "$out/disk.ddraw"
else
  rm -f "$out/disk.ddraw"
fi

for c in zst gz xz; do
  case " $dd_compress " in *" $c "*) ;; *) rm -f "$out/disk.dd$c" ;; esac
done
if [ -n "$dd_compress" ]; then
  step compress "disk: compressing disk.ddraw to$(for c in $dd_compress; do printf ' disk.dd%s' "$c"; done)"
  for c in $dd_compress; do
    case $c in
      zst) zstd -q -f -T0 -10 "$out/disk.ddraw" -o "$out/disk.ddzst.tmp" ;;
      gz) gzip -n -6 -c "$out/disk.ddraw" >"$out/disk.ddgz.tmp" ;;
      xz) xz -T0 -6 -c "$out/disk.ddraw" >"$out/disk.ddxz.tmp" ;;
    esac
    mv "$out/disk.dd$c.tmp" "$out/disk.dd$c"
  done
fi

step manifest "manifest.json, SHA256SUMS"
files=""
for f in root.tgz root.txz disk.ddraw disk.ddzst disk.ddgz disk.ddxz; do [ ! -f "$out/$f" ] || files="$files $f"; done
# shellcheck disable=SC2086
(cd "$out" && sha256sum $files >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
step "" ""
total=$SECONDS
OUT=$out STAMP=$stamp FORMATS=$formats KVER=$kver VERSIONS=$versions TIMINGS=$timings TOTAL=$total \
  ROOTFS_KIB=$rootfs_kib MODULES_KIB=$modules_kib ROOT_UUID=$root_uuid ESP_UUID=$esp_uuid WANT_DISK=$want_disk \
  INSTALLED=$work/installed.tsv node --input-type=module -e '
import { readFileSync, statSync, writeFileSync, renameSync } from "node:fs";
const e = process.env;
const pairs = (s) => Object.fromEntries(s.trim().split(/\s+/).filter(Boolean).map((pv) => [pv.slice(0, pv.indexOf("=")), pv.slice(pv.indexOf("=") + 1)]));
const sums = Object.fromEntries(readFileSync(`${e.OUT}/SHA256SUMS`, "utf8").trim().split("\n").map((l) => l.split(/\s+/).reverse()));
const installed = readFileSync(e.INSTALLED, "utf8").trim().split("\n").map((l) => l.split("\t"));
const files = {};
for (const [name, sha256] of Object.entries(sums)) {
  const st = statSync(`${e.OUT}/${name}`);
  files[name] = { size: st.size, allocated: st.blocks * 512, sha256 };
}
const m = {
  os: "debian", series: "bookworm", arch: "amd64",
  stamp: e.STAMP, source_date_epoch: Number(process.env.SOURCE_DATE_EPOCH), formats: e.FORMATS.split(","),
  kernel_version: e.KVER,
  listed_packages: pairs(e.VERSIONS),
  package_count: installed.length,
  packages: Object.fromEntries(installed.map(([p, v]) => [p, v])),
  rootfs: { kib: Number(e.ROOTFS_KIB), modules_kib: Number(e.MODULES_KIB) },
  ...(e.WANT_DISK ? { disk: { root_uuid: e.ROOT_UUID, esp_uuid: e.ESP_UUID } } : {}),
  files,
  build_seconds: { ...Object.fromEntries(Object.entries(pairs(e.TIMINGS)).map(([k, v]) => [k, Number(v)])), total: Number(e.TOTAL) },
};
writeFileSync(`${e.OUT}/manifest.json.tmp`, `${JSON.stringify(m, null, 2)}\n`);
renameSync(`${e.OUT}/manifest.json.tmp`, `${e.OUT}/manifest.json`);
'
[ -z "$(still_mounted)" ] || die "mmdebstrap left mounts: $(still_mounted | tr '\n' ' ')"
rm -rf "$work"
printf '%s\n' "$stamp" >"$out/.stamp"
echo "images: os $target built in ${total}s ($out)"
cat "$out/SHA256SUMS"
