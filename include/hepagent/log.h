/* Logging: one line per event to stderr (systemd's journal adds the time,
 * "<3>"-style prefixes give it the priority) or to syslog (--syslog).
 * Never called per packet: bad packets go to counters (stats.h). */
#ifndef HEPAGENT_LOG_H
#define HEPAGENT_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level_t;

typedef enum {
    LOG_TO_STDERR = 0, /* "hepagent: warn: text" */
    LOG_TO_JOURNAL,    /* "<4>text": stderr is systemd's journal */
    LOG_TO_SYSLOG,     /* syslog(3), facility daemon */
} log_output_t;

void log_set_level(log_level_t level);
void log_set_output(log_output_t out);
/* Whether stderr is the stream systemd's journal gave us (JOURNAL_STREAM). */
int log_stderr_is_journal(void);
log_level_t log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns 0 or HA_EINVAL. */
int log_level_parse(const char *name, log_level_t *out);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why the process cannot start or go on, whatever the threshold:
 * "hepagent: text" on stderr (and to syslog with --syslog), "<3>text" for the
 * journal. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
