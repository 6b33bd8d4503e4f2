/* Payload compression for collectors that opt in (see hep3.md: most receivers
 * do not decode chunk 0x0010). */
#include "hepagent/compress.h"
#include "hepagent/common.h"

#include <string.h>

int compressor_init(compressor_t *c)
{
    memset(c, 0, sizeof(*c));
    if (deflateInit(&c->zs, 6) != Z_OK) return HA_ENOMEM;
    c->ready = 1;
    return HA_OK;
}

int compressor_run(compressor_t *c, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    if (!c->ready || n > UINT32_MAX || cap > UINT32_MAX) return HA_EINVAL;
    deflateReset(&c->zs);
    c->zs.next_in = (Bytef *)(uintptr_t)in;
    c->zs.avail_in = (uInt)n;
    c->zs.next_out = out;
    c->zs.avail_out = (uInt)cap;
    int rc = deflate(&c->zs, Z_FINISH);
    if (rc != Z_STREAM_END) return HA_ENOSPC;
    return (int)(cap - c->zs.avail_out);
}

void compressor_free(compressor_t *c)
{
    if (c->ready) deflateEnd(&c->zs);
    c->ready = 0;
}

int compress_inflate(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    if (n > UINT32_MAX || cap > UINT32_MAX) return HA_EINVAL;
    uLongf out_len = (uLongf)cap;
    int rc = uncompress(out, &out_len, in, (uLong)n);
    if (rc == Z_BUF_ERROR) return HA_ENOSPC;
    if (rc != Z_OK) return HA_EINVAL;
    return (int)out_len;
}
