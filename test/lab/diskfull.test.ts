// Fault #12: the disk fills up while results are written. Earlier files stay whole, no JSON
// file is left truncated, the exit code is not 0, and no QEMU is left.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { qemuGone, startCli } from '../helpers/cli.js';
import { needs, root } from '../helpers/needs.js';

needs(root('to mount a small tmpfs')).serial('disk full while writing results', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
  try {
    const earlier = path.join(dir, '20200101-000000-aaaaaa');
    fs.mkdirSync(earlier);
    const earlierText = JSON.stringify({ runId: 'earlier', complete: true, records: [] }, null, 2);
    fs.writeFileSync(path.join(earlier, 'results.json'), earlierText);
    // Leave ~48 KiB: enough to start, not enough for the consoles and the final files.
    const free = () => { const s = fs.statfsSync(dir); return s.bavail * s.bsize; };
    fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(Math.max(0, free() - 48 * 1024)));
    const cli = startCli(['--results', dir, '--case', 'commit-repro', '--no-ts']);
    const run = await cli.done;
    t.not(run.code, 0, run.stderr.slice(-1500));
    t.is(run.code, 3);
    t.regex(run.stderr, /no space left|ENOSPC/i);
    t.is(fs.readFileSync(path.join(earlier, 'results.json'), 'utf8'), earlierText, 'earlier results untouched');
    for (const runDir of fs.readdirSync(dir).filter((d) => d !== 'filler').map((d) => path.join(dir, d))) {
      for (const f of fs.readdirSync(runDir).filter((n) => n.endsWith('.json'))) {
        t.notThrows(() => JSON.parse(fs.readFileSync(path.join(runDir, f), 'utf8')), `${f} is whole JSON`);
      }
    }
    t.deepEqual(await qemuGone(cli.child.pid!, 10_000), []);
  } finally {
    execFileSync('umount', ['-l', dir]);
  }
});
