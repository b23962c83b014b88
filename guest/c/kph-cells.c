// kph-cells: runs reproduction-matrix cells inside the guest.
//
// Reads one cell line per input line (see harness/src/core/wire.ts):
//   cell id=<id> fam=4|6|m addr=lo|any range=<lo>-<hi> reuse=absent|0|1|keep|try-0|try-1 dst=<n>
//        [tw=0|1|2] [resv=none|<lo>-<hi>] [d=<F><R>:<port>...] s=<R><P><N>:<euid>[:<F><A><V>]... op=<op>...
// and writes exactly one JSON line per cell, in input order:
//   {"id":"..","status":"done","results":[{"ok":true,"port":32768},{"ok":false,"errno":"EADDRINUSE","port":0}]}
// (every result carries the port getsockname() shows after the call, null once closed; "enoent"
// lists the try-N sysctls this kernel does not have)
//   {"id":"..","status":"unsupported","reason":".."}
//   {"id":"..","status":"error","reason":".."}
// plus "us":<n>, the cell's duration in microseconds (fork to report), and "kernel_warned":<n>
// in a cell's line when the kernel's WARNING/oops counters moved while it ran (see "crash
// attribution" below).
// Each cell runs in a child process (kselftest style; cloned with CLONE_VM, see child_main)
// that enters a network namespace holding no socket: the pooled one while the cells before
// left it clean, else a fresh one (see "the namespace pool"; --fresh-netns: always fresh); the
// parent relays the child's report, or reports the child's timeout / crash itself. --profile
// prints where the loop's time goes, per phase.
// --exec 'PROG ARGS' hands each cell to another guest instead (the TypeScript one): the child
// enters the cell's namespace (lo up, the sysctls at their fresh values) and runs
// `PROG ARGS --in-netns '<cell line>'`, whose one JSON line on stdout is the report; timeouts, crashes and faults are handled as for a C cell.
// Diagnostics go to stderr; stdout carries only the JSON lines.
//
// Build: gcc -static -O2 -Wall -Wextra -Werror -o kph-cells kph-cells.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define PROTOCOL_VERSION 1
#define MAX_SOCKS 8
#define MAX_OPS 32
#define MAX_DSTS 8
#define DST_PORT_BASE 10000
#define BACKLOG 64
#define MAX_TOKEN_SHOWN 80

static const char SYSCTL_RANGE[] = "/proc/sys/net/ipv4/ip_local_port_range";
static const char SYSCTL_REUSE[] = "/proc/sys/net/ipv4/ip_autobind_reuse";
static const char SYSCTL_TW_REUSE[] = "/proc/sys/net/ipv4/tcp_tw_reuse";
static const char SYSCTL_RESERVED[] = "/proc/sys/net/ipv4/ip_local_reserved_ports";

// What this kernel has, found once at start-up (a sysctl exists in every netns or in none).
static int have_range, have_reuse;

// The values of the sysctls a cell may write, as one namespace has them; -1: unknown (written
// whatever the cell wants). Reserved ports: resv_lo = resv_hi = 0 is none. A cell writes only
// the values its namespace does not already have.
struct ns_vals {
	int range_lo, range_hi, reuse, tw, resv_lo, resv_hi;
};
#define NS_VALS_UNKNOWN { -1, -1, -1, -1, -1, -1 }
// What a fresh netns starts with, probed once at start-up.
static struct ns_vals fresh = NS_VALS_UNKNOWN;

// The namespace pool. Creating and tearing down a netns is most of a cell's cost under TCG
// (unshare, lo up, and the kernel's cleanup_net afterwards), so cells share one namespace
// while the cells before left nothing in it: after each cell the parent reads the namespace's
// /proc/net/sockstat{,6}; any TCP socket still there (a FIN_WAIT orphan, a TIME_WAIT, an
// established pair) and the namespace is dropped, as it is after a cell that did not end with
// a report or whose sysctl writes are unknown. The next cell then starts in a fresh one.
// What remains is exactly what a fresh namespace has: no socket, no bind bucket, lo up, and
// the sysctls each cell writes back to the fresh value when it does not set them itself.
// --fresh-netns gives every cell its own namespace, as before.
static int pool_on = 1;
static int home_ns = -1;			  // the parent's own netns
static int pool_ns = -1, pool_stat4 = -1, pool_stat6 = -1; // the pooled netns and its sockstat files
static struct ns_vals pool_vals;		  // its sysctls, as the last cell left them
static long netns_created, netns_reused;

enum family { FAM_INET, FAM_INET6, FAM_MAPPED };
enum op_kind { OP_BIND, OP_CONNECT, OP_LISTEN, OP_CLOSE };

struct sock_spec {
	int reuseaddr, reuseport, no_port;
	uid_t euid;
	int fam;    // enum family, or -1: the cell's
	int any;    // 0 loopback, 1 wildcard, -1: the cell's
	int v6only; // IPV6_V6ONLY to set, or -1: leave the default (v4-mapped sockets: 0)
};

struct op {
	enum op_kind kind;
	int sock, dst;
	int port;    // bind: explicit port (0: autobind)
	int port_of; // bind: the port socket port_of holds, or -1
	const char *token; // points into the input line, for error messages
};

struct dst_spec {
	int inet6, reuseaddr, port;
};

struct cell {
	const char *id; // NULL until id= is parsed
	enum family fam;
	int addr_any;
	int range_lo, range_hi;
	int reuse; // -1 = absent
	int reuse_keep, reuse_try; // keep: write nothing; try: write reuse if the sysctl exists
	int tw; // net.ipv4.tcp_tw_reuse, -1 = keep
	int resv, resv_lo, resv_hi; // ip_local_reserved_ports: 0 keep, 1 none, 2 the range
	int ndst, nsock, nops, nd;
	struct sock_spec socks[MAX_SOCKS];
	struct op ops[MAX_OPS];
	struct dst_spec dsts[MAX_DSTS]; // nd of them from d= tokens; else the defaults
};

// ---------------------------------------------------------------- profile (--profile)

// Phases timed with CLOCK_MONOTONIC when --profile is given; totals go to stderr at the end.
// The child's phases land in a page shared with the parent (MAP_SHARED, set up once).
enum phase {
	PH_PARSE, PH_MARK, PH_FORK, PH_UNSHARE, PH_LO, PH_SYSCTL_CHECK, PH_SYSCTL_WRITE, PH_LISTENERS,
	PH_SOCKETS, PH_OPS, PH_JSON, PH_CHILD_WRITE, PH_CHILD_WAIT, PH_REAP, PH_EMIT, PH_READ_INPUT, PH_COUNT
};
static const char *const phase_names[PH_COUNT] = {
	"parse", "attribution", "spawn", "unshare", "lo_up", "sysctl_check", "sysctl_write", "listeners",
	"sockets", "ops", "json", "child_write", "child_wait", "collect", "emit", "read_input",
};
static double *prof; // NULL unless --profile

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Adds the time since *t to phase ph and restarts *t (no-op without --profile).
static void lap(enum phase ph, double *t)
{
	if (!prof)
		return;
	double n = now_s();
	prof[ph] += n - *t;
	*t = n;
}

// ---------------------------------------------------------------- growable string

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_grow(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "kph-cells: out of memory\n");
		_exit(70);
	}
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

// Appends s as a JSON string literal (with quotes).
static void buf_json_str(struct buf *b, const char *s)
{
	buf_add(b, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			char esc[2] = { '\\', (char)*c };
			buf_add(b, esc, 2);
		} else if (*c < 0x20 || *c == 0x7f) {
			buf_printf(b, "\\u%04x", *c);
		} else {
			buf_add(b, (const char *)c, 1);
		}
	}
	buf_add(b, "\"", 1);
}

// One whole report line: {"id":..,"status":..,"reason":..}\n
static void report_status(struct buf *b, const char *id, const char *status, const char *reason)
{
	b->len = 0;
	buf_add(b, "{\"id\":", 6);
	buf_json_str(b, id ? id : "?");
	buf_printf(b, ",\"status\":\"%s\",\"reason\":", status);
	buf_json_str(b, reason);
	buf_add(b, "}\n", 2);
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	static char other[32];
	if (n)
		return n;
	snprintf(other, sizeof other, "E%d", e);
	return other;
}

