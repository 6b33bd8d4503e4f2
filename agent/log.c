/* Logging with a level threshold, to stderr (with "<3>"-style priority
 * prefixes when stderr is systemd's journal) or to syslog. The threshold and
 * the destination are the only process-wide state outside main.c: both are
 * set once at start (the threshold again on reload). */
#include <syslog.h>
/* syslog.h's LOG_INFO and LOG_DEBUG are priorities (6, 7); ours are levels */
#undef LOG_INFO
#undef LOG_DEBUG

#include "hepagent/common.h"
#include "hepagent/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static log_level_t log_threshold = LOG_INFO;
static log_output_t log_output = LOG_TO_STDERR;
static const char *const log_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities (RFC 5424) of our levels, as the journal reads them too */
static const int log_priorities[] = {3 /* err */, 4 /* warning */, 6 /* info */, 7 /* debug */};

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

/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected; it is only
 * ours if stderr is still that stream (not redirected by a shell). */
int log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2) return 0;
    if (fstat(STDERR_FILENO, &st) != 0) return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_output(log_output_t out)
{
    if (out == LOG_TO_SYSLOG) openlog("hepagent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_output = out;
}

void log_fatal(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log_output == LOG_TO_JOURNAL) {
        fprintf(stderr, "<%d>%s\n", log_priorities[LOG_ERROR], line);
        return;
    }
    if (log_output == LOG_TO_SYSLOG) syslog(log_priorities[LOG_ERROR], "%s", line);
    fprintf(stderr, "hepagent: %s\n", line); /* on the console too: the start failed */
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level > log_threshold) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    switch (log_output) {
    case LOG_TO_SYSLOG:
        syslog(log_priorities[level], "%s", line);
        break;
    case LOG_TO_JOURNAL:
        /* the journal adds the name, pid and time, and reads the priority */
        fprintf(stderr, "<%d>%s\n", log_priorities[level], line);
        break;
    default:
        fprintf(stderr, "hepagent: %s: %s\n", log_names[level], line);
        break;
    }
}
