/* libpcap sources on the libuv loop. Live handles are non-blocking and read
 * when their selectable fd is readable; files are read a batch per loop turn
 * so signals, timers and sends keep running during a large replay. Several
 * files merged (capture_merge) are read by the first of them, which keeps
 * each one's next frame and delivers the earliest, as mergecap would. */
#include "hepagent/capture.h"
#include "hepagent/rtpfilter.h"
#include "hepagent/log.h"
#include "hepagent/pcapng.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* A filter compiled for one link type, for pcapng files whose interfaces
 * differ (libpcap's handle filter assumes one link type). */
typedef struct {
    int linktype;
    int ok;
    struct bpf_program prog;
} capture_filter_t;

enum { CAPTURE_MAX_FILTERS = 16, MAX_PACKET_BYTES = 262144 };

struct capture {
    uv_loop_t *loop;
    pcap_t *pcap;
    pcapng_t *pcapng; /* files in pcapng format are read by our own reader */
    char *bpf;
    capture_filter_t filters[CAPTURE_MAX_FILTERS];
    int nfilters;
    char *name;
    int is_file;
    int realtime;
    uint32_t pps; /* file: paced at this many frames per second (0: not) */
    int running;
    int finished;
    uint32_t id;
    int linktype;
    capture_callbacks_t cb;
    uv_poll_t poll;   /* live */
    uv_idle_t idle;   /* file */
    uv_timer_t timer; /* file: backpressure recheck and realtime pacing */
    int handles;      /* how many of the three were initialised */
    /* pacing: the first frame's time and the wall clock at that point; with
     * pps, how many frames were paced since */
    int have_origin;
    uint64_t origin_ts_us;
    uint64_t origin_wall_ms;
    uint64_t paced_frames;
    uint64_t frames;
    uint64_t bytes;
    /* realtime: a frame read ahead that is not yet due, with its bytes */
    struct pcap_pkthdr pending_hdr;
    uint8_t *pending_data;
    int pending_linktype;
    int have_pending;
    capture_t *pending_from;
    struct pcap_pkthdr ng_hdr; /* the pcapng reader's frame header */
    /* merged files: the leader holds every member (itself first) and reads
     * them all; a member keeps its next frame (head) until it is the
     * earliest; from is the member of the frame being delivered */
    capture_t **members;
    size_t nmembers;
    capture_t *leader; /* a member other than the leader: its leader */
    capture_t *from;
    int have_head;
    struct pcap_pkthdr head_hdr;
    const u_char *head_data;
    int head_linktype;
};

static void capture_deliver(capture_t *c, const struct pcap_pkthdr *hdr, const u_char *data,
                            int linktype)
{
    if (c->from) c = c->from; /* merged files: counted as the member's */
    c->frames++;
    c->bytes += hdr->caplen;
    c->cb.frame(c->cb.ctx, hdr, data, linktype, c->id);
}

static void capture_handler(u_char *user, const struct pcap_pkthdr *hdr, const u_char *data)
{
    capture_t *c = (capture_t *)user;
    capture_deliver(c, hdr, data, c->linktype);
}

static void capture_finish(capture_t *c, int failed)
{
    if (c->finished) return;
    capture_stop(c);
    c->finished = 1;
    c->cb.done(c->cb.ctx, c, failed);
}

/* ---- live ------------------------------------------------------------- */

static void capture_poll_cb(uv_poll_t *h, int status, int events)
{
    capture_t *c = h->data;
    (void)events;
    if (status < 0) {
        log_error("capture %s: poll: %s", c->name, uv_strerror(status));
        capture_finish(c, 1);
        return;
    }
    /* One batch per wakeup: the poll is level-triggered, so what is left
     * comes back on the next turn, after the sender's flush timer had its
     * chance. Looping here (16 batches) measured worse at 300k msg/s: p99
     * latency 151 ms against 19 ms (README "Tuning"). */
    if (pcap_dispatch(c->pcap, CAPTURE_BATCH, capture_handler, (u_char *)c) == PCAP_ERROR) {
        log_error("capture %s: %s", c->name, pcap_geterr(c->pcap));
        capture_finish(c, 1);
    }
}

/* ---- files ------------------------------------------------------------ */

/* The filter for a pcapng packet's link type, compiled on first use. */
static const struct bpf_program *capture_filter_for(capture_t *c, int linktype)
{
    for (int i = 0; i < c->nfilters; i++)
        if (c->filters[i].linktype == linktype)
            return c->filters[i].ok ? &c->filters[i].prog : NULL;
    if (c->nfilters == CAPTURE_MAX_FILTERS) return NULL;
    capture_filter_t *f = &c->filters[c->nfilters++];
    f->linktype = linktype;
    /* pcapng holds LINKTYPE_ values, libpcap compiles for DLT_ ones; they
     * differ for raw IP (LINKTYPE_RAW 101 is DLT_RAW, 12 or 14) */
    pcap_t *dead = pcap_open_dead(linktype == 101 ? DLT_RAW : linktype, 262144);
    f->ok = dead && pcap_compile(dead, &f->prog, c->bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!f->ok)
        log_warn("file %s: filter \"%s\" does not apply to link type %d: %s", c->name, c->bpf,
                 linktype, dead ? pcap_geterr(dead) : "out of memory");
    if (dead) pcap_close(dead);
    return f->ok ? &f->prog : NULL;
}

/* One file's next frame: 1, or 0 at its end. A damaged file ends where the
 * damage starts (what was read so far stands; the message says where it
 * stopped). */
static int capture_read(capture_t *c, struct pcap_pkthdr **hdr, const u_char **data, int *linktype)
{
    if (!c->pcapng) {
        int rc = pcap_next_ex(c->pcap, hdr, data);
        if (rc == 1) {
            *linktype = c->linktype;
            return 1;
        }
        if (rc != PCAP_ERROR_BREAK)
            log_warn("file %s: %s (stopped after %" PRIu64 " frames)", c->name,
                     pcap_geterr(c->pcap), c->frames);
        return 0;
    }
    for (;;) {
        char err[256];
        uint32_t ifindex;
        int rc = pcapng_next(c->pcapng, &c->ng_hdr, data, linktype, &ifindex, err, sizeof(err));
        if (rc <= 0) {
            if (rc < 0)
                log_warn("file %s: %s (stopped after %" PRIu64 " frames)", c->name, err, c->frames);
            return 0;
        }
        *hdr = &c->ng_hdr;
        if (!c->bpf) return 1;
        const struct bpf_program *prog = capture_filter_for(c, *linktype);
        if (!prog || pcap_offline_filter(prog, &c->ng_hdr, *data)) return 1;
    }
}

static uint64_t capture_ts_us(const struct pcap_pkthdr *h)
{
    return (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
}

/* Merged files: the earliest of the members' next frames (on a tie, the
 * member given first). A member that ends is done (its done callback) while
 * the others go on; 0 once all have ended or capture stopped meanwhile. */
static int capture_next_merged(capture_t *c, struct pcap_pkthdr **hdr, const u_char **data,
                               int *linktype)
{
    capture_t *best = NULL;
    for (size_t i = 0; i < c->nmembers; i++) {
        capture_t *m = c->members[i];
        if (m->finished) continue;
        if (!m->have_head) {
            struct pcap_pkthdr *h;
            if (!capture_read(m, &h, &m->head_data, &m->head_linktype)) {
                m->finished = 1;
                m->cb.done(m->cb.ctx, m, 0);
                if (!c->running) return 0; /* the last source: shutting down */
                continue;
            }
            m->head_hdr = *h;
            m->have_head = 1;
        }
        if (!best || capture_ts_us(&m->head_hdr) < capture_ts_us(&best->head_hdr)) best = m;
    }
    if (!best) {
        capture_stop(c);
        return 0;
    }
    best->have_head = 0; /* its bytes stay valid until its next read */
    c->from = best;
    *hdr = &best->head_hdr;
    *data = best->head_data;
    *linktype = best->head_linktype;
    return 1;
}

/* The next frame of a file source: 1, or 0 once it has ended and the capture
 * is finished. */
static int capture_next(capture_t *c, struct pcap_pkthdr **hdr, const u_char **data, int *linktype)
{
    if (c->nmembers) return capture_next_merged(c, hdr, data, linktype);
    if (capture_read(c, hdr, data, linktype)) return 1;
    capture_finish(c, 0);
    return 0;
}

static void capture_idle_cb(uv_idle_t *h);

static void capture_resume_cb(uv_timer_t *t)
{
    capture_t *c = t->data;
    if (c->running) uv_idle_start(&c->idle, capture_idle_cb);
}

static void capture_wait(capture_t *c, uint64_t ms)
{
    uv_idle_stop(&c->idle);
    uv_timer_start(&c->timer, capture_resume_cb, ms, 0);
}

/* With --realtime: how long until this frame is due, in ms (0 = now): its
 * timestamp's distance from the first frame's. With --pps N: frame k is due
 * k/N seconds after the first (called once per frame). */
static uint64_t capture_due_in(capture_t *c, const struct pcap_pkthdr *hdr)
{
    uint64_t ts_us = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
    uint64_t now = uv_now(c->loop);
    uint64_t k = c->paced_frames++;
    if (!c->have_origin) {
        c->have_origin = 1;
        c->origin_ts_us = ts_us;
        c->origin_wall_ms = now;
        return 0;
    }
    uint64_t due;
    if (c->pps) {
        due = c->origin_wall_ms + k * 1000 / c->pps;
        if (now > due + 50) { /* held back (a busy collector): go on at the pace, no burst */
            c->origin_wall_ms = now - k * 1000 / c->pps;
            return 0;
        }
    } else {
        if (ts_us <= c->origin_ts_us) return 0;
        due = c->origin_wall_ms + (ts_us - c->origin_ts_us) / 1000;
    }
    return due > now ? due - now : 0;
}

/* --realtime, --pps: deliver what is due, keep the first frame that is not,
 * and sleep until it is. */
static void capture_paced_cb(uv_timer_t *t);

static void capture_paced_step(capture_t *c)
{
    if (c->have_pending) {
        c->have_pending = 0;
        c->from = c->pending_from;
        capture_deliver(c, &c->pending_hdr, c->pending_data, c->pending_linktype);
    }
    for (int i = 0; i < CAPTURE_BATCH && c->running; i++) {
        struct pcap_pkthdr *hdr;
        const u_char *data;
        int linktype;
        if (!capture_next(c, &hdr, &data, &linktype)) return;
        uint64_t wait = capture_due_in(c, hdr);
        if (wait == 0 || hdr->caplen > MAX_PACKET_BYTES) {
            capture_deliver(c, hdr, data, linktype);
            continue;
        }
        c->pending_hdr = *hdr;
        memcpy(c->pending_data, data, hdr->caplen);
        c->pending_linktype = linktype;
        c->pending_from = c->from;
        c->have_pending = 1;
        uv_timer_start(&c->timer, capture_paced_cb, wait, 0);
        return;
    }
    if (c->running) uv_timer_start(&c->timer, capture_paced_cb, 0, 0);
}

static void capture_paced_cb(uv_timer_t *t)
{
    capture_t *c = t->data;
    if (!c->running) return;
    if (c->cb.backlogged && c->cb.backlogged(c->cb.ctx)) {
        uv_timer_start(&c->timer, capture_paced_cb, 1, 0);
        return;
    }
    capture_paced_step(c);
}

static void capture_idle_cb(uv_idle_t *h)
{
    capture_t *c = h->data;
    if (c->cb.backlogged && c->cb.backlogged(c->cb.ctx)) {
        capture_wait(c, 1);
        return;
    }
    for (int i = 0; i < CAPTURE_BATCH && c->running; i++) {
        struct pcap_pkthdr *hdr;
        const u_char *data;
        int linktype;
        if (!capture_next(c, &hdr, &data, &linktype)) return;
        capture_deliver(c, hdr, data, linktype);
    }
}

/* ---- setup ------------------------------------------------------------ */

/* The source's filter; with rtp_snap, its accepting returns go through the
 * RTP-cutting block (an empty filter then accepts everything else whole). */
static int capture_set_filter(pcap_t *p, const char *bpf, uint32_t rtp_snap, const char *name,
                              char *err, size_t errlen)
{
    if (rtp_snap && !rtpfilter_supports(pcap_datalink(p))) rtp_snap = 0;
    if (!bpf && !rtp_snap) return HA_OK;
    struct bpf_program prog, cut;
    if (pcap_compile(p, &prog, bpf ? bpf : "", 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s: filter \"%s\": %s", name, bpf, pcap_geterr(p));
        return HA_EINVAL;
    }
    int patched = rtp_snap && rtpfilter_patch(&prog, pcap_datalink(p), (uint32_t)pcap_snapshot(p),
                                              rtp_snap, &cut) == 0;
    int rc = pcap_setfilter(p, patched ? &cut : &prog);
    if (patched) rtpfilter_free(&cut);
    pcap_freecode(&prog);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot set filter: %s", name, pcap_geterr(p));
        return HA_EIO;
    }
    return HA_OK;
}

int capture_check_bpf(const char *bpf, int linktype, uint32_t snaplen, char *err, size_t errlen)
{
    if (!bpf) return HA_OK;
    pcap_t *p = pcap_open_dead(linktype, (int)snaplen);
    if (!p) return HA_ENOMEM;
    struct bpf_program prog;
    int rc = HA_OK;
    if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "filter \"%s\": %s", bpf, pcap_geterr(p));
        rc = HA_EINVAL;
    } else {
        pcap_freecode(&prog);
    }
    pcap_close(p);
    return rc;
}