// ---------------------------------------------------------------- parsing

// Parses a decimal number made only of digits, within [min, max].
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (!*s || strlen(s) > 10)
		return -1;
	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return -1;
	unsigned long v = strtoul(s, NULL, 10);
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

// Parses "<lo>-<hi>" (ports, 1 <= lo <= hi <= 65535): 0 when good, -1 when it is not of that
// form, -2 when the numbers are out of range or reversed.
static int parse_port_range(const char *v, unsigned long *lo, unsigned long *hi)
{
	char tmp[16];
	const char *dash = strchr(v, '-');
	if (!dash || (size_t)(dash - v) >= sizeof tmp)
		return -1;
	memcpy(tmp, v, (size_t)(dash - v));
	tmp[dash - v] = '\0';
	if (parse_num(tmp, 1, 65535, lo) || parse_num(dash + 1, 1, 65535, hi) || *lo > *hi)
		return -2;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int parse_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

// Token text for messages, shortened so a huge token cannot flood the report.
static const char *shown(const char *tok)
{
	static char s[MAX_TOKEN_SHOWN + 4];
	if (strlen(tok) <= MAX_TOKEN_SHOWN)
		return tok;
	memcpy(s, tok, MAX_TOKEN_SHOWN);
	strcpy(s + MAX_TOKEN_SHOWN, "...");
	return s;
}

static int parse_op(const char *v, struct op *op)
{
	unsigned long a, b;
	char tmp[16];
	const char *dot;
	switch (v[0]) {
	case 'b': op->kind = OP_BIND; break;
	case 'c': op->kind = OP_CONNECT; break;
	case 'l': op->kind = OP_LISTEN; break;
	case 'x': op->kind = OP_CLOSE; break;
	default: return -1;
	}
	op->dst = -1;
	op->port = 0;
	op->port_of = -1;
	if (op->kind == OP_BIND && strpbrk(v + 1, "ps")) {
		const char *sep = strpbrk(v + 1, "ps");
		if ((size_t)(sep - (v + 1)) >= sizeof tmp)
			return -1;
		memcpy(tmp, v + 1, (size_t)(sep - (v + 1)));
		tmp[sep - (v + 1)] = '\0';
		if (parse_num(tmp, 0, 1000, &a) || parse_num(sep + 1, *sep == 'p' ? 1 : 0, *sep == 'p' ? 65535 : 1000, &b))
			return -1;
		op->sock = (int)a;
		if (*sep == 'p')
			op->port = (int)b;
		else
			op->port_of = (int)b;
		return 0;
	}
	if (op->kind != OP_CONNECT) {
		if (parse_num(v + 1, 0, 1000, &a))
			return -1;
		op->sock = (int)a;
		return 0;
	}
	dot = strchr(v + 1, '.');
	if (!dot || (size_t)(dot - (v + 1)) >= sizeof tmp)
		return -1;
	memcpy(tmp, v + 1, (size_t)(dot - (v + 1)));
	tmp[dot - (v + 1)] = '\0';
	if (parse_num(tmp, 0, 1000, &a) || parse_num(dot + 1, 0, 1000, &b))
		return -1;
	op->sock = (int)a;
	op->dst = (int)b;
	return 0;
}

// Finds id=<value> anywhere in the line, so every error report can name its cell.
static const char *find_id(char *line)
{
	char *save = NULL;
	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (strncmp(t, "id=", 3) == 0 && t[3])
			return t + 3;
	return NULL;
}

// Parses a cell line (modified in place). Returns 0, or -1 with a message in err.
static int parse_cell(char *line, struct cell *c, char *err, size_t errlen)
{
	enum { K_ID = 1, K_FAM = 2, K_ADDR = 4, K_RANGE = 8, K_REUSE = 16, K_DST = 32, K_TW = 64, K_RESV = 128 };
	unsigned seen = 0;
	char *save = NULL;
	char *t = strtok_r(line, " \t", &save);
	unsigned long n, lo, hi;

	memset(c, 0, sizeof *c);
	c->reuse = -1;
	c->tw = -1;
	if (!t || strcmp(t, "cell") != 0)
		return parse_fail(err, errlen, "bad token '%s': a cell line starts with 'cell'", t ? shown(t) : "");
	while ((t = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(t, '=');
		const char *v;
		unsigned key = 0;
		if (!eq)
			return parse_fail(err, errlen, "bad token '%s': expected key=value", shown(t));
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(t, "id")) key = K_ID;
		else if (!strcmp(t, "fam")) key = K_FAM;
		else if (!strcmp(t, "addr")) key = K_ADDR;
		else if (!strcmp(t, "range")) key = K_RANGE;
		else if (!strcmp(t, "reuse")) key = K_REUSE;
		else if (!strcmp(t, "dst")) key = K_DST;
		else if (!strcmp(t, "tw")) key = K_TW;
		else if (!strcmp(t, "resv")) key = K_RESV;
		else if (strcmp(t, "s") && strcmp(t, "op") && strcmp(t, "d")) {
			*eq = '=';
			return parse_fail(err, errlen, "bad token '%s': unknown key '%.*s'", shown(t), (int)(eq - t), t);
		}
		*eq = '=';
		if (key & seen)
			return parse_fail(err, errlen, "bad token '%s': key given twice", shown(t));
		seen |= key;
		switch (key) {
		case K_ID:
			if (!*v)
				return parse_fail(err, errlen, "bad token '%s': empty id", shown(t));
			c->id = v;
			break;
		case K_FAM:
			if (!strcmp(v, "4")) c->fam = FAM_INET;
			else if (!strcmp(v, "6")) c->fam = FAM_INET6;
			else if (!strcmp(v, "m")) c->fam = FAM_MAPPED;
			else return parse_fail(err, errlen, "bad token '%s': fam must be 4, 6 or m", shown(t));
			break;
		case K_ADDR:
			if (!strcmp(v, "lo")) c->addr_any = 0;
			else if (!strcmp(v, "any")) c->addr_any = 1;
			else return parse_fail(err, errlen, "bad token '%s': addr must be lo or any", shown(t));
			break;
		case K_RANGE: {
			int r = parse_port_range(v, &lo, &hi);
			if (r == -1)
				return parse_fail(err, errlen, "bad token '%s': range must be <lo>-<hi>", shown(t));
			if (r)
				return parse_fail(err, errlen, "bad token '%s': range must be <lo>-<hi> with 1 <= lo <= hi <= 65535", shown(t));
			c->range_lo = (int)lo;
			c->range_hi = (int)hi;
			break;
		}
		case K_REUSE:
			if (!strcmp(v, "absent")) c->reuse = -1;
			else if (!strcmp(v, "0")) c->reuse = 0;
			else if (!strcmp(v, "1")) c->reuse = 1;
			else if (!strcmp(v, "keep")) c->reuse_keep = 1;
			else if (!strcmp(v, "try-0")) c->reuse_try = 1, c->reuse = 0;
			else if (!strcmp(v, "try-1")) c->reuse_try = 1, c->reuse = 1;
			else return parse_fail(err, errlen, "bad token '%s': reuse must be absent, 0, 1, keep, try-0 or try-1", shown(t));
			break;
		case K_TW:
			if (parse_num(v, 0, 2, &n))
				return parse_fail(err, errlen, "bad token '%s': tw must be 0, 1 or 2", shown(t));
			c->tw = (int)n;
			break;
		case K_RESV: {
			if (!strcmp(v, "none")) {
				c->resv = 1;
				break;
			}
			int r = parse_port_range(v, &lo, &hi);
			if (r == -1)
				return parse_fail(err, errlen, "bad token '%s': resv must be none or <lo>-<hi>", shown(t));
			if (r)
				return parse_fail(err, errlen, "bad token '%s': resv must be none or <lo>-<hi> with 1 <= lo <= hi <= 65535", shown(t));
			c->resv = 2;
			c->resv_lo = (int)lo;
			c->resv_hi = (int)hi;
			break;
		}
		case K_DST:
			if (parse_num(v, 0, 1000000, &n))
				return parse_fail(err, errlen, "bad token '%s': dst must be a number", shown(t));
			if (n > MAX_DSTS)
				return parse_fail(err, errlen, "bad token '%s': at most %d destinations are supported", shown(t), MAX_DSTS);
			c->ndst = (int)n;
			break;
		default:
			if (t[0] == 'd') {
				struct dst_spec *d;
				if (c->nd == MAX_DSTS)
					return parse_fail(err, errlen, "bad token '%s': at most %d destinations are supported", shown(t), MAX_DSTS);
				d = &c->dsts[c->nd];
				if (strlen(v) < 4 || (v[0] != '4' && v[0] != '6') || (v[1] != '0' && v[1] != '1') || v[2] != ':' ||
				    parse_num(v + 3, 1, 65535, &n))
					return parse_fail(err, errlen, "bad token '%s': destination must be d=<F><R>:<port> with F 4 or 6, R 0 or 1", shown(t));
				d->inet6 = v[0] == '6';
				d->reuseaddr = v[1] == '1';
				d->port = (int)n;
				c->nd++;
			} else if (t[0] == 's') {
				struct sock_spec *s;
				char own[8] = "";
				const char *colon2;
				if (c->nsock == MAX_SOCKS)
					return parse_fail(err, errlen, "bad token '%s': at most %d sockets are supported", shown(t), MAX_SOCKS);
				s = &c->socks[c->nsock];
				colon2 = strlen(v) > 4 ? strchr(v + 4, ':') : NULL;
				if (colon2) {
					if (strlen(colon2 + 1) != 3)
						return parse_fail(err, errlen, "bad token '%s': socket's own part must be :<F><A><V>", shown(t));
					strcpy(own, colon2 + 1);
					*(char *)colon2 = '\0';
				}
				int bad = strlen(v) < 5 || v[3] != ':' || strspn(v, "01") < 3 || parse_num(v + 4, 0, 4294967294UL, &n);
				if (colon2)
					*(char *)colon2 = ':';
				if (bad || (own[0] && (!strchr("46m-", own[0]) || !strchr("la-", own[1]) || !strchr("01-", own[2]))))
					return parse_fail(err, errlen, "bad token '%s': socket must be s=<R><P><N>:<euid>[:<F><A><V>] with R, P, N each 0 or 1, F 4, 6, m or -, A l, a or -, V 0, 1 or -", shown(t));
				s->reuseaddr = v[0] == '1';
				s->reuseport = v[1] == '1';
				s->no_port = v[2] == '1';
				s->euid = (uid_t)n;
				s->fam = own[0] == '4' ? FAM_INET : own[0] == '6' ? FAM_INET6 : own[0] == 'm' ? FAM_MAPPED : -1;
				s->any = own[1] == 'a' ? 1 : own[1] == 'l' ? 0 : -1;
				s->v6only = own[2] == '1' ? 1 : own[2] == '0' ? 0 : -1;
				c->nsock++;
			} else {
				struct op *op;
				if (c->nops == MAX_OPS)
					return parse_fail(err, errlen, "bad token '%s': at most %d ops are supported", shown(t), MAX_OPS);
				op = &c->ops[c->nops];
				if (parse_op(v, op))
					return parse_fail(err, errlen, "bad token '%s': op must be b<i>, b<i>p<port>, b<i>s<j>, c<i>.<j>, l<i> or x<i>", shown(t));
				op->token = t;
				c->nops++;
			}
		}
	}
	if ((seen & (K_ID | K_FAM | K_ADDR | K_RANGE | K_REUSE | K_DST)) != (K_ID | K_FAM | K_ADDR | K_RANGE | K_REUSE | K_DST)) {
		const char *missing = !(seen & K_ID) ? "id" : !(seen & K_FAM) ? "fam" : !(seen & K_ADDR) ? "addr"
			: !(seen & K_RANGE) ? "range" : !(seen & K_REUSE) ? "reuse" : "dst";
		return parse_fail(err, errlen, "missing token '%s=': required keys are id, fam, addr, range, reuse, dst", missing);
	}
	for (int i = 0; i < c->nops; i++) {
		const struct op *op = &c->ops[i];
		if (op->sock >= c->nsock)
			return parse_fail(err, errlen, "bad token '%s': socket %d does not exist (%d sockets)", shown(op->token), op->sock, c->nsock);
		if (op->kind == OP_CONNECT && op->dst >= c->ndst)
			return parse_fail(err, errlen, "bad token '%s': destination %d does not exist (dst=%d)", shown(op->token), op->dst, c->ndst);
		if (op->port_of >= c->nsock)
			return parse_fail(err, errlen, "bad token '%s': socket %d does not exist (%d sockets)", shown(op->token), op->port_of, c->nsock);
	}
	if (c->nd && c->nd != c->ndst)
		return parse_fail(err, errlen, "bad destinations: %d d= tokens, but dst=%d", c->nd, c->ndst);
	for (int j = c->nd; j < c->ndst; j++) {
		c->dsts[j].inet6 = c->fam == FAM_INET6;
		c->dsts[j].reuseaddr = 0;
		c->dsts[j].port = DST_PORT_BASE + j;
	}
	for (int i = 0; i < c->nsock; i++) {
		struct sock_spec *s = &c->socks[i];
		if (s->fam < 0)
			s->fam = (int)c->fam;
		if (s->any < 0)
			s->any = c->addr_any;
		if (s->v6only >= 0 && s->fam == FAM_INET)
			return parse_fail(err, errlen, "bad socket %d: IPV6_V6ONLY on an AF_INET socket", i);
	}
	return 0;
}

// ---------------------------------------------------------------- the cell, in the child

// Sets up a sockaddr for a family: its loopback or wildcard address (v4-mapped: ::ffff:127.0.0.1 / ::).
static socklen_t make_addr(int fam, int any, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (fam == FAM_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
		return sizeof *a;
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons((uint16_t)port);
	if (any)
		a6->sin6_addr = in6addr_any;
	else if (fam == FAM_INET6)
		a6->sin6_addr = in6addr_loopback;
	else
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6->sin6_addr);
	return sizeof *a6;
}

// The address a socket of family sfam connects to for destination d: ::1 for an inet6 one,
// else 127.0.0.1 (an AF_INET6 socket: ::ffff:127.0.0.1).
static socklen_t dst_addr(int sfam, const struct dst_spec *d, struct sockaddr_storage *ss)
{
	if (d->inet6)
		return make_addr(FAM_INET6, 0, d->port, ss);
	return make_addr(sfam == FAM_INET ? FAM_INET : FAM_MAPPED, 0, d->port, ss);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	if (n != (ssize_t)strlen(text)) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0) {
			close(fd);
			return 0;
		}
	}
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof value);
}

