#!/bin/bash
# The tiny deployable test disk (images/build/testdisk.raw, .raw.gz, .raw.zst): an MBR disk
# with one FAT partition booted by syslinux, holding Debian's kernel and a small busybox
# initramfs whose /init (images/testdisk/init) reads the cloud-init NoCloud seed and phones
# home. Needs vmlinuz from images/build.sh; called by it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${PLINTH_IMAGES_OUT:-$here/build}
cache=$out/cache
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
# shellcheck source=images/lib.sh
. "$here/lib.sh"

need_tools apt-cache dpkg-deb dpkg-query cpio gzip zstd depmod modprobe mknod mkfs.vfat mcopy syslinux truncate
[ -f "$out/vmlinuz" ] || die "run images/build.sh first (no $out/vmlinuz)"
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || die "$mbr missing (apt-get install syslinux-common)"

kpkg=$(kernel_pkg)
[ "${PLINTH_VERSIONS_LOADED:-}" = 1 ] || load_versions "$kpkg" busybox-static systemd-boot-efi
modules="virtio_net virtio_pci virtio_blk virtio_scsi e1000 e1000e ahci sd_mod ata_piix vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1"
host_pkgs=""
for p in syslinux syslinux-common dosfstools mtools; do
  host_pkgs="$host_pkgs $p=$(dpkg-query -W -f='${Version}' "$p")"
done
versions="$kpkg=$(pkg_version "$kpkg") busybox-static=$(pkg_version busybox-static) systemd-boot-efi=$(pkg_version systemd-boot-efi)"
inputs=$(
  printf '%s\n' "$versions" "$host_pkgs" "$modules" "$SOURCE_DATE_EPOCH"
  cd "$here" && fingerprint build-testdisk.sh lib.sh testdisk/init initramfs/lib/plinth/common.sh initramfs/lib/plinth/net.sh initramfs/etc/udhcpc.script
)
stamp=$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)
if [ -f "$out/.testdisk.stamp" ] && [ "$(cat "$out/.testdisk.stamp")" = "$stamp" ] &&
  [ -f "$out/testdisk.raw" ] && [ -f "$out/testdisk.raw.gz" ] && [ -f "$out/testdisk.raw.zst" ]; then
  echo "images: test disk up to date"
  exit 0
fi
echo "images: building the test disk"

kroot=$(unpack "$kpkg")
kver=$(basename "$(find "$kroot/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
bb=$(unpack busybox-static)
work="$out/work-testdisk"
rm -rf "$work"
stage="$work/initramfs"
mkdir -p "$stage"/proc "$stage"/sys "$stage"/tmp "$stage"/run "$stage"/mnt "$stage"/etc "$stage"/lib/plinth
install_busybox "$bb" "$stage"
make_dev_nodes "$stage"
# shellcheck disable=SC2086
copy_modules "$kroot" "$kver" "$stage" $modules
cp "$here/initramfs/lib/plinth/common.sh" "$here/initramfs/lib/plinth/net.sh" "$stage/lib/plinth/"
cp "$here/initramfs/etc/udhcpc.script" "$stage/etc/udhcpc.script"
cp "$here/testdisk/init" "$stage/init"
chmod 755 "$stage/init" "$stage/etc/udhcpc.script"
make_cpio "$stage" "$work/initrd.img"

# The boot partition: FAT, 22 MiB, from 1 MiB; the disk is 24 MiB. BIOS boots it with
# syslinux, UEFI with systemd-boot (EFI/BOOT/BOOTX64.EFI).
disk_mib=24
part_start=2048
part_sectors=$((22 * 2048))
cat >"$work/syslinux.cfg" <<'CFG'
DEFAULT plinth
PROMPT 0
TIMEOUT 0
LABEL plinth
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=tty0 console=ttyS0,115200 panic=10
CFG
# UEFI: systemd-boot as the removable-media loader, with one entry and no menu.
sdboot=$(unpack systemd-boot-efi)
mkdir -p "$work/EFI/BOOT" "$work/loader/entries"
cp "$sdboot/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$work/EFI/BOOT/BOOTX64.EFI"
printf 'default plinth.conf\ntimeout 0\n' >"$work/loader/loader.conf"
printf 'title Plinth test disk\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=tty0 console=ttyS0,115200 panic=10\n' >"$work/loader/entries/plinth.conf"
cp "$out/vmlinuz" "$work/vmlinuz"
find "$work/EFI" "$work/loader" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" -exec touch -d "@$SOURCE_DATE_EPOCH" {} +
part="$work/part.img"
mkfs.vfat -C -F 16 -n PLINTHDISK -i 504c4e54 --invariant "$part" $((part_sectors / 2)) >/dev/null
syslinux --install "$part"
mcopy -s -m -i "$part" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" "$work/EFI" "$work/loader" ::/

raw="$work/testdisk.raw"
truncate -s "${disk_mib}M" "$raw"
dd if="$mbr" of="$raw" bs=440 count=1 conv=notrunc status=none
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
# Disk signature, then partition 1: active, type 0x0e (FAT16 LBA, what syslinux's MBR and
# OVMF both accept), LBA start and size; then the boot signature.
# shellcheck disable=SC2059
printf "$(le32 0x504c4e54)\\x00\\x00" | dd of="$raw" bs=1 seek=440 conv=notrunc status=none
# shellcheck disable=SC2059
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $part_start)$(le32 $part_sectors)" | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none
dd if="$part" of="$raw" bs=512 seek=$part_start conv=notrunc,sparse status=none

gzip -n -9 -c "$raw" >"$work/testdisk.raw.gz"
zstd -q -19 -c "$raw" >"$work/testdisk.raw.zst"
for f in testdisk.raw testdisk.raw.gz testdisk.raw.zst; do mv "$work/$f" "$out/$f"; done
echo "systemd-boot-efi=$(pkg_version systemd-boot-efi) $host_pkgs" | tr ' ' '\n' | sed '/^$/d' >"$out/testdisk.packages"
rm -rf "$work"
printf '%s\n' "$stamp" >"$out/.testdisk.stamp"
