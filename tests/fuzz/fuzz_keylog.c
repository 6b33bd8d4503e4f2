/* The key log parser on arbitrary bytes: as text (UDP datagrams), and as a
 * file followed in two pieces, so the partial-line buffer sees every split.
 * The store must stay within its bound and only hold what the text said. */
#include "hepagent/keylog.h"
#include "hepagent/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_ERROR); /* the mode warning, once per input, is noise here */
    keylog_t *k = keylog_new(4);
    keylog_add_text(k, (const char *)data, size);
    if (keylog_sessions(k) > 4) abort();
    const keylog_stats_t *st = keylog_stats(k);
    if (st->secrets + st->duplicates + st->ignored + st->malformed != st->lines) abort();
    /* every random the text could name, looked up: at most the bound */
    size_t found = 0;
    for (size_t i = 0; i + KEYLOG_RANDOM_LEN <= size && i < 4096; i++)
        for (int kind = 0; kind < KEYLOG_KINDS; kind++) {
            const keylog_secret_t *s = keylog_find(k, data + i, (keylog_kind_t)kind);
            if (s && (s->len == 0 || s->len > KEYLOG_SECRET_MAX)) abort();
            found += s != NULL;
        }
    keylog_free(k);

    /* the same bytes as a file that grows: split where the first byte says */
    int fd = memfd_create("keylog", 0);
    if (fd < 0) return 0;
    fchmod(fd, 0600);
    size_t cut = size ? data[0] % (size + 1) : 0;
    char path[64], err[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    k = keylog_new(4);
    if (write(fd, data, cut) == (ssize_t)cut &&
        keylog_follow(k, NULL, path, err, sizeof(err)) == 0 &&
        write(fd, data + cut, size - cut) == (ssize_t)(size - cut)) {
        for (int i = 0; i < 4; i++)
            keylog_poll(k);
        if (keylog_sessions(k) > 4) abort();
    }
    keylog_free(k);
    close(fd);
    (void)found;
    return 0;
}
