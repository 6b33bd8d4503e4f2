/* The options table and what is printed from it: --help, the two man pages
 * (hepagent(8) from this table, hepagent.json(5) from the config schema) and
 * README's reference tables; and the parser that turns argv into cli_args_t,
 * whose values main.c applies. */
#include "hepagent/cli.h"
#include "hepagent/config_schema.h"
#include "hepagent/keylog.h"
#include "hepagent/log.h"
#include "hepagent/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONF HEPAGENT_SYSCONFDIR "/hepagent.json"

const cli_option_t cli_options[] = {
    {"config", 'c', required_argument, "FILE", "Capture and send",
     "JSON configuration (default: " DEFAULT_CONF " if it exists, else the built-in default: "
     "capture on `any`, SIP on ports 5060-5090 over UDP and TCP to `udp://127.0.0.1:9060`, "
     "capture id 2001)"},
    {"interface", 'i', required_argument, "NAME", NULL,
     "capture on NAME; repeatable; replaces the config's `capture` list"},
    {"read", 'r', required_argument, "FILE", NULL,
     "read a pcap or pcapng file; repeatable, several are read merged by time (as mergecap) as "
     "fast as possible; exits 0 once "
     "the last packet is sent and the queues are flushed (1 if some could not be delivered "
     "before `shutdown_timeout_ms`)"},
    {"realtime", CLI_REALTIME, no_argument, NULL, NULL,
     "replay files at the pace of their timestamps"},
    {"pps", CLI_PPS, required_argument, "N", NULL,
     "replay files at N frames per second (as tcpreplay `--pps`): a collector on another host "
     "drops what arrives faster than it reads"},
    {"collector", 'H', required_argument, "URL", NULL,
     "send to URL: `udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT`, IPv6 as "
     "`udp://[::1]:9060`; repeatable; replaces the config's `collectors`"},
    {"filter", 'f', required_argument, "BPF", NULL,
     "capture filter for every source (tcpdump syntax); the words after the options are taken "
     "as the filter too"},
    {"snaplen", 's', required_argument, "N", NULL, "bytes captured per frame (64-262144)"},
    {"capture-id", CLI_CAPTURE_ID, required_argument, "N", NULL,
     "HEP capture agent id (0-4294967295)"},
    {"node-name", CLI_NODE_NAME, required_argument, "NAME", NULL, "HEP capture node name"},
    {"tls-keylog", CLI_TLS_KEYLOG, required_argument, "FILE", NULL,
     "decrypt SIP over TLS with the secrets of this key log (NSS format, `SSLKEYLOGFILE`); "
     "read at start and followed as it grows; repeatable"},
    {"tls-keylog-listen", CLI_TLS_KEYLOG_LISTEN, required_argument, "URL", NULL,
     "take key log lines as UDP datagrams on `udp://HOST:PORT`, as Kamailio's `keylog_peer` "
     "sends them"},
    {"check", 't', no_argument, NULL, NULL,
     "validate the configuration (including BPF syntax and TLS files) and exit: 0 valid, 2 "
     "invalid"},
    {"listen", CLI_LISTEN, required_argument, "URL", NULL,
     "receive HEP on URL and relay it: `udp://0.0.0.0:9060`, `tcp://[::]:9061`, "
     "`tls://...` (certificate from `inputs[]` in the config); repeatable; replaces the "
     "config's `inputs`; without `-c`, `-i` or `-r` nothing is captured"},
    {"trace", 'A', no_argument, NULL, "Console (like tcpdump -A, but whole SIP messages)",
     "print each matched SIP message: time, transport, src -> dst, size, then the text; "
     "without `-c` or `-H` nothing is sent, otherwise it is sent as well"},
    {"summary", CLI_SUMMARY, no_argument, NULL, NULL,
     "one line per message: time, src -> dst, method or status, Call-ID"},
    {"no-color", CLI_NO_COLOR, no_argument, NULL, NULL,
     "no colors (also when stdout is not a terminal, or NO_COLOR is set)"},
    {"call-id", CLI_CALL_ID, required_argument, "ID", NULL,
     "only this call (for `-A`, `-w` and `--count`)"},
    {"method", CLI_METHOD, required_argument, "NAME", NULL,
     "only requests NAME and their responses"},
    {"from", CLI_FROM, required_argument, "TEXT", NULL,
     "only messages whose From contains TEXT (case-insensitive)"},
    {"to", CLI_TO, required_argument, "TEXT", NULL,
     "only messages whose To contains TEXT (case-insensitive)"},
    {"write", 'w', required_argument, "FILE", NULL,
     "write the frames of the matched messages to FILE (pcap; pcapng if FILE ends in "
     "`.pcapng`)"},
    {"hep-pcap", CLI_HEP_PCAP, required_argument, "FILE", NULL,
     "write the HEP packets as sent, as UDP frames to their collector (to replay into Homer "
     "later)"},
    {"count", CLI_COUNT, required_argument, "N", NULL, "stop after N matched messages"},
    {"quiet", 'q', no_argument, NULL, NULL, "no per-call summary, only warnings in the log"},
    {"user", 'Z', required_argument, "USER", "Running as a service",
     "after opening the capture handles and listening sockets, become USER and give up every "
     "capability (as tcpdump `-Z`; `root` keeps root); also `agent.user`"},
    {"group", CLI_GROUP, required_argument, "GROUP", NULL,
     "with `-Z`: the group to become (default: USER's own); also `agent.group`"},
    {"metrics", CLI_METRICS, required_argument, "ADDR:PORT", NULL,
     "serve the counters over HTTP: `/metrics` (Prometheus text), `/stats` (JSON); e.g. "
     "`127.0.0.1:9096`; also `stats.listen`"},
    {"stats-interval", CLI_STATS_INTERVAL, required_argument, "S", NULL,
     "log a one-line summary of the counters every S seconds; also `stats.interval_s`"},
    {"syslog", CLI_SYSLOG, no_argument, NULL, NULL,
     "log to syslog (facility daemon) instead of stderr; under systemd stderr already goes to "
     "the journal with priorities"},
    {"stats", CLI_STATS, no_argument, NULL, "Other",
     "print the counters on exit (also on SIGUSR1, to the log)"},
    {"verbose", 'v', no_argument, NULL, NULL, "log at debug level"},
    {"version", 'V', no_argument, NULL, NULL, "print the version and exit"},
    {"help", 'h', no_argument, NULL, NULL, "this text"},
    {"help-config", CLI_HELP_CONFIG, no_argument, NULL, NULL,
     "every configuration key with its type, default and meaning"},
    {"reference", CLI_REFERENCE, required_argument, "WHAT", NULL, NULL},
};
const size_t cli_option_count = sizeof(cli_options) / sizeof(cli_options[0]);

