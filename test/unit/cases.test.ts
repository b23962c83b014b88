// Case files: the documented format expands as promised, and every kind of bad input gets an
// error naming file:line:column, the key, what was expected and what was found.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { caseErrors as errorsOf } from '../helpers/case-errors.js';
import { expandCases } from '../../harness/src/cases/expand.js';
import { loadCaseDir, loadCaseFile } from '../../harness/src/cases/load.js';

const GOOD = `name: demo
title: two sockets
sockets:
  - reuseaddr: true
  - reuseaddr: true
ops: [bind s0, bind s1, connect s0 d2]
matrix:
  family: [inet, inet6]
  all.euid: [0, 1000]
exclude:
  - { family: inet6, all.euid: 1000 }
`;


test('a well-formed file expands into the product minus exclusions, with stable ids', (t) => {
  const cells = expandCases([loadCaseFile('/x/demo.yaml', GOOD)]);
  t.is(cells.length, 3 * 2 * 2 - 3); // reuse × family × euid, minus inet6+euid 1000
  t.true(cells.every((c) => c.destinations === 3));
  const c = cells.find((x) => x.id === 'demo/reuse=1,range=one-port,fam=inet,addr=loopback,all.euid=1000')!;
  t.truthy(c);
  t.deepEqual(c.sockets.map((s) => s.euid), [1000, 1000]);
  t.deepEqual(c.portRange, [32768, 32768]);
  t.deepEqual(expandCases([loadCaseFile('/x/demo.yaml', GOOD)]).map((x) => x.id), cells.map((x) => x.id));
});

test('YAML syntax error: file:line:column', (t) => {
  const [e] = errorsOf('name: x\nops: [bind s0\ntitle: y\n');
  t.regex(e, /^bad\.yaml:\d+:\d+: YAML syntax error/);
});

test('duplicate key: file:line:column of the second key', (t) => {
  const errs = errorsOf(GOOD.replace('title: two sockets', 'title: two sockets\ntitle: again'));
  t.is(errs.length, 1);
  t.deepEqual(errs, ['bad.yaml:3:1: title: YAML duplicate key: "title" is already set above']);
});

test('wrong type: names the key, expected and found', (t) => {
  const errs = errorsOf(GOOD.replace('  - reuseaddr: true\n  - reuseaddr: true', '  - reuseaddr: yes please\n  - reuseaddr: true'));
  t.deepEqual(errs, ['bad.yaml:4:16: sockets[0].reuseaddr: expected boolean, found "yes please"']);
});

test('unknown sysctl dimension: names the key and points at it', (t) => {
  const errs = errorsOf(GOOD.replace('  family: [inet, inet6]', '  family: [inet, inet6]\n  tcp_fin_timeout: [0, 1]'));
  t.is(errs.length, 1);
  t.regex(errs[0], /^bad\.yaml:9:3: matrix\.tcp_fin_timeout: unknown key "tcp_fin_timeout"/);
});

test('bad enum value: expected values listed, found value shown', (t) => {
  const errs = errorsOf(GOOD.replace('[inet, inet6]', '[inet, ipx]'));
  t.is(errs.length, 1);
  t.regex(errs[0], /^bad\.yaml:8:18: matrix\.family\[1\]: expected one of "inet", "inet6", "v4mapped", found "ipx"/);
});

test('socket index out of range and exclusion of an unknown dimension', (t) => {
  const errs = errorsOf(GOOD.replace('connect s0 d2', 'connect s5 d2').replace('all.euid: 1000 }', 'colour: red }'));
  t.is(errs.length, 2);
  t.regex(errs[0], /^bad\.yaml:6:\d+: ops\[2\]: expected a socket index below 2 \(the case has 2 sockets\), found s5/);
  t.regex(errs[1], /exclude\[0\]\.colour: expected one of the matrix dimensions/);
});

test('empty matrix after exclusions is an error, not zero cells', (t) => {
  const errs = errorsOf(GOOD.replace('  - { family: inet6, all.euid: 1000 }', '  - { addr: loopback }'));
  t.is(errs.length, 1);
  t.regex(errs[0], /^bad\.yaml:\d+:\d+: exclude: expected at least one cell, found an empty matrix/);
});

test('missing required key', (t) => {
  const errs = errorsOf(GOOD.replace('title: two sockets\n', ''));
  t.deepEqual(errs, ['bad.yaml:1:1: missing required key "title"']);
});

test('the checkout\'s own cases load', (t) => {
  const cells = expandCases(loadCaseDir(path.resolve('cases')));
  t.true(cells.length > 0);
  t.is(new Set(cells.map((c) => c.id)).size, cells.length);
});

test('a malformed case folder stops the CLI with exit 2 before anything is built or booted', async (t) => {
  const { runCli, tempResults } = await import('../helpers/cli.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-badcases-'));
  fs.writeFileSync(path.join(dir, 'bad.yaml'), GOOD.replace('[inet, inet6]', '[inet, ipx]'));
  const results = tempResults();
  const run = await runCli(['--cases', dir, '--results', results]);
  t.is(run.code, 2);
  t.regex(run.stderr, /bad\.yaml:8:18: matrix\.family\[1\]: expected one of "inet", "inet6", "v4mapped", found "ipx"/);
  t.deepEqual(fs.readdirSync(results), [], 'no run directory: nothing was built or booted');
  t.notRegex(run.stderr, /booting|provision/);
});
