#!/usr/bin/env node
// Places GRUB's BIOS boot code on a disk image file, as grub-bios-setup does for a GPT disk
// with a bios_grub partition, but without a block device (no loop devices in CI):
//   node grub-bios-setup.mjs DISK BOOT_IMG CORE_IMG PART_START_SECTOR PART_SECTORS
// boot.img goes into the first 440 bytes of the MBR (the protective MBR's disk signature and
// partition table stay), told where core.img starts; core.img goes into the bios_grub
// partition, its first sector (diskboot) told where the rest of it is.
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";

const SECTOR = 512;
// Offsets in boot.img (GRUB's include/grub/i386/pc/boot.h).
const BPB_START = 0x3;
const BPB_END = 0x5a;
const KERNEL_SECTOR = 0x5c;
const DRIVE_CHECK = 0x66;
const MBR_CODE_END = 440;
// diskboot's first blocklist entry sits at the end of core.img's first sector: start (u64),
// sector count (u16), load segment (u16); entries run downwards until one with count 0.
const LIST_SIZE = 12;
const FIRST_LIST = SECTOR - LIST_SIZE;
// core.img loads at 0x8000; its second sector onwards at 0x8200 (segment 0x820).
const FIRST_SEGMENT = 0x820;

function die(msg) {
  console.error(`grub-bios-setup: ${msg}`);
  process.exit(1);
}

const [disk, bootPath, corePath, startArg, sizeArg] = process.argv.slice(2);
if (!disk || !bootPath || !corePath || !startArg || !sizeArg) die("usage: DISK BOOT_IMG CORE_IMG PART_START_SECTOR PART_SECTORS");
const start = BigInt(startArg);
const partSectors = Number(sizeArg);

const boot = readFileSync(bootPath);
if (boot.length !== SECTOR) die(`${bootPath} is ${boot.length} bytes, not one sector`);
const raw = readFileSync(corePath);
const nsec = Math.ceil(raw.length / SECTOR);
if (nsec > partSectors) die(`core.img needs ${nsec} sectors; the bios_grub partition has ${partSectors}`);
if (nsec - 1 > 0xffff) die("core.img too large for one blocklist entry");
const core = Buffer.alloc(nsec * SECTOR);
raw.copy(core);

// grub-mkimage leaves the default entry (sector 2, the MBR-gap layout) and the count it computed.
if (core.readBigUInt64LE(FIRST_LIST) !== 2n) die("core.img's first sector is not diskboot (no default blocklist)");
if (core.readUInt16LE(FIRST_LIST - LIST_SIZE + 8) !== 0) die("core.img already has a second blocklist entry");
core.writeBigUInt64LE(start + 1n, FIRST_LIST);
core.writeUInt16LE(nsec - 1, FIRST_LIST + 8);
core.writeUInt16LE(FIRST_SEGMENT, FIRST_LIST + 10);

const fd = openSync(disk, "r+");
try {
  const mbr = Buffer.alloc(SECTOR);
  if (readSync(fd, mbr, 0, SECTOR, 0) !== SECTOR) die(`${disk} is shorter than one sector`);
  if (mbr.readUInt16LE(510) !== 0xaa55) die(`${disk} has no MBR signature (write the partition table first)`);
  const code = Buffer.from(boot);
  // A DOS BPB, if any, stays (grub-bios-setup does the same; a protective MBR has zeros).
  mbr.copy(code, BPB_START, BPB_START, BPB_END);
  code.writeBigUInt64LE(start, KERNEL_SECTOR);
  // A hard disk: skip boot.img's check that trusts only drive numbers the BIOS passed in DL.
  code[DRIVE_CHECK] = 0x90;
  code[DRIVE_CHECK + 1] = 0x90;
  writeSync(fd, core, 0, core.length, Number(start) * SECTOR);
  writeSync(fd, code, 0, MBR_CODE_END, 0);
} finally {
  closeSync(fd);
}
console.log(`grub-bios-setup: boot.img in the MBR, core.img (${nsec} sectors) at sector ${start}`);
