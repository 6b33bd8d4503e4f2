/* The kernel capture filter when media is on: the source's own filter
 * (compiled by libpcap; an empty one accepts everything), with every
 * accepting return sent through a block that cuts RTP-looking UDP (version
 * 2, second byte not an RTCP type) to its headers and lets everything else,
 * RTCP and SIP included, through whole. A classic BPF program's return value
 * is the number of bytes the kernel copies, so RTP costs the capture ring a
 * fraction of its size (README "Media", capture filter study). */
#ifndef HEPAGENT_RTPFILTER_H
#define HEPAGENT_RTPFILTER_H

#include <pcap/pcap.h>
#include <stdint.h>

enum {
    /* UDP payload bytes of an RTP packet kept: the 12-byte header and 52
     * bytes of CSRCs and header extension */
    RTPFILTER_KEEP = 64,
};

/* Whether the block knows where the IP header is for this link type
 * (Ethernet, Linux cooked v1 as "any" gives it). */
int rtpfilter_supports(int linktype);

/* out = in with its accepting returns (ret #k, k > 0) jumping to the
 * truncation block; the block accepts whole with `snaplen`, cuts RTP to
 * `keep` bytes of UDP payload. Returns 0, or -1 when the link type is not
 * supported or memory runs out. Free out with rtpfilter_free. */
int rtpfilter_patch(const struct bpf_program *in, int linktype, uint32_t snaplen, uint32_t keep,
                    struct bpf_program *out);
void rtpfilter_free(struct bpf_program *prog);

#endif
