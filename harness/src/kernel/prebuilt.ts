// Prebuilt kernels: a bzImage given by path. Its release comes from the version string that
// the x86 boot protocol's setup header points to (what `file` prints as "version …").
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BuiltKernel } from './build.js';

/** Offsets of the x86 setup header (Documentation/x86/boot.rst). */
const HEADER_MAGIC_AT = 0x202; // "HdrS"
const KERNEL_VERSION_AT = 0x20e; // u16: offset of the version string, less 0x200
const MAX_VERSION = 512;

/** The setup header's version string, e.g. "6.1.192-kph-after (kph@kph) #1 Mon Jan  1 …"; undefined when there is none. */
export function bzImageVersion(image: Buffer): string | undefined {
  if (image.length < KERNEL_VERSION_AT + 2 || image.toString('latin1', HEADER_MAGIC_AT, HEADER_MAGIC_AT + 4) !== 'HdrS') return undefined;
  const pointer = image.readUInt16LE(KERNEL_VERSION_AT);
  if (pointer === 0) return undefined;
  const start = pointer + 0x200;
  if (start >= image.length) return undefined;
  const end = image.indexOf(0, start);
  const text = image.toString('latin1', start, end < 0 ? Math.min(image.length, start + MAX_VERSION) : Math.min(end, start + MAX_VERSION));
  return /^\S+/.test(text) ? text : undefined;
}

/** The first bytes of a file (where the setup header and its version string are), read synchronously. */
export function imageHead(file: string, bytes = 64 * 1024): Buffer {
  const fd = fsSync.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = fsSync.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Does the image carry the x86 boot protocol's setup header (the magic "HdrS" at 0x202)? */
export function hasSetupHeader(head: Buffer): boolean {
  return head.length >= HEADER_MAGIC_AT + 4 && head.toString('latin1', HEADER_MAGIC_AT, HEADER_MAGIC_AT + 4) === 'HdrS';
}

/**
 * What is wrong with a prebuilt image before anything is built or booted: not a bzImage, no
 * release to be found, or a release that contradicts the declared one; undefined when fine.
 */
export function bzImageProblem(head: Buffer, declared?: string): string | undefined {
  if (!hasSetupHeader(head)) {
    const found = head.length < HEADER_MAGIC_AT + 4 ? `a file of ${head.length} bytes` : `the bytes ${[...head.subarray(HEADER_MAGIC_AT, HEADER_MAGIC_AT + 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')} there (not a kernel image)`;
    return `expected an x86 bzImage (the setup header magic "HdrS" at offset 0x202), found ${found}`;
  }
  const version = bzImageVersion(head);
  const found = version ? releaseOfVersion(version) : undefined;
  if (found && declared && found !== declared) return `expected the kernel the description declares (release: ${declared}), found ${found} (version string "${version}")`;
  if (!found && !declared) return 'expected a version string in the bzImage setup header, found none; say which kernel it is with a release: key';
  return undefined;
}

/** The release (`uname -r`) in a version string: its first word. */
export function releaseOfVersion(version: string): string {
  return version.split(/\s/)[0];
}

/**
 * The release of a bzImage file: from its setup header, else `declared`. Throws when neither
 * gives one, or when both do and they disagree.
 */
export async function prebuiltRelease(file: string, declared?: string): Promise<string> {
  const fh = await fs.open(file, 'r');
  let head: Buffer;
  try {
    // The setup code (and its version string) sits in the first few kilobytes.
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const version = bzImageVersion(head);
  const found = version ? releaseOfVersion(version) : undefined;
  if (found && declared && found !== declared) throw new Error(`${file} says it is ${found} (version string "${version}"), but the description says release: ${declared}`);
  const release = found ?? declared;
  if (!release) throw new Error(`${file}: no version string in the bzImage setup header; say which kernel it is with a release: key`);
  return release;
}

/** A prebuilt kernel as the run sees it (nothing built; a short log in logDir says where it came from). */
export async function prebuiltKernel(o: { name: string; profile: string; bzImage: string; release?: string; logDir: string }): Promise<BuiltKernel> {
  const release = await prebuiltRelease(o.bzImage, o.release);
  await fs.mkdir(o.logDir, { recursive: true });
  const log = path.join(o.logDir, `kernel-${o.name}.log`);
  await fs.appendFile(log, `=== kernel ${o.name}: prebuilt ${o.bzImage} (release ${release}, profile ${o.profile})\n`);
  const config = path.join(path.dirname(o.bzImage), 'config');
  const hasConfig = await fs.access(config).then(() => true, () => false);
  return { name: o.name, profile: o.profile, bzImage: o.bzImage, release, config: hasConfig ? config : '', cached: true, seconds: 0, log };
}
