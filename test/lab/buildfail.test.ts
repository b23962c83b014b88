// Fault #15: a kernel that does not compile. Its build is FAIL in the results (KCIDB with the
// log's tail), every cell is MISS, the run exits 3, and the shared build tree is left clean.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, tempResults } from '../helpers/cli.js';
import { file, needs } from '../helpers/needs.js';

const TARBALL = '/usr/src/linux-source-6.1.tar.xz';
// Compiled first of all (make prepare, kernel/bounds.s): the build fails within seconds, before
// the objects that the shared tree's last variant left stale are recompiled.
const FILE = 'kernel/bounds.c';

needs(file(TARBALL, 'linux-source-6.1')).serial('a kernel that fails to build: build FAIL, cells MISS, exit 3', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-broken-'));
  const head = execFileSync('sh', ['-c', `tar -xJOf ${TARBALL} linux-source-6.1/${FILE} | head -3`], { encoding: 'utf8' }).split('\n').slice(0, 3);
  const patch = [`--- a/${FILE}`, `+++ b/${FILE}`, '@@ -1,3 +1,4 @@', '+#error "kph: deliberately broken"', ...head.map((l) => ` ${l}`), ''].join('\n');
  fs.writeFileSync(path.join(dir, 'broken.patch'), patch);
  fs.writeFileSync(path.join(dir, 'broken.yaml'), [
    'name: broken', 'description: 6.1 with a compile error', 'localversion: -kph-broken', 'profile: 4b01a967+followup',
    'source:', '  debian: linux-source-6.1', 'patches: [broken.patch]', '',
  ].join('\n'));
  const run = await runCli(['--results', tempResults(), '--kernels', path.join(dir, 'broken.yaml'), '--case', 'commit-repro', '--no-ts']);
  t.is(run.code, 3, run.stderr.slice(-2000));
  t.regex(run.stderr, /kernel broken: .*deliberately broken/s);
  const res = JSON.parse(fs.readFileSync(path.join(run.runDir!, 'results.json'), 'utf8'));
  t.true(res.records.length > 0);
  t.true(res.records.every((r: { outcome: string }) => r.outcome === 'MISS'));
  t.truthy(res.kernels[0].buildFailure);
  const kcidb = JSON.parse(fs.readFileSync(path.join(run.runDir!, 'kcidb.json'), 'utf8'));
  t.is(kcidb.builds[0].status, 'FAIL');
  t.regex(kcidb.builds[0].log_excerpt, /deliberately broken/);
  t.true(kcidb.tests.filter((x: { path: string }) => x.path !== 'boot').every((x: { status: string }) => x.status === 'MISS'));
});
