# shellcheck shell=sh
# The deployed system's own GRUB, run in a chroot of /target: the installer brings no boot
# loader, so what boots is what the image's packages ship (grub-pc-bin, grub-efi-amd64-bin).

firmware() {
  if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi
}

# in_target CMD...: CMD in the chroot with a clean environment.
in_target() {
  chroot /target /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

# /dev, /proc, /sys (and efivarfs) of the ephemeral environment inside /target, for grub-install,
# grub-probe and update-initramfs (once). Without udev there is no /dev/disk/by-uuid: make it,
# so that grub-mkconfig finds the root by UUID as on a booted system: for the partitions of
# DISK (and vgroot's root), or everything a storage plan made.
chroot_mounts() {
  awk '$2 == "/target/proc" { found = 1 } END { exit !found }' /proc/mounts && return 0
  for _f in dev dev/pts proc sys; do
    mkdir -p "/target/$_f"
    run "bind-mounting /$_f" mount --bind "/$_f" "/target/$_f"
  done
  if [ -d /sys/firmware/efi/efivars ]; then
    run "mounting efivarfs" mount -t efivarfs efivarfs /target/sys/firmware/efi/efivars
  fi
  mkdir -p /target/run
  run "mounting /run" mount -t tmpfs tmpfs /target/run
  mkdir -p /dev/disk/by-uuid
  if [ -n "${PLAN_ACTIVE:-}" ]; then
    _cd=$(plan_all_devs)
  else
    _cd=$(disk_partitions "$1" | sed 's|^|/dev/|')
    [ -n "${LVM_ACTIVE:-}" ] && _cd="$_cd $LVM_DEV"
  fi
  for _p in $_cd; do
    _u=$(fs_uuid "$_p")
    [ -n "$_u" ] && ln -sf "$_p" "/dev/disk/by-uuid/$_u"
  done
}

# efivars_writable: an NVRAM entry can be written (efivarfs mounted read-write).
efivars_writable() {
  awk '$2 == "/sys/firmware/efi/efivars" && $4 ~ /(^|,)rw(,|$)/ { ok = 1 } END { exit !ok }' /proc/mounts
}

# grub_defaults KERNEL_OPTS: /etc/default/grub with the deployment's kernel options appended to
# GRUB_CMDLINE_LINUX (every entry, recovery too, as MAAS does) and os-prober off. Appended as
# an assignment after what the file says, so the image's own settings stay as they were.
grub_defaults() {
  _g=/target/etc/default/grub
  if [ ! -f "$_g" ]; then
    # grub-pc-bin and grub-efi-amd64-bin do not ship it (grub-pc does): Debian's defaults.
    mkdir -p /target/etc/default
    printf '%s\n' 'GRUB_DEFAULT=0' 'GRUB_TIMEOUT=5' 'GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`' \
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' 'GRUB_CMDLINE_LINUX=""' >"$_g"
  fi
  {
    echo ""
    echo "# Plinth deployment"
    echo "GRUB_DISABLE_OS_PROBER=true"
    if [ -n "$1" ]; then
      # Inside double quotes only \ " $ ` are special.
      echo "GRUB_CMDLINE_LINUX=\"\$GRUB_CMDLINE_LINUX $(printf '%s' "$1" | sed 's/[\\"$`]/\\&/g')\""
    fi
  } >>"$_g"
}

# install_grub DISKS FIRMWARE KERNEL_OPTS: BIOS: i386-pc on each of DISKS (every member of a
# RAID 1 boot set); UEFI: x86_64-efi on the ESP mounted on /boot/efi (the first of DISKS named).
# ROOT_MAPPER: the root's /dev/mapper path when it is a logical volume.
install_grub() {
  _ds=$1 _fw=$2
  _d=${_ds%% *}
  [ -x /target/usr/sbin/grub-install ] || fail "the image has no grub-install (it needs grub2-common and grub-pc-bin or grub-efi-amd64-bin)"
  chroot_mounts "$_d"
  grub_defaults "$3"
  if [ "$_fw" = uefi ]; then
    [ -d /target/usr/lib/grub/x86_64-efi ] || fail "the machine booted UEFI and the image has no grub-efi-amd64-bin"
    awk '$2 == "/target/boot/efi" { found = 1 } END { exit !found }' /proc/mounts || fail "the machine booted UEFI and nothing is mounted on /boot/efi (no ESP)"
    if efivars_writable && in_target sh -c 'command -v efibootmgr' >/dev/null 2>&1; then
      run "grub-install --target=x86_64-efi" in_target grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --recheck "/dev/$_d"
    else
      log "no NVRAM entry: efivars read-only or no efibootmgr in the image"
      run "grub-install --target=x86_64-efi" in_target grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --no-nvram --recheck "/dev/$_d"
    fi
    # Firmware with no NVRAM entry for us (a new board, a cleared CMOS) boots the removable path.
    run "grub-install --removable" in_target grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram "/dev/$_d"
    [ -f /target/boot/efi/EFI/BOOT/BOOTX64.EFI ] || fail "grub-install left no EFI/BOOT/BOOTX64.EFI"
  else
    [ -d /target/usr/lib/grub/i386-pc ] || fail "the machine booted BIOS and the image has no grub-pc-bin"
    for _gd in $_ds; do
      run "grub-install --target=i386-pc /dev/$_gd" in_target grub-install --target=i386-pc --recheck "/dev/$_gd"
    done
  fi
  update_grub
  if [ -n "${ROOT_MAPPER:-}" ]; then
    # Debian's initramfs activates the volume group root= names; a root=UUID= would leave it waiting.
    grep -q "^[[:space:]]*linux[[:space:]].*root=${ROOT_MAPPER}[[:space:]]" /target/boot/grub/grub.cfg ||
      fail "grub-mkconfig did not put root=$ROOT_MAPPER on the kernel command line: $(grep -m1 '^[[:space:]]*linux[[:space:]]' /target/boot/grub/grub.cfg)"
  fi
}

update_grub() {
  if in_target sh -c 'command -v update-grub' >/dev/null 2>&1; then
    run "update-grub" in_target update-grub
  else
    run "grub-mkconfig" in_target grub-mkconfig -o /boot/grub/grub.cfg
  fi
}
