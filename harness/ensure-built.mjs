// Compiles the project with tsc when any TypeScript source is newer than its build output,
// so a fresh clone runs from the README's one command.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.cts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function stale(stamp) {
  const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
  const sources = Math.max(...['harness/src', 'guest/ts', 'test'].map((d) => newestMtime(path.join(root, d))), fs.statSync(path.join(root, 'tsconfig.json')).mtimeMs);
  return sources > built;
}

export async function ensureBuilt() {
  const stamp = path.join(root, 'build', '.stamp');
  if (!stale(stamp)) return;
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
  if (!fs.existsSync(tsc)) {
    console.error('kph: node_modules is missing; run `npm ci` in the checkout first.');
    process.exit(2);
  }
  // Two runs started at once must not compile over each other while one is importing.
  const { default: lockfile } = await import('proper-lockfile');
  fs.mkdirSync(path.join(root, 'build'), { recursive: true });
  const release = await lockfile.lock(path.join(root, 'build'), { lockfilePath: path.join(root, 'build.lock'), stale: 60_000, retries: { retries: 600, minTimeout: 100, maxTimeout: 500 } });
  try {
    if (!stale(stamp)) return;
    execFileSync(tsc, ['-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
    fs.writeFileSync(stamp, new Date().toISOString());
  } finally {
    await release();
  }
}