static pcap_t *capture_open_live(const capture_source_t *src, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(src->interface, ebuf);
    if (!p) {
        snprintf(err, errlen, "cannot open interface %s: %s", src->interface, ebuf);
        return NULL;
    }
    pcap_set_snaplen(p, (int)src->snaplen);
    pcap_set_promisc(p, src->promisc);
    pcap_set_timeout(p, CAPTURE_LIVE_TIMEOUT_MS);
    pcap_set_buffer_size(p, (int)(src->buffer_mb << 20));
    int rc = pcap_activate(p);
    if (rc < 0) {
        /* libpcap's detail often repeats its status text: say it once */
        const char *status = pcap_statustostr(rc), *detail = pcap_geterr(p);
        if (rc == PCAP_ERROR || !detail[0] || strstr(detail, status))
            snprintf(err, errlen, "cannot open interface %s: %s", src->interface,
                     rc == PCAP_ERROR && detail[0] ? detail : status);
        else
            snprintf(err, errlen, "cannot open interface %s: %s (%s)", src->interface, status,
                     detail);
        pcap_close(p);
        return NULL;
    }
    if (rc > 0) log_warn("interface %s: %s", src->interface, pcap_statustostr(rc));
    if (pcap_setnonblock(p, 1, ebuf) != 0) {
        snprintf(err, errlen, "interface %s: cannot set non-blocking: %s", src->interface, ebuf);
        pcap_close(p);
        return NULL;
    }
    return p;
}