const struct option *cli_longopts(void)
{
    static struct option longopts[sizeof(cli_options) / sizeof(cli_options[0]) + 1];
    for (size_t i = 0; i < cli_option_count; i++)
        longopts[i] =
            (struct option){cli_options[i].name, cli_options[i].has_arg, NULL, cli_options[i].key};
    return longopts;
}

const char *cli_shortopts(void)
{
    static char opts[2 * sizeof(cli_options) / sizeof(cli_options[0]) + 2];
    size_t n = 0;
    opts[n++] = ':'; /* a missing argument is told apart from an unknown option */
    for (size_t i = 0; i < cli_option_count; i++) {
        if (cli_options[i].key >= 128) continue;
        opts[n++] = (char)cli_options[i].key;
        if (cli_options[i].has_arg) opts[n++] = ':';
    }
    opts[n] = '\0';
    return opts;
}

/* ---- --help ------------------------------------------------------------ */

/* Prints text without its `code` marks, wrapped at width, continuation
 * lines indented by indent; the first line starts at column col. */
static void cli_wrap(FILE *out, const char *text, size_t col, size_t indent, size_t width)
{
    int first = 1;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        size_t len = 0;
        for (const char *q = p; q < end; q++)
            len += *q != '`';
        if (!first && col + 1 + len > width) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            fputc(' ', out);
            col++;
        }
        for (const char *q = p; q < end; q++)
            if (*q != '`') fputc(*q, out);
        col += len;
        first = 0;
        p = *end ? end + 1 : end;
    }
    fputc('\n', out);
}

