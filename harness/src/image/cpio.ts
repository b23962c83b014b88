// A "newc" (SVR4, no CRC) cpio archive writer for the guest initramfs. Writing the archive
// ourselves gives root-owned entries, device nodes (/dev/console) and fixed timestamps
// without root privileges or a staging tree, and makes the archive reproducible.
import fs from 'node:fs/promises';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

export type CpioEntry =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; mode: number; data: Buffer; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; mode: number; major: number; minor: number };

/** Normalises an archive path: no leading "/", no "." or empty components. */
export function archivePath(p: string): string {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) throw new Error(`bad archive path: ${JSON.stringify(p)}`);
  return parts.join('/');
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function record(
  name: string,
  fields: { ino: number; mode: number; uid: number; gid: number; nlink: number; rdevMajor: number; rdevMinor: number },
  data: Buffer,
): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`);
  const header = Buffer.from(
    '070701' +
      hex8(fields.ino) +
      hex8(fields.mode) +
      hex8(fields.uid) +
      hex8(fields.gid) +
      hex8(fields.nlink) +
      hex8(0) + // mtime: fixed, so that equal inputs give an equal archive
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) + // devminor
      hex8(fields.rdevMajor) +
      hex8(fields.rdevMinor) +
      hex8(nameBuf.length) +
      hex8(0), // check (unused by newc)
    'ascii',
  );
  return [header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length)];
}

/**
 * Serialises entries (in order; parents must precede children) into an uncompressed newc
 * archive ending with the TRAILER!!! record.
 */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 1;
  for (const e of entries) {
    const name = archivePath(e.path);
    if (seen.has(name)) throw new Error(`duplicate archive path: ${name}`);
    const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : null;
    if (parent !== null && !seen.has(parent)) throw new Error(`archive path ${name} precedes its directory ${parent}`);
    seen.add(name);
    const base = { ino: ino++, uid: 0, gid: 0, nlink: 1, rdevMajor: 0, rdevMinor: 0 };
    switch (e.type) {
      case 'dir':
        chunks.push(...record(name, { ...base, mode: S_IFDIR | (e.mode & 0o7777), uid: e.uid ?? 0, gid: e.gid ?? 0, nlink: 2 }, Buffer.alloc(0)));
        break;
      case 'file':
        chunks.push(...record(name, { ...base, mode: S_IFREG | (e.mode & 0o7777), uid: e.uid ?? 0, gid: e.gid ?? 0 }, e.data));
        break;
      case 'symlink':
        chunks.push(...record(name, { ...base, mode: S_IFLNK | 0o777 }, Buffer.from(e.target)));
        break;
      case 'chardev':
        chunks.push(...record(name, { ...base, mode: S_IFCHR | (e.mode & 0o7777), rdevMajor: e.major, rdevMinor: e.minor }, Buffer.alloc(0)));
        break;
    }
  }
  chunks.push(...record('TRAILER!!!', { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, rdevMajor: 0, rdevMinor: 0 }, Buffer.alloc(0)));
  return Buffer.concat(chunks);
}

/**
 * Writes the entries as an uncompressed newc archive. The kernel takes it as it is: inflating
 * the gzip'd 3 MB took ~0.13 s of every TCG boot (median of 5 boots each, 1.63 s against 1.76 s
 * to SSH), and twice the bytes in the cache cost nothing.
 */
export async function writeCpio(file: string, entries: readonly CpioEntry[]): Promise<number> {
  const archive = newcArchive(entries);
  await fs.writeFile(file, archive);
  return archive.length;
}
