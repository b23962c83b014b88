// The prerequisite helper (helpers/needs.ts): a missing prerequisite skips the test locally and
// fails it under CI=true; present ones run it. Pure: nothing is booted.
import test from 'ava';
import { command, decide, file, inCi, root } from '../helpers/needs.js';

test('missing prerequisites: skipped locally, a failure under CI, listed by what is missing', (t) => {
  const here = { what: 'a', present: true };
  const gone = { what: 'the Debian package nope', present: false };
  t.deepEqual(decide([here], false), { kind: 'run' });
  t.deepEqual(decide([here], true), { kind: 'run' });
  t.deepEqual(decide([here, gone], false), { kind: 'skip', missing: 'the Debian package nope' });
  t.deepEqual(decide([gone, { what: 'root', present: false }], true), { kind: 'fail', missing: 'the Debian package nope, root' });
});

test('CI is recognised from CI=true (GitHub Actions) or CI=1, nothing else', (t) => {
  t.true(inCi({ CI: 'true' }));
  t.true(inCi({ CI: '1' }));
  t.false(inCi({}));
  t.false(inCi({ CI: 'false' }));
});

test('the probes look at the host', (t) => {
  t.true(command('sh').present);
  t.false(command('kph-no-such-command', 'nope').present);
  t.regex(command('kph-no-such-command', 'nope').what, /Debian package nope/);
  t.true(file('/', 'base-files').present);
  t.false(file('/nonexistent/kph', 'x').present);
  t.is(root('x').present, process.getuid?.() === 0);
});
