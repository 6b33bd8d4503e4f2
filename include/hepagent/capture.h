/* Capture sources: live interfaces (non-blocking pcap handles watched by
 * uv_poll) and capture files (read in batches from a uv_idle handle, paced by
 * their timestamps with --realtime, paused while a collector is backlogged). */
#ifndef HEPAGENT_CAPTURE_H
#define HEPAGENT_CAPTURE_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "hepagent/config.h"
#include "hepagent/stats.h"

typedef struct capture capture_t;

typedef struct capture_callbacks {
    void (*frame)(void *ctx, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                  uint32_t source_id);
    /* a file reached its end, or a live source failed (failed = 1) */
    void (*done)(void *ctx, capture_t *cap, int failed);
    /* file sources pause while this returns non-zero; may be NULL */
    int (*backlogged)(void *ctx);
    void *ctx;
    /* live sources: the kernel filter cuts RTP to this many bytes of UDP
     * payload (rtpfilter.h; media.rtp_snap); 0: whole packets */
    uint32_t rtp_snap;
} capture_callbacks_t;

enum {
    CAPTURE_BATCH = 256, /* frames per read before the loop runs again */
    /* TPACKET_V3 block timeout: a partly filled block reaches us after at most
     * this long. An idle socket costs nothing (the kernel only retires blocks
     * that hold frames). 1 ms: p50 latency 0.7 ms instead of 2.7 ms at 5 ms
     * (scripts/bench.sh, README "Tuning"). */
    CAPTURE_LIVE_TIMEOUT_MS = 1,
};

/* Opens (but does not start) a source; errors name the interface or file. */
int capture_open(uv_loop_t *loop, const capture_source_t *src, uint32_t id, int realtime,
                 const capture_callbacks_t *cb, capture_t **out, char *err, size_t errlen);
/* A file source paced at pps frames per second (--pps, as tcpreplay), for a
 * collector on another host that drops what arrives faster than it reads.
 * Before capture_start; not with realtime. */
int capture_set_pps(capture_t *c, uint32_t pps);
/* Reads the file sources among the n sources (none started) as one stream
 * ordered by time, as mergecap does: the first file reads them all and
 * delivers each frame as its file's (counters, source id); each file's done
 * callback comes at its own end. capture_start of the first file starts
 * them; the others' is a no-op. Live sources are left as they are. */
int capture_merge(capture_t *const *sources, size_t n);
int capture_start(capture_t *c);
/* Stops reading; counters stay readable. */
void capture_stop(capture_t *c);
void capture_destroy(capture_t *c);

int capture_is_file(const capture_t *c);
int capture_is_finished(const capture_t *c);
const char *capture_name(const capture_t *c);
void capture_visit_stats(capture_t *c, const stats_visitor_t *v);

/* Compiles a filter against a link type without opening anything (for -t). */
int capture_check_bpf(const char *bpf, int linktype, uint32_t snaplen, char *err, size_t errlen);

#endif
