// One SourceError (core/source-error.ts) for every input file: a case file and a kernel
// description both fail with it, naming file:line:col and the key; it is an InputError (exit 2);
// a problem given as expected/found keeps both parts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadCaseFile } from '../../harness/src/cases/load.js';
import { exitCodeForError, InputError } from '../../harness/src/core/errors.js';
import { SourceError, SourceErrors } from '../../harness/src/core/source-error.js';
import { loadKernelSpec } from '../../harness/src/kernel/spec.js';
import { checkSelftests } from '../../harness/src/plan/default.js';

const errorsOf = (f: () => unknown): SourceError[] => {
  try { f(); } catch (e) { if (e instanceof SourceErrors) return e.errors; throw e; }
  throw new Error('expected SourceErrors');
};

test('a case file and a kernel description fail with the same SourceError: file:line:col, key, exit 2', (t) => {
  const fromCase = errorsOf(() => loadCaseFile('/x/bad-case.yaml', 'name: c\ntitle: t\nsockets: [{}]\nops: [bind s0]\nmatrix:\n  family: [inet, ipx]\n'));
  const fromKernel = errorsOf(() => loadKernelSpec('/x/bad-kernel.yaml', 'name: k\nsource:\n  debian: linux-source-6.1\nprofile: no-such-profile\n'));
  for (const [e, file] of [[fromCase[0], '/x/bad-case.yaml'], [fromKernel[0], '/x/bad-kernel.yaml']] as const) {
    t.true(e instanceof SourceError && e instanceof InputError, e.name);
    t.is(exitCodeForError(e), 2);
    t.is(e.file, file);
    t.true(e.line > 0 && e.col > 0, `${e.line}:${e.col}`);
    t.true(e.message.startsWith(`${file}:${e.line}:${e.col}: ${e.key}: `), e.message);
  }
  t.is(fromCase[0].key, 'matrix.family[1]');
  t.is(fromKernel[0].key, 'profile');
  t.is(exitCodeForError(new SourceErrors(fromCase)), 2);
});

test('a SourceError given expected and found says "expected …, found …" and keeps both; line 0 names the file alone', (t) => {
  const e = new SourceError('cases/x.yaml', 3, 5, 'selftests[0]', { expected: 'a selftest of the kernel source', found: '"net/nope"' });
  t.is(e.message, 'cases/x.yaml:3:5: selftests[0]: expected a selftest of the kernel source, found "net/nope"');
  t.is(e.expected, 'a selftest of the kernel source');
  t.is(e.found, '"net/nope"');
  t.deepEqual(e.place, { file: 'cases/x.yaml', line: 3, col: 5, key: 'selftests[0]' });
  const whole = new SourceError('cases/d.yaml', 0, 0, '', 'expected a regular file, found a folder');
  t.is(whole.message, 'cases/d.yaml: expected a regular file, found a folder');
  t.is(whole.expected, undefined);
  // The plan's selftest check uses the structured form.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-source-error-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'c.yaml'), 'name: c\ntitle: t\nsockets: [{}]\nops: [bind s0]\nselftests: [net/reuseaddr_ports_exhausted, net/nope]\n');
  const [unknown, ...more] = errorsOf(() => checkSelftests(new Set(['net/reuseaddr_ports_exhausted']), dir));
  t.is(more.length, 0);
  t.is(unknown.key, 'selftests[1]');
  t.is(unknown.found, '"net/nope" (nearest: net/reuseaddr_ports_exhausted)');
  t.regex(unknown.expected ?? '', /^a selftest of the kernel source/);
  t.is(`${unknown.line}:${unknown.col}`, '5:44');
});
