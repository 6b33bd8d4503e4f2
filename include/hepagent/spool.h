/* An on-disk FIFO of HEP packets for one collector, used while it cannot
 * take data and replayed in order when it returns; it survives a restart.
 * Segment files "<16 hex digits>.spool" are read in name order; each record
 * is magic, length and CRC-32, then the packet. A damaged record ends the
 * reading of its file (counted); the total size is bounded. */
#ifndef HEPAGENT_SPOOL_H
#define HEPAGENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct spool spool_t;

typedef struct spool_stats {
    uint64_t written;      /* packets written */
    uint64_t read;         /* packets read back */
    uint64_t corrupt;      /* damaged records (rest of their file skipped) */
    uint64_t dropped_full; /* packets refused because the spool was full */
    uint64_t evicted;      /* packets lost with the oldest segment, dropped for room
                            * (drop_oldest; estimated for files of an earlier run) */
    uint64_t write_errors; /* packets lost to a failed write */
} spool_stats_t;

/* Opens (creating) dir and finds what an earlier run left. */
spool_t *spool_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen);
void spool_close(spool_t *s);

/* Appends a packet at the end. When full, the oldest segment is dropped if
 * drop_oldest, else the packet is. Returns 0 or a negative error. */
int spool_append(spool_t *s, const uint8_t *pkt, size_t len, int drop_oldest);
/* Puts packets in front of everything spooled (the memory queue at shutdown,
 * which is older): they will be read first. */
int spool_prepend(spool_t *s, const uint8_t *const *pkts, const size_t *lens, size_t n);

/* The next packet into buf: 1 when one was read, 0 when the spool is empty. */
int spool_read(spool_t *s, uint8_t *buf, size_t cap, size_t *len);
/* Puts back the packet of len bytes the last spool_read returned: it is read
 * again next (its reader had no room for it). */
void spool_unread(spool_t *s, size_t len);

/* Bytes on disk. */
uint64_t spool_bytes(const spool_t *s);
/* Packets this process wrote that are still unread, exactly (the files an
 * earlier run left are not counted: how many records they hold is not known
 * until they are read). */
uint64_t spool_own_packets(const spool_t *s);
int spool_empty(const spool_t *s);
/* Writes what is buffered (the read position is recorded at close, so a
 * restart resumes where reading stopped). */
void spool_sync(spool_t *s);
const spool_stats_t *spool_stats(const spool_t *s);

#endif
