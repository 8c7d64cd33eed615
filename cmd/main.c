/* pare: make container images small by watching what they use. */
#include "cmd/cmd.h"

#include <errno.h>
#include <string.h>

#ifndef PARE_VERSION
#define PARE_VERSION "0.1.0"
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "inspect", cmd_inspect, "show an image's config, layers and notable files" },
	{ "unpack", cmd_unpack, "apply an image's layers into a directory, safely" },
	{ "copy", cmd_copy, "convert an image between transports" },
	{ "run", cmd_run, "run an image's program in the sandbox, untraced" },
	{ "probe", cmd_probe, "run it traced and record every file it touches" },
	{ "slim", cmd_slim, "probe it, keep what it uses, write a small image, verify it" },
	{ "fleet", cmd_fleet, "slim many images so that they share layers" },
	{ "profile", cmd_profile, "list, check, write and explain keep-list profiles" },
	{ "cache", cmd_cache, "list and prune the unpacked images run, probe and slim reuse" },
};

static void usage(FILE *f)
{
	fputs("usage: pare COMMAND [OPTIONS] ...\n\ncommands:\n", f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nimage references (skopeo's syntax):\n"
	      "  oci:DIR[:TAG]                   OCI image layout\n"
	      "  docker-archive:FILE[:NAME:TAG]  `docker save` tarball ('-' = stdin/stdout)\n"
	      "  docker-daemon:NAME:TAG          the local docker daemon (docker save/load)\n"
	      "  PATH                            a directory with oci-layout, or an archive file\n"
	      "\nexit status:\n"
	      "  0  success\n  1  failure (the message says why)\n  2  usage error\n"
	      "\nRun 'pare COMMAND --help' for a command's options.\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pare %s\n", PARE_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		int r = commands[i].fn(argc - 1, argv + 1);
		/* JSON may go to stdout: a failed flush is a failed command. */
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "pare: cannot write to standard output: %s\n", strerror(errno));
			return EXIT_FAIL;
		}
		return r;
	}
	fprintf(stderr, "pare: unknown command '%s'\n(Hint: see 'pare --help')\n", argv[1]);
	return EXIT_USAGE;
}
