/* The key log store and its sources; see keylog.h. The table is chained,
 * keyed by the client random through a hash seeded at start (client
 * randoms are chosen by whoever connects), bounded by max_sessions with the
 * oldest session evicted first. Every buffer that held key log text is
 * wiped after use. */
#include "hepagent/keylog.h"
#include "hepagent/common.h"
#include "hepagent/log.h"
#include "hepagent/lru.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OLDEST(k) LRU_ENTRY((k)->lru.head, keylog_entry_t, lru)

enum {
    READ_CHUNK = 65536,
    READ_PER_POLL = 4 << 20, /* a huge burst is read over several polls */
    QUIET_POLLS = 2,         /* a line without its end is taken after this many quiet polls */
};

typedef struct keylog_entry {
    struct keylog_entry *hash_next;
    lru_node_t lru;
    uint32_t bucket;
    uint8_t random[KEYLOG_RANDOM_LEN];
    uint8_t have; /* bit per keylog_kind_t */
    keylog_secret_t secret[KEYLOG_KINDS];
} keylog_entry_t;

/* A line being assembled from reads that may end anywhere. */
typedef struct {
    char text[KEYLOG_LINE_MAX];
    size_t len;
    int overflow; /* the line passed KEYLOG_LINE_MAX: skipped to its end */
} linebuf_t;

typedef struct keylog_file {
    struct keylog_file *next;
    keylog_t *k;
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    off_t offset;
    linebuf_t line;
    int quiet; /* polls since the partial line last grew */
    int missing_logged;
} keylog_file_t;

struct keylog {
    keylog_stats_t stats;
    uint32_t max_sessions;
    keylog_entry_t **buckets;
    uint32_t nbuckets;
    uint64_t seed;
    lru_list_t lru;
    size_t count;
    keylog_notify_fn notify;
    void *notify_ctx;
    keylog_file_t *files;
    uv_timer_t poll;
    int poll_started;
    uv_udp_t udp;
    int udp_started;
    char udp_buf[65536];
};

/* ---- the store -------------------------------------------------------- */

keylog_t *keylog_new(uint32_t max_sessions)
{
    keylog_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    k->max_sessions = max_sessions ? max_sessions : 1;
    k->nbuckets = 256;
    while (k->nbuckets < k->max_sessions && k->nbuckets < (1u << 22))
        k->nbuckets *= 2;
    k->buckets = calloc(k->nbuckets, sizeof(*k->buckets));
    if (!k->buckets || RAND_bytes((unsigned char *)&k->seed, sizeof(k->seed)) != 1) {
        free(k->buckets);
        free(k);
        return NULL;
    }
    return k;
}

void keylog_set_notify(keylog_t *k, keylog_notify_fn fn, void *ctx)
{
    k->notify = fn;
    k->notify_ctx = ctx;
}

