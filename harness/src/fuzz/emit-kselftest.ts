// A finding as a kernel selftest in the style of tools/testing/selftests/net: one TEST
// (kselftest_harness.h) that builds the cell's namespace (lo up, ip_local_port_range,
// ip_autobind_reuse where the kernel has it, destination listeners), creates the sockets with
// their options and euids, runs the ops and ASSERTs each op's result and the port equalities
// one kernel showed. It passes on that kernel and fails where a kernel behaves differently.
import { describeOp, DST_PORT_BASE, type OpResult } from '../core/cell.js';
import { destinationsOf, FUZZ_RANGES, scriptText, type Script } from './script.js';

/** C identifier of a finding's test, e.g. fuzz_1_001. */
export const testName = (name: string): string => name.replace(/[^a-z0-9]/g, '_');

const errnoC = (e: string): string => (/^E[A-Z][A-Z0-9]*$/.test(e) ? e : /^E(\d+)$/.test(e) ? e.slice(1) : '-1');

/** The C asserts for one op's expected result, comparing its port with earlier ones. */
function assertsFor(k: number, r: OpResult, earlier: Array<{ k: number; port: number }>, range: readonly [number, number]): string[] {
  if (!r.ok) return [`\tASSERT_EQ(-1, rc);`, `\tASSERT_EQ(${errnoC(r.errno)}, err);`];
  const out = ['\tASSERT_EQ(0, rc);'];
  if (r.port === null) return out;
  out.push(`\tport[${k}] = local_port(fd[sock]);`);
  if (r.port < range[0] || r.port > range[1]) {
    out.push(`\tASSERT_EQ(${r.port}, port[${k}]);`);
    return out;
  }
  out.push(`\tASSERT_GE(port[${k}], ${range[0]});`, `\tASSERT_LE(port[${k}], ${range[1]});`);
  const same = earlier.find((e) => e.port === r.port);
  if (same) out.push(`\tASSERT_EQ(port[${same.k}], port[${k}]);`);
  else for (const e of earlier.filter((x, i, a) => a.findIndex((y) => y.port === x.port) === i)) out.push(`\tASSERT_NE(port[${e.k}], port[${k}]);`);
  return out;
}