// The child's report goes into a page shared with the parent (no pipe: the parent sleeps on
// the child's pidfd and wakes once, when it exits). len is set last, when the text is whole.
// vals_ok says the child left its namespace's sysctls as vals.
struct shared_report {
	struct ns_vals vals;
	volatile int vals_ok;
	volatile size_t len;
	char text[];
};
static struct shared_report *shared;
static size_t shared_cap; // bytes of text

// In the cell's child: enters the pooled namespace, or else a fresh one with lo up (counted in
// netns_created, which the child shares with the parent). 0, or -1 with the reason.
static int enter_netns(char *reason, size_t len, double *t)
{
	if (pool_ns >= 0) {
		shared->vals_ok = 0; // the namespace is this cell's now: unknown until its writes are done
		if (setns(pool_ns, CLONE_NEWNET) == 0)
			return 0;
		snprintf(reason, len, "setns into the pooled network namespace failed: %s", errname(errno));
		return -1;
	}
	if (unshare(CLONE_NEWNET)) {
		snprintf(reason, len, "unshare(CLONE_NEWNET) failed: %s", errname(errno));
		return -1;
	}
	netns_created++;
	lap(PH_UNSHARE, t);
	if (lo_up()) {
		snprintf(reason, len, "bringing lo up failed: %s", errname(errno));
		return -1;
	}
	lap(PH_LO, t);
	return 0;
}

// Writes text to a sysctl; on failure, the reason names both (the text without its newline).
static int put_sysctl(const char *path, const char *text, char *reason, size_t len)
{
	if (!write_file(path, text))
		return 0;
	snprintf(reason, len, "writing '%.*s' to %s failed: %s", (int)strcspn(text, "\n"), text, path, errname(errno));
	return -1;
}

