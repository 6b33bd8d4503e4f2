/* A pcapng reader for what libpcap cannot read: files whose interfaces have
 * different link types (libpcap gives up at the first packet of a second
 * link type). Each packet comes with its own interface's link type and a
 * timestamp converted from the interface's resolution and offset. */
#ifndef HEPAGENT_PCAPNG_H
#define HEPAGENT_PCAPNG_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct pcapng pcapng_t;

/* Whether the file starts like a pcapng section header. */
int pcapng_is_pcapng(const char *path);

/* Opens a pcapng file; NULL with the reason in err. */
pcapng_t *pcapng_open(const char *path, char *err, size_t errlen);
void pcapng_close(pcapng_t *r);

/* Next packet: 1 with hdr/data/linktype/ifindex set (data valid until the
 * next call), 0 at the end, -1 on a malformed file (message in err). */
int pcapng_next(pcapng_t *r, struct pcap_pkthdr *hdr, const uint8_t **data, int *linktype,
                uint32_t *ifindex, char *err, size_t errlen);

/* Interfaces seen so far. */
uint32_t pcapng_interface_count(const pcapng_t *r);
int pcapng_interface_linktype(const pcapng_t *r, uint32_t ifindex);

#endif
