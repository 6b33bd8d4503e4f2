/* pcapng (draft-ietf-opsawg-pcapng): section headers in either byte order,
 * interface descriptions with if_tsresol/if_tsoffset, enhanced, simple and
 * obsolete packet blocks; other blocks are skipped by their length. Every
 * length is checked against the block before it is used. */
#include "hepagent/pcapng.h"
#include "hepagent/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    BLOCK_SHB = 0x0a0d0d0a,
    BLOCK_IDB = 0x00000001,
    BLOCK_OPB = 0x00000002, /* obsolete packet block */
    BLOCK_SPB = 0x00000003,
    BLOCK_EPB = 0x00000006,
    BYTE_ORDER_MAGIC = 0x1a2b3c4d,
    OPT_ENDOFOPT = 0,
    OPT_IF_TSRESOL = 9,
    OPT_IF_TSOFFSET = 14,
    MAX_BLOCK = 64 << 20,
    MAX_INTERFACES = 4096,
};

typedef struct {
    int linktype;
    uint32_t snaplen;
    uint64_t units_per_sec; /* timestamp resolution */
    int64_t offset_sec;
} interface_t;

struct pcapng {
    FILE *f;
    int swapped; /* the section's byte order differs from little-endian reading */
    uint8_t *block;
    size_t block_cap;
    interface_t *ifs;
    uint32_t nifs;
};

int pcapng_is_pcapng(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t magic[4];
    int is = fread(magic, 1, 4, f) == 4 && le32(magic) == BLOCK_SHB;
    fclose(f);
    return is;
}

pcapng_t *pcapng_open(const char *path, char *err, size_t errlen)
{
    pcapng_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        snprintf(err, errlen, "%s", strerror(errno));
        free(r);
        return NULL;
    }
    return r;
}

void pcapng_close(pcapng_t *r)
{
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->block);
    free(r->ifs);
    free(r);
}

static uint32_t rd32(const pcapng_t *r, const uint8_t *p)
{
    return r->swapped ? be32(p) : le32(p);
}
static uint16_t rd16(const pcapng_t *r, const uint8_t *p)
{
    return r->swapped ? be16(p) : le16(p);
}

/* Reads one whole block into r->block; returns its type, or -1 at a clean
 * end, -2 on error. */
/* Room for a block of len bytes (at most MAX_BLOCK, checked by the caller). */
static int pcapng_reserve(pcapng_t *r, uint32_t len, char *err, size_t errlen)
{
    if (r->block_cap >= len) return 0;
    uint8_t *b = realloc(r->block, len);
    if (!b) {
        snprintf(err, errlen, "out of memory for a %u-byte block", len);
        return -1;
    }
    r->block = b;
    r->block_cap = len;
    return 0;
}

static int64_t pcapng_read_block(pcapng_t *r, uint32_t *len, char *err, size_t errlen)
{
    uint8_t head[8];
    size_t got = fread(head, 1, 8, r->f);
    if (got == 0) return -1;
    if (got < 8) {
        snprintf(err, errlen, "truncated block header");
        return -2;
    }
    uint32_t type = le32(head);
    if (type == BLOCK_SHB) {
        /* the byte-order magic follows the length; peek it to know how to
         * read the length itself */
        uint8_t bom[4];
        if (fread(bom, 1, 4, r->f) != 4) {
            snprintf(err, errlen, "truncated section header");
            return -2;
        }
        if (le32(bom) == BYTE_ORDER_MAGIC)
            r->swapped = 0;
        else if (be32(bom) == BYTE_ORDER_MAGIC)
            r->swapped = 1;
        else {
            snprintf(err, errlen, "bad byte-order magic in section header");
            return -2;
        }
        r->nifs = 0; /* interfaces are numbered per section */
        *len = rd32(r, head + 4);
        if (*len < 28 || *len % 4 || *len > MAX_BLOCK) {
            snprintf(err, errlen, "bad section header length %u", *len);
            return -2;
        }
        if (pcapng_reserve(r, *len, err, errlen) < 0) return -2;
        memcpy(r->block, head, 8);
        memcpy(r->block + 8, bom, 4);
        if (fread(r->block + 12, 1, *len - 12, r->f) != *len - 12) {
            snprintf(err, errlen, "truncated section header");
            return -2;
        }
        return BLOCK_SHB;
    }
    type = rd32(r, head);
    *len = rd32(r, head + 4);
    if (*len < 12 || *len % 4 || *len > MAX_BLOCK) {
        snprintf(err, errlen, "bad block length %u", *len);
        return -2;
    }
    if (pcapng_reserve(r, *len, err, errlen) < 0) return -2;
    memcpy(r->block, head, 8);
    if (fread(r->block + 8, 1, *len - 8, r->f) != *len - 8) {
        snprintf(err, errlen, "truncated block");
        return -2;
    }
    if (rd32(r, r->block + *len - 4) != *len) {
        snprintf(err, errlen, "block length fields disagree");
        return -2;
    }
    return type;
}

