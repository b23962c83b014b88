// JUnit XML (the common subset): a testsuite per kernel and guest, a testcase per cell with a
// unique classname+name; FAIL → <failure>, ERROR/MISS → <error>, SKIP → <skipped>.
import junitModule, { type Builder } from 'junit-report-builder';
import type { CellRecord } from '../run/assemble.js';

// The package is CommonJS; at run time its default export is the builder itself.
const junit = junitModule as unknown as Builder;

/** The whole run as JUnit XML text. */
export function toJunit(records: CellRecord[], runId: string, timestamp: Date): string {
  const builder = junit.newBuilder().name(`kph ${runId}`);
  const suites = new Map<string, ReturnType<typeof builder.testSuite>>();
  for (const r of records) {
    const name = `${r.kernel}.${r.guest}`;
    if (!suites.has(name)) suites.set(name, builder.testSuite().name(name).timestamp(timestamp).property('release', r.release).property('profile', r.profile));
    const tc = suites.get(name)!.testCase().className(`kph.${r.kernel}.${r.guest}.${r.case}`).name(r.id).time(0);
    switch (r.outcome) {
      case 'PASS': break;
      case 'SKIP': tc.skipped().standardOutput(r.reason); break;
      case 'NA': tc.skipped().standardOutput(`not sent: ${r.reason}`); break;
      case 'FAIL': tc.failure(r.reason, 'FAIL').stacktrace(details(r)); break;
      case 'ERROR': tc.error(r.reason, 'ERROR', details(r)); break;
      case 'MISS': tc.error(`never ran: ${r.reason}`, 'MISS', details(r)); break;
    }
  }
  return builder.build();
}

function details(r: CellRecord): string {
  return [
    r.reason,
    `expected: ${JSON.stringify(r.expected)}`,
    `observed: ${JSON.stringify(r.observed ?? null)}`,
    ...(r.crash ? ['console:', r.crash.excerpt] : []),
  ].join('\n');
}
