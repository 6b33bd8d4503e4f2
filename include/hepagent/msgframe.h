/* Frames made for a SIP message that has no frames of its own to write
 * with -w: a redacted message (its original frames hold what was
 * removed) or one received over HEP. Each message becomes Ethernet (an
 * 802.1Q tag when it had a VLAN), IPv4 or IPv6 and UDP, TCP or SCTP with
 * its own addresses, ports and capture time and valid checksums; TCP
 * sequence numbers (SCTP TSNs) continue per flow, so Wireshark reads the
 * messages of a connection in order. A TCP message too big for one IP
 * packet is cut into several segments. */
#ifndef HEPAGENT_MSGFRAME_H
#define HEPAGENT_MSGFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/pcapout.h"

typedef struct msgframe_msg {
    uint64_t ts_sec;
    uint32_t ts_usec;
    uint8_t ip_version; /* 4 or 6 */
    uint8_t ip_proto;   /* 17, 6, 132; others are written as UDP */
    const uint8_t *src_addr, *dst_addr;
    uint16_t src_port, dst_port;
    int has_vlan;
    uint16_t vlan;
    const uint8_t *data;
    size_t len;
} msgframe_msg_t;

enum { MSGFRAME_FLOWS = 4096 }; /* flows whose sequence numbers are kept */

typedef struct msgframe msgframe_t;

msgframe_t *msgframe_new(pcap_out_t *out);
void msgframe_free(msgframe_t *m);
/* 0, or a negative error (a UDP message too big for one datagram). */
int msgframe_write(msgframe_t *m, const msgframe_msg_t *msg);

#endif
