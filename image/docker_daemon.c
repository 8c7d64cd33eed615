/* The docker-daemon transport (docker-daemon:NAME:TAG): the docker CLI
 * saves the image, read as a docker-archive. The CLI is the host's own
 * program, never anything from an image. */
#define _GNU_SOURCE
#include "image/transport.h"
#include "base/digest.h"
#include "base/resolve.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

extern char **environ;

/* ---------- docker daemon ---------- */

int docker_spawn(char *const argv[], int fd, bool fd_is_stdin, pid_t *pid, int *errfd,
		 struct perr *err)
{
	posix_spawn_file_actions_t fa;
	const char *dir = getenv("TMPDIR");
	cleanup_close int efd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int r;
	if (efd < 0)
		return perr_set(err, errno, "cannot create a temporary file");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, fd_is_stdin ? 0 : 1);
	posix_spawn_file_actions_addopen(&fa, fd_is_stdin ? 1 : 0, "/dev/null", O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, efd, 2);
	r = posix_spawnp(pid, "docker", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return perr_set(err, r, "cannot run docker");
	*errfd = steal_fd(&efd);
	return 0;
}

int docker_wait(pid_t pid, int errfd, const char *what, struct perr *err)
{
	int status;
	char msg[512] = "";
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ssize_t n = pread(errfd, msg, sizeof(msg) - 1, 0);
	close(errfd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[n > 0 ? n : 0] = 0;
	char *nl = strchr(msg, '\n');
	if (nl)
		*nl = 0;
	return perr_set(err, 0, "%s failed: %s", what, msg[0] ? msg : "docker exited with an error");
}

static int docker_save(struct image *img, struct perr *err)
{
	int pfd[2];
	pid_t pid;
	int efd;
	char *argv[] = { "docker", "save", img->ref.tag, NULL };
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return perr_set(err, errno, "pipe");
	if (docker_spawn(argv, pfd[1], false, &pid, &efd, err) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(pfd[1]);
	int fd = spool_to_tmpfile(pfd[0], &img->lim, err);
	close(pfd[0]);
	if (fd < 0)
		kill(pid, SIGTERM);
	int r = docker_wait(pid, efd, "docker save", fd < 0 ? NULL : err);
	if (fd < 0 || r < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int daemon_open(struct image *img, const struct platform_want *w, struct perr *err)
{
	(void)w;
	int fd = docker_save(img, err);
	return fd < 0 ? -1 : open_docker_archive(img, fd, err);
}

const struct transport_ops docker_daemon_transport = { daemon_open, docker_archive_open_layer,
						       docker_archive_close };