static size_t cli_option_label(const cli_option_t *o, char *buf, size_t size)
{
    int n;
    if (o->key < 128)
        n = snprintf(buf, size, "-%c, --%s%s%s", o->key, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    else
        n = snprintf(buf, size, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    return n > 0 ? (size_t)n : 0;
}

void cli_usage(FILE *out)
{
    fputs("Usage: hepagent [options] [BPF expression]\n"
          "Capture SIP from interfaces or capture files and send it as HEPv3 to collectors.\n",
          out);
    enum { COL = 25, WIDTH = 79 };
    for (size_t i = 0; i < cli_option_count; i++) {
        const cli_option_t *o = &cli_options[i];
        if (!o->help) continue;
        if (o->heading) fprintf(out, "\n%s:\n", o->heading);
        char label[64];
        size_t len = cli_option_label(o, label, sizeof(label));
        fprintf(out, "  %s", label);
        size_t col = 2 + len;
        if (col + 2 > COL) {
            fprintf(out, "\n%*s", COL, "");
            col = COL;
        } else {
            fprintf(out, "%*s", (int)(COL - col), "");
            col = COL;
        }
        cli_wrap(out, o->help, col, COL, WIDTH);
    }
    fputs("\nSignals: SIGHUP reloads the configuration (the old one stays if the new one is\n"
          "invalid), SIGTERM/SIGINT stop capture, flush the queues and exit, SIGUSR1 logs\n"
          "the counters.\n"
          "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
          "Configuration keys: hepagent --help-config, or man 5 hepagent.json.\n",
          out);
}

/* ---- man pages ------------------------------------------------------- */

/* roff text: backslashes and hyphens escaped, `code` bold. */
static void man_text(FILE *out, const char *s)
{
    int code = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '`') {
            fputs(code ? "\\fR" : "\\fB", out);
            code = !code;
        } else if (*p == '\\' || *p == '-') {
            fputc('\\', out);
            fputc(*p, out);
        } else {
            fputc(*p, out);
        }
    }
    if (code) fputs("\\fR", out);
}

static void man_header(FILE *out, const char *name, int section, const char *title)
{
    fprintf(out,
            ".\\\" Generated by hepagent --reference man%d from the options table and the\n"
            ".\\\" configuration schema; do not edit.\n"
            ".TH %s %d \"\" \"hepagent %s\" \"%s\"\n",
            section, name, section, HEPAGENT_VERSION, title);
}

static void man8(FILE *out)
{
    man_header(out, "HEPAGENT", 8, "System Manager's Manual");
    fputs(".SH NAME\nhepagent \\- capture SIP and send it as HEPv3 to Homer and other "
          "collectors\n"
          ".SH SYNOPSIS\n.B hepagent\n[\\fIoptions\\fR] [\\fIBPF expression\\fR]\n"
          ".SH DESCRIPTION\n"
          "hepagent captures SIP from live interfaces or capture files, decodes each frame "
          "down to the SIP message (VLAN, MPLS, tunnels, IP fragments, TCP, WebSocket and SCTP "
          "reassembled), picks what to send with the rules of its configuration and sends "
          "every message as HEPv3 to one or more collectors over UDP, TCP or TLS, through "
          "bounded queues that survive collectors going away.\n"
          ".PP\nWithout \\fB\\-c\\fR, hepagent reads \\fI" DEFAULT_CONF "\\fR if it exists, "
          "else its built-in default (see \\fBhepagent.json\\fR(5)).\n"
          ".SH OPTIONS\n",
          out);
    for (size_t i = 0; i < cli_option_count; i++) {
        const cli_option_t *o = &cli_options[i];
        if (!o->help) continue;
        if (o->heading) {
            fputs(".SS ", out);
            man_text(out, o->heading);
            fputs("\n", out);
        }
        fputs(".TP\n", out);
        if (o->key < 128) fprintf(out, "\\fB\\-%c\\fR, ", o->key);
        fputs("\\fB\\-\\-", out);
        man_text(out, o->name);
        fputs("\\fR", out);
        if (o->arg) fprintf(out, " \\fI%s\\fR", o->arg);
        fputs("\n", out);
        man_text(out, o->help);
        fputs(".\n", out);
    }
    fputs(".SH SIGNALS\n"
          ".TP\n.B SIGHUP\nre-reads the configuration; the new rules and collectors take over "
          "only if everything is valid, otherwise the error is logged and the running "
          "configuration stays. At the console (\\fB\\-A\\fR) it stops hepagent, as it does "
          "tcpdump.\n"
          ".TP\n.BR SIGTERM \", \" SIGINT\nstop capture, send what is queued (up to "
          "\\fBagent.shutdown_timeout_ms\\fR), spool what is left where a spool is configured, "
          "exit. A second signal exits at once.\n"
          ".TP\n.B SIGUSR1\nlogs the counters.\n"
          ".SH EXIT STATUS\n"
          ".TP\n.B 0\nsuccess.\n"
          ".TP\n.B 1\nruntime failure: an interface or file that cannot be opened, packets "
          "that could not be delivered before the shutdown deadline of a file replay.\n"
          ".TP\n.B 2\nusage or configuration error: an unknown option, a bad value, an invalid "
          "configuration or BPF filter.\n"
          ".PP\nEach failure prints one line naming the cause.\n"
          ".SH FILES\n.TP\n.I " DEFAULT_CONF "\nthe configuration, see \\fBhepagent.json\\fR(5).\n"
          ".SH SEE ALSO\n\\fBhepagent.json\\fR(5), \\fBtcpdump\\fR(8), \\fBpcap-filter\\fR(7)\n",
          out);
}

