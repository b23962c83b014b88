// The import rules of harness/src (harness/src/DEPS.ts): every import allowed by its folder's
// line, no circle between folders; and the checker itself catches a wrong import, in memory and
// in a real file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DEPS } from '../../harness/src/DEPS.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { folderCycles, importsOfText, importsUnder, ruleViolations, type Import } from '../helpers/import-rules.js';

const SRC = path.join(projectRoot, 'harness/src');

test('every import in harness/src follows DEPS.ts, and no folders import each other around a circle', (t) => {
  const imports = importsUnder(SRC);
  t.true(imports.length > 300, `found only ${imports.length} relative imports: is the parser broken?`);
  t.true(imports.some((i) => i.from === 'run' && i.to === 'vm' && !i.typeOnly), 'a known import (run → vm) is seen');
  t.true(imports.some((i) => i.from === 'results' && i.to === 'core' && i.typeOnly), 'a known type-only import (results → core) is seen');
  const folders = new Set(imports.map((i) => i.from));
  for (const f of folders) t.truthy(DEPS[f], `folder ${f}/ has a line in DEPS.ts`);
  t.deepEqual(ruleViolations(imports, DEPS), []);
  t.deepEqual(folderCycles(imports), []);
});

test('the checker reports a wrong import (core → results) and the circle it makes, naming file, import and rule', (t) => {
  const real = importsUnder(SRC);
  const wrong: Import = { file: 'core/verdict.ts', line: 3, spec: '../results/html.js', from: 'core', to: 'results', typeOnly: false };
  const violations = ruleViolations([...real, wrong], DEPS);
  t.is(violations.length, 1);
  t.is(violations[0], 'core/verdict.ts:3: import \'../results/html.js\' (core → results) breaks the rule "core/ may import nothing of harness/src"');
  const cycles = folderCycles([...real, wrong]);
  t.is(cycles.length, 1);
  t.regex(cycles[0], /^circle core → results → core: core → results \(core\/verdict\.ts:3\); results → core \(results\/\S+\.ts:\d+\)$/);
  // A type-only import is allowed only where the rule lists the folder under types.
  const typeOk: Import = { file: 'results/x.ts', line: 1, spec: '../vm/accel.js', from: 'results', to: 'vm', typeOnly: true };
  t.deepEqual(ruleViolations([typeOk], DEPS), []);
  t.regex(ruleViolations([{ ...typeOk, typeOnly: false }], DEPS)[0], /results\/x\.ts:1: .*\(only `import type` from vm\/\)$/);
  // results is imported by entry points only.
  t.regex(ruleViolations([{ file: 'run/y.ts', line: 7, spec: '../results/summary.js', from: 'run', to: 'results', typeOnly: true }], DEPS)[0], /^run\/y\.ts:7: import '\.\.\/results\/summary\.js' \(run → results\) breaks the rule "run\/ may import core, util, /);
});

test('the checker reads real files: a wrong import written into a copy of harness/src is found with its line', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-import-rules-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.cpSync(SRC, tmp, { recursive: true });
  const file = path.join(tmp, 'core', 'verdict.ts');
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, `${text}\nimport {\n  renderHtml,\n} from '../results/html.js';\nexport const unused = renderHtml;\n`);
  const lines = text.split('\n').length;
  const imports = importsUnder(tmp);
  t.deepEqual(ruleViolations(imports, DEPS), [`core/verdict.ts:${lines + 1}: import '../results/html.js' (core → results) breaks the rule "core/ may import nothing of harness/src"`]);
  t.is(folderCycles(imports).length, 1);
});

test('the parser: type-only forms, re-exports, dynamic imports, packages ignored, comments ignored, leaving the folder', (t) => {
  const text = [
    "import type { A } from '../core/cell.js';",
    "import { type B, type C } from '../core/verdict.js';",
    "import { d, type E } from '../util/paths.js';",
    "export { f } from '../oracle/index.js';",
    "export type { G } from '../vm/console.js';",
    "import fs from 'node:fs';",
    "// import { h } from '../results/html.js';",
    "/* import { i } from '../results/html.js'; */",
    "const j = await import('../plan/default.js');",
    "import k from '../../../guest/ts/app-guest.js';",
  ].join('\n');
  const found = importsOfText('run/x.ts', text).map((i) => [i.line, i.to, i.typeOnly]);
  t.deepEqual(found, [[1, 'core', true], [2, 'core', true], [3, 'util', false], [4, 'oracle', false], [5, 'vm', true], [10, '..', false], [9, 'plan', false]]);
  t.regex(ruleViolations(importsOfText('run/x.ts', text), DEPS).join('\n'), /run\/x\.ts:10: import '\.\.\/\.\.\/\.\.\/guest\/ts\/app-guest\.js' leaves harness\/src/);
});
