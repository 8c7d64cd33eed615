#include "base/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

void sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		fputs("pare: cannot initialise sha256\n", stderr);
		abort();
	}
	h->ctx = c;
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(h->ctx, p, n);
}

void sha256_final(struct sha256 *h, char out[DIGEST_STR_LEN + 1])
{
	unsigned char md[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(h->ctx, md, &len);
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	sha256_free(h);
}

void sha256_free(struct sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void sha256_buf(const void *p, size_t n, char out[DIGEST_STR_LEN + 1])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, p, n);
	sha256_final(&h, out);
}

bool digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != DIGEST_STR_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int sha256_copy_fd(int in, int out, char digest[DIGEST_STR_LEN + 1])
{
	char buf[1 << 16];
	struct sha256 h = { 0 };
	ssize_t r;
	if (digest)
		sha256_init(&h);
	while ((r = read(in, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		if (r < 0)
			continue;
		if (digest)
			sha256_update(&h, buf, (size_t)r);
		if (out >= 0 && write_all(out, buf, (size_t)r) < 0)
			break;
	}
	if (r != 0) { /* a read or a write failed */
		int e = errno;
		if (digest)
			sha256_free(&h);
		errno = e;
		return -1;
	}
	if (digest)
		sha256_final(&h, digest);
	return 0;
}
