/* Console trace of SIP messages, and of the RTCP and QoS reports of their
 * calls. Calls are tracked in a small open-addressing table by Call-ID
 * (bounded: beyond it, calls are still printed but no longer summarised),
 * which gives each call a stable color and its summary. */
#include "hepagent/trace.h"
#include "hepagent/common.h"
#include "hepagent/rules.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { TRACE_MAX_CALLS = 65536, TRACE_CALL_ID_MAX = 128, TRACE_MOS_FLOWS = 4 };

/* The MOS of one direction of a call's media, from its final QoS report. */
typedef struct {
    uint8_t version;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    double mos;
} trace_flow_t;

typedef struct {
    char call_id[TRACE_CALL_ID_MAX];
    size_t call_id_len;
    int used;
    unsigned color;
    uint64_t messages;
    uint64_t first_sec, last_sec;
    char first_method[SIP_MAX_METHOD_LEN + 1];
    uint16_t final_status; /* last final (>= 200) response seen */
    int final_own;         /* it answers the call's first method */
    char final_method[SIP_MAX_METHOD_LEN + 1];
    trace_flow_t *flows; /* allocated with the first final QoS report */
    uint8_t nflows;
    uint32_t flows_left_out;
} trace_call_t;

struct trace {
    trace_options_t opts;
    FILE *out;
    trace_call_t *calls;
    size_t ncalls;
    size_t order_len;
    uint32_t *order; /* indexes in arrival order, for the summary */
    uint64_t untracked;
};

/* Bright colors that read on dark and light backgrounds alike. */
static const char *const trace_palette[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m",
                                            "\033[34m", "\033[31m", "\033[96m", "\033[93m",
                                            "\033[92m", "\033[95m"};
#define TRACE_RESET "\033[0m"
#define TRACE_BOLD "\033[1m"
#define TRACE_DIM "\033[2m"

trace_t *trace_new(const trace_options_t *opts, FILE *out)
{
    trace_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->opts = *opts;
    t->out = out;
    t->calls = calloc(TRACE_MAX_CALLS, sizeof(*t->calls));
    t->order = calloc(TRACE_MAX_CALLS, sizeof(*t->order));
    if (!t->calls || !t->order) {
        trace_free(t);
        return NULL;
    }
    return t;
}

void trace_free(trace_t *t)
{
    if (!t) return;
    for (size_t i = 0; t->calls && i < t->order_len; i++)
        free(t->calls[t->order[i]].flows);
    free(t->calls);
    free(t->order);
    free(t);
}

static uint32_t trace_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The call's entry, created on first sight when create is set; NULL when the
 * table is full (or the call unknown). */
static trace_call_t *trace_call(trace_t *t, ha_bytes_t call_id, int create)
{
    size_t n = HA_MIN(call_id.len, (size_t)TRACE_CALL_ID_MAX);
    uint32_t h = trace_hash(call_id.ptr, n);
    for (size_t probe = 0; probe < TRACE_MAX_CALLS; probe++) {
        trace_call_t *c = &t->calls[(h + probe) % TRACE_MAX_CALLS];
        if (!c->used) {
            if (!create || t->ncalls >= TRACE_MAX_CALLS * 3 / 4) return NULL; /* short probes */
            c->used = 1;
            memcpy(c->call_id, call_id.ptr, n);
            c->call_id_len = n;
            c->color = h % HA_ARRAY_LEN(trace_palette);
            t->order[t->order_len++] = (uint32_t)(c - t->calls);
            t->ncalls++;
            return c;
        }
        if (c->call_id_len == n && memcmp(c->call_id, call_id.ptr, n) == 0) return c;
    }
    return NULL;
}

static int trace_contains(ha_bytes_t hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (size_t i = 0; i + n <= hay.len; i++)
        if (strncasecmp((const char *)hay.ptr + i, needle, n) == 0) return 1;
    return 0;
}

int trace_wants(const trace_t *t, const sip_msg_t *sip)
{
    const trace_options_t *o = &t->opts;
    ha_bytes_t method = sip->is_request ? sip->method : sip->cseq_method;
    if (o->call_id && !sip_token_equals(sip->call_id, o->call_id)) return 0;
    if (o->method && (method.len != strlen(o->method) ||
                      strncasecmp((const char *)method.ptr, o->method, method.len) != 0))
        return 0;
    if (o->from && !trace_contains(sip->from, o->from)) return 0;
    if (o->to && !trace_contains(sip->to, o->to)) return 0;
    return 1;
}

