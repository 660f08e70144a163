/* latency N RATE DIR: N times, at RATE per second, creates
 * DIR/lat-<CLOCK_REALTIME ns> and closes it. The file name carries the send
 * time so whoever receives the alert can compute syscall-to-alert latency. */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "count");
	long long rate = arg_ll(argc, argv, 2, "rate");
	const char *dir = argc > 3 ? argv[3] : NULL;
	char path[4096];
	long long t0;

	if (!dir || rate == 0) {
		fprintf(stderr, "usage: %s N RATE DIR\n", argv[0]);
		return 2;
	}
	t0 = mono_ns();
	for (long long i = 0; i < n; i++) {
		long long due = t0 + i * 1000000000LL / rate;
		long long now = mono_ns();
		if (due > now) {
			struct timespec ts = {(due - now) / 1000000000LL, (due - now) % 1000000000LL};
			nanosleep(&ts, NULL);
		}
		snprintf(path, sizeof(path), "%s/lat-%lld", dir, wall_ns());
		int fd = open(path, O_WRONLY | O_CREAT, 0600);
		if (fd < 0)
			die(path);
		close(fd);
	}
	printf("elapsed_ns=%lld ops=%lld\n", mono_ns() - t0, n);
	return 0;
}
