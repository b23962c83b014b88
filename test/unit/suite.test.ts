// The test suite's own wiring (package.json): `npm run test:unit` runs test/unit (nothing there
// boots or builds; test/lab does) and makes any boot fail (KPH_QEMU points nowhere); `npm test`
// runs one file at a time, since one booting file already keeps both cores busy; .ci/run still runs the README's test command.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../../harness/src/util/paths.js';

const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string>; ava: { concurrency?: number; files: string[] } };

test('test:unit lists existing test files, none of the booting ones, with QEMU pointed nowhere', (t) => {
  const script = pkg.scripts['test:unit'];
  t.regex(script, /KPH_QEMU=\/nonexistent\/\S+ ava /);
  // test:unit is the unit folder: every file there, none of test/lab.
  t.regex(script, / 'build\/test\/unit\/\*\*\/\*\.test\.js'$/);
  // tsc compiles what ensure-built.mjs would, so a test running the CLI does not compile again.
  t.regex(script, /^tsc -p tsconfig\.json && touch build\/\.stamp && /);
  const unit = fs.readdirSync(path.join(projectRoot, 'test', 'unit')).filter((f) => f.endsWith('.test.ts'));
  const lab = fs.readdirSync(path.join(projectRoot, 'test', 'lab')).filter((f) => f.endsWith('.test.ts'));
  t.true(unit.length >= 10, unit.join(' '));
  t.deepEqual(fs.readdirSync(path.join(projectRoot, 'test')).filter((f) => f.endsWith('.test.ts')), [], 'every test file is in test/unit or test/lab');
  for (const booting of ['e2e', 'faults', 'bisect', 'shard', 'cache', 'diskfull', 'buildfail']) {
    t.false(unit.includes(`${booting}.test.ts`), booting);
    t.true(lab.includes(`${booting}.test.ts`), booting);
  }
});

test('npm test runs every test file, one file at a time; .ci/run installs then runs npm test', (t) => {
  t.regex(pkg.scripts.test, /&& ava$/);
  t.deepEqual(pkg.ava.files, ['build/test/unit/**/*.test.js', 'build/test/lab/**/*.test.js']);
  t.is(pkg.ava.concurrency, 1);
  const ci = fs.readFileSync(path.join(projectRoot, '.ci', 'run'), 'utf8');
  t.regex(ci, /\nnpm ci [^\n]*\nnpm test\n/);
  t.regex(ci, /export CI="\$\{CI:-true\}"/);
});
