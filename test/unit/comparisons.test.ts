// run/comparisons.ts: each observation's verdict is computed as its report arrives, and
// assemble() later gets that same verdict; a stopped run computes nothing more.
import test from 'ava';
import type { OpResult } from '../../harness/src/core/cell.js';
import type { CompareContext } from '../../harness/src/core/verdict.js';
import { flippedProfiles, possibleComparer } from '../../harness/src/oracle/adapter.js';
import { loadPlan } from '../../harness/src/plan/default.js';
import { comparisons } from '../../harness/src/run/comparisons.js';

const PLAN = loadPlan();
const cell = PLAN.find((c) => c.id === 'commit-repro/reuse=1,range=one-port,fam=inet,addr=loopback')!;
const ctx: CompareContext = { cell, profile: '4b01a967+followup', view: 'syscall' };
const observed: OpResult[] = [{ ok: true, port: 32768 }, { ok: true, port: 32768 }];
const wrong: OpResult[] = [{ ok: true, port: 32768 }, { ok: false, errno: 'EADDRINUSE', port: 0 }];
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const event = (results: OpResult[]) => ({ type: 'cell-observed' as const, kernel: 'after', guest: 'c', id: cell.id, status: 'done', report: { id: cell.id, status: 'done' as const, results } });

test('a verdict computed when the report arrives is the one assemble() gets, and the same as a fresh comparison', async (t) => {
  t.truthy(cell, 'the default plan has the commit-repro cell');
  const table = flippedProfiles([]);
  const fresh = possibleComparer(table);
  let replays = 0;
  const v = comparisons(table, (...a) => { replays++; return fresh(...a); });
  v.prepare(PLAN, new Map([['after', '4b01a967+followup']]));
  v.reporter(event(observed));
  v.reporter(event(wrong));
  t.is(replays, 0, 'nothing is replayed inside the event handler');
  await tick();
  await tick();
  t.is(replays, 2, 'both observations were replayed in the background');
  const got = v.comparer(observed, [], cell.portRange, ctx);
  t.deepEqual(got, fresh(observed, [], cell.portRange, ctx));
  t.true(got.match);
  // Memoized: asking again returns the very object computed in the background.
  t.is(v.comparer(observed, [], cell.portRange, ctx), got);
  const bad = v.comparer(wrong, [], cell.portRange, ctx);
  t.false(bad.match);
  t.deepEqual(bad, fresh(wrong, [], cell.portRange, ctx));
  // The view is part of the key: the application view is its own comparison.
  t.is(replays, 2, 'assemble() found both verdicts ready');
  t.not(v.comparer(observed, [], cell.portRange, { ...ctx, view: 'application' }), got);
  t.is(replays, 3);
});

test('a stopped run replays nothing more; the comparer still answers on demand', async (t) => {
  const table = flippedProfiles([]);
  const fresh = possibleComparer(table);
  let replays = 0;
  const v = comparisons(table, (...a) => { replays++; return fresh(...a); });
  v.prepare(PLAN, new Map([['after', '4b01a967+followup']]));
  v.stop();
  v.reporter(event(observed));
  await tick();
  await tick();
  t.is(replays, 0);
  t.true(v.comparer(observed, [], cell.portRange, ctx).match);
  t.is(replays, 1);
});