/** The C source of a kselftest asserting `expected` (the results of kernel `on`) for `s`. */
export function kselftestC(name: string, s: Script, expected: OpResult[], on: string, header: string[]): string {
  const range = FUZZ_RANGES[s.range];
  const v6 = s.family !== 'inet';
  const dsts = destinationsOf(s);
  // The value the fuzzer ran at where the kernel has the sysctl (absent maps to 0).
  const reuse = s.reuse === 1 ? 1 : 0;
  const body: string[] = [];
  const earlier: Array<{ k: number; port: number }> = [];
  s.ops.forEach((op, k) => {
    const r = expected[k];
    body.push(`\t/* op ${k}: ${describeOp(op)} → ${r.ok ? (r.port === null ? 'ok' : `port ${r.port}`) : r.errno} on ${on} */`);
    body.push(`\tsock = ${op.sock};`);
    switch (op.op) {
      case 'bind': body.push('\trc = bind(fd[sock], (struct sockaddr *)&self_addr, self_len);'); break;
      case 'listen': body.push('\trc = listen(fd[sock], 64);'); break;
      case 'connect': body.push(`\tdst_len = make_addr(TARGET, ${DST_PORT_BASE + op.dst}, &dst);`, '\trc = connect(fd[sock], (struct sockaddr *)&dst, dst_len);'); break;
      case 'close': body.push('\trc = close(fd[sock]);'); break;
    }
    body.push('\terr = errno;');
    if (op.op === 'close') body.push('\tfd[sock] = -1;');
    body.push(...assertsFor(k, r, earlier, range));
    if (r.ok && r.port !== null && r.port >= range[0] && r.port <= range[1]) earlier.push({ k, port: r.port });
  });
  const t = testName(name);
  return `// SPDX-License-Identifier: GPL-2.0
/*
${header.map((l) => ` * ${l}`.trimEnd()).join('\n')}
 *
 * Script: ${scriptText(s)}
 * Asserts what ${on} did.
 *
 * Build: gcc -static -O2 -Wall -I tools/testing/selftests/net -o ${t} ${t}.c
 * (kselftest_harness.h is tools/testing/selftests/kselftest_harness.h)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../kselftest_harness.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define FAMILY_V6 ${v6 ? 1 : 0}
#define FAMILY_MAPPED ${s.family === 'v4mapped' ? 1 : 0}
#define ADDR_ANY ${s.addr === 'any' ? 1 : 0}

enum addr_kind { SELF, LISTENER, TARGET };

/* The script's own address (port 0), a destination listener's, or a connect target (the loopback). */
static socklen_t make_addr(enum addr_kind kind, int port, struct sockaddr_storage *ss)
{
\tint self = kind == SELF;

\tmemset(ss, 0, sizeof(*ss));
\tif (!FAMILY_V6 || (FAMILY_MAPPED && kind == LISTENER)) {
\t\tstruct sockaddr_in *a = (struct sockaddr_in *)ss;

\t\ta->sin_family = AF_INET;
\t\ta->sin_port = htons(port);
\t\ta->sin_addr.s_addr = htonl(self && ADDR_ANY ? INADDR_ANY : INADDR_LOOPBACK);
\t\treturn sizeof(*a);
\t}
\tstruct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

\ta6->sin6_family = AF_INET6;
\ta6->sin6_port = htons(port);
\tif (self && ADDR_ANY)
\t\ta6->sin6_addr = in6addr_any;
\telse if (FAMILY_MAPPED)
\t\tinet_pton(AF_INET6, "::ffff:127.0.0.1", &a6->sin6_addr);
\telse
\t\ta6->sin6_addr = in6addr_loopback;
\treturn sizeof(*a6);
}

static int local_port(int fd)
{
\tstruct sockaddr_storage ss;
\tsocklen_t len = sizeof(ss);

\tif (getsockname(fd, (struct sockaddr *)&ss, &len))
\t\treturn -1;
\tif (ss.ss_family == AF_INET)
\t\treturn ntohs(((struct sockaddr_in *)&ss)->sin_port);
\treturn ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int write_file(const char *path, const char *text)
{
\tint fd = open(path, O_WRONLY);
\tint ok;

\tif (fd < 0)
\t\treturn -1;
\tok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
\tclose(fd);
\treturn ok ? 0 : -1;
}

/* A fresh network namespace with lo up, the port range, ip_autobind_reuse where it exists. */
static int setup_netns(void)
{
\tstruct ifreq ifr = { .ifr_name = "lo" };
\tint s;

\tif (unshare(CLONE_NEWNET))
\t\treturn -1;
\ts = socket(AF_INET, SOCK_DGRAM, 0);
\tif (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
\t\treturn -1;
\tifr.ifr_flags |= IFF_UP;
\tif (ioctl(s, SIOCSIFFLAGS, &ifr))
\t\treturn -1;
\tclose(s);
\tif (write_file("/proc/sys/net/ipv4/ip_local_port_range", "${range[0]} ${range[1]}"))
\t\treturn -1;
\tif (access("/proc/sys/net/ipv4/ip_autobind_reuse", F_OK) == 0 &&
\t    write_file("/proc/sys/net/ipv4/ip_autobind_reuse", "${reuse}"))
\t\treturn -1;
\treturn 0;
}

static int make_socket(int reuseaddr, int reuseport, int no_port, uid_t euid)
{
\tint one = 1, zero = 0, fd;

\tif (euid && setresuid(-1, euid, -1))
\t\treturn -1;
\tfd = socket(FAMILY_V6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
\tif (euid && setresuid(-1, 0, -1))
\t\treturn -1;
\tif (fd < 0)
\t\treturn -1;
\tif (FAMILY_MAPPED && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)))
\t\treturn -1;
\tif (reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
\t\treturn -1;
\tif (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
\t\treturn -1;
\tif (no_port && setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)))
\t\treturn -1;
\treturn fd;
}

TEST(${t})
{
\tstruct sockaddr_storage self_addr, dst;
\tsocklen_t self_len, dst_len;
\tint fd[${s.sockets.length}], port[${s.ops.length}];
\tint rc, err, sock;

\t(void)dst; (void)dst_len; (void)port; (void)sock;
\tASSERT_EQ(0, setup_netns());
${Array.from({ length: dsts }, (_, j) => `\t{
\t\tint l = socket(FAMILY_V6 && !FAMILY_MAPPED ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

\t\tdst_len = make_addr(LISTENER, ${DST_PORT_BASE + j}, &dst);
\t\tASSERT_LE(0, l);
\t\tASSERT_EQ(0, bind(l, (struct sockaddr *)&dst, dst_len));
\t\tASSERT_EQ(0, listen(l, 64));
\t}`).join('\n')}
${s.sockets.map((k, i) => `\tfd[${i}] = make_socket(${+k.reuseaddr}, ${+k.reuseport}, ${+k.bindAddressNoPort}, ${k.euid});\n\tASSERT_LE(0, fd[${i}]);`).join('\n')}
\tself_len = make_addr(SELF, 0, &self_addr);

${body.join('\n')}
}

TEST_HARNESS_MAIN
`;
}
