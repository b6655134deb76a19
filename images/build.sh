#!/bin/bash
# `npm run images`: builds Plinth's boot environments from Debian packages into images/build/:
#   vmlinuz          Debian's kernel (the linux-image-6.1.0-*-amd64 that linux-image-amd64 depends on)
#   initrd.img       the ephemeral environment: busybox-static, the kernel modules it needs,
#                    the installer's tools (zstd, mkfs.fat, sfdisk, e2fsprogs, lvm, blkid,
#                    wipefs, mkswap, GNU tar, mdadm, make-bcache, mkfs.xfs) with their
#                    libraries, and the POSIX sh in images/initramfs/
#   testdisk.raw(.gz,.zst)  a tiny bootable disk whose first boot phones home (build-testdisk.sh)
#   SHA256SUMS, manifest.json
# Packages are fetched with `apt-get download` into images/build/cache and unpacked with
# `dpkg-deb -x`; nothing is installed. Re-running skips what is built unless inputs changed.
# `npm run images -- os debian/bookworm [--formats ...]` builds a deployable OS image instead
# (images/build-os.sh); `npm run images -- publish <dir> --key ID` publishes what is built as a
# signed simplestreams mirror (images/publish-cli.ts).
set -eu
case ${1:-} in
  os) shift; exec bash "$(dirname "$0")/build-os.sh" "$@" ;;
  publish) shift; exec node --import tsx "$(dirname "$0")/publish-cli.ts" "$@" ;;
  "") ;;
  *) echo "images: unknown command '$1' (no argument: the boot environments; 'os debian/bookworm': an OS image; 'publish <dir>': a mirror of them)" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
out=${PLINTH_IMAGES_OUT:-$here/build}
cache=$out/cache
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
# shellcheck source=images/lib.sh
. "$here/lib.sh"

mkdir -p "$out"
# One build at a time (npm test starts one in the background; the tests run it again, which
# waits here, then finds everything current).
exec 8>"$out/.lock"
flock 8

need_tools apt-get apt-cache dpkg-deb cpio gzip depmod modprobe sha256sum mknod zstd mkfs.vfat mcopy syslinux readelf ldconfig
mkdir -p "$out" "$cache"

kpkg=$(kernel_pkg)
[ -n "$kpkg" ] || die "cannot find the kernel package linux-image-amd64 depends on"
# Modules for the NICs and disks of VMs and common servers, vfat for the cloud-init seed and the
# ESP, ext4 for the roots the installer makes or grows, dm_mod for LVM, efivarfs for the NVRAM
# boot entry, md (software RAID 0, 1, 10, 5 and 6; raid456 brings its async_* and raid6_pq), bcache
# and xfs (libcrc32c) for the storage plans. crc32c is ext4's soft dependency (metadata checksums),
# which modprobe does not list.
modules="virtio_net virtio_pci virtio_blk virtio_scsi virtio-rng e1000 e1000e igb r8169 ahci sd_mod ata_piix nvme vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1 ext4 crc32c_generic crc32c-intel dm_mod md_mod raid0 raid1 raid10 raid456 bcache xfs libcrc32c efivarfs"
# The installer's tools: package and path in the package (their libraries are found by install_elf).
tools="zstd:/usr/bin/zstd dosfstools:/sbin/mkfs.fat fdisk:/sbin/sfdisk e2fsprogs:/sbin/mke2fs e2fsprogs:/sbin/e2fsck e2fsprogs:/sbin/resize2fs lvm2:/sbin/lvm util-linux:/sbin/blkid util-linux:/sbin/wipefs util-linux:/sbin/mkswap tar:/bin/tar mdadm:/sbin/mdadm bcache-tools:/usr/sbin/make-bcache bcache-tools:/usr/sbin/bcache-super-show xfsprogs:/sbin/mkfs.xfs"
pkgs="$kpkg busybox-static zstd dosfstools fdisk e2fsprogs lvm2 util-linux tar mdadm bcache-tools xfsprogs"
# shellcheck disable=SC2086
load_versions $pkgs systemd-boot-efi
versions=""
for p in $pkgs; do versions="$versions $p=$(pkg_version "$p")"; done

inputs=$(
  printf '%s\n' "$versions" "$modules" "$tools" "$SOURCE_DATE_EPOCH"
  # shellcheck disable=SC2046 # paths under images/initramfs have no spaces
  cd "$here" && fingerprint build.sh lib.sh $(find initramfs -type f | LC_ALL=C sort)
)
stamp=$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)