// Writes what want has and the namespace may not (have differs or is unknown; a -1 in want
// is left alone). 0, or -1 with the reason.
static int apply_vals(const struct ns_vals *want, const struct ns_vals *have, char *reason, size_t len)
{
	char text[40];
	if (want->range_lo >= 0 && (want->range_lo != have->range_lo || want->range_hi != have->range_hi || have->range_lo < 0)) {
		snprintf(text, sizeof text, "%d %d\n", want->range_lo, want->range_hi);
		if (put_sysctl(SYSCTL_RANGE, text, reason, len))
			return -1;
	}
	if (have_reuse && want->reuse >= 0 && (want->reuse != have->reuse || have->reuse < 0)) {
		snprintf(text, sizeof text, "%d\n", want->reuse);
		if (put_sysctl(SYSCTL_REUSE, text, reason, len))
			return -1;
	}
	if (want->tw >= 0 && (want->tw != have->tw || have->tw < 0)) {
		snprintf(text, sizeof text, "%d\n", want->tw);
		if (put_sysctl(SYSCTL_TW_REUSE, text, reason, len))
			return -1;
	}
	if (want->resv_lo >= 0 && (want->resv_lo != have->resv_lo || want->resv_hi != have->resv_hi || have->resv_lo < 0)) {
		if (want->resv_lo > 0)
			snprintf(text, sizeof text, "%d-%d\n", want->resv_lo, want->resv_hi);
		else
			snprintf(text, sizeof text, "\n");
		if (put_sysctl(SYSCTL_RESERVED, text, reason, len))
			return -1;
	}
	return 0;
}