static uint32_t keylog_hash(const keylog_t *k, const uint8_t *random)
{
    uint64_t h = 14695981039346656037ull ^ k->seed;
    for (int i = 0; i < KEYLOG_RANDOM_LEN; i++)
        h = (h ^ random[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static keylog_entry_t *entry_find(const keylog_t *k, const uint8_t *random, uint32_t *bucket)
{
    *bucket = keylog_hash(k, random) & (k->nbuckets - 1);
    for (keylog_entry_t *e = k->buckets[*bucket]; e; e = e->hash_next)
        if (memcmp(e->random, random, KEYLOG_RANDOM_LEN) == 0) return e;
    return NULL;
}

static void entry_destroy(keylog_t *k, keylog_entry_t *e)
{
    keylog_entry_t **slot = &k->buckets[e->bucket];
    while (*slot && *slot != e)
        slot = &(*slot)->hash_next;
    if (*slot) *slot = e->hash_next;
    lru_unlink(&k->lru, &e->lru);
    k->count--;
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}

static keylog_line_t store(keylog_t *k, const uint8_t *random, keylog_kind_t kind,
                           const uint8_t *secret, size_t len)
{
    uint32_t bucket;
    keylog_entry_t *e = entry_find(k, random, &bucket);
    if (e && (e->have & (1u << kind))) {
        const keylog_secret_t *s = &e->secret[kind];
        if (s->len == len && CRYPTO_memcmp(s->bytes, secret, len) == 0) {
            k->stats.duplicates++;
            return KEYLOG_LINE_DUPLICATE;
        }
    }
    if (!e) {
        while (k->count >= k->max_sessions && k->lru.head) {
            k->stats.sessions_evicted++;
            entry_destroy(k, OLDEST(k));
        }
        e = calloc(1, sizeof(*e));
        if (!e) return KEYLOG_LINE_IGNORED;
        memcpy(e->random, random, KEYLOG_RANDOM_LEN);
        e->bucket = bucket;
        e->hash_next = k->buckets[bucket];
        k->buckets[bucket] = e;
        lru_append(&k->lru, &e->lru);
        k->count++;
    }
    /* a different secret for the same label replaces the old one: the
     * later line is the one the server wrote last */
    e->secret[kind].len = (uint8_t)len;
    memcpy(e->secret[kind].bytes, secret, len);
    e->have |= (uint8_t)(1u << kind);
    k->stats.secrets++;
    if (k->notify) k->notify(k->notify_ctx, random, kind);
    return KEYLOG_LINE_STORED;
}

const keylog_secret_t *keylog_find(const keylog_t *k, const uint8_t random[KEYLOG_RANDOM_LEN],
                                   keylog_kind_t kind)
{
    uint32_t bucket;
    const keylog_entry_t *e = entry_find(k, random, &bucket);
    return e && (e->have & (1u << kind)) ? &e->secret[kind] : NULL;
}

void keylog_forget(keylog_t *k, const uint8_t random[KEYLOG_RANDOM_LEN])
{
    uint32_t bucket;
    keylog_entry_t *e = entry_find(k, random, &bucket);
    if (!e) return;
    k->stats.sessions_wiped++;
    entry_destroy(k, e);
}

/* ---- lines ------------------------------------------------------------ */

static const struct {
    const char *label;
    int kind; /* keylog_kind_t, or -1: a known label not used here */
} keylog_labels[] = {
    {"CLIENT_RANDOM", KEYLOG_MASTER_SECRET},
    {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", KEYLOG_CLIENT_HANDSHAKE},
    {"SERVER_HANDSHAKE_TRAFFIC_SECRET", KEYLOG_SERVER_HANDSHAKE},
    {"CLIENT_TRAFFIC_SECRET_0", KEYLOG_CLIENT_TRAFFIC_0},
    {"SERVER_TRAFFIC_SECRET_0", KEYLOG_SERVER_TRAFFIC_0},
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes exactly n hex digits into n / 2 bytes; 0 on a non-hex digit. */
static int hex_decode(const char *p, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(p[i]), lo = hex_value(p[i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

/* The next space-separated field of [*pos, len). */
static size_t next_field(const char *line, size_t len, size_t *pos, const char **field)
{
    while (*pos < len && (line[*pos] == ' ' || line[*pos] == '\t'))
        (*pos)++;
    *field = line + *pos;
    size_t start = *pos;
    while (*pos < len && line[*pos] != ' ' && line[*pos] != '\t')
        (*pos)++;
    return *pos - start;
}

static keylog_line_t classify(keylog_t *k, const char *line, size_t len, uint8_t *random,
                              uint8_t *secret)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t pos = 0;
    const char *label, *rand_hex, *secret_hex, *extra;
    size_t label_len = next_field(line, len, &pos, &label);
    if (label_len == 0 || label[0] == '#') return KEYLOG_LINE_BLANK;
    size_t rand_len = next_field(line, len, &pos, &rand_hex);
    size_t secret_len = next_field(line, len, &pos, &secret_hex);
    if (next_field(line, len, &pos, &extra) != 0 || rand_len == 0 || secret_len == 0)
        return KEYLOG_LINE_MALFORMED;
    /* a label is an upper-case word */
    for (size_t i = 0; i < label_len; i++)
        if (!((label[i] >= 'A' && label[i] <= 'Z') || label[i] == '_' ||
              (label[i] >= '0' && label[i] <= '9')))
            return KEYLOG_LINE_MALFORMED;
    if (rand_len % 2 || secret_len % 2 || secret_len / 2 > KEYLOG_SECRET_MAX ||
        rand_len / 2 > KEYLOG_SECRET_MAX)
        return KEYLOG_LINE_MALFORMED;
    uint8_t rnd[KEYLOG_SECRET_MAX];
    if (!hex_decode(rand_hex, rand_len, rnd) || !hex_decode(secret_hex, secret_len, secret))
        return KEYLOG_LINE_MALFORMED;
    int kind = -1;
    for (size_t i = 0; i < HA_ARRAY_LEN(keylog_labels); i++)
        if (strlen(keylog_labels[i].label) == label_len &&
            memcmp(keylog_labels[i].label, label, label_len) == 0)
            kind = keylog_labels[i].kind;
    if (kind < 0) return KEYLOG_LINE_IGNORED;
    /* the master secret has 48 bytes; traffic secrets the hash's length */
    size_t n = secret_len / 2;
    if (rand_len != 2 * KEYLOG_RANDOM_LEN ||
        (kind == KEYLOG_MASTER_SECRET ? n != 48 : (n != 32 && n != 48)))
        return KEYLOG_LINE_MALFORMED;
    memcpy(random, rnd, KEYLOG_RANDOM_LEN);
    return store(k, random, (keylog_kind_t)kind, secret, n);
}

keylog_line_t keylog_add_line(keylog_t *k, const char *line, size_t len)
{
    uint8_t random[KEYLOG_RANDOM_LEN], secret[KEYLOG_SECRET_MAX];
    keylog_line_t r = classify(k, line, len, random, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (r == KEYLOG_LINE_BLANK) return r;
    k->stats.lines++;
    if (r == KEYLOG_LINE_MALFORMED) k->stats.malformed++;
    if (r == KEYLOG_LINE_IGNORED) k->stats.ignored++;
    return r;
}

void keylog_add_text(keylog_t *k, const char *text, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(text, '\n', len);
        size_t n = nl ? (size_t)(nl - text) : len;
        if (n > KEYLOG_LINE_MAX) {
            k->stats.lines++;
            k->stats.malformed++;
        } else {
            keylog_add_line(k, text, n);
        }
        if (!nl) break;
        text += n + 1;
        len -= n + 1;
    }
}

/* Bytes read from a file, which may end in the middle of a line. */
static void linebuf_feed(keylog_t *k, linebuf_t *b, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t piece = nl ? (size_t)(nl - data) : n;
        if (!b->overflow && b->len + piece > KEYLOG_LINE_MAX) {
            b->overflow = 1;
            k->stats.lines++;
            k->stats.malformed++;
        }
        if (!b->overflow) {
            memcpy(b->text + b->len, data, piece);
            b->len += piece;
        }
        if (!nl) return;
        if (!b->overflow) keylog_add_line(k, b->text, b->len);
        OPENSSL_cleanse(b->text, b->len);
        b->len = 0;
        b->overflow = 0;
        data += piece + 1;
        n -= piece + 1;
    }
}

/* The end of the data: what is buffered is a whole line. */
static void linebuf_flush(keylog_t *k, linebuf_t *b)
{
    if (b->len && !b->overflow) keylog_add_line(k, b->text, b->len);
    OPENSSL_cleanse(b->text, b->len);
    b->len = 0;
    b->overflow = 0;
}

/* ---- files ------------------------------------------------------------ */

static void file_close(keylog_file_t *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    OPENSSL_cleanse(f->line.text, f->line.len);
    f->line.len = 0;
    f->line.overflow = 0;
    f->quiet = 0;
}

static void file_check_mode(const keylog_file_t *f, const struct stat *st)
{
    if (st->st_mode & S_IROTH)
        log_warn("key log %s can be read by every user (mode %03o): it holds TLS session "
                 "secrets; chmod o-r it",
                 f->path, (unsigned)(st->st_mode & 0777));
}

static int file_open(keylog_file_t *f, char *err, size_t errlen)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (err) snprintf(err, errlen, "key log %s: %s", f->path, strerror(errno));
        return HA_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (err) snprintf(err, errlen, "key log %s: not a regular file", f->path);
        close(fd);
        return HA_EINVAL;
    }
    file_check_mode(f, &st);
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->offset = 0;
    f->missing_logged = 0;
    return HA_OK;
}

/* Reads what the file has beyond the offset, up to `budget` bytes; returns
 * the bytes read. */
static size_t file_read(keylog_file_t *f, size_t budget)
{
    char buf[READ_CHUNK];
    size_t total = 0;
    while (total < budget) {
        ssize_t n = pread(f->fd, buf, sizeof(buf), f->offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            f->k->stats.read_errors++;
            break;
        }
        if (n == 0) break;
        linebuf_feed(f->k, &f->line, buf, (size_t)n);
        OPENSSL_cleanse(buf, (size_t)n);
        f->offset += n;
        total += (size_t)n;
    }
    return total;
}

/* One look at a followed file: new lines, rotation (a new file under the
 * name: the old one is read to its end first), truncation (read again from
 * the start). */
static void file_poll(keylog_file_t *f)
{
    keylog_t *k = f->k;
    struct stat st;
    int named = stat(f->path, &st) == 0;
    if (f->fd >= 0 && named && (st.st_dev != f->dev || st.st_ino != f->ino)) {
        file_read(f, SIZE_MAX); /* what was written before the rename */
        linebuf_flush(k, &f->line);
        file_close(f);
        k->stats.file_reopens++;
    }
    if (f->fd < 0) {
        if (!named) {
            if (!f->missing_logged) log_warn("key log %s: not there (yet); still looking", f->path);
            f->missing_logged = 1;
            return;
        }
        if (file_open(f, NULL, 0) != HA_OK) return;
    }
    struct stat now;
    if (fstat(f->fd, &now) == 0 && now.st_size < f->offset) {
        OPENSSL_cleanse(f->line.text, f->line.len);
        f->line.len = 0;
        f->line.overflow = 0;
        f->offset = 0;
        k->stats.file_reopens++;
    }
    if (file_read(f, READ_PER_POLL) > 0) {
        f->quiet = 0;
        return;
    }
    /* a last line without its line end: the writer may be in the middle of
     * it; once the file stays quiet it is taken as it is */
    if (f->line.len && ++f->quiet >= QUIET_POLLS) {
        linebuf_flush(k, &f->line);
        f->quiet = 0;
    }
}

void keylog_poll(keylog_t *k)
{
    for (keylog_file_t *f = k->files; f; f = f->next)
        file_poll(f);
}

static void keylog_poll_cb(uv_timer_t *t)
{
    keylog_poll(t->data);
}

int keylog_check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return HA_OK;
    keylog_file_t f = {.path = (char *)path, .fd = -1};
    int rc = file_open(&f, err, errlen);
    if (f.fd >= 0) close(f.fd);
    return rc;
}

int keylog_follow(keylog_t *k, uv_loop_t *loop, const char *path, char *err, size_t errlen)
{
    keylog_file_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return HA_ENOMEM;
    }
    f->k = k;
    f->fd = -1;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        /* the server creates it with its first session: wait for it */
        log_warn("key log %s: not there (yet); still looking", path);
        f->missing_logged = 1;
    } else {
        int rc = file_open(f, err, errlen);
        if (rc != HA_OK) {
            free(f->path);
            free(f);
            return rc;
        }
        file_read(f, SIZE_MAX);
        linebuf_flush(k, &f->line); /* at start, the end of the file ends the line */
    }
    f->next = k->files;
    k->files = f;
    if (loop && !k->poll_started) {
        uv_timer_init(loop, &k->poll);
        k->poll.data = k;
        uv_timer_start(&k->poll, keylog_poll_cb, KEYLOG_POLL_MS, KEYLOG_POLL_MS);
        uv_unref((uv_handle_t *)&k->poll); /* following files keeps no replay running */
        k->poll_started = 1;
    }
    return HA_OK;
}

/* ---- UDP -------------------------------------------------------------- */

static int parse_udp_url(const char *url, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    static const char scheme[] = "udp://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(err, errlen, "\"%s\" is not udp://HOST:PORT", url);
        return HA_EINVAL;
    }
    const char *host = url + sizeof(scheme) - 1;
    const char *colon = strrchr(host, ':');
    char h[64];
    size_t hlen = colon ? (size_t)(colon - host) : 0;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || hlen == 0 || hlen >= sizeof(h) || !colon[1] || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "\"%s\" is not udp://HOST:PORT with a numeric address", url);
        return HA_EINVAL;
    }
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    memset(addr, 0, sizeof(*addr));
    if (uv_ip4_addr(h, (int)port, (struct sockaddr_in *)addr) != 0 &&
        uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)addr) != 0) {
        snprintf(err, errlen, "\"%s\": \"%s\" is not an IP address", url, h);
        return HA_EINVAL;
    }
    return HA_OK;
}