if [ -f "$out/.ephemeral.stamp" ] && [ "$(cat "$out/.ephemeral.stamp")" = "$stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
  echo "images: ephemeral environment up to date"
else
  echo "images: building the ephemeral environment ($kpkg, busybox-static)"
  kroot=$(unpack "$kpkg")
  kver=$(basename "$(find "$kroot/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
  bb=$(unpack busybox-static)
  stage="$out/work/initramfs"
  rm -rf "$stage"
  mkdir -p "$stage"/proc "$stage"/sys "$stage"/tmp "$stage"/run "$stage"/mnt "$stage"/etc "$stage"/lib64 "$stage"/lib/x86_64-linux-gnu
  install_busybox "$bb" "$stage"
  make_dev_nodes "$stage"
  # shellcheck disable=SC2086
  copy_modules "$kroot" "$kver" "$stage" $modules
  # Dynamically linked tools, each in /usr/sbin or /usr/bin (ahead of busybox's applets of the
  # same name) with the libraries they need. dosfstools' mkfs.fat makes the seed a FAT16 every
  # tool reads (busybox's mkdosfs only makes FAT32, which mtools rejects at that size); GNU tar
  # keeps xattrs (file capabilities) that busybox tar drops.
  for t in $tools; do
    case ${t#*:} in */bin/*) d=usr/bin ;; *) d=usr/sbin ;; esac
    install_elf "${t%%:*}" "${t#*:}" "$stage" "$d"
  done
  for l in pvcreate pvremove vgcreate vgchange vgremove lvcreate lvs vgs pvs; do ln -sf lvm "$stage/usr/sbin/$l"; done
  ln -sf mke2fs "$stage/usr/sbin/mkfs.ext4"
  cp "$(unpack e2fsprogs)/etc/mke2fs.conf" "$stage/etc/mke2fs.conf"
  # mke2fs and e2fsck look for mounted file systems there.
  ln -sf /proc/mounts "$stage/etc/mtab"
  ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$stage/lib64/ld-linux-x86-64.so.2"
  cp -R "$here/initramfs/." "$stage/"
  chmod 755 "$stage/init" "$stage/etc/udhcpc.script"
  printf '%s\n' "$kver" >"$stage/etc/plinth-kernel"
  make_cpio "$stage" "$out/initrd.img"
  cp "$(find "$kroot/boot" -name 'vmlinuz-*' | head -n1)" "$out/vmlinuz.tmp"
  mv "$out/vmlinuz.tmp" "$out/vmlinuz"
  printf '%s\n' "$kver" >"$out/kernel-version"
  cp "$stage/lib/modules/$kver/load-order" "$out/initrd.modules"
  rm -rf "$out/work"
  printf '%s\n' "$stamp" >"$out/.ephemeral.stamp"
fi

PLINTH_IMAGES_OUT=$out PLINTH_VERSIONS_LOADED=1 bash "$here/build-testdisk.sh"

# Sums and manifest over everything built.
cd "$out"
files="vmlinuz initrd.img testdisk.raw testdisk.raw.gz testdisk.raw.zst"
# shellcheck disable=SC2086
sha256sum $files >SHA256SUMS.tmp
mv SHA256SUMS.tmp SHA256SUMS
{
  printf '{\n  "kernel_version": "%s",\n  "source_date_epoch": %s,\n  "packages": {' "$(cat kernel-version)" "$SOURCE_DATE_EPOCH"
  sep=""
  for pv in $versions $(cat testdisk.packages); do
    printf '%s\n    "%s": "%s"' "$sep" "${pv%%=*}" "${pv#*=}"
    sep=","
  done
  printf '\n  },\n  "modules": ['
  sep=""
  while read -r m; do
    printf '%s\n    "%s"' "$sep" "$m"
    sep=","
  done <initrd.modules
  printf '\n  ],\n  "files": {'
  sep=""
  for f in $files; do
    printf '%s\n    "%s": { "size": %s, "sha256": "%s" }' "$sep" "$f" "$(stat -c %s "$f")" "$(awk -v f="$f" '$2 == f { print $1 }' SHA256SUMS)"
    sep=","
  done
  printf '\n  }\n}\n'
} >manifest.json.tmp
mv manifest.json.tmp manifest.json
echo "images: done"
cat SHA256SUMS
