/* The global counters and the text form every module's counters are
 * printed in (--stats, SIGUSR1). */
#include "hepagent/stats.h"

#include <inttypes.h>
#include <string.h>

void stats_visit(const stats_t *stats, const stats_visitor_t *v)
{
#define STATS_VISIT(name, help) stats_emit(v, #name, NULL, NULL, STATS_COUNTER, stats->name, help);
    STATS_COUNTERS(STATS_VISIT)
#undef STATS_VISIT
    for (int i = 0; i < DECODE_RESULT_COUNT; i++) {
        /* "decode.ok" and every reason seen; the full list is long and mostly zero */
        if (i != DECODE_OK && stats->decode[i] == 0) continue;
        char name[64];
        snprintf(name, sizeof(name), "decode.%s", decode_result_name((decode_result_t)i));
        stats_emit(v, name, NULL, NULL, STATS_COUNTER, stats->decode[i],
                   i == DECODE_OK ? "frames decoded down to the transport payload"
                                  : "frames not decoded, by reason");
    }
}

void stats_text_visit(void *ctx, const stats_value_t *v)
{
    const stats_text_t *t = ctx;
    const char *dot = v->instance ? strchr(v->name, '.') : NULL;
    if (dot)
        fprintf(t->out, "%s%.*s[%s]%s %" PRIu64 "\n", t->prefix, (int)(dot - v->name), v->name,
                v->instance, dot, v->value);
    else
        fprintf(t->out, "%s%s %" PRIu64 "\n", t->prefix, v->name, v->value);
}
