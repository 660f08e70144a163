/* sleepers N SECONDS: starts N children that exec `sleep SECONDS`, prints
 * "ready" when all are running, then waits for a line on stdin (or EOF) and
 * kills them all. Used to measure sensor memory with many live processes. */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "processes");
	const char *secs = argc > 2 ? argv[2] : "600";
	pid_t *pids = calloc((size_t)n + 1, sizeof(pid_t));
	long long started = 0;
	char line[16];

	if (!pids)
		die("calloc");
	for (; started < n; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			break;
		}
		if (pid == 0) {
			execl("/bin/sleep", "sleep", secs, (char *)NULL);
			_exit(127);
		}
		pids[started] = pid;
	}
	printf("ready %lld\n", started);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) {
		/* EOF: the driver went away; clean up all the same. */
	}
	for (long long i = 0; i < started; i++)
		kill(pids[i], SIGKILL);
	for (long long i = 0; i < started; i++)
		waitpid(pids[i], NULL, 0);
	return started == n ? 0 : 1;
}