// Runs one cell; fills out with exactly one report line. Returns nothing: every outcome is a report.
static void run_cell(const struct cell *c, struct buf *out)
{
	char reason[256];
	int fds[MAX_SOCKS], dsts[MAX_DSTS];
	struct sockaddr_storage ss;
	socklen_t len;
	double t = prof ? now_s() : 0;
	int enoent_reuse = 0;

#define FAIL(status, ...) do { snprintf(reason, sizeof reason, __VA_ARGS__); report_status(out, c->id, status, reason); return; } while (0)

	if (!have_range)
		FAIL("error", "%s is missing (is /proc mounted?)", SYSCTL_RANGE);
	if (c->reuse < 0 && !c->reuse_keep && have_reuse)
		FAIL("unsupported", "reuse=absent needs a kernel without net.ipv4.ip_autobind_reuse, but this kernel has it");
	if (c->reuse >= 0 && !c->reuse_keep && !c->reuse_try && !have_reuse)
		FAIL("unsupported", "reuse=%d needs net.ipv4.ip_autobind_reuse, which this kernel does not have", c->reuse);
	lap(PH_SYSCTL_CHECK, &t);
	if (enter_netns(reason, sizeof reason, &t)) {
		report_status(out, c->id, "error", reason);
		return;
	}
	lap(PH_UNSHARE, &t);
	// What the cell sets, and the fresh value of what it leaves alone.
	const struct ns_vals *have = pool_ns >= 0 ? &pool_vals : &fresh;
	struct ns_vals want = {
		.range_lo = c->range_lo,
		.range_hi = c->range_hi,
		.reuse = have_reuse ? (c->reuse >= 0 && !c->reuse_keep ? c->reuse : fresh.reuse) : -1,
		.tw = c->tw >= 0 ? c->tw : fresh.tw,
		.resv_lo = c->resv == 2 ? c->resv_lo : c->resv == 1 ? 0 : fresh.resv_lo,
		.resv_hi = c->resv == 2 ? c->resv_hi : c->resv == 1 ? 0 : fresh.resv_hi,
	};
	if (apply_vals(&want, have, reason, sizeof reason)) {
		report_status(out, c->id, "error", reason);
		return;
	}
	// try-N on a kernel without the sysctl: the write is made, its ENOENT recorded, and the cell goes on
	if (!have_reuse && c->reuse >= 0 && c->reuse_try && write_file(SYSCTL_REUSE, c->reuse ? "1\n" : "0\n")) {
		if (errno != ENOENT)
			FAIL("error", "writing %d to %s failed: %s", c->reuse, SYSCTL_REUSE, errname(errno));
		enoent_reuse = 1;
	}
	shared->vals = want;
	shared->vals_ok = 1;
	lap(PH_SYSCTL_WRITE, &t);

	for (int j = 0; j < c->ndst; j++) {
		len = make_addr(c->dsts[j].inet6 ? FAM_INET6 : FAM_INET, 0, c->dsts[j].port, &ss);
		dsts[j] = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (dsts[j] < 0 && errno == EAFNOSUPPORT)
			FAIL("unsupported", "this kernel has no IPv6 (socket(AF_INET6): EAFNOSUPPORT)");
		if (dsts[j] < 0)
			FAIL("error", "destination %d: socket failed: %s", j, errname(errno));
		if (c->dsts[j].reuseaddr && set_int_opt(dsts[j], SOL_SOCKET, SO_REUSEADDR, 1))
			FAIL("error", "destination %d: SO_REUSEADDR failed: %s", j, errname(errno));
		if (bind(dsts[j], (struct sockaddr *)&ss, len))
			FAIL("error", "destination %d: bind to port %d failed: %s", j, c->dsts[j].port, errname(errno));
		if (listen(dsts[j], BACKLOG))
			FAIL("error", "destination %d: listen failed: %s", j, errname(errno));
	}
	lap(PH_LISTENERS, &t);

	for (int i = 0; i < c->nsock; i++) {
		const struct sock_spec *s = &c->socks[i];
		int e;
		if (s->euid != 0 && setresuid((uid_t)-1, s->euid, (uid_t)-1))
			FAIL("error", "socket %d: setresuid(-1, %u, -1) failed: %s", i, (unsigned)s->euid, errname(errno));
		fds[i] = socket(s->fam == FAM_INET ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		e = errno;
		if (s->euid != 0 && setresuid((uid_t)-1, 0, (uid_t)-1))
			FAIL("error", "socket %d: restoring euid 0 failed: %s", i, errname(errno));
		if (fds[i] < 0 && e == EAFNOSUPPORT)
			FAIL("unsupported", "this kernel has no IPv6 (socket(AF_INET6): EAFNOSUPPORT)");
		if (fds[i] < 0)
			FAIL("error", "socket %d: socket failed: %s", i, errname(e));
		int v6only = s->v6only >= 0 ? s->v6only : s->fam == FAM_MAPPED ? 0 : -1;
		if (v6only >= 0 && set_int_opt(fds[i], IPPROTO_IPV6, IPV6_V6ONLY, v6only))
			FAIL("error", "socket %d: IPV6_V6ONLY=%d failed: %s", i, v6only, errname(errno));
		if (set_int_opt(fds[i], SOL_SOCKET, SO_REUSEADDR, s->reuseaddr))
			FAIL("error", "socket %d: SO_REUSEADDR=%d failed: %s", i, s->reuseaddr, errname(errno));
		if (set_int_opt(fds[i], SOL_SOCKET, SO_REUSEPORT, s->reuseport))
			FAIL("error", "socket %d: SO_REUSEPORT=%d failed: %s", i, s->reuseport, errname(errno));
		if (set_int_opt(fds[i], IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, s->no_port))
			FAIL("error", "socket %d: IP_BIND_ADDRESS_NO_PORT=%d failed: %s", i, s->no_port, errname(errno));
	}
	lap(PH_SOCKETS, &t);
#undef FAIL

	out->len = 0;
	buf_add(out, "{\"id\":", 6);
	buf_json_str(out, c->id);
	buf_printf(out, ",\"status\":\"done\",%s\"results\":[", enoent_reuse ? "\"enoent\":[\"net.ipv4.ip_autobind_reuse\"]," : "");
	for (int k = 0; k < c->nops; k++) {
		const struct op *op = &c->ops[k];
		int fd = fds[op->sock], rc = -1;
		lap(PH_JSON, &t);
		switch (op->kind) {
		case OP_BIND: {
			// The port socket port_of holds now (what getsockname() shows; 0 once it is closed).
			int port = op->port_of >= 0 ? (fds[op->port_of] < 0 ? 0 : local_port(fds[op->port_of])) : op->port;
			const struct sock_spec *s = &c->socks[op->sock];
			len = make_addr(s->fam, s->any, port < 0 ? 0 : port, &ss);
			rc = bind(fd, (struct sockaddr *)&ss, len);
			break;
		}
		case OP_CONNECT:
			len = dst_addr(c->socks[op->sock].fam, &c->dsts[op->dst], &ss);
			do
				rc = connect(fd, (struct sockaddr *)&ss, len);
			while (rc && errno == EINTR);
			break;
		case OP_LISTEN:
			rc = listen(fd, BACKLOG);
			break;
		case OP_CLOSE:
			rc = close(fd);
			fds[op->sock] = -1; // later ops on this socket see EBADF, as an application would
			break;
		}
		int e = errno;
		lap(PH_OPS, &t);
		errno = e;
		if (k)
			buf_add(out, ",", 1);
		if (rc) {
			// Also after a failure: the port getsockname() still shows (a released port stays).
			const char *name = errname(errno);
			int port = fds[op->sock] < 0 ? -1 : local_port(fds[op->sock]);
			if (port < 0)
				buf_printf(out, "{\"ok\":false,\"errno\":\"%s\",\"port\":null}", name);
			else
				buf_printf(out, "{\"ok\":false,\"errno\":\"%s\",\"port\":%d}", name, port);
		} else if (op->kind == OP_CLOSE)
			buf_printf(out, "{\"ok\":true,\"port\":null}");
		else {
			int port = local_port(fd);
			if (port < 0)
				buf_printf(out, "{\"ok\":true,\"port\":null}");
			else
				buf_printf(out, "{\"ok\":true,\"port\":%d}", port);
		}
	}
	buf_add(out, "]}\n", 3);
	lap(PH_JSON, &t);
}

// Test hook: a fault, from the harness's one fault seam: $KPH_FAULT when run on a host (its first
// unscoped guest entry; harness/src/util/fault.ts has the grammar), else the kernel command-line
// word kph.cells_fault= that the harness makes of KPH_FAULT for a VM; as <mode>[@<cell id>]: without
// "@id" every cell misbehaves, with it only that cell. Modes hang|crash|silent act in the
// cell's child (timeout / signal / missing-report paths); sshd and kill act in the parent
// before the cell: sshd SIGKILLs the SSH server process serving this command (the
// connection drops mid-run), kill SIGKILLs kph-cells itself (the command ends by a signal).
static char fault_mode[32];
static const char *fault_cell;
// kph.cells_hold=<cell id> (the harness adds it for an emulator fault timed on that cell): the
// cell's child waits HOLD_S seconds after its start mark, so the fault the fault QEMU injects
// when it sees the mark lands while the cell runs, as a real panic or WARNING in the cell would.
static char hold_cell[1024];
#define HOLD_S 2

// Reads the test hook's fault (above) and kph.cells_mark=1 (start marks, as --mark).
static void load_fault(int *mark)
{
	static char cmdline[4096], word[1024], env[1024];
	const char *f = NULL, *from_cmdline = NULL;
	const char *e = getenv("KPH_FAULT");
	if (e) {
		// The first entry without a VM scope that names a guest fault.
		snprintf(env, sizeof env, "%s", e);
		for (char *w = strtok(env, " \t\n"); w && !f; w = strtok(NULL, " \t\n")) {
			size_t len = strcspn(w, "@");
			if (strchr(w, ':'))
				continue;
			static const char *const guest_faults[] = { "crash", "hang", "silent", "kill", "sshd" };
			for (size_t i = 0; i < sizeof guest_faults / sizeof *guest_faults; i++)
				if (strlen(guest_faults[i]) == len && !strncmp(w, guest_faults[i], len))
					f = w;
		}
	}
	const char *cmdline_path = getenv("KPH_CELLS_CMDLINE"); // test hook: a file instead of the kernel's
	FILE *fp = fopen(cmdline_path ? cmdline_path : "/proc/cmdline", "r");
	size_t n = fp ? fread(cmdline, 1, sizeof cmdline - 1, fp) : 0;
	if (fp)
		fclose(fp);
	cmdline[n] = '\0';
	for (char *w = strtok(cmdline, " \n"); w; w = strtok(NULL, " \n")) {
		if (!strncmp(w, "kph.cells_fault=", 16))
			from_cmdline = w + 16;
		else if (!strcmp(w, "kph.cells_mark=1"))
			*mark = 1;
		else if (!strcmp(w, "kph.fresh_netns=1"))
			pool_on = 0; // as --fresh-netns: for a whole run, through the harness's --append
		else if (!strncmp(w, "kph.cells_hold=", 15))
			snprintf(hold_cell, sizeof hold_cell, "%s", w + 15);
	}
	if (!f || !*f)
		f = from_cmdline;
	if (!f || !*f)
		return;
	snprintf(word, sizeof word, "%s", f);
	char *at = strchr(word, '@');
	if (at) {
		*at = '\0';
		fault_cell = at + 1;
	}
	snprintf(fault_mode, sizeof fault_mode, "%.31s", word);
}

static int fault_applies(const struct cell *c, const char *mode)
{
	return !strcmp(fault_mode, mode) && (!fault_cell || !strcmp(fault_cell, c->id));
}

// Waits (up to 2 s) until what stdout holds has been taken by its reader (the SSH server), so
// the reports of the cells before a fault reach the host before the fault strikes: FIONREAD
// counts a pipe's unread bytes, SIOCOUTQ a socket's unsent ones.
static void drain_stdout(void)
{
	struct stat st;
	if (fstat(STDOUT_FILENO, &st))
		return;
	unsigned long req = S_ISFIFO(st.st_mode) ? FIONREAD : S_ISSOCK(st.st_mode) ? SIOCOUTQ : 0;
	for (int i = 0; req && i < 200; i++) {
		int left = 0;
		if (ioctl(STDOUT_FILENO, req, &left) || left <= 0)
			break;
		usleep(10000);
	}
	usleep(100000); // the reader forwards what it took to the network
}

// The parent's faults: the SSH connection or kph-cells itself dies before the cell runs.
static void maybe_inject_parent_fault(const struct cell *c)
{
	// The faults strike between cells: the reports of the cells before are delivered first.
	if (fault_applies(c, "kill") || fault_applies(c, "sshd"))
		fflush(stdout);
	if (fault_applies(c, "kill"))
		kill(getpid(), SIGKILL);
	if (!fault_applies(c, "sshd"))
		return;
	drain_stdout();
	// Walk up the parents to the nearest dropbear: the process that serves this connection.
	for (pid_t p = getppid(); p > 1;) {
		char path[64], stat[512];
		snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
		FILE *fp = fopen(path, "r");
		size_t n = fp ? fread(stat, 1, sizeof stat - 1, fp) : 0;
		if (fp)
			fclose(fp);
		stat[n] = '\0';
		char *open = strchr(stat, '('), *close = strrchr(stat, ')');
		if (!open || !close)
			return;
		if (!strncmp(open + 1, "dropbear)", 9)) {
			kill(p, SIGKILL);
			sleep(5); // the connection is gone; stdout's next write ends this process
			return;
		}
		int ppid = 0;
		if (sscanf(close + 2, "%*c %d", &ppid) != 1)
			return;
		p = (pid_t)ppid;
	}
}

static void maybe_inject_fault(const struct cell *c)
{
	if (hold_cell[0] && !strcmp(hold_cell, c->id)) {
		struct timespec left = { HOLD_S, 0 };
		while (nanosleep(&left, &left) && errno == EINTR)
			;
	}
	if (!fault_mode[0] || (fault_cell && strcmp(fault_cell, c->id)))
		return;
	if (!strcmp(fault_mode, "hang"))
		for (;;)
			pause();
	if (!strcmp(fault_mode, "crash"))
		raise(SIGSEGV);
	if (!strcmp(fault_mode, "silent"))
		_exit(3);
}

// 32-bit FNV-1a of a cell id: the short name a console mark uses (see wire.ts markOf).
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

// ---------------------------------------------------------------- crash attribution
//
// Console bytes are expensive under TCG (every byte traps), so by default nothing is written
// to the console per cell. A crash is still charged to its cell:
//  - the cell's child is named "kc-<fnv1a of id>" (PR_SET_NAME), so a WARNING, oops or panic
//    raised in its context names it in the splat ("Comm: kc-1a2b3c4d");
//  - the parent reads the kernel's WARNING and oops counters before and after each cell; when
//    they moved, it writes "kph: cell <fnv1a> warned <n>" to the kernel log after the cell
//    (the splat came first) and adds "kernel_warned":<n> to the cell's report;
//  - cells run strictly in order, so after a fatal crash the running cell is the first one
//    without a report (the host's fallback).
// With --mark (or kph.cells_mark=1 on the kernel command line), "kph: cell <fnv1a> start" is
// also written before each cell, as before: the host then charges a crash to the last cell
// started (test/fixtures/fake-qemu uses it to time its injected faults).

// Writes one KERN_WARNING line to the kernel log (loglevel=5 puts it on the console).
// /dev/kmsg is opened per line because writes are rate-limited per open file.
__attribute__((format(printf, 1, 2))) static void kmsg_line(const char *fmt, ...)
{
	char line[128];
	const char *path = getenv("KPH_CELLS_KMSG"); // test hook: a file instead of the kernel log
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	int fd = open(path && *path ? path : "/dev/kmsg", O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return;
	if (n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) < 0) {
		// best effort: a missing mark only weakens crash attribution
	}
	close(fd);
}

// The counters a WARNING or an oops moves. $KPH_CELLS_COUNTERS (colon-separated files) is a
// test hook; /proc/sys/kernel/tainted is the fallback on kernels without the sysfs counters
// (it moves only on a new taint flag, so it is compared, not subtracted).
#define MAX_COUNTERS 4
static int counter_fd[MAX_COUNTERS], ncounters, counters_are_taint;

static void open_counters(void)
{
	static char list[1024];
	const char *env = getenv("KPH_CELLS_COUNTERS");
	snprintf(list, sizeof list, "%s", env && *env ? env : "/sys/kernel/warn_count:/sys/kernel/oops_count");
	for (char *save = NULL, *p = strtok_r(list, ":", &save); p && ncounters < MAX_COUNTERS; p = strtok_r(NULL, ":", &save)) {
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			counter_fd[ncounters++] = fd;
	}
	if (ncounters == 0 && !(env && *env)) {
		int fd = open("/proc/sys/kernel/tainted", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			counter_fd[ncounters++] = fd;
			counters_are_taint = 1;
		}
	}
}

// The sum of the counters now (pread at 0 makes sysfs and procfs produce a fresh value).
static long read_counters(void)
{
	long sum = 0;
	for (int i = 0; i < ncounters; i++) {
		char b[32];
		ssize_t n = pread(counter_fd[i], b, sizeof b - 1, 0);
		if (n > 0) {
			b[n] = '\0';
			sum += strtol(b, NULL, 10);
		}
	}
	return sum;
}

// How many WARNINGs/oopses happened between two readings.
static long counters_moved(long before, long after)
{
	if (counters_are_taint)
		return before != after;
	return after > before ? after - before : 0;
}

// Adds "<key>":n to a report line that ends with "}\n".
static void add_field(struct buf *out, const char *key, long n)
{
	if (out->len < 2 || out->p[out->len - 2] != '}')
		return;
	out->len -= 2;
	buf_printf(out, ",\"%s\":%ld}\n", key, n);
}

// ---------------------------------------------------------------- the cell's child

// Makes the shared report area hold at least need bytes; -1 if mmap fails.
static int ensure_shared(size_t need)
{
	if (shared && need <= shared_cap)
		return 0;
	size_t size = sizeof *shared + (need > 65536 ? need : 65536);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (shared)
		munmap(shared, sizeof *shared + shared_cap);
	shared = p;
	shared_cap = size - sizeof *shared;
	return 0;
}

// The cell's child shares the parent's memory (clone with CLONE_VM, as posix_spawn does): no
// page tables to copy, no copy-on-write faults, a cheap exit; under TCG that memory work is a
// good part of a fork's cost. The parent only sleeps on the child's pidfd meanwhile (or kills
// it), so nothing changes under either; the child writes its own stack, child_out (owned by
// the parent and reused, so nothing leaks) and the shared report area, and leaves by _exit.
#define CHILD_STACK (256 * 1024)
static char *child_stack;
static struct buf child_out;

// --exec: the program's argv (PROG ARGS, then --in-netns, the line, NULL), the line of the cell
// now running (untouched: the program parses it) and the write end of the pipe for its stdout.
#define MAX_EXEC_ARGS 16
static char *exec_argv[MAX_EXEC_ARGS + 3];
static int exec_argn;
static const char *exec_line;
static int exec_out = -1;

// The child of an --exec cell in the pooled namespace: every sysctl a cell may write goes back
// to its fresh value, so the program finds what a fresh namespace has; what it then writes is
// unknown, and the next cell writes all of them again.
static int restore_for_exec(char *reason, size_t len)
{
	if (apply_vals(&fresh, &pool_vals, reason, len))
		return -1;
	shared->vals = (struct ns_vals)NS_VALS_UNKNOWN;
	shared->vals_ok = 1;
	return 0;
}

// The child of an --exec cell: the namespace and lo as for a C cell, then the program. Only a
// failure before the program runs is reported here (in the shared area, as run_cell would).
static void child_exec(const struct cell *c)
{
	char reason[200];
	struct buf *out = &child_out;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	double t = prof ? now_s() : 0;
	out->len = 0;
	if (enter_netns(reason, sizeof reason, &t)) {
		// reason says why
	} else if (pool_ns >= 0 && restore_for_exec(reason, sizeof reason)) {
		// reason says why
	} else if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(exec_out, STDOUT_FILENO) < 0) {
		snprintf(reason, sizeof reason, "setting up the stdin and stdout of %s failed: %s", exec_argv[0], errname(errno));
	} else {
		exec_argv[exec_argn] = "--in-netns";
		exec_argv[exec_argn + 1] = (char *)exec_line;
		exec_argv[exec_argn + 2] = NULL;
		execvp(exec_argv[0], exec_argv);
		snprintf(reason, sizeof reason, "cannot run %s: %s", exec_argv[0], errname(errno));
	}
	report_status(out, c->id, "error", reason);
	if (out->len <= shared_cap) {
		memcpy(shared->text, out->p, out->len);
		__atomic_store_n(&shared->len, out->len, __ATOMIC_RELEASE);
	}
	_exit(0);
}

