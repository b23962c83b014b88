// Upstream selftests: the KTAP parser on real kselftest output (golden files), the sysctls read
// from a runner script, and the build of net/reuseaddr_ports_exhausted from the 6.1 tarball.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { buildSelftest, sysctlsOfScript } from '../../harness/src/selftests/build.js';
import { parseKtap, verdictOf } from '../../harness/src/selftests/ktap.js';
import { selftestCommand } from '../../harness/src/selftests/run.js';
import { projectRoot } from '../../harness/src/util/paths.js';
import { file, needs } from '../helpers/needs.js';

const fixture = (n: string): string => fs.readFileSync(path.join(projectRoot, 'test/fixtures', n), 'utf8');

test('KTAP: a passing kselftest run', (t) => {
  const doc = parseKtap(fixture('ktap-selftest-pass.txt'));
  t.is(doc.planned, 3);
  t.deepEqual(doc.results.map((r) => [r.number, r.name, verdictOf(r)]), [
    [1, 'global.reuseaddr_ports_exhausted_unreusable', 'pass'],
    [2, 'global.reuseaddr_ports_exhausted_reusable_same_euid', 'pass'],
    [3, 'global.reuseaddr_ports_exhausted_reusable_different_euid', 'pass'],
  ]);
  t.true(doc.results[0].diagnostics.some((d) => d.includes('RUN')));
});

test('KTAP: failures, with a kernel message interleaved', (t) => {
  const doc = parseKtap(fixture('ktap-selftest-fail.txt'));
  t.deepEqual(doc.results.map(verdictOf), ['pass', 'fail', 'fail']);
});

test('KTAP: nested subtests, directives, unknown lines', (t) => {
  const text = [
    'KTAP version 1', '1..2', 'noise from the console',
    '  KTAP version 1', '  # Subtest: inner', '  1..2', '  ok 1 a', '  # why', '  not ok 2 b # SKIP not configured',
    'ok 1 inner', 'not ok 2 outer_b # TIMEOUT 45 s',
  ].join('\n');
  const doc = parseKtap(text);
  t.is(doc.results.length, 2);
  t.deepEqual(doc.results[0].subtests.map(verdictOf), ['pass', 'skip']);
  t.deepEqual(doc.results[0].subtests[1].diagnostics, ['why']);
  t.deepEqual(doc.results[1].directive, { kind: 'TIMEOUT', text: '45 s' });
  t.is(verdictOf(doc.results[1]), 'fail');
});

test('sysctls come from the runner script; the guest command sets them in a new netns', (t) => {
  const sysctls = sysctlsOfScript('ip netns exec x \\\n sysctl -w net.ipv4.ip_local_port_range="32768 32768" > /dev/null\nsysctl -w net.ipv4.ip_autobind_reuse=1\n');
  t.deepEqual(sysctls, [{ key: 'net.ipv4.ip_local_port_range', value: '32768 32768' }, { key: 'net.ipv4.ip_autobind_reuse', value: '1' }]);
  const cmd = selftestCommand({ name: 'net/x', binary: '/b/x', sysctls, cached: true });
  t.regex(cmd, /unshare -n sh -c "ip link set lo up; echo '32768 32768' > \/proc\/sys\/net\/ipv4\/ip_local_port_range/);
  t.regex(cmd, /exec \/tmp\/kph\/selftests\/x"$/);
});

const tarball = '/usr/src/linux-source-6.1.tar.xz';

needs(file(tarball, 'linux-source-6.1')).test('net/reuseaddr_ports_exhausted builds from the 6.1 tarball with its sysctls', async (t) => {
  const built = await buildSelftest('net/reuseaddr_ports_exhausted', { tarball, sourcePackage: 'linux-source-6.1' }, fs.mkdtempSync(path.join(os.tmpdir(), 'kph-st-')));
  t.true(fs.statSync(built.binary).size > 100_000, 'a static binary');
  t.deepEqual(built.sysctls.map((s) => s.key), ['net.ipv4.ip_local_port_range', 'net.ipv4.ip_autobind_reuse']);
  await t.throwsAsync(buildSelftest('../etc/passwd', { tarball, sourcePackage: 'x' }, os.tmpdir()), { message: /expected DIR\/NAME/ });
});
