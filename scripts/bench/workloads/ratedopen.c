/* ratedopen RATE SECONDS DIR [ALERT_EVERY]: opens DIR/f (created first) at
 * RATE opens per second for SECONDS, every ALERT_EVERY-th open (default 0 =
 * never) opening DIR/alert instead. Paced in 1 ms slots so the rate holds
 * over short windows too. Prints the achieved rate. */
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		die(path);
	close(fd);
}

int main(int argc, char **argv)
{
	long long rate = arg_ll(argc, argv, 1, "rate");
	long long secs = arg_ll(argc, argv, 2, "seconds");
	const char *dir = argc > 3 ? argv[3] : NULL;
	long long alert_every = argc > 4 ? arg_ll(argc, argv, 4, "alert every") : 0;
	char plain[4096], alert[4096];
	long long t0, end, done = 0, now;

	if (!dir || rate == 0) {
		fprintf(stderr, "usage: %s RATE SECONDS DIR [ALERT_EVERY]\n", argv[0]);
		return 2;
	}
	snprintf(plain, sizeof(plain), "%s/f", dir);
	snprintf(alert, sizeof(alert), "%s/alert", dir);
	touch(plain);
	touch(alert);

	t0 = mono_ns();
	end = t0 + secs * 1000000000LL;
	while ((now = mono_ns()) < end) {
		/* Opens due by now according to the target rate. */
		long long due = (long long)((double)(now - t0) * (double)rate / 1e9);
		if (done >= due) {
			struct timespec slot = {0, 200000};
			nanosleep(&slot, NULL);
			continue;
		}
		/* At most one slot's worth per pass, so the end time is checked
		 * even when the target rate is beyond what one thread can do. */
		long long slot = rate / 1000 + 1 < 10000 ? rate / 1000 + 1 : 10000;
		if (due - done > slot)
			due = done + slot;
		while (done < due) {
			const char *p = (alert_every && (done % alert_every) == 0) ? alert : plain;
			int fd = open(p, O_RDONLY);
			if (fd < 0)
				die(p);
			close(fd);
			done++;
		}
	}
	now = mono_ns();
	printf("elapsed_ns=%lld ops=%lld rate=%.0f\n", now - t0, done,
	       (double)done * 1e9 / (double)(now - t0));
	return 0;
}
