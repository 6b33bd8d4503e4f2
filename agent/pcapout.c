/* Capture file writer (pcap and pcapng) and the frame keeper behind -w. */
#include "hepagent/pcapout.h"
#include "hepagent/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

enum { PCAPOUT_MAX_IFACES = 16, PCAPOUT_SNAPLEN = 262144 };

struct pcap_out {
    FILE *f;
    int ng;
    int linktype; /* pcap: the file's; -1 until the first frame */
    int ifaces[PCAPOUT_MAX_IFACES];
    int nifaces;
    uint64_t skipped;
};

static int out_write(pcap_out_t *w, const void *p, size_t n)
{
    return fwrite(p, 1, n, w->f) == n ? HA_OK : HA_EIO;
}

static void le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void le16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

pcap_out_t *pcap_out_open(const char *path, char *err, size_t errlen)
{
    pcap_out_t *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    size_t n = strlen(path);
    w->ng = n > 7 && strcmp(path + n - 7, ".pcapng") == 0;
    w->linktype = -1;
    w->f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!w->f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        free(w);
        return NULL;
    }
    if (w->ng) {
        uint8_t shb[28];
        le32_put(shb, 0x0a0d0d0a);
        le32_put(shb + 4, 28);
        le32_put(shb + 8, 0x1a2b3c4d);
        le16_put(shb + 12, 1);
        le16_put(shb + 14, 0);
        memset(shb + 16, 0xff, 8); /* section length unknown */
        le32_put(shb + 24, 28);
        out_write(w, shb, sizeof(shb));
    }
    return w;
}

static int pcapng_iface(pcap_out_t *w, int linktype)
{
    for (int i = 0; i < w->nifaces; i++)
        if (w->ifaces[i] == linktype) return i;
    if (w->nifaces == PCAPOUT_MAX_IFACES) return -1;
    uint8_t idb[20];
    le32_put(idb, 1);
    le32_put(idb + 4, 20);
    le16_put(idb + 8, (uint16_t)linktype);
    le16_put(idb + 10, 0);
    le32_put(idb + 12, PCAPOUT_SNAPLEN);
    le32_put(idb + 16, 20);
    out_write(w, idb, sizeof(idb)); /* no options: microsecond timestamps */
    w->ifaces[w->nifaces] = linktype;
    return w->nifaces++;
}

int pcap_out_write(pcap_out_t *w, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype)
{
    if (!w->ng) {
        if (w->linktype < 0) {
            w->linktype = linktype;
            uint8_t gh[24];
            le32_put(gh, 0xa1b2c3d4);
            le16_put(gh + 4, 2);
            le16_put(gh + 6, 4);
            le32_put(gh + 8, 0);
            le32_put(gh + 12, 0);
            le32_put(gh + 16, PCAPOUT_SNAPLEN);
            le32_put(gh + 20, (uint32_t)linktype);
            out_write(w, gh, sizeof(gh));
        }
        if (linktype != w->linktype) {
            w->skipped++;
            return HA_EINVAL;
        }
        uint8_t rec[16];
        le32_put(rec, (uint32_t)hdr->ts.tv_sec);
        le32_put(rec + 4, (uint32_t)hdr->ts.tv_usec);
        le32_put(rec + 8, hdr->caplen);
        le32_put(rec + 12, hdr->len);
        out_write(w, rec, sizeof(rec));
        return out_write(w, data, hdr->caplen);
    }
    int iface = pcapng_iface(w, linktype);
    if (iface < 0) {
        w->skipped++;
        return HA_EINVAL;
    }
    uint32_t padded = (hdr->caplen + 3) & ~3u;
    uint32_t total = 32 + padded;
    uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
    uint8_t epb[28];
    le32_put(epb, 6);
    le32_put(epb + 4, total);
    le32_put(epb + 8, (uint32_t)iface);
    le32_put(epb + 12, (uint32_t)(ts >> 32));
    le32_put(epb + 16, (uint32_t)ts);
    le32_put(epb + 20, hdr->caplen);
    le32_put(epb + 24, hdr->len);
    static const uint8_t zero[4] = {0};
    uint8_t tail[4];
    le32_put(tail, total);
    int rc = out_write(w, epb, sizeof(epb));
    if (rc == HA_OK) rc = out_write(w, data, hdr->caplen);
    if (rc == HA_OK) rc = out_write(w, zero, padded - hdr->caplen);
    if (rc == HA_OK) rc = out_write(w, tail, sizeof(tail));
    return rc;
}

uint64_t pcap_out_skipped(const pcap_out_t *w)
{
    return w->skipped;
}

void pcap_out_close(pcap_out_t *w)
{
    if (!w) return;
    if (w->f == stdout)
        fflush(w->f);
    else
        fclose(w->f);
    free(w);
}

