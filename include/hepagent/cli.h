/* The command line's options as one table: main.c parses argv with it, and
 * --help, the hepagent(8) man page and README's option table are printed
 * from it, so no option can be missing from its documentation. */
#ifndef HEPAGENT_CLI_H
#define HEPAGENT_CLI_H

#include <getopt.h>
#include <stdio.h>

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

#endif
