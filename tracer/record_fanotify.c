/* The fanotify recorder: a filesystem mark on the sandbox's overlay sees
 * every open, exec and directory open, including the files the kernel
 * opens itself (the dynamic loader's, a script's interpreter). Beside
 * seccomp notification it marks execs alone: notification sees every
 * open the program makes for less than the opens cost fanotify (bench/),
 * and fanotify adds what no syscall shows, the files exec opens. */
#define _GNU_SOURCE
#include "tracer/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAN_MASK (FAN_OPEN | FAN_OPEN_EXEC | FAN_CLOSE_WRITE | FAN_ONDIR)

int fan_open(struct perr *err)
{
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
			       O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
	if (fd < 0)
		return perr_set(err, errno, "cannot start fanotify%s",
				errno == EPERM ? " (Hint: it needs root; use --tracer ptrace)" : "");
	return fd;
}

int fan_mark(int fan, pid_t init, bool execs_only, struct perr *err)
{
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", (int)init);
	uint64_t mask = execs_only ? FAN_OPEN_EXEC : FAN_MASK;
	if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, root) == 0)
		return 0;
	/* Linux < 4.20 has no filesystem marks; a mount mark sees the same
	 * opens as long as nothing is mounted over the image's paths. */
	if (errno == EINVAL &&
	    fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, root) == 0)
		return 0;
	return perr_set(err, errno, "cannot add a fanotify mark on the sandbox root");
}

static void fan_record(struct loop *l, const struct fanotify_event_metadata *m, const char *path,
		       bool dir)
{
	uint32_t exe = exe_of(l, m->pid);
	if (m->mask & FAN_OPEN_EXEC) {
		trace_add(l->t, path, OP_EXEC, exe, SRC_FANOTIFY);
		proc_forget(l, m->pid); /* it runs something else from now on */
	}
	if (m->mask & FAN_OPEN)
		trace_add(l->t, path, dir ? OP_OPEN_DIR : OP_OPEN_READ, exe,
			  SRC_FANOTIFY);
	if (m->mask & FAN_CLOSE_WRITE)
		trace_add(l->t, path, OP_OPEN_WRITE, exe, SRC_FANOTIFY);
}

void fan_drain(struct loop *l)
{
	static char buf[65536] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	for (;;) {
		ssize_t n = read(l->fan, buf, sizeof(buf));
		if (n <= 0)
			return;
		const struct fanotify_event_metadata *m = (void *)buf;
		for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			l->t->events_fanotify++;
			if (m->vers != FANOTIFY_METADATA_VERSION) {
				trace_set_lost(l->t, "unexpected fanotify metadata version");
				continue;
			}
			if (m->mask & FAN_Q_OVERFLOW)
				trace_set_lost(l->t, "the fanotify queue overflowed");
			if (m->fd < 0)
				continue;
			char path[4096];
			struct stat st;
			ssize_t len = fd_path(m->fd, path, sizeof(path));
			/* Legacy (fd) groups do not report FAN_ONDIR in the mask. */
			bool dir = fstat(m->fd, &st) == 0 && S_ISDIR(st.st_mode);
			close(m->fd);
			if (len < 0) {
				trace_set_lost(l->t, "an fanotify event's path could not be read");
				continue;
			}
			static const char deleted[] = " (deleted)";
			if ((size_t)len > sizeof(deleted) && !strcmp(path + len - 10, deleted))
				path[len - 10] = 0;
			if (path[0] == '/' && !is_virtual(path))
				fan_record(l, m, path, dir);
		}
	}
}