/* pcapng files are read by our own reader: libpcap stops at the first packet
 * of an interface whose link type differs from the first one's. The filter is
 * compiled per link type as packets come (capture_filter_for); its syntax is
 * checked here, so a typo fails at start as it does for other sources. */
static int capture_open_pcapng(capture_t *c, const capture_source_t *src, char *err, size_t errlen)
{
    char ng_err[256] = "";
    c->pcapng = pcapng_open(src->file, ng_err, sizeof(ng_err));
    if (!c->pcapng) {
        snprintf(err, errlen, "cannot read %s: %s", src->file, ng_err);
        return HA_EIO;
    }
    if (!src->bpf) return HA_OK;
    char bpf_err[PCAP_ERRBUF_SIZE + 64] = "";
    int rc = capture_check_bpf(src->bpf, DLT_EN10MB, MAX_PACKET_BYTES, bpf_err, sizeof(bpf_err));
    if (rc != HA_OK) {
        snprintf(err, errlen, "%s: %s", c->name, bpf_err);
        return rc;
    }
    c->bpf = strdup(src->bpf);
    return c->bpf ? HA_OK : HA_ENOMEM;
}

int capture_open(uv_loop_t *loop, const capture_source_t *src, uint32_t id, int realtime,
                 const capture_callbacks_t *cb, capture_t **out, char *err, size_t errlen)
{
    *out = NULL;
    capture_t *c = calloc(1, sizeof(*c));
    if (!c) return HA_ENOMEM;
    c->loop = loop;
    c->id = id;
    c->cb = *cb;
    c->is_file = src->file != NULL;
    c->realtime = realtime && c->is_file;
    c->name = strdup(c->is_file ? src->file : src->interface);
    if (!c->name) {
        free(c);
        return HA_ENOMEM;
    }
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    int rc;
    if (c->is_file && pcapng_is_pcapng(src->file)) {
        rc = capture_open_pcapng(c, src, err, errlen);
        if (rc != HA_OK) {
            capture_destroy(c);
            return rc;
        }
    } else {
        if (c->is_file) {
            c->pcap = pcap_open_offline_with_tstamp_precision(src->file,
                                                              PCAP_TSTAMP_PRECISION_MICRO, ebuf);
            if (!c->pcap) {
                /* libpcap's message often starts with the file name: say it once */
                size_t n = strlen(src->file);
                const char *why =
                    strncmp(ebuf, src->file, n) == 0 && ebuf[n] == ':' ? ebuf + n + 2 : ebuf;
                snprintf(err, errlen, "cannot read %s: %s", src->file, why);
            }
        } else {
            c->pcap = capture_open_live(src, err, errlen);
        }
        if (!c->pcap) {
            capture_destroy(c);
            return HA_EIO;
        }
        c->linktype = pcap_datalink(c->pcap);
        rc = capture_set_filter(c->pcap, src->bpf, c->is_file ? 0 : cb->rtp_snap, c->name, err,
                                errlen);
        if (rc != HA_OK) {
            capture_destroy(c);
            return rc;
        }
    }
    if (c->realtime) {
        c->pending_data = malloc(MAX_PACKET_BYTES);
        if (!c->pending_data) {
            capture_destroy(c);
            return HA_ENOMEM;
        }
    }
    if (c->is_file) {
        uv_idle_init(loop, &c->idle);
        c->idle.data = c;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        c->handles = 2;
    } else {
        int fd = pcap_get_selectable_fd(c->pcap);
        if (fd < 0 || uv_poll_init(loop, &c->poll, fd) != 0) {
            snprintf(err, errlen, "interface %s: no selectable descriptor", c->name);
            capture_destroy(c);
            return HA_EIO;
        }
        c->poll.data = c;
        c->handles = 1;
    }
    *out = c;
    return HA_OK;
}