// Takes the --exec program's report from what it printed: its first line that is a report of
// this cell ({"id":<the id>,…}); copies it into the shared area, where a C child leaves its own.
static void take_exec_report(int fd, const char *id)
{
	static struct buf got, prefix;
	char chunk[4096];
	ssize_t r;
	got.len = 0;
	while ((r = read(fd, chunk, sizeof chunk)) > 0)
		if (got.len < (1 << 20))
			buf_add(&got, chunk, (size_t)r);
	prefix.len = 0;
	buf_add(&prefix, "{\"id\":", 6);
	buf_json_str(&prefix, id);
	buf_add(&prefix, ",", 1);
	for (size_t at = 0; at < got.len;) {
		char *nl = memchr(got.p + at, '\n', got.len - at);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (got.p + at)) + 1;
		if (len > prefix.len && !memcmp(got.p + at, prefix.p, prefix.len) && len <= shared_cap) {
			memcpy(shared->text, got.p + at, len);
			__atomic_store_n(&shared->len, len, __ATOMIC_RELEASE);
			return;
		}
		at += len;
	}
}

static void child_main(const struct cell *c)
{
	struct buf *out = &child_out;
	char comm[16];
	snprintf(comm, sizeof comm, "kc-%08x", fnv1a(c->id));
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	maybe_inject_fault(c);
	if (exec_argn)
		child_exec(c);
	out->len = 0;
	run_cell(c, out);
	double t = prof ? now_s() : 0;
	if (out->len > shared_cap)
		_exit(5);
	memcpy(shared->text, out->p, out->len);
	__atomic_store_n(&shared->len, out->len, __ATOMIC_RELEASE);
	lap(PH_CHILD_WRITE, &t);
	_exit(0);
}