static int pcapng_add_interface(pcapng_t *r, uint32_t len, char *err, size_t errlen)
{
    if (len < 20) {
        snprintf(err, errlen, "interface description too short");
        return -1;
    }
    if (r->nifs >= MAX_INTERFACES) {
        snprintf(err, errlen, "more than %d interfaces", MAX_INTERFACES);
        return -1;
    }
    interface_t *grown = realloc(r->ifs, (r->nifs + 1) * sizeof(*grown));
    if (!grown) return -1;
    r->ifs = grown;
    interface_t *i = &r->ifs[r->nifs++];
    i->linktype = rd16(r, r->block + 8);
    i->snaplen = rd32(r, r->block + 12);
    i->units_per_sec = 1000000;
    i->offset_sec = 0;
    /* options: code(2) length(2) value padded to 4 */
    const uint8_t *p = r->block + 16, *end = r->block + len - 4;
    while (p + 4 <= end) {
        uint16_t code = rd16(r, p), olen = rd16(r, p + 2);
        if (code == OPT_ENDOFOPT || p + 4 + olen > end) break;
        if (code == OPT_IF_TSRESOL && olen >= 1) {
            uint8_t v = p[4];
            uint64_t units = 1;
            unsigned exp = v & 0x7f;
            if (v & 0x80)
                units = exp < 64 ? (uint64_t)1 << exp : 0;
            else
                for (unsigned k = 0; k < exp && units <= UINT64_MAX / 10; k++)
                    units *= 10;
            if (units == 0 || exp > 19) units = 1000000; /* unusable: assume microseconds */
            i->units_per_sec = units;
        } else if (code == OPT_IF_TSOFFSET && olen >= 8) {
            /* a 64-bit value in the section's byte order */
            uint64_t v = r->swapped ? ((uint64_t)be32(p + 4) << 32) | be32(p + 8)
                                    : ((uint64_t)le32(p + 8) << 32) | le32(p + 4);
            i->offset_sec = (int64_t)v;
        }
        p += 4 + ((olen + 3u) & ~3u);
    }
    return 0;
}

static void pcapng_time(const interface_t *i, uint64_t ts, struct timeval *tv)
{
    uint64_t sec = ts / i->units_per_sec;
    uint64_t frac = ts % i->units_per_sec;
    uint64_t usec = (uint64_t)((long double)frac * 1000000.0L / (long double)i->units_per_sec);
    tv->tv_sec = (time_t)((int64_t)sec + i->offset_sec);
    tv->tv_usec = (suseconds_t)usec;
}

int pcapng_next(pcapng_t *r, struct pcap_pkthdr *hdr, const uint8_t **data, int *linktype,
                uint32_t *ifindex, char *err, size_t errlen)
{
    for (;;) {
        uint32_t len;
        int64_t type = pcapng_read_block(r, &len, err, errlen);
        if (type == -1) return 0;
        if (type == -2) return -1;
        const uint8_t *b = r->block;
        if (type == BLOCK_IDB) {
            if (pcapng_add_interface(r, len, err, errlen) != 0) return -1;
            continue;
        }
        uint32_t id, caplen, wirelen, body;
        uint64_t ts;
        if (type == BLOCK_EPB || type == BLOCK_OPB) {
            if (len < 32) goto short_block;
            /* the obsolete packet block has a 16-bit interface id and drop count */
            id = type == BLOCK_EPB ? rd32(r, b + 8) : rd16(r, b + 8);
            ts = ((uint64_t)rd32(r, b + 12) << 32) | rd32(r, b + 16);
            caplen = rd32(r, b + 20);
            wirelen = rd32(r, b + 24);
            body = 28;
        } else if (type == BLOCK_SPB) {
            if (len < 16) goto short_block;
            id = 0;
            ts = 0;
            wirelen = rd32(r, b + 8);
            body = 12;
            caplen = len - 16;
            if (r->nifs && r->ifs[0].snaplen && caplen > r->ifs[0].snaplen)
                caplen = r->ifs[0].snaplen;
            if (caplen > wirelen) caplen = wirelen;
        } else {
            continue; /* statistics, name resolution, custom, ... */
        }
        if (id >= r->nifs) {
            snprintf(err, errlen, "packet for undeclared interface %u", id);
            return -1;
        }
        if (caplen > len - body - 4) {
            snprintf(err, errlen, "packet of %u bytes in a block of %u", caplen, len);
            return -1;
        }
        pcapng_time(&r->ifs[id], ts, &hdr->ts);
        hdr->caplen = caplen;
        hdr->len = wirelen < caplen ? caplen : wirelen;
        *data = b + body;
        *linktype = r->ifs[id].linktype;
        *ifindex = id;
        return 1;
    short_block:
        snprintf(err, errlen, "packet block too short (%u bytes)", len);
        return -1;
    }
}

uint32_t pcapng_interface_count(const pcapng_t *r)
{
    return r->nifs;
}
int pcapng_interface_linktype(const pcapng_t *r, uint32_t ifindex)
{
    return ifindex < r->nifs ? r->ifs[ifindex].linktype : -1;
}
