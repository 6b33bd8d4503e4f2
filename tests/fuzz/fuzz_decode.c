/* Frame decoding and everything after it that a frame can reach without a
 * socket: link/IP/tunnel decode, fragment reassembly, TCP and SCTP streams,
 * SIP framing. The first two bytes pick the link type. */
#include "hepagent/pipeline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {1, 0, 12, 101, 105, 108, 113, 127, 228, 229, 239, 276};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static config_t *cfg;
    static stats_t stats;
    if (!cfg) {
        char err[256];
        const char *json = "{\"reassembly\":{\"tcp_streams\":64,\"tcp_memory_kb\":1024,"
                           "\"ip_datagrams\":64},\"rules\":[{\"name\":\"all\"}],\"collectors\":[]}";
        if (config_parse(json, "fuzz", &cfg, err, sizeof(err)) != 0) return 0;
    }
    if (size < 2) return 0;
    /* fresh tables per input, so every crash reproduces from its input alone */
    pipeline_t pipe;
    if (pipeline_init(&pipe, cfg, &stats, NULL) != 0) return 0;
    int linktype = linktypes[data[0] % (sizeof(linktypes) / sizeof(linktypes[0]))];
    /* the rest is split into frames at "FRAME" markers so one input can hold a
     * conversation (fragments, segments) */
    const uint8_t *p = data + 2, *end = data + size;
    uint32_t t = 0;
    while (p < end) {
        const uint8_t *next = memmem(p, (size_t)(end - p), "FRAME", 5);
        size_t n = next ? (size_t)(next - p) : (size_t)(end - p);
        struct pcap_pkthdr hdr = {.ts = {.tv_sec = 1700000000 + t / 100, .tv_usec = t % 100},
                                  .caplen = (uint32_t)n,
                                  .len = (uint32_t)n + (data[1] & 1 ? 100 : 0)};
        /* a copy of exactly n bytes, so reading past it is caught */
        uint8_t *frame = malloc(n ? n : 1);
        memcpy(frame, p, n);
        pipeline_frame(&pipe, &hdr, frame, linktype, 0);
        free(frame);
        t++;
        p = next ? next + 5 : end;
    }
    pipeline_free(&pipe);
    return 0;
}