/* Length of a valid UTF-8 sequence at p for a code point >= U+00A0, or 0. */
static size_t trace_utf8(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp < 0xa0) return 0; /* C1 controls: some terminals act on them */
    if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0; /* line separators and bidi overrides rearrange what is shown */
    return len;
}

void trace_escape(FILE *out, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = data[i];
        if (c == '\r' && i + 1 < len && data[i + 1] == '\n') {
            fputc('\n', out);
            i += 2;
        } else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            fputc(c, out);
            i++;
        } else if (c >= 0x80) {
            size_t u = trace_utf8(data + i, len - i);
            if (u) {
                fwrite(data + i, 1, u, out);
                i += u;
            } else {
                fprintf(out, "\\x%02x", c);
                i++;
            }
        } else {
            fprintf(out, "\\x%02x", c);
            i++;
        }
    }
}

static void trace_addr(char *out, size_t n, const packet_t *pkt, int src)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(pkt->ip_version == 6 ? AF_INET6 : AF_INET, src ? pkt->src_addr : pkt->dst_addr, ip,
              sizeof(ip));
    uint16_t port = src ? pkt->src_port : pkt->dst_port;
    if (pkt->ip_version == 6)
        snprintf(out, n, "[%s]:%u", ip, port);
    else
        snprintf(out, n, "%s:%u", ip, port);
}

