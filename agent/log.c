/* Logging to stderr with a level threshold. The threshold is the only
 * process-wide state outside main.c: it is set once from the config. */
#include "hepagent/log.h"
#include "hepagent/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static log_level_t log_threshold = LOG_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level_t level)
{
    log_threshold = level;
}
log_level_t log_get_level(void)
{
    return log_threshold;
}

int log_level_parse(const char *name, log_level_t *out)
{
    for (size_t i = 0; i < HA_ARRAY_LEN(log_names); i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (log_level_t)i;
            return HA_OK;
        }
    }
    return HA_EINVAL;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level > log_threshold) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hepagent: %s: %s\n", log_names[level], line);
}
