/* The one way through: a captured frame is decoded, its SIP messages found,
 * matched against the rules, encoded as HEP and queued for the collectors.
 * Each stage only hands its result forward. */
#ifndef HEPAGENT_PIPELINE_H
#define HEPAGENT_PIPELINE_H

#include <pcap/pcap.h>

#include "hepagent/config.h"
#include "hepagent/packet.h"
#include "hepagent/sender.h"
#include "hepagent/sip.h"
#include "hepagent/stats.h"

typedef struct pipeline {
    const config_t *cfg; /* the running config; swapped on reload */
    stats_t *stats;
    sender_t *sender; /* NULL: decode and count only */
    int warned_truncated;
} pipeline_t;

void pipeline_init(pipeline_t *p, const config_t *cfg, stats_t *stats, sender_t *sender);
void pipeline_set_config(pipeline_t *p, const config_t *cfg);

/* One captured frame. */
void pipeline_frame(pipeline_t *p, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                    uint32_t source_id);

/* One whole SIP message found in pkt's flow (used by the stream stages).
 * data/len are the message bytes, sip its parsed fields. */
void pipeline_message(pipeline_t *p, const packet_t *pkt, unsigned transport, const uint8_t *data,
                      size_t len, const sip_msg_t *sip);

#endif
