/* openclose N FILE: N x open(FILE, O_RDONLY) + close. Prints elapsed_ns. */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "iterations");
	const char *path = argc > 2 ? argv[2] : NULL;
	long long t0;

	if (!path) {
		fprintf(stderr, "usage: %s N FILE\n", argv[0]);
		return 2;
	}
	t0 = mono_ns();
	for (long long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die(path);
		close(fd);
	}
	printf("elapsed_ns=%lld ops=%lld\n", mono_ns() - t0, n);
	return 0;
}
