/* The command line's options as one table: cli_parse reads argv with it, and
 * --help, the hepagent(8) man page and README's option table are printed
 * from it, so no option can be missing from its documentation. */
#ifndef HEPAGENT_CLI_H
#define HEPAGENT_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "hepagent/config.h"
#include "hepagent/privdrop.h"
#include "hepagent/trace.h"

enum {
    CLI_REALTIME = 1000,
    CLI_CAPTURE_ID,
    CLI_NODE_NAME,
    CLI_STATS,
    CLI_SUMMARY,
    CLI_NO_COLOR,
    CLI_CALL_ID,
    CLI_METHOD,
    CLI_FROM,
    CLI_TO,
    CLI_HEP_PCAP,
    CLI_COUNT,
    CLI_LISTEN,
    CLI_TLS_KEYLOG,
    CLI_TLS_KEYLOG_LISTEN,
    CLI_HELP_CONFIG,
    CLI_REFERENCE, /* hidden: prints a documentation block (man pages, README) */
    CLI_GROUP,
    CLI_METRICS,
    CLI_STATS_INTERVAL,
    CLI_SYSLOG,
    CLI_PPS,
};

typedef struct cli_option {
    const char *name;    /* long name */
    int key;             /* the short letter, or CLI_* */
    int has_arg;         /* no_argument, required_argument */
    const char *arg;     /* what the argument is: FILE, NAME, N */
    const char *heading; /* starts a group of options (NULL: same group) */
    const char *help;    /* NULL: not shown (internal) */
} cli_option_t;

extern const cli_option_t cli_options[];
extern const size_t cli_option_count;

/* getopt_long's tables, built from cli_options (static storage). */
const struct option *cli_longopts(void);
const char *cli_shortopts(void);

/* --help */
void cli_usage(FILE *out);
/* What --reference WHAT prints: "man8", "man5" (the two man pages), "options"
 * and "config" (README's Markdown tables). 0, or -1 for an unknown WHAT. */
int cli_reference(FILE *out, const char *what);

/* What the command line asks for; main.c applies it. */
typedef struct cli_args {
    const char *config_path; /* -c (NULL: the default file) */
    config_overrides_t ov;   /* -i, -r, -H, -f or the filter words, -s, ids */
    int realtime;
    uint32_t pps;               /* --pps: files paced at this many frames per second */
    privdrop_options_t priv;    /* -Z, --group */
    const char *metrics_listen; /* --metrics (else stats.listen) */
    int has_interval;           /* --stats-interval given (else stats.interval_s) */
    uint32_t interval_s;
    int use_syslog;
    int print_stats;
    int check_only;
    int verbose; /* -v: debug, whatever the config's log_level says */
    /* the console: -A, -w, --hep-pcap and their filters */
    int trace;
    int quiet;
    trace_options_t trace_opts;
    const char *write_path;
    const char *hep_pcap_path;
    uint64_t count;
    const char **listen; /* --listen, NULL-terminated */
    /* what --tls-keylog and --tls-keylog-listen replace of tls_decrypt */
    tls_decrypt_options_t tls;
    char *bpf_words; /* the filter words after the options, joined (owned) */
} cli_args_t;

typedef enum {
    CLI_RUN,         /* go on with a */
    CLI_DONE,        /* --help, --version and the like printed: exit 0 */
    CLI_USAGE_ERROR, /* said on stderr in one line: exit 2 */
    CLI_NO_MEMORY,
} cli_result_t;

/* Parses argv (getopt_long, then the words after the options as the BPF
 * filter, as tcpdump does) into a zeroed a. -v takes effect at once. */
cli_result_t cli_parse(cli_args_t *a, int argc, char **argv);
/* Frees what cli_parse allocated (the strings stay argv's). */
void cli_args_free(cli_args_t *a);

#endif