int keylog_check_url(const char *url, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    return parse_udp_url(url, &addr, err, errlen);
}

static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    keylog_t *k = h->data;
    buf->base = k->udp_buf;
    buf->len = sizeof(k->udp_buf);
}

static void udp_recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    (void)from;
    keylog_t *k = h->data;
    if (n < 0) {
        k->stats.read_errors++;
        return;
    }
    if (n == 0 && !from) return; /* nothing more to read now */
    k->stats.datagrams++;
    if (flags & UV_UDP_PARTIAL) { /* cut: its last line cannot be trusted */
        k->stats.lines++;
        k->stats.malformed++;
    } else {
        keylog_add_text(k, buf->base, (size_t)n);
    }
    OPENSSL_cleanse(buf->base, (size_t)n);
}

static int is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6);
}

int keylog_listen(keylog_t *k, uv_loop_t *loop, const char *url, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    char why[HA_ERRLEN];
    if (parse_udp_url(url, &addr, why, sizeof(why)) != HA_OK) {
        snprintf(err, errlen, "keylog_listen: %s", why);
        return HA_EINVAL;
    }
    uv_udp_init(loop, &k->udp);
    k->udp.data = k;
    k->udp_started = 1;
    int rc = uv_udp_bind(&k->udp, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_udp_recv_start(&k->udp, udp_alloc_cb, udp_recv_cb);
    if (rc != 0) {
        snprintf(err, errlen, "keylog_listen: cannot listen on %s: %s", url, uv_strerror(rc));
        return HA_EIO;
    }
    uv_unref((uv_handle_t *)&k->udp);
    if (!is_loopback(&addr))
        log_warn("keylog_listen %s is not a loopback address: whoever can reach it can send "
                 "key lines; keep it on a trusted network",
                 url);
    return HA_OK;
}

void keylog_close(keylog_t *k)
{
    if (!k) return;
    if (k->poll_started && !uv_is_closing((uv_handle_t *)&k->poll))
        uv_close((uv_handle_t *)&k->poll, NULL);
    if (k->udp_started && !uv_is_closing((uv_handle_t *)&k->udp))
        uv_close((uv_handle_t *)&k->udp, NULL);
}

/* ---- the rest --------------------------------------------------------- */

void keylog_free(keylog_t *k)
{
    if (!k) return;
    while (k->lru.head)
        entry_destroy(k, OLDEST(k));
    for (keylog_file_t *f = k->files; f;) {
        keylog_file_t *next = f->next;
        file_close(f);
        free(f->path);
        free(f);
        f = next;
    }
    OPENSSL_cleanse(k->udp_buf, sizeof(k->udp_buf));
    free(k->buckets);
    free(k);
}

const keylog_stats_t *keylog_stats(const keylog_t *k)
{
    return &k->stats;
}

size_t keylog_sessions(const keylog_t *k)
{
    return k->count;
}

void keylog_visit_stats(const keylog_t *k, const stats_visitor_t *v)
{
#define KEYLOG_VISIT(name, help)                                                                   \
    stats_emit(v, "keylog." #name, NULL, NULL, STATS_COUNTER, k->stats.name, help);
    KEYLOG_COUNTERS(KEYLOG_VISIT)
#undef KEYLOG_VISIT
    stats_emit(v, "keylog.sessions", NULL, NULL, STATS_GAUGE, k->count,
               "sessions whose secrets are held");
}
