/* Segment files of CRC-checked records. Writes go through a small buffer
 * flushed on every loop turn (spool_sync) and whenever it fills; reading
 * keeps one file open at a time and deletes it when done. The read position
 * of the oldest file is kept in "<name>.pos" at sync, so packets already
 * replayed are not replayed again after a restart. */
#include "hepagent/spool.h"
#include "hepagent/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum {
    SPOOL_SEGMENT_BYTES = 4 << 20,
    SPOOL_RECORD_HEADER = 12,
    SPOOL_MAX_SEGMENTS = 65536,
};
static const uint8_t spool_magic[4] = {'H', 'S', 'P', '1'};
#define SPOOL_FIRST_SEQ 0x4000000000000000ull /* room below for prepends */

typedef struct {
    uint64_t seq;
    uint64_t bytes;
    uint64_t packets; /* records in it not read by an earlier reader, when written by this run */
    int counted;      /* packets is exact (else the file is from an earlier run) */
} segment_t;

struct spool {
    char *dir;
    uint64_t max_bytes;
    uint64_t total_bytes;
    segment_t *segs; /* sorted by seq; segs[0] is read, segs[n-1] written */
    size_t nsegs, cap;
    int wfd; /* the last segment, open for appending */
    uint8_t wbuf[65536];
    size_t wlen;
    int rfd; /* the first segment, open for reading */
    uint64_t rseq;
    uint64_t roff;
    uint64_t rpackets; /* records read from it since it was opened */
    spool_stats_t stats;
};

static void spool_save_position(spool_t *s);

static void spool_path(const spool_t *s, uint64_t seq, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".%s", s->dir, seq, ext);
}

static int spool_cmp(const void *a, const void *b)
{
    uint64_t x = ((const segment_t *)a)->seq, y = ((const segment_t *)b)->seq;
    return x < y ? -1 : x > y;
}

static int spool_add_segment(spool_t *s, uint64_t seq, uint64_t bytes, uint64_t packets,
                             int counted)
{
    if (s->nsegs == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        segment_t *grown = realloc(s->segs, cap * sizeof(*grown));
        if (!grown) return HA_ENOMEM;
        s->segs = grown;
        s->cap = cap;
    }
    s->segs[s->nsegs++] = (segment_t){seq, bytes, packets, counted};
    s->total_bytes += bytes;
    return HA_OK;
}

/* mkdir -p */
static int spool_mkdirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

spool_t *spool_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
    if (spool_mkdirs(dir) != 0) {
        snprintf(err, errlen, "spool %s: cannot create: %s", dir, strerror(errno));
        return NULL;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "spool %s: cannot open: %s", dir, strerror(errno));
        return NULL;
    }
    spool_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        closedir(d);
        return NULL;
    }
    s->max_bytes = max_bytes;
    s->wfd = s->rfd = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        uint64_t seq = strtoull(e->d_name, &end, 16);
        if (end != e->d_name + 16 || strcmp(end, ".spool") != 0) continue;
        char path[4096];
        struct stat st;
        spool_path(s, seq, "spool", path, sizeof(path));
        /* a directory of that name would open, fail every read and stay */
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && s->nsegs < SPOOL_MAX_SEGMENTS)
            spool_add_segment(s, seq, (uint64_t)st.st_size, 0, 0);
    }
    closedir(d);
    /* an empty directory leaves segs NULL, which qsort may not be given */
    if (s->nsegs > 1) qsort(s->segs, s->nsegs, sizeof(*s->segs), spool_cmp);
    return s;
}

static void spool_remove_segment(spool_t *s, size_t i)
{
    char path[4096];
    spool_path(s, s->segs[i].seq, "spool", path, sizeof(path));
    unlink(path);
    spool_path(s, s->segs[i].seq, "pos", path, sizeof(path));
    unlink(path);
    s->total_bytes -= s->segs[i].bytes;
    memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof(*s->segs));
    s->nsegs--;
}

static int spool_flush_writes(spool_t *s)
{
    size_t off = 0;
    while (off < s->wlen) {
        ssize_t w = write(s->wfd, s->wbuf + off, s->wlen - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            s->wlen = 0;
            return HA_EIO;
        }
        off += (size_t)w;
    }
    s->wlen = 0;
    return HA_OK;
}