int capture_set_pps(capture_t *c, uint32_t pps)
{
    if (!c->is_file || c->realtime || c->running || pps == 0) return HA_EINVAL;
    if (!c->pending_data && !(c->pending_data = malloc(MAX_PACKET_BYTES))) return HA_ENOMEM;
    c->pps = pps;
    return HA_OK;
}

int capture_merge(capture_t *const *sources, size_t n)
{
    capture_t *leader = NULL;
    size_t files = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sources[i]->is_file) continue;
        if (sources[i]->running || sources[i]->members || sources[i]->leader) return HA_EINVAL;
        if (!leader) leader = sources[i];
        files++;
    }
    if (files < 2) return HA_OK;
    leader->members = malloc(files * sizeof(*leader->members));
    if (!leader->members) return HA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!sources[i]->is_file) continue;
        leader->members[leader->nmembers++] = sources[i];
        if (sources[i] != leader) sources[i]->leader = leader;
    }
    return HA_OK;
}

int capture_start(capture_t *c)
{
    if (c->running || c->leader) return HA_OK; /* a member is read by its leader */
    if (c->finished && !c->nmembers) return HA_OK;
    c->running = 1;
    if (!c->is_file)
        return uv_poll_start(&c->poll, UV_READABLE, capture_poll_cb) == 0 ? HA_OK : HA_EIO;
    if (c->realtime || c->pps)
        uv_timer_start(&c->timer, capture_paced_cb, 0, 0);
    else
        uv_idle_start(&c->idle, capture_idle_cb);
    return HA_OK;
}

