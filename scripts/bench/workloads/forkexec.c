/* forkexec N [PROGRAM]: N x fork + execve(PROGRAM, default /bin/true) + wait. */
#include "common.h"
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "iterations");
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	char *const child_argv[] = {(char *)prog, NULL};
	char *const child_env[] = {"PATH=/usr/bin:/bin", NULL};
	long long t0 = mono_ns();

	for (long long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execve(prog, child_argv, child_env);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s exited abnormally (status %d)\n", prog, status);
			return 1;
		}
	}
	printf("elapsed_ns=%lld ops=%lld\n", mono_ns() - t0, n);
	return 0;
}