static void man5(FILE *out)
{
    man_header(out, "HEPAGENT.JSON", 5, "File Formats Manual");
    fputs(".SH NAME\nhepagent.json \\- hepagent configuration\n"
          ".SH DESCRIPTION\n"
          "The configuration of \\fBhepagent\\fR(8) is one JSON object (comments \\fB/* */\\fR "
          "and \\fB//\\fR are accepted). Every key is optional unless marked required. "
          "Validation is strict: an unknown key, a wrong type, a value out of range, a bad "
          "CIDR or URL stops hepagent with exit status 2 and the path of the offending value, "
          "for example\n"
          ".PP\n.EX\nhepagent: config: rules[2].hosts[0]: \"10.0.0.0/33\" is not an IP address "
          "or CIDR\n.EE\n"
          ".PP\n\\fBhepagent \\-t \\-c\\fR \\fIFILE\\fR checks a file. A key left out of a rule "
          "matches everything; an empty list is refused (it would match nothing, silently). "
          "SIGHUP re-reads the file.\n"
          ".SH KEYS\n",
          out);
    config_reference(out, CFG_DOC_MAN);
    fputs(".SH SEE ALSO\n\\fBhepagent\\fR(8)\n", out);
}

/* README's option table. */
static void options_markdown(FILE *out)
{
    fputs("| option | meaning |\n|---|---|\n", out);
    for (size_t i = 0; i < cli_option_count; i++) {
        const cli_option_t *o = &cli_options[i];
        if (!o->help) continue;
        fputs("| `", out);
        if (o->key < 128) fprintf(out, "-%c, ", o->key);
        fprintf(out, "--%s%s%s` | %s |\n", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
                o->help);
    }
}

int cli_reference(FILE *out, const char *what)
{
    if (strcmp(what, "man8") == 0)
        man8(out);
    else if (strcmp(what, "man5") == 0)
        man5(out);
    else if (strcmp(what, "options") == 0)
        options_markdown(out);
    else if (strcmp(what, "config") == 0)
        config_reference(out, CFG_DOC_MARKDOWN);
    else
        return -1;
    return 0;
}

/* ---- parsing ------------------------------------------------------------ */

/* Appends to a NULL-terminated list of argv strings. */
static int list_add(const char ***list, const char *item)
{
    size_t n = 0;
    while (*list && (*list)[n])
        n++;
    const char **grown = realloc((void *)*list, (n + 2) * sizeof(char *));
    if (!grown) return HA_ENOMEM;
    grown[n] = item;
    grown[n + 1] = NULL;
    *list = grown;
    return HA_OK;
}

static int parse_u32(const char *text, uint64_t min, uint64_t max, uint32_t *out)
{
    if (!text[0]) return HA_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || text[0] == '-' || v < min || v > max) return HA_EINVAL;
    *out = (uint32_t)v;
    return HA_OK;
}

