// JUnit XML as the Jenkins xunit plugin's schema takes it (harness/data/junit-10.xsd, checked
// in test/lab/outputs.test.ts): a testsuite per kernel and guest, a testcase per cell that applies
// (NA cells are no test) with a unique classname+name and its measured time; FAIL → <failure>,
// ERROR/MISS → <error>, SKIP → <skipped message="why">; earlier tries of a cell that the lab
// broke are <flakyError> (it passed in the end) or <rerunError> (it did not). Pure: no I/O, and
// the same records give the same bytes (the timestamp is the run's start, from its id).
import { runStartTime } from './kcidb.js';
import type { Outcome } from '../core/verdict.js';

/** What a testcase needs of a record (CellRecord, plus the host-measured time). */
export interface JunitRecord {
  kernel: string;
  release: string;
  profile: string;
  guest: string;
  id: string;
  case: string;
  outcome: Outcome;
  reason: string;
  expected: unknown;
  observed?: unknown;
  crash?: { excerpt: string };
  attempts?: Array<{ attempt: number; outcome: Outcome; reason: string }>;
  /** Host-measured duration, ms (absent for a cell answered before a --resume). */
  ms?: number;
}

/** Drops characters XML 1.0 cannot carry, and escapes markup (and newlines in attributes). */
function xmlText(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}
const attr = (s: string): string => xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');

/**
 * Seconds with millisecond precision, as Surefire writes them ("0.123"). A measured time under
 * half a millisecond (a C cell in a pooled namespace takes a few hundred microseconds) keeps
 * microseconds ("0.000312") rather than reading as a made-up 0.
 */
const seconds = (ms: number): string => (ms / 1000).toFixed(ms > 0 && ms < 0.5 ? 6 : 3);

function details(r: JunitRecord): string {
  return [
    r.reason,
    `expected: ${JSON.stringify(r.expected)}`,
    `observed: ${JSON.stringify(r.observed ?? null)}`,
    ...(r.crash ? ['console:', r.crash.excerpt] : []),
  ].join('\n');
}

/** The testcase element of one record. */
function testcase(r: JunitRecord, indent: string): string {
  const open = `${indent}<testcase classname="${attr(`kph.${r.kernel}.${r.guest}.${r.case}`)}" name="${attr(r.id)}"${r.ms !== undefined ? ` time="${seconds(r.ms)}"` : ''}`;
  const inner: string[] = [];
  const i2 = `${indent}  `;
  switch (r.outcome) {
    case 'PASS': break;
    case 'SKIP': inner.push(`${i2}<skipped message="${attr(r.reason)}"/>`); break;
    case 'FAIL': inner.push(`${i2}<failure message="${attr(r.reason)}" type="FAIL">${xmlText(details(r))}</failure>`); break;
    case 'ERROR': inner.push(`${i2}<error message="${attr(r.reason)}" type="ERROR">${xmlText(details(r))}</error>`); break;
    case 'MISS': inner.push(`${i2}<error message="${attr(`never ran: ${r.reason}`)}" type="MISS">${xmlText(details(r))}</error>`); break;
    case 'NA': break;
  }
  // Earlier tries the lab broke (the last try is the outcome above).
  const earlier = (r.attempts ?? []).slice(0, -1).filter((a) => a.outcome === 'ERROR');
  const tag = r.outcome === 'PASS' ? 'flakyError' : 'rerunError';
  for (const a of earlier) inner.push(`${i2}<${tag} message="${attr(`VM ${a.attempt}: ${a.reason}`)}" type="ERROR"/>`);
  return inner.length ? `${open}>\n${inner.join('\n')}\n${indent}</testcase>` : `${open}/>`;
}

/** The whole run as JUnit XML text. */
export function toJunit(records: readonly JunitRecord[], runId: string): string {
  const suites = new Map<string, JunitRecord[]>();
  for (const r of records) {
    if (r.outcome === 'NA') continue;
    const name = `${r.kernel}.${r.guest}`;
    if (!suites.has(name)) suites.set(name, []);
    suites.get(name)!.push(r);
  }
  const start = runStartTime(runId);
  // JUnit's timestamp is local ISO 8601 without a zone; ours is UTC, as the run id is.
  const timestamp = start ? ` timestamp="${start.toISOString().slice(0, 19)}"` : '';
  const total = { tests: 0, failures: 0, errors: 0, ms: 0 };
  const body: string[] = [];
  for (const [name, recs] of suites) {
    const n = (o: Outcome): number => recs.filter((r) => r.outcome === o).length;
    const c = { tests: recs.length, failures: n('FAIL'), errors: n('ERROR') + n('MISS'), skipped: n('SKIP') };
    const ms = recs.reduce((sum, r) => sum + (r.ms ?? 0), 0);
    total.tests += c.tests; total.failures += c.failures; total.errors += c.errors; total.ms += ms;
    body.push(
      `  <testsuite name="${attr(name)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${seconds(ms)}"${timestamp}>`,
      '    <properties>',
      `      <property name="release" value="${attr(recs[0].release)}"/>`,
      `      <property name="profile" value="${attr(recs[0].profile)}"/>`,
      '    </properties>',
      ...recs.map((r) => testcase(r, '    ')),
      '  </testsuite>',
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${attr(`kph ${runId}`)}" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" time="${seconds(total.ms)}">`,
    ...body,
    '</testsuites>',
    '',
  ].join('\n');
}
