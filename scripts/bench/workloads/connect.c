/* connect N: N TCP connections over 127.0.0.1 to a listener in a child
 * process; the child accepts, reads one byte and closes; the parent connects,
 * sends one byte, waits for the close. Prints elapsed_ns. */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void serve(int lfd, long long n)
{
	char b;
	for (long long i = 0; i < n; i++) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			die("accept");
		if (read(c, &b, 1) < 0)
			die("read");
		close(c);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	long long n = arg_ll(argc, argv, 1, "connections");
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int one = 1, status;
	long long t0;
	pid_t child;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind");
	if (listen(lfd, 1024) < 0)
		die("listen");
	if (getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0)
		serve(lfd, n);
	close(lfd);

	t0 = mono_ns();
	for (long long i = 0; i < n; i++) {
		char b = 'x';
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			die("socket");
		/* Close with RST instead of entering TIME_WAIT so the local port
		 * range does not run out over tens of thousands of connections. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect");
		if (write(s, &b, 1) != 1)
			die("write");
		/* Wait for the server's close so each iteration is one full round. */
		if (read(s, &b, 1) < 0)
			die("read");
		close(s);
	}
	printf("elapsed_ns=%lld ops=%lld\n", mono_ns() - t0, n);
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
