// Files of a run directory, each written by write-then-rename so a crash never leaves a
// truncated file behind.
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Writes JSON (pretty, trailing newline) atomically. */
export async function writeJson(dir: string, name: string, value: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** Writes text atomically. */
export async function writeText(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFileAtomic(file, text);
  return file;
}
