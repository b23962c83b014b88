// Runs a built selftest in the guest, in a fresh network namespace with the sysctls its
// runner script sets (busybox has no `ip netns`), and parses its KTAP output.
import type { GuestSession } from '../ssh/session.js';
import { describeExec } from '../ssh/session.js';
import type { BuiltSelftest } from './build.js';
import { parseKtap, verdictOf } from './ktap.js';

export interface SelftestResult {
  name: string;
  /** The source tree it was built from (BuiltSelftest.from): this kernel's own. */
  from?: string;
  /** 'pass' | 'fail' | 'skip' per kselftest exit code (0 / other / 4); 'error' if it did not finish. */
  verdict: 'pass' | 'fail' | 'skip' | 'error';
  exitCode?: number;
  detail?: string;
  /** sysctls that could not be set (the kernel lacks them); the binary runs anyway. */
  sysctlErrors: string[];
  tests: Array<{ number: number; name: string; verdict: 'pass' | 'fail' | 'skip'; diagnostics: string[] }>;
  output: string;
}

const REMOTE_DIR = '/tmp/kph/selftests';

/** The shell command: new netns, lo up, each sysctl (failures noted on stderr), then the binary. */
export function selftestCommand(t: BuiltSelftest): string {
  const base = t.name.split('/')[1];
  const sets = t.sysctls.map(({ key, value }) => {
    const file = `/proc/sys/${key.replace(/\./g, '/')}`;
    return `echo '${value}' > ${file} 2>/dev/null || echo 'kph: cannot set ${key}' >&2`;
  });
  const script = ['ip link set lo up', ...sets, `exec ${REMOTE_DIR}/${base}`].join('; ');
  return `cd ${REMOTE_DIR} && unshare -n sh -c "${script}"`;
}

/** Pushes and runs one selftest; never throws for the selftest's own failures. */
export async function runSelftest(session: GuestSession, t: BuiltSelftest, deadlineMs: number): Promise<SelftestResult> {
  const base = t.name.split('/')[1];
  await session.push(t.binary, `${REMOTE_DIR}/${base}`, '0755', deadlineMs);
  const r = await session.exec(selftestCommand(t), { deadlineMs });
  const output = r.stdout;
  const sysctlErrors = [...r.stderr.matchAll(/kph: cannot set (\S+)/g)].map((m) => m[1]);
  const tests = parseKtap(output).results.map((x) => ({ number: x.number, name: x.name, verdict: verdictOf(x), diagnostics: x.diagnostics }));
  if (r.kind !== 'exited') return { name: t.name, from: t.from, verdict: 'error', detail: describeExec(r), sysctlErrors, tests, output };
  // kselftest exit codes: 0 pass, 4 skip, anything else fail.
  const verdict = r.code === 0 ? 'pass' : r.code === 4 ? 'skip' : 'fail';
  return { name: t.name, from: t.from, verdict, exitCode: r.code, sysctlErrors, tests, output };
}
