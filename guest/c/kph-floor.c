// kph-floor: the floor a cell loop is measured against (npm run bench). It does the least a
// cell must do, in a loop: fork; the child enters a fresh network namespace, makes two
// SO_REUSEADDR TCP sockets, binds both to port 0 on the wildcard address and exits; the
// parent waits for it. No sysctl, no loopback, no report: what is left is the kernel's cost
// of a process and a network namespace (set-up and teardown), the same in any harness.
//
// Prints one JSON line on stdout: {"iterations":N,"seconds":S,"per_s":R,"failures":F}
// (a failure is a child that did not exit 0; its first reason goes to stderr).
//
// Build: gcc -static -O2 -Wall -Wextra -Werror -o kph-floor kph-floor.c
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// With --lo, each namespace also brings lo up (what a loopback cell needs): the breakdown's second floor.
static int with_lo;

// The child's work: a fresh netns, two SO_REUSEADDR sockets bound to port 0. Exit status = step that failed.
static int child(void)
{
	if (unshare(CLONE_NEWNET))
		return 1;
	if (with_lo) {
		struct ifreq ifr = { .ifr_name = "lo" };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
			return 5;
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			return 5;
		close(fd);
	}
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_ANY) };
		int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return 2;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
			return 3;
		if (bind(fd, (struct sockaddr *)&a, sizeof a))
			return 4;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kph-floor [--count N] [--seconds S] [--lo]\n"
		   "Forks N children (default 200), or as many as fit in S seconds, each entering a fresh\n"
		   "network namespace and binding two SO_REUSEADDR sockets to port 0; prints a JSON line.\n"
		   "  --lo  also bring lo up in each namespace (what a loopback cell adds to the floor)\n");
}

int main(int argc, char **argv)
{
	long count = 200;
	double seconds = 0;
	for (int i = 1; i < argc; i++) {
		char *end = NULL;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--lo")) {
			with_lo = 1;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = strtol(argv[++i], &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "kph-floor: --count wants a positive integer, got '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = strtod(argv[++i], &end);
			if (*end || !(seconds > 0)) {
				fprintf(stderr, "kph-floor: --seconds wants a positive number, got '%s'\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "kph-floor: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	long done = 0, failures = 0;
	double t0 = now_s();
	while (seconds > 0 ? now_s() - t0 < seconds : done < count) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "kph-floor: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0)
			_exit(child());
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "kph-floor: waitpid: %s\n", strerror(errno));
				return 1;
			}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			if (!failures)
				fprintf(stderr, "kph-floor: a child failed (status 0x%x: step %d)\n", status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			failures++;
		}
		done++;
	}
	double wall = now_s() - t0;
	printf("{\"iterations\":%ld,\"seconds\":%.6f,\"per_s\":%.3f,\"failures\":%ld}\n", done, wall, done / wall, failures);
	return failures ? 1 : 0;
}
