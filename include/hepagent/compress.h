/* zlib compression of HEP payloads (chunk 0x0010), with one deflate state
 * reused for every message so the hot path does not allocate. */
#ifndef HEPAGENT_COMPRESS_H
#define HEPAGENT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef struct compressor {
    z_stream zs;
    int ready;
} compressor_t;

int compressor_init(compressor_t *c);
/* Compresses in[0..n) into out (zlib format, level 6 as zlib.compress does).
 * Returns the compressed length, or HA_ENOSPC when it does not fit cap. */
int compressor_run(compressor_t *c, const uint8_t *in, size_t n, uint8_t *out, size_t cap);
void compressor_free(compressor_t *c);

/* Inflates a zlib stream (for tests and the sink). Returns the length or a
 * negative error. */
int compress_inflate(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

#endif