int pcap_out_write_hep(pcap_out_t *w, const uint8_t *hep, size_t len, int ip_version,
                       const uint8_t *dst_addr, uint16_t dst_port)
{
    static uint8_t frame[14 + 40 + 8 + 65536];
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    int v6 = ip_version == 6;
    size_t ip_len = v6 ? 40 : 20;
    size_t udp_len = 8 + len;
    memcpy(frame, macs, 12);
    put_be16(frame + 12, v6 ? 0x86dd : 0x0800);
    uint8_t *ip = frame + 14;
    memset(ip, 0, ip_len);
    if (v6) {
        ip[0] = 0x60;
        put_be16(ip + 4, (uint16_t)udp_len);
        ip[6] = 17;
        ip[7] = 64;
        ip[23] = 1; /* ::1 */
        memcpy(ip + 24, dst_addr, 16);
    } else {
        ip[0] = 0x45;
        put_be16(ip + 2, (uint16_t)(20 + udp_len));
        ip[8] = 64;
        ip[9] = 17;
        ip[12] = 127;
        ip[15] = 1;
        memcpy(ip + 16, dst_addr, 4);
        uint32_t sum = 0; /* header checksum, so tools do not flag it */
        for (int i = 0; i < 20; i += 2)
            sum += be16(ip + i);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        put_be16(ip + 10, (uint16_t)~sum);
    }
    uint8_t *udp = ip + ip_len;
    put_be16(udp, 9061);
    put_be16(udp + 2, dst_port);
    put_be16(udp + 4, (uint16_t)udp_len);
    put_be16(udp + 6, 0); /* no checksum (allowed for IPv4; tools accept it for IPv6 too) */
    memcpy(udp + 8, hep, len);
    struct timeval now;
    gettimeofday(&now, NULL);
    struct pcap_pkthdr hdr = {.ts = now};
    hdr.caplen = hdr.len = (uint32_t)(14 + ip_len + udp_len);
    return pcap_out_write(w, &hdr, frame, DLT_EN10MB);
}

/* ---- the frame keeper ---- */

typedef struct {
    struct pcap_pkthdr hdr;
    int linktype;
    uint8_t version, proto, fragment, written;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint8_t *data;
} kept_frame_t;

struct frame_keeper {
    pcap_out_t *out;
    kept_frame_t *ring;
    size_t cap, head, count;
    size_t bytes, max_bytes;
};

frame_keeper_t *frame_keeper_new(pcap_out_t *out, size_t max_frames, size_t max_bytes)
{
    frame_keeper_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    k->ring = calloc(max_frames, sizeof(*k->ring));
    if (!k->ring) {
        free(k);
        return NULL;
    }
    k->out = out;
    k->cap = max_frames;
    k->max_bytes = max_bytes;
    return k;
}

static void keeper_drop_oldest(frame_keeper_t *k)
{
    kept_frame_t *f = &k->ring[k->head];
    k->bytes -= f->hdr.caplen;
    free(f->data);
    f->data = NULL;
    k->head = (k->head + 1) % k->cap;
    k->count--;
}

void frame_keeper_free(frame_keeper_t *k)
{
    if (!k) return;
    while (k->count)
        keeper_drop_oldest(k);
    free(k->ring);
    free(k);
}

void frame_keeper_add(frame_keeper_t *k, const packet_t *pkt, const struct pcap_pkthdr *hdr,
                      const uint8_t *data, int linktype, int fragment)
{
    while (k->count && (k->count == k->cap || k->bytes + hdr->caplen > k->max_bytes))
        keeper_drop_oldest(k);
    if (hdr->caplen > k->max_bytes) return;
    kept_frame_t *f = &k->ring[(k->head + k->count) % k->cap];
    f->data = malloc(hdr->caplen ? hdr->caplen : 1);
    if (!f->data) return;
    memcpy(f->data, data, hdr->caplen);
    f->hdr = *hdr;
    f->linktype = linktype;
    f->version = pkt->ip_version;
    f->proto = fragment ? pkt->frag_proto : pkt->l4_proto;
    f->fragment = (uint8_t)fragment;
    f->written = 0;
    memcpy(f->src, pkt->src_addr, 16);
    memcpy(f->dst, pkt->dst_addr, 16);
    f->sport = fragment ? 0 : pkt->src_port;
    f->dport = fragment ? 0 : pkt->dst_port;
    k->bytes += hdr->caplen;
    k->count++;
}

/* Whether f goes from (src, sport) to (dst, dport); fragments carry no ports. */
static int keeper_flow(const kept_frame_t *f, const uint8_t *src, uint16_t sport,
                       const uint8_t *dst, uint16_t dport)
{
    if (memcmp(f->src, src, 16) != 0 || memcmp(f->dst, dst, 16) != 0) return 0;
    return f->fragment || (f->sport == sport && f->dport == dport);
}

static void keeper_write(frame_keeper_t *k, const packet_t *pkt, uint64_t ts_sec, uint32_t ts_usec,
                         int both_ways)
{
    uint64_t first = ts_sec * 1000000u + ts_usec;
    for (size_t i = 0; i < k->count; i++) {
        kept_frame_t *f = &k->ring[(k->head + i) % k->cap];
        uint64_t t = (uint64_t)f->hdr.ts.tv_sec * 1000000u + (uint64_t)f->hdr.ts.tv_usec;
        if (f->written || t < first || f->version != pkt->ip_version || f->proto != pkt->l4_proto)
            continue;
        if (!keeper_flow(f, pkt->src_addr, pkt->src_port, pkt->dst_addr, pkt->dst_port) &&
            !(both_ways &&
              keeper_flow(f, pkt->dst_addr, pkt->dst_port, pkt->src_addr, pkt->src_port)))
            continue;
        f->written = 1;
        pcap_out_write(k->out, &f->hdr, f->data, f->linktype);
    }
}

void frame_keeper_message(frame_keeper_t *k, const packet_t *pkt, uint64_t ts_sec, uint32_t ts_usec)
{
    keeper_write(k, pkt, ts_sec, ts_usec, 0);
}

void frame_keeper_connection(frame_keeper_t *k, const packet_t *pkt, uint64_t ts_sec,
                             uint32_t ts_usec)
{
    keeper_write(k, pkt, ts_sec, ts_usec, 1);
}
