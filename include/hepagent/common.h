/* Shared basics: error codes, big-endian readers for packet bytes, small helpers.
 * Packet bytes are only ever read through these helpers after an explicit length
 * check against the captured length; no struct is ever cast onto packet memory. */
#ifndef HEPAGENT_COMMON_H
#define HEPAGENT_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Errors are negative, 0 is success (libuv's convention). */
enum {
    HA_OK = 0,
    HA_EINVAL = -1,  /* invalid argument or input */
    HA_ENOMEM = -2,  /* allocation failed */
    HA_ENOSPC = -3,  /* output buffer or table full */
    HA_EIO = -4,     /* system call failed */
    HA_ENOENT = -5,  /* no such thing */
    HA_EAGAIN = -6,  /* try again later */
    HA_ETOOBIG = -7, /* does not fit the wire limit */
};

#define HA_ERRLEN 256 /* size of the caller-provided err[] buffers */
#define HA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HA_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t be24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A non-owning view of bytes. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} ha_bytes_t;

#endif
