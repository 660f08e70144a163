/* forkexec N [PROGRAM [ENV_BYTES]]: N x fork + execve(PROGRAM, default
 * /bin/true) + wait. The child's environment is PATH alone, or with
 * ENV_BYTES also one variable of about that many bytes (the size of a
 * typical shell environment, to measure proc.env capture). */
#include "common.h"
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "iterations");
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	long long env_bytes = argc > 3 ? arg_ll(argc, argv, 3, "environment bytes") : 0;
	char *const child_argv[] = {(char *)prog, NULL};
	char *child_env[] = {"PATH=/usr/bin:/bin", NULL, NULL};
	long long t0;

	if (env_bytes > 0) {
		char *filler = malloc((size_t)env_bytes + 8);
		if (!filler)
			die("malloc");
		memcpy(filler, "FILLER=", 7);
		memset(filler + 7, 'x', (size_t)env_bytes);
		filler[7 + env_bytes] = '\0';
		child_env[1] = filler;
	}
	t0 = mono_ns();
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
