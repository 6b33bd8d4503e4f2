/* Telling systemd how the service is doing (Type=notify): READY=1 once capture
 * runs, RELOADING=1 ... READY=1 around a reload, STATUS= with a one-line
 * summary, STOPPING=1. The documented datagram protocol (sd_notify(3)), not
 * libsystemd: a dozen lines against a dependency that brings the journal,
 * compression and crypto libraries along. */
#ifndef HEPAGENT_SDNOTIFY_H
#define HEPAGENT_SDNOTIFY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct sdnotify {
    int fd; /* -1: not started by systemd (no NOTIFY_SOCKET), every call does nothing */
    struct sockaddr_un addr;
    socklen_t addr_len;
} sdnotify_t;

/* Reads NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). An
 * address it cannot use is reported in err, and n stays inactive. */
int sdnotify_open(sdnotify_t *n, char *err, size_t errlen);
int sdnotify_active(const sdnotify_t *n);
/* Sends one message ("READY=1\nSTATUS=..."); errors are ignored, as systemd
 * going away must not stop capture. */
void sdnotify_send(const sdnotify_t *n, const char *msg);
void sdnotify_ready(const sdnotify_t *n, const char *status);
/* RELOADING=1 with MONOTONIC_USEC (systemd >= 253 matches it to the reload
 * request; older versions ignore it). */
void sdnotify_reloading(const sdnotify_t *n);
void sdnotify_status(const sdnotify_t *n, const char *status);
void sdnotify_stopping(const sdnotify_t *n);
void sdnotify_close(sdnotify_t *n);

#endif
