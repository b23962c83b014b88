// Night-to-night comparison: new failures, fixes, still failing, flaky; the previous run is
// the newest finished one started with the same plan options.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { compareRuns, findPrevious } from '../../harness/src/results/previous.js';
import type { ResultsDoc } from '../../harness/src/results/run-files.js';

const rec = (id: string, outcome: string, extra: object = {}) => ({ kernel: 'after', guest: 'c', id, outcome, reason: `${outcome} reason`, ...extra });
const doc = (records: object[], complete = true): ResultsDoc => ({ runId: 'x', complete, exitCode: 0, records } as unknown as ResultsDoc);

test('compareRuns classifies every change', (t) => {
  const prev = doc([rec('a', 'PASS'), rec('b', 'FAIL'), rec('c', 'FAIL'), rec('d', 'PASS'), rec('gone', 'PASS')]);
  const cur = doc([rec('a', 'FAIL'), rec('b', 'PASS'), rec('c', 'ERROR'), rec('d', 'PASS', { flaky: true }), rec('new', 'PASS')]);
  const c = compareRuns('prev', prev, cur);
  t.deepEqual(c.newFailures.map((x) => x.key), ['after/c/a']);
  t.deepEqual(c.fixes.map((x) => x.key), ['after/c/b']);
  t.deepEqual(c.stillFailing, ['after/c/c']);
  t.deepEqual(c.flaky, ['after/c/d']);
  t.is(c.added, 1);
  t.is(c.removed, 1);
});

test('findPrevious picks the newest finished run of the same plan', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kph-prev-'));
  const put = (id: string, argv: string[], complete: boolean) => {
    fs.mkdirSync(path.join(root, id));
    fs.writeFileSync(path.join(root, id, 'run.json'), JSON.stringify({ runId: id, argv }));
    fs.writeFileSync(path.join(root, id, 'results.json'), JSON.stringify(doc([rec('a', 'PASS')], complete)));
  };
  put('20260101-000000-aaaaaa', ['--case', 'x', '--results', '/r1'], true);
  put('20260102-000000-bbbbbb', ['--case', 'y'], true);
  put('20260103-000000-cccccc', ['--case', 'x'], false);
  put('20260104-000000-dddddd', ['--case', 'x', '--results', '/r2'], true);
  t.is(path.basename(findPrevious(root, '20260105-000000-eeeeee', ['--case', 'x'])!.dir), '20260104-000000-dddddd');
  t.is(path.basename(findPrevious(root, '20260104-000000-dddddd', ['--case', 'x'])!.dir), '20260101-000000-aaaaaa');
  t.is(findPrevious(root, '20260105-000000-eeeeee', ['--case', 'z']), undefined);
});
