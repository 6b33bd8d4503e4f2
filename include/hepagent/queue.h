/* A bounded FIFO of HEP packets in one fixed ring of bytes. Packets are stored
 * back to back and each is contiguous, so a TCP collector writes runs of them
 * with writev and a UDP collector sends one datagram per packet with sendmmsg.
 * A packet's length is read from its own HEP header (bytes 4-5). Nothing is
 * allocated after queue_init. */
#ifndef HEPAGENT_QUEUE_H
#define HEPAGENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct queue {
    uint8_t *buf;
    size_t cap;       /* bytes */
    size_t head;      /* offset of the oldest packet */
    size_t tail;      /* offset where the next packet goes */
    size_t wrap;      /* when wrapped: end of the data before offset 0; else SIZE_MAX */
    size_t count;     /* packets queued */
    size_t bytes;     /* bytes queued */
    size_t max_count; /* packet limit */
} queue_t;

int queue_init(queue_t *q, size_t max_bytes, size_t max_count);
void queue_free(queue_t *q);

/* Whether a packet of len bytes can be pushed now. */
int queue_fits(const queue_t *q, size_t len);
/* Copies a packet in; HA_ENOSPC when it does not fit. */
int queue_push(queue_t *q, const uint8_t *pkt, size_t len);
/* The oldest packet, or NULL. */
const uint8_t *queue_front(const queue_t *q, size_t *len);
void queue_pop(queue_t *q);

/* Fills up to max iovecs with packets from the front, one per packet; returns
 * how many. */
size_t queue_peek_packets(const queue_t *q, struct iovec *iov, size_t max);
/* Fills up to 2 iovecs with the contiguous runs of bytes from the front,
 * skipping the first `skip` bytes; returns how many iovecs. */
size_t queue_peek_bytes(const queue_t *q, size_t skip, struct iovec iov[2]);

static inline size_t queue_packet_len(const uint8_t *pkt)
{
    return ((size_t)pkt[4] << 8) | pkt[5];
}

#endif
