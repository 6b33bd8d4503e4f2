/* Printing of the global counters; per-collector and per-source counters are
 * printed by their owners in the same "name value" form. */
#include "hepagent/stats.h"

#include <inttypes.h>

void stats_print(const stats_t *stats, FILE *out, const char *prefix)
{
#define STATS_PRINT(name, help) fprintf(out, "%s%s %" PRIu64 "\n", prefix, #name, stats->name);
    STATS_COUNTERS(STATS_PRINT)
#undef STATS_PRINT
    for (int i = 0; i < DECODE_RESULT_COUNT; i++) {
        if (i == DECODE_OK || stats->decode[i] != 0)
            fprintf(out, "%sdecode.%s %" PRIu64 "\n", prefix,
                    decode_result_name((decode_result_t)i), stats->decode[i]);
    }
}
