/* Writing captures: -w (the original frames of the matched messages) and
 * --hep-pcap (the HEP packets as sent, as UDP frames to the collector).
 * A ".pcapng" name gives pcapng, with one interface per link type, so
 * frames from sources of different link types all fit; otherwise classic
 * pcap with the first frame's link type (frames of another are counted
 * and left out). */
#ifndef HEPAGENT_PCAPOUT_H
#define HEPAGENT_PCAPOUT_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

#include "hepagent/packet.h"

typedef struct pcap_out pcap_out_t;

pcap_out_t *pcap_out_open(const char *path, char *err, size_t errlen);
/* 0, or HA_EINVAL for a frame of a link type the file cannot hold. */
int pcap_out_write(pcap_out_t *w, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype);
void pcap_out_close(pcap_out_t *w);
uint64_t pcap_out_skipped(const pcap_out_t *w);

/* The frames of matched messages: recent frames are kept (bounded) with
 * their flow, and when a message matches, every frame of its flow since its
 * first byte is written once, in capture order. */
typedef struct frame_keeper frame_keeper_t;

frame_keeper_t *frame_keeper_new(pcap_out_t *out, size_t max_frames, size_t max_bytes);
void frame_keeper_free(frame_keeper_t *k);
/* Every decoded frame (after decode, before reassembly). */
void frame_keeper_add(frame_keeper_t *k, const packet_t *pkt, const struct pcap_pkthdr *hdr,
                      const uint8_t *data, int linktype, int fragment);
/* A matched message of pkt's flow whose first byte was captured at ts. */
void frame_keeper_message(frame_keeper_t *k, const packet_t *pkt, uint64_t ts_sec,
                          uint32_t ts_usec);
/* The same for both directions of pkt's connection since ts: a decrypted
 * TLS message brings its connection's frames from the handshake on, so the
 * file can be decrypted again with the key log. */
void frame_keeper_connection(frame_keeper_t *k, const packet_t *pkt, uint64_t ts_sec,
                             uint32_t ts_usec);

/* Writes a HEP packet as an Ethernet/IP/UDP frame from 127.0.0.1:9061 (or
 * ::1) to the collector address given. */
int pcap_out_write_hep(pcap_out_t *w, const uint8_t *hep, size_t len, int ip_version,
                       const uint8_t *dst_addr, uint16_t dst_port);

#endif
