// The test suite's own wiring (package.json): `npm run test:unit` names test files that exist and
// makes any boot fail (KPH_QEMU points nowhere); `npm test` runs one file at a time, since one
// booting file already keeps both cores busy; .ci/run still runs the README's test command.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { projectRoot } from '../harness/src/util/paths.js';

const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string>; ava: { concurrency?: number; files: string[] } };

test('test:unit lists existing test files, none of the booting ones, with QEMU pointed nowhere', (t) => {
  const script = pkg.scripts['test:unit'];
  t.regex(script, /KPH_QEMU=\/nonexistent\/\S+ ava /);
  const files = script.split(/\s+/).filter((w) => w.startsWith('build/test/'));
  t.true(files.length >= 10, script);
  for (const f of files) {
    t.regex(f, /^build\/test\/[a-z-]+\.test\.js$/);
    t.true(fs.existsSync(path.join(projectRoot, 'test', path.basename(f).replace(/\.js$/, '.ts'))), f);
  }
  for (const booting of ['e2e', 'faults', 'bisect', 'shard', 'cache', 'diskfull', 'buildfail']) {
    t.false(files.includes(`build/test/${booting}.test.js`), booting);
  }
});

test('npm test runs every test file, one file at a time; .ci/run installs then runs npm test', (t) => {
  t.regex(pkg.scripts.test, /&& ava$/);
  t.deepEqual(pkg.ava.files, ['build/test/**/*.test.js']);
  t.is(pkg.ava.concurrency, 1);
  const ci = fs.readFileSync(path.join(projectRoot, '.ci', 'run'), 'utf8');
  t.regex(ci, /\nnpm ci [^\n]*\nnpm test\n/);
  t.regex(ci, /export CI="\$\{CI:-true\}"/);
});
