// A finding as a kernel selftest in the style of tools/testing/selftests/net: one TEST
// (kselftest_harness.h) that builds the cell's namespace (lo up, ip_local_port_range,
// ip_autobind_reuse (written where the kernel has it; not at all for keep), tcp_tw_reuse,
// ip_local_reserved_ports, the destination listeners with their family, SO_REUSEADDR and port),
// creates the sockets with their family, options, IPV6_V6ONLY and euids, runs the ops (bind to
// port 0, an explicit port or another socket's port) and ASSERTs each op's result and the port
// getsockname() shows after it (also after a failure), as one kernel showed. It passes on that
// kernel and fails where a kernel behaves differently.
import { describeOp, type OpResult } from '../core/cell.js';
import { destList, FUZZ_RANGES, reservedText, scriptText, sockFamily, type Script } from './script.js';

/** C identifier of a finding's test, e.g. fuzz_1_001. */
export const testName = (name: string): string => name.replace(/[^a-z0-9]/g, '_');

const errnoC = (e: string): string => (/^E[A-Z][A-Z0-9]*$/.test(e) ? e : /^E(\d+)$/.test(e) ? e.slice(1) : '-1');

/** The C asserts for one op's expected result, comparing its port with earlier ones. */
function assertsFor(k: number, r: OpResult, earlier: Array<{ k: number; port: number }>, range: readonly [number, number]): string[] {
  const out = r.ok ? ['\tASSERT_EQ(0, rc);'] : [`\tASSERT_EQ(-1, rc);`, `\tASSERT_EQ(${errnoC(r.errno)}, err);`];
  if (r.port === null || r.port === undefined) return out;
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

const FAM_C = { inet: 'F_INET', inet6: 'F_INET6', v4mapped: 'F_MAPPED' } as const;

/** The ip_autobind_reuse write: the value where the sysctl exists (absent maps to 0), or nothing for keep. */
function reuseWrite(s: Script): string {
  if (s.reuse === 'keep') return '\t/* ip_autobind_reuse: keep (the namespace default) */';
  const v = s.reuse === 1 || s.reuse === 'try-1' ? 1 : 0;
  return `\tif (access("/proc/sys/net/ipv4/ip_autobind_reuse", F_OK) == 0 &&\n\t    write_file("/proc/sys/net/ipv4/ip_autobind_reuse", "${v}"))\n\t\treturn -1;`;
}

/** The C source of a kselftest asserting `expected` (the results of kernel `on`) for `s`. */
export function kselftestC(name: string, s: Script, expected: OpResult[], on: string, header: string[]): string {
  const range = FUZZ_RANGES[s.range];
  const dests = destList(s);
  const sysctls = [
    reuseWrite(s),
    ...(s.twReuse !== undefined ? [`\tif (write_file("/proc/sys/net/ipv4/tcp_tw_reuse", "${s.twReuse}"))\n\t\treturn -1;`] : []),
    ...(s.reservedPorts !== undefined ? [`\tif (write_file("/proc/sys/net/ipv4/ip_local_reserved_ports", "${s.reservedPorts === 'none' ? '\\n' : reservedText(s.reservedPorts)}"))\n\t\treturn -1;`] : []),
  ];
  const body: string[] = [];
  const earlier: Array<{ k: number; port: number }> = [];
  s.ops.forEach((op, k) => {
    const r = expected[k];
    const shown = r.ok ? (r.port === null ? 'ok' : `port ${r.port}`) : `${r.errno}${r.port !== undefined && r.port !== null ? `, port ${r.port}` : ''}`;
    body.push(`\t/* op ${k}: ${describeOp(op)} → ${shown} on ${on} */`);
    body.push(`\tsock = ${op.sock};`);
    switch (op.op) {
      case 'bind': {
        const port = op.port !== undefined ? String(op.port) : op.portOf !== undefined ? `bound_port(fd[${op.portOf}])` : '0';
        body.push(`\tlen = self_addr(sock, ${port}, &ss);`, '\trc = bind(fd[sock], (struct sockaddr *)&ss, len);');
        break;
      }
      case 'listen': body.push('\trc = listen(fd[sock], 64);'); break;
      case 'connect': body.push(`\tlen = target_addr(sock, ${dests[op.dst].port}, &ss);`, '\trc = connect(fd[sock], (struct sockaddr *)&ss, len);'); break;
      case 'close': body.push('\trc = close(fd[sock]);'); break;
    }
    body.push('\terr = errno;');
    if (op.op === 'close') body.push('\tfd[sock] = -1;');
    body.push(...assertsFor(k, r, earlier, range));
    if (r.port !== null && r.port !== undefined && r.port >= range[0] && r.port <= range[1]) earlier.push({ k, port: r.port });
  });
  const t = testName(name);
  const specs = s.sockets.map((k, i) => `\t{ ${FAM_C[sockFamily(s, i)]}, ${+((k.addr ?? s.addr) === 'any')}, ${k.v6only === undefined ? -1 : +k.v6only}, ${+k.reuseaddr}, ${+k.reuseport}, ${+k.bindAddressNoPort}, ${k.euid} },`);
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

/* inet: AF_INET on 127.0.0.1 / 0.0.0.0; inet6: AF_INET6 on ::1 / ::; mapped: AF_INET6 on ::ffff:127.0.0.1 / :: */
enum family { F_INET, F_INET6, F_MAPPED };

struct sock_spec {
\tenum family family;
\tint any;\t\t/* bind to the wildcard, not the loopback */
\tint v6only;\t\t/* IPV6_V6ONLY set to this, -1 = left alone (mapped: 0) */
\tint reuseaddr, reuseport, no_port;
\tuid_t euid;
};

static const struct sock_spec spec[${s.sockets.length}] = {
${specs.join('\n')}
};

static socklen_t make_addr(enum family family, int any, int port, struct sockaddr_storage *ss)
{
\tmemset(ss, 0, sizeof(*ss));
\tif (family == F_INET) {
\t\tstruct sockaddr_in *a = (struct sockaddr_in *)ss;

\t\ta->sin_family = AF_INET;
\t\ta->sin_port = htons(port);
\t\ta->sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
\t\treturn sizeof(*a);
\t}
\tstruct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

\ta6->sin6_family = AF_INET6;
\ta6->sin6_port = htons(port);
\tif (any)
\t\ta6->sin6_addr = in6addr_any;
\telse if (family == F_MAPPED)
\t\tinet_pton(AF_INET6, "::ffff:127.0.0.1", &a6->sin6_addr);
\telse
\t\ta6->sin6_addr = in6addr_loopback;
\treturn sizeof(*a6);
}

/* Socket i's own address with a port. */
static socklen_t self_addr(int i, int port, struct sockaddr_storage *ss)
{
\treturn make_addr(spec[i].family, spec[i].any, port, ss);
}

/* The listener socket i connects to: 127.0.0.1, ::ffff:127.0.0.1 or ::1 by its family. */
static socklen_t target_addr(int i, int port, struct sockaddr_storage *ss)
{
\treturn make_addr(spec[i].family, 0, port, ss);
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

/* "bind sI port sJ": the port sJ holds now, 0 once it is closed. */
static int bound_port(int fd)
{
\tint port = fd < 0 ? 0 : local_port(fd);

\treturn port < 0 ? 0 : port;
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

/* A fresh network namespace with lo up and the script's sysctls. */
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
${sysctls.join('\n')}
\treturn 0;
}

/* A listener that is never accepted: 127.0.0.1 (inet) or ::1 (inet6). */
static int make_listener(enum family family, int reuseaddr, int port)
{
\tstruct sockaddr_storage ss;
\tsocklen_t len = make_addr(family, 0, port, &ss);
\tint one = 1, fd = socket(family == F_INET ? AF_INET : AF_INET6, SOCK_STREAM, 0);

\tif (fd < 0)
\t\treturn -1;
\tif (reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
\t\treturn -1;
\tif (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64))
\t\treturn -1;
\treturn fd;
}

static int make_socket(const struct sock_spec *k)
{
\tint one = 1, fd;
\tint v6only = k->v6only >= 0 ? k->v6only : k->family == F_MAPPED ? 0 : -1;

\tif (k->euid && setresuid(-1, k->euid, -1))
\t\treturn -1;
\tfd = socket(k->family == F_INET ? AF_INET : AF_INET6, SOCK_STREAM, 0);
\tif (k->euid && setresuid(-1, 0, -1))
\t\treturn -1;
\tif (fd < 0)
\t\treturn -1;
\tif (v6only >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
\t\treturn -1;
\tif (k->reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
\t\treturn -1;
\tif (k->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
\t\treturn -1;
\tif (k->no_port && setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)))
\t\treturn -1;
\treturn fd;
}

TEST(${t})
{
\tstruct sockaddr_storage ss;
\tsocklen_t len;
\tint fd[${s.sockets.length}], port[${s.ops.length}];
\tint rc, err, sock, i;

\t(void)ss; (void)len; (void)port; (void)sock;
\tASSERT_EQ(0, setup_netns());
${dests.map((d) => `\tASSERT_LE(0, make_listener(${d.family === 'inet' ? 'F_INET' : 'F_INET6'}, ${+d.reuseaddr}, ${d.port}));`).join('\n')}
\tfor (i = 0; i < ${s.sockets.length}; i++) {
\t\tfd[i] = make_socket(&spec[i]);
\t\tASSERT_LE(0, fd[i]);
\t}

${body.join('\n')}
}

TEST_HARNESS_MAIN
`;
}
