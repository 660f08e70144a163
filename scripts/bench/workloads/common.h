/* Shared helpers for the benchmark workloads: monotonic/wall clocks and the
 * one-line result every workload prints for the driver to parse. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long arg_ll(int argc, char **argv, int i, const char *what)
{
	char *end = NULL;
	long long v;

	if (i >= argc) {
		fprintf(stderr, "%s: missing argument %d (%s)\n", argv[0], i, what);
		exit(2);
	}
	v = strtoll(argv[i], &end, 10);
	if (*argv[i] == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "%s: argument %d (%s) is not a count: %s\n", argv[0], i, what, argv[i]);
		exit(2);
	}
	return v;
}

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

#endif