static void spool_close_writer(spool_t *s)
{
    if (s->wfd < 0) return;
    spool_flush_writes(s);
    close(s->wfd);
    s->wfd = -1;
}

/* A segment's packets are those not yet read: what this reader read comes
 * off when it closes (the position is kept in the .pos file). */
static void spool_close_reader(spool_t *s)
{
    if (s->rfd < 0) return;
    close(s->rfd);
    s->rfd = -1;
    if (s->nsegs && s->segs[0].seq == s->rseq)
        s->segs[0].packets -= HA_MIN(s->rpackets, s->segs[0].packets);
    s->rpackets = 0;
}

/* Drops the oldest segment to make room; returns 0 if there is none but the
 * one being written. */
static int spool_drop_oldest(spool_t *s)
{
    if (s->nsegs < 2) return 0;
    const segment_t *seg = &s->segs[0];
    int reading = s->rfd >= 0 && s->rseq == seg->seq;
    /* the packets not yet read from it are lost: counted exactly when this
     * run wrote it, estimated from what is left of a file found at start */
    if (seg->counted) {
        uint64_t read = reading ? s->rpackets : 0;
        s->stats.evicted += seg->packets > read ? seg->packets - read : 0;
    } else {
        uint64_t left = seg->bytes - (reading && s->roff < seg->bytes ? s->roff : 0);
        s->stats.evicted += left / 512 + 1;
    }
    if (reading) spool_close_reader(s);
    spool_remove_segment(s, 0);
    return 1;
}

static void spool_record(uint8_t *h, const uint8_t *pkt, size_t len)
{
    memcpy(h, spool_magic, 4);
    put_be32(h + 4, (uint32_t)len);
    put_be32(h + 8, (uint32_t)crc32(0, pkt, (uInt)len));
}

int spool_append(spool_t *s, const uint8_t *pkt, size_t len, int drop_oldest)
{
    size_t need = SPOOL_RECORD_HEADER + len;
    while (s->total_bytes + s->wlen + need > s->max_bytes) {
        if (!drop_oldest || !spool_drop_oldest(s)) {
            s->stats.dropped_full++;
            return HA_ENOSPC;
        }
    }
    if (s->wfd < 0 || s->segs[s->nsegs - 1].bytes + s->wlen + need > SPOOL_SEGMENT_BYTES ||
        (s->rfd >= 0 && s->rseq == s->segs[s->nsegs - 1].seq)) {
        /* a new segment: never append to the one being read */
        spool_close_writer(s);
        uint64_t seq = s->nsegs ? s->segs[s->nsegs - 1].seq + 1 : SPOOL_FIRST_SEQ;
        char path[4096];
        spool_path(s, seq, "spool", path, sizeof(path));
        s->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (s->wfd < 0 || spool_add_segment(s, seq, 0, 0, 1) != HA_OK) {
            if (s->wfd >= 0) close(s->wfd);
            s->wfd = -1;
            s->stats.write_errors++;
            return HA_EIO;
        }
    }
    if (s->wlen + need > sizeof(s->wbuf) && spool_flush_writes(s) != HA_OK) {
        s->stats.write_errors++;
        return HA_EIO;
    }
    spool_record(s->wbuf + s->wlen, pkt, len);
    memcpy(s->wbuf + s->wlen + SPOOL_RECORD_HEADER, pkt, len);
    s->wlen += need;
    s->segs[s->nsegs - 1].bytes += need;
    s->segs[s->nsegs - 1].packets++;
    s->total_bytes += need;
    s->stats.written++;
    return HA_OK;
}

int spool_prepend(spool_t *s, const uint8_t *const *pkts, const size_t *lens, size_t n)
{
    if (n == 0) return HA_OK;
    spool_sync(s);
    spool_save_position(s);
    spool_close_reader(s);
    uint64_t seq = s->nsegs ? s->segs[0].seq - 1 : SPOOL_FIRST_SEQ;
    char path[4096];
    spool_path(s, seq, "spool", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return HA_EIO;
    uint64_t bytes = 0;
    int rc = HA_OK;
    for (size_t i = 0; i < n && rc == HA_OK; i++) {
        uint8_t h[SPOOL_RECORD_HEADER];
        spool_record(h, pkts[i], lens[i]);
        if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
            write(fd, pkts[i], lens[i]) != (ssize_t)lens[i])
            rc = HA_EIO;
        bytes += sizeof(h) + lens[i];
        s->stats.written++;
    }
    close(fd);
    /* insert at the front */
    if (spool_add_segment(s, seq, bytes, n, 1) == HA_OK) {
        segment_t seg = s->segs[s->nsegs - 1];
        memmove(&s->segs[1], &s->segs[0], (s->nsegs - 1) * sizeof(*s->segs));
        s->segs[0] = seg;
    }
    return rc;
}