void capture_stop(capture_t *c)
{
    if (!c->running) return;
    c->running = 0;
    if (c->is_file) {
        uv_idle_stop(&c->idle);
        uv_timer_stop(&c->timer);
    } else {
        uv_poll_stop(&c->poll);
    }
}

static void capture_handle_closed(uv_handle_t *h)
{
    capture_t *c = h->data;
    if (--c->handles > 0) return;
    free(c->pending_data);
    free(c->name);
    free(c);
}

void capture_destroy(capture_t *c)
{
    if (!c) return;
    capture_stop(c);
    if (c->pcap) pcap_close(c->pcap);
    c->pcap = NULL;
    pcapng_close(c->pcapng);
    c->pcapng = NULL;
    for (int i = 0; i < c->nfilters; i++)
        if (c->filters[i].ok) pcap_freecode(&c->filters[i].prog);
    c->nfilters = 0;
    free(c->bpf);
    c->bpf = NULL;
    free(c->members);
    c->members = NULL;
    c->nmembers = 0;
    if (c->handles == 0) {
        free(c->pending_data);
        free(c->name);
        free(c);
        return;
    }
    if (c->is_file) {
        uv_close((uv_handle_t *)&c->idle, capture_handle_closed);
        uv_close((uv_handle_t *)&c->timer, capture_handle_closed);
    } else {
        uv_close((uv_handle_t *)&c->poll, capture_handle_closed);
    }
}

