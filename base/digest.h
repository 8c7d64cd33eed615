/* Streaming sha256 through OpenSSL EVP (uses the CPU's SHA extensions). */
#ifndef PARE_DIGEST_H
#define PARE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_STR_LEN 71 /* "sha256:" + 64 hex */

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Writes "sha256:<hex>" into OUT and releases the context. */
void sha256_final(struct sha256 *h, char out[DIGEST_STR_LEN + 1]);
void sha256_free(struct sha256 *h);
void sha256_buf(const void *p, size_t n, char out[DIGEST_STR_LEN + 1]);
/* IN read to its end: copied to OUT when OUT >= 0, hashed into DIGEST
 * when DIGEST is not NULL. 0, or -1 with errno set (DIGEST untouched). */
int sha256_copy_fd(int in, int out, char digest[DIGEST_STR_LEN + 1]);

/* Only "sha256:" followed by 64 lowercase hex digits is accepted: digests
 * become file names, so anything looser is a path-traversal risk. */
bool digest_valid(const char *d);
/* The hex part of a valid digest. */
static inline const char *digest_hex(const char *d) { return d + 7; }

#endif
