/* qos_replay: passive RTP quality of every UDP flow of a capture file,
 * without SIP or SDP: each UDP payload that parses as RTP goes to the QoS
 * table, and every report is printed as one JSON line. The tshark comparison
 * (tests/pcap/media/check_qos.py) and scripts/bench.sh use it.
 *   qos_replay -r FILE [-m PT=codec/rate]... [-i SECONDS] [-t MS] [-n STREAMS]
 *              [--bench] [--floor]
 * --bench: no report lines; one summary line (key=value) with the time
 * spent, RTP packets, ns per packet and the peak RSS. --floor: the same
 * reading, decoding and RTP parsing with the QoS table left out. */
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hepagent/decode.h"
#include "hepagent/qos.h"
#include "hepagent/rtp.h"

typedef struct {
    char codec[QOS_CODEC_MAX];
    uint32_t rate;
} pt_map_t;

typedef struct {
    int bench;
    uint64_t reports;
} replay_t;

static void usage(FILE *out, int code)
{
    fputs("usage: qos_replay -r FILE [-m PT=codec/rate]... [-i SECONDS] [-t MS] [-n STREAMS]\n"
          "                  [--bench] [--floor]\n"
          "  prints one JSON line per QoS report of the RTP streams in FILE\n"
          "  -m: the codec and clock rate of a dynamic payload type (no SDP is read)\n"
          "  --bench: print only a timing summary; --floor: leave the QoS table out\n",
          out);
    exit(code);
}

static void on_report(void *ctx, const qos_report_t *r)
{
    replay_t *rp = ctx;
    rp->reports++;
    if (!rp->bench) printf("%.*s\n", (int)r->json_len, r->json);
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int floor = 0, opt;
    replay_t rp = {0};
    static pt_map_t map[128];
    qos_options_t o;
    qos_options_default(&o);
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"bench", no_argument, NULL, 'B'},
                                             {"floor", no_argument, NULL, 'F'},
                                             {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "r:m:i:t:n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            file = optarg;
            break;
        case 'm': {
            unsigned pt, rate;
            char name[QOS_CODEC_MAX];
            if (sscanf(optarg, "%u=%31[^/]/%u", &pt, name, &rate) != 3 || pt > 127)
                usage(stderr, 2);
            snprintf(map[pt].codec, sizeof(map[pt].codec), "%s", name);
            map[pt].rate = rate;
            break;
        }
        case 'i':
            o.interval_s = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o.stream_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            o.max_streams = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'B':
            rp.bench = 1;
            break;
        case 'F':
            floor = 1;
            rp.bench = 1;
            break;
        case 'h':
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2);
        }
    }
    if (!file) usage(stderr, 2);

    /* a large stdio buffer: libpcap reads record by record through it */
    FILE *fp = fopen(file, "rb");
    if (!fp) {
        perror(file);
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_fopen_offline(fp, ebuf);
    if (!p) {
        fprintf(stderr, "qos_replay: %s\n", ebuf);
        return 1;
    }
    qos_table_t *t = qos_new(&o, on_report, &rp);
    if (!t) {
        fprintf(stderr, "qos_replay: out of memory\n");
        return 1;
    }
    decode_options_t dopts;
    decode_options_default(&dopts);
    int linktype = pcap_datalink(p);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    uint64_t frames = 0, rtp = 0;
    double start = now_s();
    int rc;
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        frames++;
        packet_t pkt;
        packet_from_frame(&pkt, (uint64_t)hdr->ts.tv_sec, (uint32_t)hdr->ts.tv_usec, data,
                          hdr->caplen, hdr->len, linktype);
        if (decode_frame(&dopts, &pkt) != DECODE_OK || pkt.l4_proto != 17) continue;
        rtp_header_t h;
        rtp_result_t r = rtp_parse(pkt.payload, pkt.payload_len, pkt.truncated, &h);
        if (r != RTP_ok) {
            qos_not_rtp(t, r);
            continue;
        }
        rtp++;
        if (floor) continue;
        const pt_map_t *m = &map[h.payload_type];
        qos_rtp(t, &pkt, &h, NULL, 0, m->rate, m->codec[0] ? m->codec : NULL, 0);
    }
    if (rc == -1) fprintf(stderr, "qos_replay: %s: %s\n", file, pcap_geterr(p));
    qos_finish(t);
    double secs = now_s() - start;
    if (rp.bench) {
        printf("mode=%s frames=%" PRIu64 " rtp=%" PRIu64 " reports=%" PRIu64 " streams=%" PRIu64
               " refused=%" PRIu64 " seconds=%.3f pps=%.0f ns_per_rtp=%.1f"
               " memory_bytes=%zu max_rss_kb=%ld\n",
               floor ? "floor" : "qos", frames, rtp, rp.reports, qos_get_stats(t)->streams,
               qos_get_stats(t)->streams_refused, secs, secs > 0 ? (double)rtp / secs : 0,
               rtp ? secs * 1e9 / (double)rtp : 0, qos_memory(t), peak_rss_kb());
    }
    qos_free(t);
    pcap_close(p);
    return rc == -1 ? 1 : 0;
}