static int child_entry(void *c)
{
	setpgid(0, 0);
	child_main(c);
	return 0;
}

// ---------------------------------------------------------------- the parent

// Report lines are flushed together, at most flush_ms apart (0: each at once): every write
// wakes the SSH server, which encrypts and sends a packet, a cost per line under TCG. A line
// that is not a plain "done" goes out at once, and so does everything before the loop waits
// for input or ends.
static double flush_ms, last_flush;

static void flush_out(void)
{
	fflush(stdout);
	last_flush = now_s();
}

static void emit(const struct buf *b)
{
	fwrite(b->p, 1, b->len, stdout);
	int plain = b->len > 20 && strstr(b->p, "\"status\":\"done\"") && !strstr(b->p, "\"kernel_warned\"");
	if (!plain || flush_ms <= 0 || (now_s() - last_flush) * 1000 >= flush_ms)
		flush_out();
}

// Flushes pending reports when the next getline would wait: the host may be waiting for them.
static void flush_if_input_waits(void)
{
	if (stdin->_IO_read_ptr < stdin->_IO_read_end)
		return;
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	if (poll(&p, 1, 0) == 0)
		flush_out();
}

// Waits for the child to end until the deadline: on its pidfd (Linux >= 5.3), else by polling
// waitpid every millisecond. Returns 1 once reaped (status set), 0 at the deadline, -1 on error.
static int wait_child(pid_t pid, double deadline, int *status)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), rc;
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid) {
			rc = 1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			rc = -1;
			break;
		}
		double left = deadline - now_s();
		if (left <= 0) {
			rc = 0;
			break;
		}
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			poll(&p, 1, (int)(left * 1000) + 1); // ready, timed out or EINTR: waitpid tells
		} else {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	return rc;
}