static void trace_time(char *out, size_t n, uint64_t sec, uint32_t usec, int date)
{
    time_t tt = (time_t)sec;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char base[32];
    strftime(base, sizeof(base), date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
    snprintf(out, n, "%s.%06u", base, usec);
}

static const char *trace_transport(unsigned transport)
{
    switch (transport) {
    case RULE_TRANSPORT_TCP:
        return "TCP";
    case RULE_TRANSPORT_SCTP:
        return "SCTP";
    case RULE_TRANSPORT_WS:
        return "WS";
    case RULE_TRANSPORT_TLS:
        return "TLS";
    case RULE_TRANSPORT_WSS:
        return "WSS";
    default:
        return "UDP";
    }
}

/* "INVITE" or "200 OK (INVITE)", highlighted on a terminal. */
static void trace_what(trace_t *t, const sip_msg_t *sip)
{
    if (t->opts.color) fputs(TRACE_BOLD, t->out);
    if (sip->is_request) {
        trace_escape(t->out, sip->method.ptr, sip->method.len);
    } else {
        fprintf(t->out, "%u ", sip->status);
        trace_escape(t->out, sip->reason.ptr, sip->reason.len);
        fputs(" (", t->out);
        trace_escape(t->out, sip->cseq_method.ptr, sip->cseq_method.len);
        fputc(')', t->out);
    }
    if (t->opts.color) fputs(TRACE_RESET, t->out);
}

static void trace_account(trace_call_t *c, const sip_msg_t *sip, uint64_t ts_sec)
{
    if (!c) return;
    if (c->messages++ == 0) {
        c->first_sec = ts_sec;
        size_t n = HA_MIN(sip->is_request ? sip->method.len : sip->cseq_method.len,
                          (size_t)SIP_MAX_METHOD_LEN);
        memcpy(c->first_method, sip->is_request ? sip->method.ptr : sip->cseq_method.ptr, n);
        c->first_method[n] = '\0';
    }
    c->last_sec = ts_sec;
    /* the call's outcome is the final response to the request that started
     * it (an INVITE's, not its CANCEL's) */
    int own = sip->cseq_method.len == strlen(c->first_method) &&
              memcmp(sip->cseq_method.ptr, c->first_method, sip->cseq_method.len) == 0;
    if (!sip->is_request && sip->status >= 200 && (own || !c->final_own)) {
        c->final_own = own;
        c->final_status = sip->status;
        size_t n = HA_MIN(sip->cseq_method.len, (size_t)SIP_MAX_METHOD_LEN);
        memcpy(c->final_method, sip->cseq_method.ptr, n);
        c->final_method[n] = '\0';
    }
}

void trace_message(trace_t *t, const packet_t *pkt, unsigned transport, const uint8_t *data,
                   size_t len, const sip_msg_t *sip, uint64_t ts_sec, uint32_t ts_usec)
{
    trace_call_t *c = trace_call(t, sip->call_id, 1);
    if (!c) t->untracked++;
    trace_account(c, sip, ts_sec);
    const char *color = t->opts.color ? trace_palette[c ? c->color : 0] : "";
    const char *reset = t->opts.color ? TRACE_RESET : "";
    char when[64], src[64], dst[64];
    trace_addr(src, sizeof(src), pkt, 1);
    trace_addr(dst, sizeof(dst), pkt, 0);
    FILE *o = t->out;
    if (t->opts.summary) {
        trace_time(when, sizeof(when), ts_sec, ts_usec, 0);
        fprintf(o, "%s%s %-4s %s -> %s%s ", color, when, trace_transport(transport), src, dst,
                reset);
        trace_what(t, sip);
        fprintf(o, " %s", color);
        trace_escape(o, sip->call_id.ptr, sip->call_id.len);
        fprintf(o, "%s\n", reset);
        return;
    }
    trace_time(when, sizeof(when), ts_sec, ts_usec, 1);
    fprintf(o, "%s%s%s %s %s -> %s (%zu bytes)%s ", color, t->opts.color ? TRACE_BOLD : "", when,
            trace_transport(transport), src, dst, len, reset);
    trace_what(t, sip);
    fputc('\n', o);
    /* the message, in the call's color; the start line stands out */
    fputs(color, o);
    trace_escape(o, data, len);
    fputs(reset, o);
    /* end with exactly one empty line, whether or not the message did */
    int newlines = 0;
    for (size_t i = len; i > 0 && newlines < 2; i--) {
        if (data[i - 1] == '\n')
            newlines++;
        else if (data[i - 1] != '\r')
            break;
    }
    for (; newlines < 2; newlines++)
        fputc('\n', o);
}

/* The start of a media line: time, kind, addresses, in the call's color. */
static void trace_media_head(trace_t *t, const trace_call_t *c, const char *kind, uint64_t sec,
                             uint32_t usec, const char *src, const char *dst)
{
    char when[64];
    trace_time(when, sizeof(when), sec, usec, !t->opts.summary);
    fprintf(t->out, "%s%s%s %-4s %s -> %s%s ", t->opts.color ? trace_palette[c->color] : "",
            t->opts.color && !t->opts.summary ? TRACE_BOLD : "", when, kind, src, dst,
            t->opts.color ? TRACE_RESET : "");
}

/* The Call-ID that ends a media line, then the line end (and an empty line
 * after it in the full trace, as after a message). */
static void trace_media_tail(trace_t *t, const trace_call_t *c)
{
    fprintf(t->out, " %s", t->opts.color ? trace_palette[c->color] : "");
    trace_escape(t->out, (const uint8_t *)c->call_id, c->call_id_len);
    fprintf(t->out, "%s\n%s", t->opts.color ? TRACE_RESET : "", t->opts.summary ? "" : "\n");
}

void trace_rtcp(trace_t *t, const packet_t *pkt, ha_bytes_t call_id, const rtcp_info_t *info)
{
    trace_call_t *c = trace_call(t, call_id, 0);
    if (!c) return;
    char src[64], dst[64];
    trace_addr(src, sizeof(src), pkt, 1);
    trace_addr(dst, sizeof(dst), pkt, 0);
    trace_media_head(t, c, "RTCP", pkt->ts_sec, pkt->ts_usec, src, dst);
    FILE *o = t->out;
    const char *kind = info->type == RTCP_SR ? "SR" : info->type == RTCP_RR ? "RR" : "XR";
    fprintf(o, "%s ssrc 0x%08x", kind, info->ssrc);
    if (info->has_sender)
        fprintf(o, " sent %u packets %u bytes", info->sender_packets, info->sender_octets);
    if (info->report_blocks) {
        fprintf(o, ", about 0x%08x lost %d (%u/256) jitter %u", info->source_ssrc,
                info->packets_lost, info->fraction_lost, info->jitter);
        if (info->report_blocks > 1) fprintf(o, " (+%u blocks)", info->report_blocks - 1);
    }
    if (info->has_voip)
        fprintf(o, ", MOS-LQ %u.%u MOS-CQ %u.%u", info->mos_lq / 10, info->mos_lq % 10,
                info->mos_cq / 10, info->mos_cq % 10);
    trace_media_tail(t, c);
}

static void trace_report_addr(char *out, size_t n, const qos_report_t *r, int src)
{
    packet_t p;
    p.ip_version = r->ip_version;
    memcpy(src ? p.src_addr : p.dst_addr, src ? r->src_addr : r->dst_addr, 16);
    p.src_port = r->src_port;
    p.dst_port = r->dst_port;
    trace_addr(out, n, &p, src);
}

/* Keeps the MOS of a final report as its direction's. */
static void trace_keep_mos(trace_call_t *c, const qos_report_t *r)
{
    if (!r->final || r->mos <= 0) return; /* video has no MOS */
    trace_flow_t *f = NULL;
    for (uint8_t i = 0; i < c->nflows; i++) {
        trace_flow_t *x = &c->flows[i];
        if (x->version == r->ip_version && x->sport == r->src_port && x->dport == r->dst_port &&
            memcmp(x->src, r->src_addr, 16) == 0 && memcmp(x->dst, r->dst_addr, 16) == 0)
            f = x;
    }
    if (!f) {
        if (!c->flows) c->flows = calloc(TRACE_MOS_FLOWS, sizeof(*c->flows));
        if (!c->flows || c->nflows == TRACE_MOS_FLOWS) {
            c->flows_left_out++;
            return;
        }
        f = &c->flows[c->nflows++];
        f->version = r->ip_version;
        memcpy(f->src, r->src_addr, 16);
        memcpy(f->dst, r->dst_addr, 16);
        f->sport = r->src_port;
        f->dport = r->dst_port;
    }
    f->mos = r->mos;
}

void trace_qos(trace_t *t, const qos_report_t *r)
{
    trace_call_t *c = trace_call(t, (ha_bytes_t){r->call_id, r->call_id_len}, 0);
    if (!c) return;
    trace_keep_mos(c, r);
    char src[64], dst[64];
    trace_report_addr(src, sizeof(src), r, 1);
    trace_report_addr(dst, sizeof(dst), r, 0);
    trace_media_head(t, c, "QOS", r->ts_sec, r->ts_usec, src, dst);
    const qos_numbers_t *n = r->numbers;
    FILE *o = t->out;
    fprintf(o, "%s ssrc 0x%08x ", r->final ? "final" : "interim", n->ssrc);
    trace_escape(o, (const uint8_t *)r->codec, strlen(r->codec));
    fprintf(o, ": %llu packets, lost %lld (%.2f%%), jitter %.2f/%.2f ms, delta max %.2f ms",
            (unsigned long long)n->packets, (long long)n->lost, n->loss_pct, n->jitter_mean_ms,
            n->jitter_max_ms, n->delta_max_ms);
    if (r->mos > 0) fprintf(o, ", MOS %.2f (R %.1f)", r->mos, n->r_factor);
    trace_media_tail(t, c);
}

void trace_print_calls(trace_t *t)
{
    if (t->ncalls == 0) return;
    FILE *o = t->out;
    fprintf(o, "%s%zu calls%s\n", t->opts.color ? TRACE_BOLD : "", t->ncalls,
            t->opts.color ? TRACE_RESET : "");
    for (size_t i = 0; i < t->order_len; i++) {
        const trace_call_t *c = &t->calls[t->order[i]];
        const char *color = t->opts.color ? trace_palette[c->color] : "";
        fprintf(o, "  %s", color);
        trace_escape(o, (const uint8_t *)c->call_id, c->call_id_len);
        fprintf(o, "%s  ", t->opts.color ? TRACE_RESET : "");
        trace_escape(o, (const uint8_t *)c->first_method, strlen(c->first_method));
        fprintf(o, ", %llu messages, %llus", (unsigned long long)c->messages,
                (unsigned long long)(c->last_sec - c->first_sec));
        if (c->final_status) {
            fprintf(o, ", final %u (", c->final_status);
            trace_escape(o, (const uint8_t *)c->final_method, strlen(c->final_method));
            fputc(')', o);
        } else {
            fputs(", no final response", o);
        }
        for (uint8_t k = 0; k < c->nflows; k++) {
            const trace_flow_t *f = &c->flows[k];
            packet_t p;
            p.ip_version = f->version;
            memcpy(p.src_addr, f->src, 16);
            memcpy(p.dst_addr, f->dst, 16);
            p.src_port = f->sport;
            p.dst_port = f->dport;
            char src[64], dst[64];
            trace_addr(src, sizeof(src), &p, 1);
            trace_addr(dst, sizeof(dst), &p, 0);
            fprintf(o, "%s%s -> %s MOS %.2f", k ? ", " : "; ", src, dst, f->mos);
        }
        if (c->flows_left_out) fprintf(o, " (%u more streams)", c->flows_left_out);
        fputc('\n', o);
    }
    if (t->untracked)
        fprintf(o, "  (%llu messages of further calls not summarised)\n",
                (unsigned long long)t->untracked);
}
