/* The spool reader on an arbitrary segment file, as a crash or a full disk
 * may leave one: every record is checked, a damaged one ends the file. */
#include "hepagent/spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_SPOOL_RECORD_MIN = 12 + 6 }; /* record header + the smallest packet */

static char dir[] = "/tmp/fuzz_spool.XXXXXX";

static void remove_dir(void)
{
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made;
    if (!made) {
        if (!mkdtemp(dir)) return 0;
        atexit(remove_dir);
        made = 1;
    }
    char seg[64], pos[64];
    snprintf(seg, sizeof(seg), "%s/4000000000000000.spool", dir);
    snprintf(pos, sizeof(pos), "%s/4000000000000000.pos", dir);
    FILE *f = fopen(seg, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        unlink(seg);
        return 0;
    }
    fclose(f);
    char err[256];
    spool_t *s = spool_open(dir, 64 << 20, err, sizeof(err));
    if (s) {
        uint8_t *buf = malloc(65535); /* exactly the largest HEP packet: overreads show */
        size_t len;
        uint64_t bytes = 0;
        while (buf && spool_read(s, buf, 65535, &len)) {
            if (len < 6 || len > 65535 || memcmp(buf, "HEP3", 4) != 0) abort();
            bytes += 12 + len;
        }
        const spool_stats_t *st = spool_stats(s);
        /* nothing is read that the file did not hold, and at most one damaged
         * record is counted for it */
        if (bytes > size || st->read * FUZZ_SPOOL_RECORD_MIN > size || st->corrupt > 1) abort();
        free(buf);
        spool_close(s);
    }
    unlink(seg);
    unlink(pos);
    return 0;
}