/* Opens the oldest segment for reading, at its saved position. */
static int spool_open_reader(spool_t *s)
{
    char path[4096];
    spool_path(s, s->segs[0].seq, "spool", path, sizeof(path));
    s->rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->rfd < 0) return 0;
    s->rseq = s->segs[0].seq;
    s->roff = 0;
    s->rpackets = 0;
    spool_path(s, s->segs[0].seq, "pos", path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (f) {
        uint64_t off;
        if (fscanf(f, "%" SCNu64, &off) == 1 && off <= s->segs[0].bytes) s->roff = off;
        fclose(f);
    }
    lseek(s->rfd, (off_t)s->roff, SEEK_SET);
    return 1;
}

static int spool_read_exact(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    return 1;
}

int spool_read(spool_t *s, uint8_t *buf, size_t cap, size_t *len)
{
    while (s->nsegs > 0) {
        if (s->wfd >= 0 && s->nsegs == 1) {
            /* only the segment being written is left: finish it first */
            spool_close_writer(s);
        }
        if (s->rfd < 0 && !spool_open_reader(s)) {
            spool_remove_segment(s, 0);
            continue;
        }
        uint8_t h[SPOOL_RECORD_HEADER];
        if (s->roff >= s->segs[0].bytes) {
            spool_close_reader(s);
            spool_remove_segment(s, 0);
            continue;
        }
        /* a header cut short (a crash during a write) is a damaged record too */
        uint32_t n = 0;
        int ok = spool_read_exact(s->rfd, h, sizeof(h));
        if (ok) n = be32(h + 4);
        ok = ok && memcmp(h, spool_magic, 4) == 0 && n >= 6 && n <= cap &&
             spool_read_exact(s->rfd, buf, n) && (uint32_t)crc32(0, buf, n) == be32(h + 8) &&
             memcmp(buf, "HEP3", 4) == 0 && be16(buf + 4) == n;
        if (!ok) {
            /* a damaged record: nothing after it in this file can be trusted */
            s->stats.corrupt++;
            spool_close_reader(s);
            spool_remove_segment(s, 0);
            continue;
        }
        s->roff += sizeof(h) + n;
        s->rpackets++;
        *len = n;
        s->stats.read++;
        return 1;
    }
    return 0;
}

void spool_unread(spool_t *s, size_t len)
{
    uint64_t back = SPOOL_RECORD_HEADER + len;
    if (s->rfd < 0 || s->roff < back || s->rpackets == 0) return;
    s->roff -= back;
    lseek(s->rfd, (off_t)s->roff, SEEK_SET);
    s->rpackets--;
    s->stats.read--;
}

uint64_t spool_bytes(const spool_t *s)
{
    return s->total_bytes + s->wlen;
}
uint64_t spool_own_packets(const spool_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const segment_t *seg = &s->segs[i];
        if (!seg->counted) continue;
        n += seg->packets;
        if (s->rfd >= 0 && s->rseq == seg->seq) n -= HA_MIN(s->rpackets, seg->packets);
    }
    return n;
}

int spool_empty(const spool_t *s)
{
    return s->nsegs == 0;
}

void spool_sync(spool_t *s)
{
    if (s->wfd >= 0 && s->wlen && spool_flush_writes(s) != HA_OK) s->stats.write_errors++;
}

/* Records where reading stopped, for the next run. */
static void spool_save_position(spool_t *s)
{
    if (s->rfd >= 0 && s->nsegs && s->rseq == s->segs[0].seq) {
        char path[4096];
        spool_path(s, s->rseq, "pos", path, sizeof(path));
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%" PRIu64 "\n", s->roff);
            fclose(f);
        }
    }
}

const spool_stats_t *spool_stats(const spool_t *s)
{
    return &s->stats;
}

void spool_close(spool_t *s)
{
    if (!s) return;
    spool_sync(s);
    spool_save_position(s);
    spool_close_writer(s);
    spool_close_reader(s);
    free(s->segs);
    free(s->dir);
    free(s);
}