int capture_is_file(const capture_t *c)
{
    return c->is_file;
}
int capture_is_finished(const capture_t *c)
{
    return c->finished;
}
const char *capture_name(const capture_t *c)
{
    return c->name;
}

void capture_visit_stats(capture_t *c, const stats_visitor_t *v)
{
    const char *kind = c->is_file ? "file" : "interface";
    char name[64];
#define CAPTURE_EMIT(field, value, help)                                                           \
    snprintf(name, sizeof(name), "%s." field, kind);                                               \
    stats_emit(v, name, kind, c->name, STATS_COUNTER, value, help)
    CAPTURE_EMIT("frames", c->frames, "frames read from this source");
    CAPTURE_EMIT("bytes", c->bytes, "bytes of those frames as captured");
    struct pcap_stat ps;
    if (!c->is_file && c->pcap && pcap_stats(c->pcap, &ps) == 0) {
        CAPTURE_EMIT("kernel_received", ps.ps_recv, "frames the kernel passed the filter");
        CAPTURE_EMIT("kernel_dropped", ps.ps_drop,
                     "frames the kernel dropped: the capture buffer was full");
        CAPTURE_EMIT("interface_dropped", ps.ps_ifdrop, "frames the interface dropped");
    }
#undef CAPTURE_EMIT
}
