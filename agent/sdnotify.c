/* sd_notify's wire protocol: newline-separated KEY=VALUE assignments in one
 * datagram to the AF_UNIX socket named by NOTIFY_SOCKET. */
#include "hepagent/sdnotify.h"
#include "hepagent/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sdnotify_open(sdnotify_t *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0]) return HA_OK;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(n->addr.sun_path)) {
        snprintf(err, errlen, "NOTIFY_SOCKET=%s: not a socket path or abstract name", path);
        return HA_EINVAL;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@') n->addr.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        snprintf(err, errlen, "NOTIFY_SOCKET: cannot create a socket");
        return HA_EIO;
    }
    return HA_OK;
}

int sdnotify_active(const sdnotify_t *n)
{
    return n->fd >= 0;
}

void sdnotify_send(const sdnotify_t *n, const char *msg)
{
    if (n->fd < 0) return;
    ssize_t sent = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&n->addr, n->addr_len);
    (void)sent;
}

/* STATUS is one line: a newline would start another assignment */
static void sdnotify_with_status(const sdnotify_t *n, const char *head, const char *status)
{
    char msg[1024];
    int used = snprintf(msg, sizeof(msg), "%s%sSTATUS=", head, head[0] ? "\n" : "");
    if (used < 0 || (size_t)used >= sizeof(msg)) return;
    size_t at = (size_t)used;
    for (const char *s = status; *s && at + 1 < sizeof(msg); s++)
        msg[at++] = *s == '\n' ? ' ' : *s;
    msg[at] = '\0';
    sdnotify_send(n, msg);
}

void sdnotify_ready(const sdnotify_t *n, const char *status)
{
    sdnotify_with_status(n, "READY=1", status);
}

void sdnotify_reloading(const sdnotify_t *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
             (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
    sdnotify_send(n, msg);
}

void sdnotify_status(const sdnotify_t *n, const char *status)
{
    sdnotify_with_status(n, "", status);
}

void sdnotify_stopping(const sdnotify_t *n)
{
    sdnotify_send(n, "STOPPING=1");
}

void sdnotify_close(sdnotify_t *n)
{
    if (n->fd >= 0) close(n->fd);
    n->fd = -1;
}
