// Concurrent runs share the content cache safely: a missing entry is built once under a lock
// while the other process waits, and both get the same published directory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../../harness/src/util/paths.js';

const worker = `
import fs from 'node:fs';
const { cacheEntry } = await import(${JSON.stringify(path.join(projectRoot, 'build/harness/src/util/cache.js'))});
const counter = process.env.KPH_TEST_COUNTER;
const e = await cacheEntry('demo', 'k1', async (tmp) => {
  fs.appendFileSync(counter, 'built\\n');
  await new Promise((r) => setTimeout(r, 1500));
  fs.writeFileSync(tmp + '/payload', String(process.pid));
});
console.log(JSON.stringify({ dir: e.dir, cached: e.cached, payload: fs.readFileSync(e.dir + '/payload', 'utf8') }));
`;

function run(cache: string, counter: string): Promise<{ dir: string; cached: boolean; payload: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', worker], { env: { ...process.env, KPH_CACHE_DIR: cache, KPH_TEST_COUNTER: counter }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exited ${code}`))));
  });
}

test('two processes asking for the same missing entry: built once, same result for both', async (t) => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-cache-'));
  const counter = path.join(cache, 'count');
  const [a, b] = await Promise.all([run(cache, counter), run(cache, counter)]);
  t.is(fs.readFileSync(counter, 'utf8'), 'built\n');
  t.is(a.dir, b.dir);
  t.is(a.payload, b.payload);
  t.deepEqual([a.cached, b.cached].sort(), [false, true]);
  t.deepEqual(fs.readdirSync(path.join(cache, 'demo')).filter((f) => f.includes('.tmp-')), [], 'no half-built entry left');
});

test('two runs at once on the same checkout and results folder get distinct run directories', async (t) => {
  const { runCli, tempResults } = await import('../helpers/cli.js');
  const results = tempResults();
  const args = ['--results', results, '--case', 'commit-repro', '--no-ts', '--filter', 'range=one-port'];
  const [a, b] = await Promise.all([runCli(args), runCli(args)]);
  t.is(a.code, 0, a.stderr.slice(-1000));
  t.is(b.code, 0, b.stderr.slice(-1000));
  t.not(a.runDir, b.runDir);
  t.is(fs.readdirSync(results).length, 2);
  for (const d of fs.readdirSync(results)) t.true(JSON.parse(fs.readFileSync(path.join(results, d, 'results.json'), 'utf8')).complete);
});
