/* Ring of HEP packets; see queue.h. Invariant: when not wrapped the data is
 * [head, tail); when wrapped it is [head, wrap) followed by [0, tail) with
 * tail <= head. */
#include "hepagent/queue.h"
#include "hepagent/common.h"

#include <stdlib.h>
#include <string.h>

int queue_init(queue_t *q, size_t max_bytes, size_t max_count)
{
    memset(q, 0, sizeof(*q));
    q->buf = malloc(max_bytes);
    if (!q->buf) return HA_ENOMEM;
    q->cap = max_bytes;
    q->max_count = max_count;
    q->wrap = SIZE_MAX;
    return HA_OK;
}

void queue_free(queue_t *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* Where a packet of len bytes would go, or SIZE_MAX. */
static size_t queue_slot(const queue_t *q, size_t len)
{
    if (q->count >= q->max_count || len > q->cap) return SIZE_MAX;
    if (q->count == 0) return 0;
    if (q->wrap == SIZE_MAX) {
        if (q->cap - q->tail >= len) return q->tail;
        if (q->head >= len) return 0; /* wrap around */
        return SIZE_MAX;
    }
    return (q->head - q->tail >= len) ? q->tail : SIZE_MAX;
}

int queue_fits(const queue_t *q, size_t len)
{
    return queue_slot(q, len) != SIZE_MAX;
}

int queue_push(queue_t *q, const uint8_t *pkt, size_t len)
{
    size_t at = queue_slot(q, len);
    if (at == SIZE_MAX) return HA_ENOSPC;
    if (q->count == 0) {
        q->head = 0;
        q->wrap = SIZE_MAX;
    } else if (q->wrap == SIZE_MAX && at == 0) {
        q->wrap = q->tail;
    }
    memcpy(q->buf + at, pkt, len);
    q->tail = at + len;
    q->count++;
    q->bytes += len;
    return HA_OK;
}

const uint8_t *queue_front(const queue_t *q, size_t *len)
{
    if (q->count == 0) return NULL;
    const uint8_t *p = q->buf + q->head;
    *len = queue_packet_len(p);
    return p;
}

void queue_pop(queue_t *q)
{
    if (q->count == 0) return;
    size_t len = queue_packet_len(q->buf + q->head);
    q->head += len;
    q->count--;
    q->bytes -= len;
    if (q->count == 0) {
        q->head = q->tail = 0;
        q->wrap = SIZE_MAX;
    } else if (q->wrap != SIZE_MAX && q->head == q->wrap) {
        q->head = 0;
        q->wrap = SIZE_MAX;
    }
}

size_t queue_peek_packets(const queue_t *q, struct iovec *iov, size_t max)
{
    size_t n = 0, off = q->head, left = q->count;
    size_t wrap = q->wrap;
    while (n < max && left > 0) {
        if (wrap != SIZE_MAX && off == wrap) {
            off = 0;
            wrap = SIZE_MAX;
        }
        size_t len = queue_packet_len(q->buf + off);
        iov[n].iov_base = q->buf + off;
        iov[n].iov_len = len;
        n++;
        off += len;
        left--;
    }
    return n;
}

size_t queue_peek_bytes(const queue_t *q, size_t skip, struct iovec iov[2])
{
    if (q->count == 0) return 0;
    size_t n = 0;
    size_t first_end = q->wrap == SIZE_MAX ? q->tail : q->wrap;
    if (q->head + skip < first_end) {
        iov[n].iov_base = q->buf + q->head + skip;
        iov[n].iov_len = first_end - q->head - skip;
        n++;
        skip = 0;
    } else {
        skip -= first_end - q->head;
    }
    if (q->wrap != SIZE_MAX && skip < q->tail) {
        iov[n].iov_base = q->buf + skip;
        iov[n].iov_len = q->tail - skip;
        n++;
    }
    return n;
}
