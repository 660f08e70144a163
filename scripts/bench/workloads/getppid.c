/* getppid N: N x getppid(), a syscall no rule watches. Prints elapsed_ns. */
#include "common.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "iterations");
	long long t0 = mono_ns();

	for (long long i = 0; i < n; i++)
		syscall(SYS_getppid); /* not the libc wrapper: never cached */
	printf("elapsed_ns=%lld ops=%lld\n", mono_ns() - t0, n);
	return 0;
}