cli_result_t cli_parse(cli_args_t *a, int argc, char **argv)
{
    config_overrides_t *ov = &a->ov;
    const char **interfaces = NULL, **files = NULL, **collectors = NULL;
    int opt;
    opterr = 0; /* errors are reported below, in one line */
    int no_color = getenv("NO_COLOR") != NULL || !isatty(STDOUT_FILENO);
    while ((opt = getopt_long(argc, argv, cli_shortopts(), cli_longopts(), NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'i':
            if (list_add(&interfaces, optarg) != HA_OK) return CLI_NO_MEMORY;
            ov->interfaces = interfaces; /* owned by ov from here: freed on every path */
            break;
        case 'r':
            if (list_add(&files, optarg) != HA_OK) return CLI_NO_MEMORY;
            ov->files = files;
            break;
        case CLI_REALTIME:
            a->realtime = 1;
            break;
        case CLI_PPS:
            if (parse_u32(optarg, 1, 10000000, &a->pps) != HA_OK) {
                fprintf(stderr, "hepagent: --pps: \"%s\" is not a number from 1 to 10000000\n",
                        optarg);
                return CLI_USAGE_ERROR;
            }
            break;
        case 'H':
            if (list_add(&collectors, optarg) != HA_OK) return CLI_NO_MEMORY;
            ov->collectors = collectors;
            break;
        case 'f':
            ov->bpf = optarg;
            break;
        case 's':
            if (parse_u32(optarg, 64, 262144, &ov->snaplen) != HA_OK) {
                fprintf(stderr, "hepagent: --snaplen: \"%s\" is not a number from 64 to 262144\n",
                        optarg);
                return CLI_USAGE_ERROR;
            }
            break;
        case CLI_CAPTURE_ID:
            if (parse_u32(optarg, 0, UINT32_MAX, &ov->capture_id) != HA_OK) {
                fprintf(stderr,
                        "hepagent: --capture-id: \"%s\" is not a number from 0 to 4294967295\n",
                        optarg);
                return CLI_USAGE_ERROR;
            }
            ov->has_capture_id = 1;
            break;
        case CLI_NODE_NAME:
            if (strlen(optarg) > 255) {
                fprintf(stderr, "hepagent: --node-name: longer than 255 characters\n");
                return CLI_USAGE_ERROR;
            }
            ov->node_name = optarg;
            break;
        case 't':
            a->check_only = 1;
            break;
        case CLI_STATS:
            a->print_stats = 1;
            break;
        case 'v':
            a->verbose = 1;
            log_set_level(LOG_DEBUG);
            break;
        case 'A':
            a->trace = 1;
            break;
        case CLI_SUMMARY:
            a->trace_opts.summary = 1;
            break;
        case CLI_NO_COLOR:
            no_color = 1;
            break;
        case CLI_CALL_ID:
            a->trace_opts.call_id = optarg;
            break;
        case CLI_METHOD:
            a->trace_opts.method = optarg;
            break;
        case CLI_FROM:
            a->trace_opts.from = optarg;
            break;
        case CLI_TO:
            a->trace_opts.to = optarg;
            break;
        case 'w':
            a->write_path = optarg;
            break;
        case CLI_HEP_PCAP:
            a->hep_pcap_path = optarg;
            break;
        case CLI_COUNT: {
            uint32_t n;
            if (parse_u32(optarg, 1, UINT32_MAX, &n) != HA_OK) {
                fprintf(stderr, "hepagent: --count: \"%s\" is not a positive number\n", optarg);
                return CLI_USAGE_ERROR;
            }
            a->count = n;
            break;
        }
        case 'q':
            a->quiet = 1;
            break;
        case CLI_LISTEN:
            if (list_add(&a->listen, optarg) != HA_OK) return CLI_NO_MEMORY;
            break;
        case 'Z':
            a->priv.user = optarg;
            break;
        case CLI_GROUP:
            a->priv.group = optarg;
            break;
        case CLI_METRICS: {
            struct sockaddr_storage addr;
            socklen_t len;
            char why[HA_ERRLEN];
            if (metrics_parse_listen(optarg, &addr, &len, why, sizeof(why)) != HA_OK) {
                fprintf(stderr, "hepagent: --metrics: %s\n", why);
                return CLI_USAGE_ERROR;
            }
            a->metrics_listen = optarg;
            break;
        }
        case CLI_STATS_INTERVAL:
            a->has_interval = 1;
            if (parse_u32(optarg, 0, 86400, &a->interval_s) != HA_OK) {
                fprintf(stderr,
                        "hepagent: --stats-interval: \"%s\" is not a number of seconds "
                        "from 0 to 86400\n",
                        optarg);
                return CLI_USAGE_ERROR;
            }
            break;
        case CLI_SYSLOG:
            a->use_syslog = 1;
            break;
        case CLI_TLS_KEYLOG: {
            tls_decrypt_options_t *t = &a->tls;
            char **grown = realloc(t->keylog_files, (t->keylog_file_count + 1) * sizeof(char *));
            if (!grown) return CLI_NO_MEMORY;
            t->keylog_files = grown;
            t->keylog_files[t->keylog_file_count++] = optarg;
            break;
        }
        case CLI_TLS_KEYLOG_LISTEN: {
            char why[HA_ERRLEN];
            if (keylog_check_url(optarg, why, sizeof(why)) != HA_OK) {
                fprintf(stderr, "hepagent: --tls-keylog-listen: %s\n", why);
                return CLI_USAGE_ERROR;
            }
            a->tls.keylog_listen = optarg;
            break;
        }
        case 'V':
            printf("hepagent %s\n", HEPAGENT_VERSION);
            return CLI_DONE;
        case 'h':
            cli_usage(stdout);
            return CLI_DONE;
        case CLI_HELP_CONFIG:
            config_reference(stdout, CFG_DOC_TEXT);
            return CLI_DONE;
        case CLI_REFERENCE:
            if (cli_reference(stdout, optarg) != 0) {
                fprintf(stderr,
                        "hepagent: --reference: \"%s\" is not man8, man5, options or "
                        "config\n",
                        optarg);
                return CLI_USAGE_ERROR;
            }
            return CLI_DONE;
        case ':':
            fprintf(stderr, "hepagent: %s needs an argument (see hepagent --help)\n",
                    argv[optind - 1]);
            return CLI_USAGE_ERROR;
        default:
            /* one line naming the option, not getopt's two */
            if (optopt && optopt < 128)
                fprintf(stderr, "hepagent: unknown option -%c (see hepagent --help)\n", optopt);
            else
                fprintf(stderr, "hepagent: unknown option %s (see hepagent --help)\n",
                        argv[optind - 1]);
            return CLI_USAGE_ERROR;
        }
    }
    /* tcpdump's habit: the words after the options are the filter */
    if (optind < argc) {
        if (ov->bpf) {
            fprintf(stderr, "hepagent: give the filter either with -f or after the options, "
                            "not both\n");
            return CLI_USAGE_ERROR;
        }
        size_t len = 1;
        for (int i = optind; i < argc; i++)
            len += strlen(argv[i]) + 1;
        a->bpf_words = calloc(1, len);
        if (!a->bpf_words) return CLI_NO_MEMORY;
        for (int i = optind; i < argc; i++) {
            if (i > optind) strcat(a->bpf_words, " ");
            strcat(a->bpf_words, argv[i]);
        }
        ov->bpf = a->bpf_words;
    }
    ov->interfaces = interfaces;
    ov->files = files;
    ov->collectors = collectors;
    a->trace_opts.color = !no_color;
    a->trace_opts.call_summary = !a->quiet;
    if (a->trace && !a->config_path && !collectors) {
        /* -A alone is a console tool, like tcpdump: it sends nothing */
        static const char *const none[] = {NULL};
        ov->collectors = none;
    }
    if (a->pps && a->realtime) {
        fprintf(stderr, "hepagent: --pps and --realtime: give one pace, not both\n");
        return CLI_USAGE_ERROR;
    }
    return CLI_RUN;
}

void cli_args_free(cli_args_t *a)
{
    free(a->tls.keylog_files);
    free((void *)a->listen);
    free((void *)a->ov.interfaces);
    free((void *)a->ov.files);
    if (a->ov.collectors && a->ov.collectors[0]) free((void *)a->ov.collectors);
    free(a->bpf_words);
    memset(a, 0, sizeof(*a));
}