// Closes the pooled namespace (the kernel tears it down once nothing holds it).
static void pool_close(void)
{
	int *fds[] = { &pool_ns, &pool_stat4, &pool_stat6 };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

// Reads the first "<key> inuse N ..." line of a sockstat file; the count of TCP sockets in use
// plus, with tw, those in TIME_WAIT. -1 if it cannot be read.
static long sockstat_tcp(int fd, const char *key, int with_tw)
{
	char text[1024];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	const char *at = strstr(text, key);
	long inuse, tw;
	if (!at)
		return -1;
	if (!with_tw)
		return sscanf(at + strlen(key), " inuse %ld", &inuse) == 1 ? inuse : -1;
	return sscanf(at + strlen(key), " inuse %ld orphan %*d tw %ld", &inuse, &tw) == 2 ? inuse + tw : -1;
}

// Whether the pooled namespace holds no TCP socket of any state (IPv4 and IPv6, TIME_WAIT too).
static int pool_clean(void)
{
	return sockstat_tcp(pool_stat4, "TCP:", 1) == 0 && (pool_stat6 < 0 || sockstat_tcp(pool_stat6, "TCP6:", 0) == 0);
}

static int read_line(const char *path, char *text, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok = f && fgets(text, (int)len, f);
	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

// The parent enters a new namespace, brings lo up, keeps it (and its sockstat files) as the
// pooled one and returns to its own namespace. With probe, it first reads what a fresh
// namespace starts with into fresh. 0, or -1 (the pool is off: every cell unshares its own).
static int pool_create(int probe)
{
	char text[64];
	int lo, hi;
	if (home_ns < 0 && (home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (unshare(CLONE_NEWNET))
		return -1;
	if (probe) {
		if (!read_line(SYSCTL_RANGE, text, sizeof text) && sscanf(text, "%d %d", &lo, &hi) == 2)
			fresh.range_lo = lo, fresh.range_hi = hi;
		if (have_reuse && !read_line(SYSCTL_REUSE, text, sizeof text) && sscanf(text, "%d", &lo) == 1)
			fresh.reuse = lo;
		if (!read_line(SYSCTL_TW_REUSE, text, sizeof text) && sscanf(text, "%d", &lo) == 1)
			fresh.tw = lo;
		if (!read_line(SYSCTL_RESERVED, text, sizeof text) && text[strspn(text, " \t\n")] == '\0')
			fresh.resv_lo = fresh.resv_hi = 0;
	}
	int ok = !lo_up();
	pool_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	pool_stat4 = open("/proc/self/net/sockstat", O_RDONLY | O_CLOEXEC);
	pool_stat6 = open("/proc/self/net/sockstat6", O_RDONLY | O_CLOEXEC); // none without IPv6
	if (setns(home_ns, CLONE_NEWNET)) {
		fprintf(stderr, "kph-cells: cannot return to the first network namespace: %s\n", errname(errno));
		exit(70);
	}
	if (!ok || pool_ns < 0 || pool_stat4 < 0 || sockstat_tcp(pool_stat4, "TCP:", 1) < 0) {
		pool_close();
		return -1;
	}
	netns_created++;
	pool_vals = fresh;
	return 0;
}

// Forks the child for one cell, relays its report or reports its failure.
static void run_in_child(const struct cell *c, double timeout, struct buf *out)
{
	int status = 0;
	char reason[160];
	pid_t pid;
	double t0 = now_s(), deadline = t0 + timeout, t = t0;

	// Room for the longest report: every op's result, the id escaped, a reason.
	if (ensure_shared(6 * strlen(c->id) + 64 * MAX_OPS + 1024)) {
		snprintf(reason, sizeof reason, "mmap for the report failed: %s", errname(errno));
		report_status(out, c->id, "error", reason);
		return;
	}
	shared->len = 0;
	if (pool_on && pool_ns < 0 && pool_create(0)) {
		fprintf(stderr, "kph-cells: cannot make a pooled network namespace (%s): a fresh one per cell from now on\n", errname(errno));
		pool_on = 0;
	}
	lap(PH_UNSHARE, &t);
	shared->vals = pool_vals; // a cell that never enters the namespace leaves it as it was
	shared->vals_ok = 1;
	if (!child_stack) {
		void *st = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (st == MAP_FAILED) {
			snprintf(reason, sizeof reason, "mmap for the child's stack failed: %s", errname(errno));
			report_status(out, c->id, "error", reason);
			return;
		}
		child_stack = st;
	}
	// --exec: the program's stdout is a pipe, read once it has ended (a report is one short line;
	// the pipe is made roomy so a chattier program does not block on it).
	int pipefd[2] = { -1, -1 };
	if (exec_argn) {
		if (pipe2(pipefd, O_CLOEXEC)) {
			snprintf(reason, sizeof reason, "pipe for %s's report failed: %s", exec_argv[0], errname(errno));
			report_status(out, c->id, "error", reason);
			return;
		}
		fcntl(pipefd[0], F_SETPIPE_SZ, 1 << 20);
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		exec_out = pipefd[1];
	}
	// The child leaves by _exit (or exec): stdio buffers are never written by it.
	pid = clone(child_entry, child_stack + CHILD_STACK, CLONE_VM | SIGCHLD, (void *)c);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		snprintf(reason, sizeof reason, "clone failed: %s", errname(errno));
		report_status(out, c->id, "error", reason);
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		return;
	}
	setpgid(pid, pid);
	lap(PH_FORK, &t);

	int waited = wait_child(pid, deadline, &status), timed_out = waited == 0;
	if (waited != 1) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	lap(PH_CHILD_WAIT, &t);
	if (pipefd[0] >= 0) {
		if (!__atomic_load_n(&shared->len, __ATOMIC_ACQUIRE))
			take_exec_report(pipefd[0], c->id);
		close(pipefd[0]);
	}

	size_t len = __atomic_load_n(&shared->len, __ATOMIC_ACQUIRE);
	const char *got = shared->text;
	int complete = len > 1 && len <= shared_cap && got[len - 1] == '\n' && got[0] == '{' &&
		memchr(got, '\n', len) == got + len - 1;
	if (pool_ns >= 0) {
		if (complete && !timed_out && WIFEXITED(status) && shared->vals_ok && pool_clean()) {
			pool_vals = shared->vals;
			netns_reused++;
		} else {
			pool_close();
		}
	}
	if (timed_out && !complete) {
		snprintf(reason, sizeof reason, "timeout: the cell's child ran longer than %gs and was killed", timeout);
		report_status(out, c->id, "error", reason);
	} else if (complete) {
		out->len = 0;
		buf_add(out, got, len);
	} else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		snprintf(reason, sizeof reason, "the cell's child was killed by signal %d (SIG%s) before reporting",
			 WTERMSIG(status), abbrev ? abbrev : "?");
		report_status(out, c->id, "error", reason);
	} else {
		snprintf(reason, sizeof reason, "the cell's child exited with status %d without a report",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		report_status(out, c->id, "error", reason);
	}
	lap(PH_REAP, &t);
}

// What the kernel has (the sysctls) and what a fresh netns starts with, probed once, in the
// first pooled namespace: a cell then skips writing a sysctl value its namespace already has.
// The pool stays off when a fresh value is unknown (a cell could not put it back).
static void probe_kernel(void)
{
	have_range = file_exists(SYSCTL_RANGE);
	have_reuse = file_exists(SYSCTL_REUSE);
	if (pool_create(1)) {
		pool_on = 0;
		return;
	}
	if (!pool_on || fresh.range_lo < 0 || fresh.tw < 0 || fresh.resv_lo < 0 || (have_reuse && fresh.reuse < 0)) {
		pool_on = 0;
		pool_close();
		netns_created = 0; // the probe's namespace was no cell's
	}
}

// Prints the --profile totals: per phase, the total and the mean per cell, in ms.
static void print_profile(long cells, double wall)
{
	fprintf(stderr, "kph-cells profile: %ld cells in %.3f s (%.1f cells/s)\n", cells, wall, cells ? cells / wall : 0.0);
	for (int i = 0; i < PH_COUNT; i++)
		fprintf(stderr, "  %-13s %9.1f ms  %7.3f ms/cell\n", phase_names[i], prof[i] * 1e3, cells ? prof[i] * 1e3 / (double)cells : 0.0);
	fprintf(stderr, "  netns: %ld created, %ld cells left the pooled one clean for the next\n", netns_created, netns_reused);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kph-cells [--timeout SECONDS] [--flush-ms MS] [--mark] [--profile] [--fresh-netns] [--exec 'PROG ARGS'] [--version]\n"
		"Reads cell lines on stdin, writes one JSON report line per cell on stdout.\n"
		"  --timeout S   per-cell deadline in seconds (default 10); a stuck cell is killed and reported as error\n"
		"  --mark        write \"kph: cell <fnv1a(id)> start\" to /dev/kmsg before each cell (or kph.cells_mark=1)\n"
		"  --profile     time each phase of the loop; print the totals on stderr at the end\n"
		"  --fresh-netns a new network namespace for every cell (default: cells share one while\n"
		"                the cells before left no TCP socket in it; or kph.fresh_netns=1)\n"
		"  --flush-ms MS send \"done\" reports together, at most MS ms apart (default 0: each at once);\n"
		"                other reports, and all before waiting for input, go at once\n"
		"  --exec 'PROG ARGS'  run each cell as PROG ARGS --in-netns '<line>' in the cell's network\n"
		"                namespace (lo up, as fresh) and relay the one report line it prints (the TypeScript guest:\n"
		"                --exec 'node app-guest.cjs'); words are split on spaces\n"
		"  --version     print the protocol version and exit\n"
		"Limits: %d sockets, %d ops, %d destinations per cell.\n"
		"Test hook: KPH_FAULT (or kph.cells_fault= on the kernel command line) =\n"
		"  hang|crash|silent|sshd|kill[@CELL_ID] makes every cell (or that one) misbehave.\n",
		MAX_SOCKS, MAX_OPS, MAX_DSTS);
}

int main(int argc, char **argv)
{
	double timeout = 10;
	int mark = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct buf out = { 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (!strcmp(a, "--version")) {
			printf("kph-cells protocol %d\n", PROTOCOL_VERSION);
			return 0;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--fresh-netns")) {
			pool_on = 0;
			continue;
		} else if (!strcmp(a, "--mark")) {
			mark = 1;
			continue;
		} else if (!strcmp(a, "--profile")) {
			prof = mmap(NULL, sizeof(double) * PH_COUNT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (prof == MAP_FAILED) {
				fprintf(stderr, "kph-cells: --profile: mmap failed: %s\n", errname(errno));
				return 70;
			}
			continue;
		} else if (!strcmp(a, "--exec") && i + 1 < argc) {
			exec_argn = 0;
			for (char *w = strtok(argv[++i], " "); w; w = strtok(NULL, " ")) {
				if (exec_argn == MAX_EXEC_ARGS) {
					fprintf(stderr, "kph-cells: --exec takes at most %d words\n", MAX_EXEC_ARGS);
					return 2;
				}
				exec_argv[exec_argn++] = w;
			}
			if (!exec_argn) {
				fprintf(stderr, "kph-cells: --exec wants a program, got ''\n");
				return 2;
			}
			continue;
		} else if (!strcmp(a, "--flush-ms") && i + 1 < argc) {
			char *end;
			errno = 0;
			flush_ms = strtod(argv[++i], &end);
			if (errno || end == argv[i] || *end || flush_ms < 0 || flush_ms > 3600000) {
				fprintf(stderr, "kph-cells: --flush-ms wants milliseconds in [0, 3600000], got '%s'\n", argv[i]);
				return 2;
			}
			continue;
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			v = argv[++i];
		} else if (!strncmp(a, "--timeout=", 10)) {
			v = a + 10;
		} else {
			fprintf(stderr, "kph-cells: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
		char *end;
		errno = 0;
		timeout = strtod(v, &end);
		if (errno || end == v || *end || !(timeout > 0) || timeout > 86400) {
			fprintf(stderr, "kph-cells: --timeout wants seconds in (0, 86400], got '%s'\n", v);
			return 2;
		}
	}

	load_fault(&mark);
	open_counters();
	probe_kernel();
	// The counters after one cell are the counters before the next: one reading per cell.
	long counted = ncounters ? read_counters() : 0;
	double t = prof ? now_s() : 0, started = t;
	long cells = 0;
	last_flush = now_s();
	for (;;) {
		struct cell c;
		char err[256];
		flush_if_input_waits();
		if ((n = getline(&line, &cap, stdin)) < 0)
			break;
		lap(PH_READ_INPUT, &t);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (strspn(line, " \t") == (size_t)n)
			continue; // blank lines are not cells
		char *copy = strdup(line);
		if (!copy) {
			fprintf(stderr, "kph-cells: out of memory\n");
			return 70;
		}
		const char *id = find_id(copy);
		int bad;
		if (exec_argn) {
			// The program parses the line itself: kph-cells needs only the id.
			memset(&c, 0, sizeof c);
			c.id = id;
			exec_line = line;
			bad = !id;
			if (bad)
				snprintf(err, sizeof err, "no id= in the cell line");
		} else {
			bad = parse_cell(line, &c, err, sizeof err);
		}
		lap(PH_PARSE, &t);
		if (bad) {
			report_status(&out, id, "error", err);
		} else {
			if (mark)
				kmsg_line("<4>kph: cell %08x start\n", fnv1a(c.id));
			lap(PH_MARK, &t);
			maybe_inject_parent_fault(&c);
			double cell_start = now_s();
			run_in_child(&c, timeout, &out);
			// The cell's own duration (fork to report), so the host need not infer it from arrival times.
			add_field(&out, "us", (long)((now_s() - cell_start) * 1e6));
			t = prof ? now_s() : 0;
			long now = ncounters ? read_counters() : 0, warned = counters_moved(counted, now);
			counted = now;
			if (warned) {
				kmsg_line("<4>kph: cell %08x warned %ld\n", fnv1a(c.id), warned);
				add_field(&out, "kernel_warned", warned);
			}
			lap(PH_MARK, &t);
		}
		emit(&out);
		free(copy);
		cells++;
		lap(PH_EMIT, &t);
	}
	flush_out();
	if (prof)
		print_profile(cells, now_s() - started);
	free(line);
	free(out.p);
	return 0;
}
