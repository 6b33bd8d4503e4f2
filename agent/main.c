/* hepagent: the start sequence, signals and the event loop. The only file
 * that knows about exit codes and process-wide state; cli.c reads argv. */
#include "hepagent/capture.h"
#include "hepagent/cli.h"
#include "hepagent/config.h"
#include "hepagent/config_schema.h"
#include "hepagent/dedup.h"
#include "hepagent/input.h"
#include "hepagent/keylog.h"
#include "hepagent/log.h"
#include "hepagent/metrics.h"
#include "hepagent/pcapout.h"
#include "hepagent/pipeline.h"
#include "hepagent/privdrop.h"
#include "hepagent/redact.h"
#include "hepagent/relay.h"
#include "hepagent/sdnotify.h"
#include "hepagent/sender.h"
#include "hepagent/stats.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct app {
    uv_loop_t *loop;
    cli_args_t args; /* the command line */
    config_t *cfg;
    stats_t stats;
    sender_t *sender;
    pipeline_t pipeline;
    capture_t **sources;
    size_t source_count;
    size_t files_left;
    size_t live_running;
    int files_only; /* only -r sources: exit status reflects delivery */
    privdrop_target_t priv_target;
    /* the service: metrics endpoint, summary, systemd, syslog */
    metrics_t *metrics;
    sdnotify_t notify;
    uv_timer_t summary_timer;
    uint64_t started_ms; /* uv_now at start */
    uint64_t reloads_ok, reloads_failed;
    int privileges_dropped;
    int stopping;
    int exit_code;
    uint64_t drain_deadline;
    uv_signal_t signals[4];
    uv_timer_t drain_timer;
    uv_timer_t media_timer; /* live capture: moves the media clock when packets stop */
    /* the console: -A, -w, --hep-pcap and their filters */
    trace_t *tracer;
    pcap_out_t *frames_out;
    frame_keeper_t *keeper;
    pcap_out_t *hep_out;
    msgframe_t *synth;
    /* the relay: HEP listeners (--listen) */
    int relay_only; /* --listen without -c, -i or -r: nothing is captured */
    input_set_t *inputs;
    relay_t *relay;
    dedup_t *dedup;
    redact_stats_t redact_stats;
    keylog_t *keys;
} app_t;

/* -v beats -q beats the config's log_level, at start and at every reload. */
static log_level_t log_level_of(const app_t *app, const config_t *cfg)
{
    if (app->args.verbose) return LOG_DEBUG;
    return app->args.quiet ? LOG_WARN : cfg->log_level;
}

/* ---- stats ------------------------------------------------------------- */

/* Every counter of every module, through one visitor. */
static void visit_all_stats(app_t *app, const stats_visitor_t *v)
{
    stats_visit(&app->stats, v);
    if (app->pipeline.tcp) pipeline_visit_stats(&app->pipeline, v);
    if (app->keys) keylog_visit_stats(app->keys, v);
    for (size_t i = 0; i < app->source_count; i++)
        if (app->sources[i]) capture_visit_stats(app->sources[i], v);
    if (app->sender) sender_visit_stats(app->sender, v);
    if (app->inputs) input_set_visit_stats(app->inputs, v);
    if (app->relay) relay_visit_stats(app->relay, v);
    if (app->dedup && app->cfg->dedup.window_ms) dedup_visit_stats(app->dedup, v);
    redact_visit_stats(&app->redact_stats, v);
    if (app->metrics) metrics_visit_stats(app->metrics, v);
    stats_emit(v, "reloads.ok", NULL, NULL, STATS_COUNTER, app->reloads_ok,
               "configuration reloads (SIGHUP) that took effect");
    stats_emit(v, "reloads.failed", NULL, NULL, STATS_COUNTER, app->reloads_failed,
               "configuration reloads refused (the running configuration stayed)");
    if (app->loop)
        stats_emit(v, "process.uptime_seconds", NULL, NULL, STATS_GAUGE,
                   (uv_now(app->loop) - app->started_ms) / 1000, "seconds since start");
    stats_emit(v, "build.info", "version", HEPAGENT_VERSION, STATS_GAUGE, 1,
               "the running hepagent's version (always 1)");
    if (app->pipeline.media) media_visit_stats(app->pipeline.media, v);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        stats_emit(v, "process.max_rss_kb", NULL, NULL, STATS_GAUGE, (uint64_t)ru.ru_maxrss,
                   "largest resident set size so far, KiB");
}

/* The command line's settings, else the config's. */
static const char *metrics_listen(const app_t *app)
{
    return app->args.metrics_listen ? app->args.metrics_listen : app->cfg->stats.listen;
}
static uint32_t summary_interval(const app_t *app)
{
    return app->args.has_interval ? app->args.interval_s : app->cfg->stats.interval_s;
}

static void visit_all_cb(void *ctx, const stats_visitor_t *v)
{
    visit_all_stats(ctx, v);
}

static void print_all_stats(app_t *app, FILE *out, const char *prefix)
{
    stats_text_t text = {out, prefix};
    stats_visitor_t v = {stats_text_visit, &text};
    visit_all_stats(app, &v);
}

/* ---- shutdown ---------------------------------------------------------- */

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void finish(app_t *app)
{
    uv_timer_stop(&app->drain_timer);
    sender_leftover_t left = {0};
    if (app->sender) sender_abandon(app->sender, &left);
    uint64_t undelivered = left.dropped + left.spooled;
    if (left.spooled)
        log_warn("%" PRIu64 " HEP packets could not be delivered before the shutdown deadline "
                 "(%" PRIu64 " of them kept in the spool for the next start)",
                 undelivered, left.spooled);
    else if (undelivered)
        log_warn("%" PRIu64 " HEP packets could not be delivered before the shutdown deadline",
                 undelivered);
    else if (left.spool_bytes)
        log_warn("%" PRIu64 " spooled bytes wait for the next start", left.spool_bytes);
    /* a file replay that could not deliver everything has failed */
    if (app->files_only && (undelivered || left.spool_bytes)) app->exit_code = EXIT_RUNTIME;
    if (app->args.print_stats) print_all_stats(app, stderr, "");
    for (size_t i = 0; i < app->source_count; i++)
        capture_destroy(app->sources[i]);
    app->source_count = 0;
    sender_destroy(app->sender);
    app->sender = NULL;
    for (size_t i = 0; i < HA_ARRAY_LEN(app->signals); i++)
        uv_close((uv_handle_t *)&app->signals[i], NULL);
    uv_close((uv_handle_t *)&app->drain_timer, NULL);
    uv_close((uv_handle_t *)&app->summary_timer, NULL);
    metrics_close(app->metrics);
    app->metrics = NULL;
    uv_close((uv_handle_t *)&app->media_timer, NULL);
}

static void drain_cb(uv_timer_t *t)
{
    app_t *app = t->data;
    if (!app->sender || sender_pending(app->sender) == 0 ||
        uv_now(app->loop) >= app->drain_deadline)
        finish(app);
}

/* Stop capture, then give the queues until the deadline to empty. */
static void begin_shutdown(app_t *app, const char *why)
{
    if (app->stopping) {
        log_warn("second stop request: exiting without waiting for the queues");
        finish(app);
        return;
    }
    app->stopping = 1;
    log_debug("stopping: %s", why);
    sdnotify_stopping(&app->notify);
    for (size_t i = 0; i < app->source_count; i++)
        capture_stop(app->sources[i]);
    input_set_stop(app->inputs);
    uv_timer_stop(&app->media_timer);
    pipeline_finish(&app->pipeline); /* the last QoS reports join the queues */
    app->drain_deadline = uv_now(app->loop) + app->cfg->shutdown_timeout_ms;
    if (app->sender) sender_drain(app->sender, app->drain_deadline);
    uv_timer_start(&app->drain_timer, drain_cb, 0, 10);
}

/* ---- capture callbacks ------------------------------------------------- */

static void on_frame(void *ctx, const struct pcap_pkthdr *hdr, const uint8_t *data, int linktype,
                     uint32_t source_id)
{
    app_t *app = ctx;
    pipeline_frame(&app->pipeline, hdr, data, linktype, source_id);
}

static int on_backlogged(void *ctx)
{
    app_t *app = ctx;
    return app->sender && sender_backlogged(app->sender);
}

/* Files are read one after the other, in command-line order. */
static void start_next_file(app_t *app)
{
    for (size_t i = 0; i < app->source_count; i++) {
        capture_t *c = app->sources[i];
        if (capture_is_file(c) && !capture_is_finished(c)) {
            capture_start(c);
            return;
        }
    }
}

static void on_source_done(void *ctx, capture_t *cap, int failed)
{
    app_t *app = ctx;
    if (capture_is_file(cap)) {
        app->files_left--;
        log_debug("file %s: done", capture_name(cap));
        start_next_file(app);
    } else if (failed) {
        app->live_running--;
        app->exit_code = EXIT_RUNTIME;
    }
    /* a relay runs on after its files, as a daemon */
    if (app->files_left == 0 && app->live_running == 0 && !app->inputs)
        begin_shutdown(app, "no source left");
}

/* ---- signals ----------------------------------------------------------- */

static int str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int sources_equal(const config_t *a, const config_t *b)
{
    if (a->source_count != b->source_count) return 0;
    for (size_t i = 0; i < a->source_count; i++) {
        const capture_source_t *x = &a->sources[i], *y = &b->sources[i];
        const char *sx[] = {x->interface, x->file, x->bpf}, *sy[] = {y->interface, y->file, y->bpf};
        for (int k = 0; k < 3; k++)
            if (!sx[k] != !sy[k] || (sx[k] && strcmp(sx[k], sy[k]) != 0)) return 0;
        if (x->snaplen != y->snaplen || x->promisc != y->promisc || x->buffer_mb != y->buffer_mb)
            return 0;
    }
    return 1;
}

static void start_summary(app_t *app);

static int inputs_equal(const config_t *a, const config_t *b)
{
    if (a->input_count != b->input_count) return 0;
    for (size_t i = 0; i < a->input_count; i++)
        if (strcmp(a->inputs[i].url, b->inputs[i].url) != 0) return 0;
    return 1;
}

static int reload_config(app_t *app, char *err, size_t errlen)
{
    config_t *next;
    if (config_load(app->args.config_path, &app->args.ov, &next, err, errlen) != HA_OK)
        return HA_EINVAL;
    if (sender_reconfigure(app->sender, next, err, errlen) != HA_OK) {
        config_free(next);
        return HA_EINVAL;
    }
    if (!str_equal(app->cfg->user, next->user) || !str_equal(app->cfg->group, next->group))
        log_warn("reload: agent.user and agent.group apply at start: restart hepagent");
    if (!str_equal(app->cfg->stats.listen, next->stats.listen) && !app->args.metrics_listen)
        log_warn("reload: stats.listen applies at start: restart hepagent");
    if (!sources_equal(app->cfg, next)) {
        if (app->privileges_dropped)
            log_warn("reload: capture sources changed; opening them needs the privileges given "
                     "up at start: restart hepagent to apply them (capture goes on unchanged)");
        else
            log_warn("reload: capture sources changed; they apply after a restart");
    }
    if (memcmp(&app->cfg->media, &next->media, sizeof(next->media)) != 0)
        log_warn("reload: media settings changed; they apply after a restart");
    log_set_level(log_level_of(app, next));
    pipeline_set_config(&app->pipeline, next);
    if (app->relay) app->relay->cfg = next;
    if (!app->args.listen && !inputs_equal(app->cfg, next))
        log_warn("reload: inputs changed; they apply after a restart");
    dedup_reconfigure(app->dedup, &next->dedup);
    config_free(app->cfg);
    app->cfg = next;
    start_summary(app); /* stats.interval_s may have changed */
    log_info("reloaded %s: %zu rules, %zu collectors", next->origin, next->rules.count,
             next->collector_count);
    return HA_OK;
}

/* systemd hears RELOADING=1 before and READY=1 after, whatever the outcome. */
static void reload(app_t *app)
{
    char err[HA_ERRLEN * 2], status[HA_ERRLEN];
    sdnotify_reloading(&app->notify);
    if (reload_config(app, err, sizeof(err)) == HA_OK) {
        app->reloads_ok++;
        snprintf(status, sizeof(status), "reloaded: %zu rules, %zu collectors",
                 app->cfg->rules.count, app->cfg->collector_count);
    } else {
        app->reloads_failed++;
        log_error("reload failed, keeping the running configuration: %s", err);
        snprintf(status, sizeof(status), "reload failed, running the previous configuration");
    }
    sdnotify_ready(&app->notify, status);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    switch (signum) {
    case SIGHUP:
        /* at the console (-A) a hangup means the terminal went away, as for
         * tcpdump; for the daemon it means reload */
        if (app->args.trace)
            begin_shutdown(app, "SIGHUP");
        else if (!app->stopping)
            reload(app);
        break;
    case SIGUSR1:
        print_all_stats(app, stderr, "hepagent: stats: ");
        break;
    default:
        begin_shutdown(app, signum == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
}

/* ---- start ------------------------------------------------------------- */

/* BPF syntax, checked before anything starts: a filter that does not
 * compile is a usage error (exit 2), whether it came from the command line
 * or the config. Per link type it is compiled again when a source opens. */
static int check_filters(const app_t *app)
{
    char err[HA_ERRLEN];
    const config_t *cfg = app->cfg;
    for (size_t i = 0; i < cfg->source_count; i++) {
        const capture_source_t *src = &cfg->sources[i];
        if (capture_check_bpf(src->bpf, DLT_EN10MB, src->snaplen, err, sizeof(err)) == HA_OK)
            continue;
        if (app->args.ov.bpf)
            fprintf(stderr, "hepagent: %s\n", err);
        else
            fprintf(stderr, "hepagent: config: capture[%zu].bpf: %s\n", i, err);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int has_file_source(const config_t *cfg)
{
    for (size_t i = 0; i < cfg->source_count; i++)
        if (cfg->sources[i].file) return 1;
    return 0;
}

/* tls_decrypt as the config has it, with what the command line replaces. */
static tls_decrypt_options_t tls_options(const app_t *app)
{
    tls_decrypt_options_t o = app->cfg->tls_decrypt;
    if (app->args.tls.keylog_file_count) {
        o.keylog_files = app->args.tls.keylog_files;
        o.keylog_file_count = app->args.tls.keylog_file_count;
    }
    if (app->args.tls.keylog_listen) o.keylog_listen = app->args.tls.keylog_listen;
    return o;
}

static int check_config(const app_t *app)
{
    char err[HA_ERRLEN];
    const config_t *cfg = app->cfg;
    int rc = check_filters(app);
    if (rc != EXIT_OK) return rc;
    tls_decrypt_options_t tls = tls_options(app);
    for (size_t i = 0; i < tls.keylog_file_count; i++) {
        if (keylog_check_file(tls.keylog_files[i], err, sizeof(err)) != HA_OK) {
            fprintf(stderr, "hepagent: config: tls_decrypt: %s\n", err);
            return EXIT_USAGE;
        }
    }
    if (sender_check(cfg, err, sizeof(err)) != HA_OK) {
        fprintf(stderr, "hepagent: config: %s\n", err);
        return EXIT_USAGE;
    }
    printf("hepagent: config OK (%s): %zu sources, %zu rules, %zu collectors\n", cfg->origin,
           cfg->source_count, cfg->rules.count, cfg->collector_count);
    return EXIT_OK;
}

/* Opens every capture source (nothing is read before start_sources). */
static int open_sources(app_t *app)
{
    char err[HA_ERRLEN * 2];
    const media_options_t *media = &app->cfg->media;
    capture_callbacks_t cb = {.frame = on_frame,
                              .done = on_source_done,
                              .backlogged = on_backlogged,
                              .ctx = app,
                              .rtp_snap = media->rtcp || media->qos ? media->rtp_snap : 0};
    app->sources = calloc(app->cfg->source_count, sizeof(capture_t *));
    if (!app->sources) return EXIT_RUNTIME;
    for (size_t i = 0; i < app->cfg->source_count; i++) {
        capture_t *c;
        const char *ifname = app->cfg->sources[i].interface;
        if (ifname) {
            char what[128];
            snprintf(what, sizeof(what), "interface %s", ifname);
            if (privdrop_check_capture(what, err, sizeof(err)) != HA_OK) {
                log_fatal("%s", err);
                return EXIT_RUNTIME;
            }
        }
        int rc = capture_open(app->loop, &app->cfg->sources[i], (uint32_t)i, app->args.realtime,
                              &cb, &c, err, sizeof(err));
        if (rc != HA_OK) {
            log_fatal("%s", err);
            /* a filter that does not compile for this link type is the user's */
            return rc == HA_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
        }
        app->sources[app->source_count++] = c;
        if (app->args.pps && capture_is_file(c) && capture_set_pps(c, app->args.pps) != HA_OK) {
            log_fatal("out of memory");
            return EXIT_RUNTIME;
        }
        if (capture_is_file(c))
            app->files_left++;
        else
            app->live_running++;
    }
    app->files_only = app->live_running == 0;
    /* several files are read as one, merged by time: copies of the same
     * traffic in two files meet inside the dedup window, and calls spread
     * over files follow in order */
    return capture_merge(app->sources, app->source_count) == HA_OK ? EXIT_OK : EXIT_RUNTIME;
}

static void start_sources(app_t *app)
{
    for (size_t i = 0; i < app->source_count; i++)
        if (!capture_is_file(app->sources[i])) capture_start(app->sources[i]);
    start_next_file(app);
}

/* After everything privileged is open: become agent.user (-Z) and give up
 * every capability. As root without a user nothing changes (as before); a
 * process that is not root has nothing left to need its capabilities for. */
static int drop_privileges(app_t *app)
{
    char err[HA_ERRLEN * 2];
    const privdrop_target_t *target = &app->priv_target;
    if (geteuid() == 0 && !target->switch_id) {
        log_debug("running as root with every capability (-Z USER gives them up after start)");
        return EXIT_OK;
    }
    if (privdrop_prepare_dir(target, app->cfg->delivery.spool_dir, err, sizeof(err)) != HA_OK) {
        log_fatal("delivery.spool_dir: %s", err);
        return EXIT_RUNTIME;
    }
    if (privdrop_apply(target, err, sizeof(err)) != HA_OK) {
        log_fatal("%s", err);
        return EXIT_RUNTIME;
    }
    app->privileges_dropped = 1;
    privdrop_describe(err, sizeof(err));
    log_info("privileges given up: now %s", err);
    return EXIT_OK;
}

/* The config's inputs, or --listen's URLs (an input the config also has
 * keeps its settings). */
static int relay_inputs(app_t *app, input_config_t **out, size_t *count)
{
    const config_t *cfg = app->cfg;
    size_t n = 0;
    while (app->args.listen && app->args.listen[n])
        n++;
    if (!app->args.listen) n = cfg->input_count;
    *count = n;
    *out = calloc(n ? n : 1, sizeof(**out));
    if (!*out) return EXIT_RUNTIME;
    char err[HA_ERRLEN];
    for (size_t i = 0; i < n; i++) {
        const char *url = app->args.listen ? app->args.listen[i] : cfg->inputs[i].url;
        const input_config_t *same = NULL;
        for (size_t k = 0; k < cfg->input_count; k++)
            if (strcmp(cfg->inputs[k].url, url) == 0) same = &cfg->inputs[k];
        if (input_parse_url(url, &(*out)[i], err, sizeof(err)) != HA_OK) {
            log_fatal("--listen: %s", err);
            return EXIT_USAGE;
        }
        if (same) {
            input_config_free(&(*out)[i]);
            if (input_copy_config(&(*out)[i], same) != HA_OK) return EXIT_RUNTIME;
        } else if ((*out)[i].transport == INPUT_TLS) {
            log_fatal("--listen: %s: a TLS input needs its certificate from inputs[] in the "
                      "config",
                      url);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* The HEP inputs and the relay behind them; they open with the privileged
 * sockets, and the sender joins the relay once it exists. */
static int open_relay(app_t *app)
{
    input_config_t *cfgs = NULL;
    size_t n = 0;
    int rc = relay_inputs(app, &cfgs, &n);
    if (rc == EXIT_OK && n) {
        char err[HA_ERRLEN * 2];
        app->relay = calloc(1, sizeof(*app->relay));
        if (!app->relay) rc = EXIT_RUNTIME;
        if (rc == EXIT_OK) {
            relay_init(app->relay, app->cfg, NULL);
            app->relay->console = &app->pipeline;
            app->relay->dedup = app->dedup;
            app->relay->redact_stats = &app->redact_stats;
            if (input_set_start(app->loop, cfgs, n, relay_packet, app->relay, &app->inputs, err,
                                sizeof(err)) != HA_OK) {
                log_fatal("%s", err);
                rc = EXIT_RUNTIME;
            }
        }
    }
    for (size_t i = 0; cfgs && i < n; i++)
        input_config_free(&cfgs[i]);
    free(cfgs);
    return rc;
}

/* Whether some rule redacts: then -w writes frames made for each message. */
static int config_redacts(const config_t *cfg)
{
    for (size_t i = 0; i < cfg->rules.count; i++)
        if (cfg->rules.items[i].redact) return 1;
    return 0;
}

/* Everything that needs CAP_NET_RAW or a port below 1024: the capture
 * handles and the listening sockets (the metrics endpoint; HEP listeners
 * open here too). drop_privileges() follows at once. */
static int open_privileged(app_t *app)
{
    char err[HA_ERRLEN * 2];
    /* -Z and --group replace agent.user and agent.group */
    if (!app->args.priv.user && !app->args.priv.group) {
        app->args.priv.user = app->cfg->user;
        app->args.priv.group = app->cfg->group;
    }
    /* resolved first, so a mistyped user fails before anything opens */
    if (privdrop_resolve(&app->args.priv, &app->priv_target, err, sizeof(err)) != HA_OK) {
        log_fatal("-Z: %s", err);
        return EXIT_RUNTIME;
    }
    int rc = app->relay_only ? EXIT_OK : open_sources(app);
    if (rc == EXIT_OK) rc = open_relay(app);
    if (rc != EXIT_OK) return rc;
    if (metrics_listen(app) && metrics_start(app->loop, metrics_listen(app), visit_all_cb, app,
                                             &app->metrics, err, sizeof(err)) != HA_OK) {
        log_fatal("metrics: %s", err);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* A live capture's timestamps are the wall clock: when no packet comes, the
 * clock still moves calls past their grace or idle time. */
static void media_tick_cb(uv_timer_t *t)
{
    app_t *app = t->data;
    struct timeval now;
    gettimeofday(&now, NULL);
    pipeline_tick(&app->pipeline, (uint64_t)now.tv_sec, (uint32_t)now.tv_usec);
}

/* Whether some rule sends decrypted messages. */
static int rules_send_tls(const rules_t *rules)
{
    for (size_t i = 0; i < rules->count; i++)
        if (rules->items[i].action == RULE_SEND &&
            (rules->items[i].transports & (RULE_TRANSPORT_TLS | RULE_TRANSPORT_WSS)))
            return 1;
    return 0;
}

/* TLS decryption: the key log store, its sources, the pipeline's TLS layer. */
static int open_tls(app_t *app)
{
    char err[HA_ERRLEN * 2];
    tls_decrypt_options_t opts = tls_options(app), *o = &opts; /* taken at start */
    if (!o->keylog_file_count && !o->keylog_listen) return EXIT_OK;
    app->keys = keylog_new(o->max_sessions);
    if (!app->keys || pipeline_enable_tls(&app->pipeline, o, app->keys) != HA_OK) {
        log_fatal("out of memory");
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < o->keylog_file_count; i++) {
        if (keylog_follow(app->keys, app->loop, o->keylog_files[i], err, sizeof(err)) != HA_OK) {
            log_fatal("%s", err);
            return EXIT_USAGE; /* what -t refuses */
        }
    }
    if (o->keylog_listen &&
        keylog_listen(app->keys, app->loop, o->keylog_listen, err, sizeof(err)) != HA_OK) {
        log_fatal("%s", err);
        return EXIT_RUNTIME;
    }
    if (!rules_send_tls(&app->cfg->rules))
        log_warn("TLS is decrypted, but no rule sends transport \"tls\" or \"wss\"");
    return EXIT_OK;
}

static void on_count_reached(void *ctx)
{
    begin_shutdown(ctx, "--count reached");
}

/* -A, -w, --hep-pcap, --count and the filters. */
static int open_console(app_t *app)
{
    char err[HA_ERRLEN];
    const trace_options_t *o = &app->args.trace_opts;
    int filtered = o->call_id || o->method || o->from || o->to;
    if (app->args.trace || app->args.write_path || filtered) {
        app->tracer = trace_new(o, stdout);
        if (!app->tracer) return EXIT_RUNTIME;
        app->pipeline.trace = app->tracer;
        app->pipeline.print = app->args.trace;
    }
    if (app->args.write_path) {
        app->frames_out = pcap_out_open(app->args.write_path, err, sizeof(err));
        if (!app->frames_out) {
            log_fatal("-w: %s", err);
            return EXIT_RUNTIME;
        }
        app->keeper = frame_keeper_new(app->frames_out, 65536, 32 << 20);
        if (!app->keeper) return EXIT_RUNTIME;
        app->pipeline.keeper = app->keeper;
        /* a redacted or relayed message has no frames of its own to write */
        if (app->args.listen || app->cfg->input_count || config_redacts(app->cfg)) {
            app->synth = msgframe_new(app->frames_out);
            if (!app->synth) return EXIT_RUNTIME;
            app->pipeline.synth = app->synth;
        }
    }
    if (app->args.hep_pcap_path) {
        app->hep_out = pcap_out_open(app->args.hep_pcap_path, err, sizeof(err));
        if (!app->hep_out) {
            log_fatal("--hep-pcap: %s", err);
            return EXIT_RUNTIME;
        }
        sender_set_hep_pcap(app->sender, app->hep_out);
    }
    if (app->args.count) {
        app->pipeline.limit = app->args.count;
        app->pipeline.on_limit = on_count_reached;
        app->pipeline.limit_ctx = app;
    }
    return EXIT_OK;
}

static void close_console(app_t *app)
{
    if (app->tracer && app->args.trace && app->args.trace_opts.call_summary)
        trace_print_calls(app->tracer);
    fflush(stdout);
    frame_keeper_free(app->keeper);
    msgframe_free(app->synth);
    app->synth = NULL;
    if (app->frames_out && pcap_out_skipped(app->frames_out))
        log_warn("-w: %llu frames of other link types left out (use a .pcapng name)",
                 (unsigned long long)pcap_out_skipped(app->frames_out));
    pcap_out_close(app->frames_out);
    pcap_out_close(app->hep_out);
    trace_free(app->tracer);
    app->keeper = NULL;
    app->frames_out = app->hep_out = NULL;
    app->tracer = NULL;
}

static void cleanup(app_t *app)
{
    input_set_free(app->inputs);
    app->inputs = NULL;
    for (size_t i = 0; i < app->source_count; i++)
        capture_destroy(app->sources[i]);
    app->source_count = 0;
    sender_destroy(app->sender);
    app->sender = NULL;
    if (app->loop) {
        uv_walk(app->loop, close_walk_cb, NULL);
        uv_run(app->loop, UV_RUN_DEFAULT);
        uv_loop_close(app->loop);
    }
    close_console(app);
    pipeline_free(&app->pipeline);
    keylog_free(app->keys); /* after the pipeline, whose sessions wipe their secrets */
    config_free(app->cfg);
    free(app->relay);
    dedup_free(app->dedup);
    free(app->sources);
    cli_args_free(&app->args);
}

static void on_summary_timer(uv_timer_t *t)
{
    app_t *app = t->data;
    char line[HA_ERRLEN];
    metrics_summary(visit_all_cb, app, line, sizeof(line));
    if (summary_interval(app)) log_info("stats: %s", line);
    sdnotify_status(&app->notify, line);
}

/* The periodic summary: in the log every --stats-interval, and as systemd's
 * STATUS= (every interval, or every 10 s without one). */
static void start_summary(app_t *app)
{
    uint64_t period_ms = summary_interval(app) ? summary_interval(app) * 1000ull : 10000;
    uv_timer_stop(&app->summary_timer);
    if (summary_interval(app) || sdnotify_active(&app->notify))
        uv_timer_start(&app->summary_timer, on_summary_timer, period_ms, period_ms);
}

int main(int argc, char **argv)
{
    static app_t app;
    char err[HA_ERRLEN * 2];
    app.notify.fd = -1;
    static const int exits[] = {[CLI_RUN] = EXIT_OK,
                                [CLI_DONE] = EXIT_OK,
                                [CLI_USAGE_ERROR] = EXIT_USAGE,
                                [CLI_NO_MEMORY] = EXIT_RUNTIME};
    cli_result_t parsed = cli_parse(&app.args, argc, argv);
    int rc = exits[parsed];
    if (parsed != CLI_RUN) goto out;
    if (app.args.use_syslog)
        log_set_output(LOG_TO_SYSLOG);
    else if (log_stderr_is_journal())
        log_set_output(LOG_TO_JOURNAL);

    /* a relay given no capture source captures nothing */
    app.relay_only =
        app.args.listen && !app.args.config_path && !app.args.ov.interfaces && !app.args.ov.files;
    if (!app.args.config_path) app.args.config_path = config_default_path();
    if (config_load(app.args.config_path, &app.args.ov, &app.cfg, err, sizeof(err)) != HA_OK) {
        log_fatal("%s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    if (app.args.check_only) {
        rc = check_config(&app);
        goto out;
    }
    if ((rc = check_filters(&app)) != EXIT_OK) goto out;
    if (app.args.pps && !has_file_source(app.cfg)) {
        fprintf(stderr, "hepagent: --pps paces capture files (-r); there is none\n");
        rc = EXIT_USAGE;
        goto out;
    }
    log_set_level(log_level_of(&app, app.cfg));
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);

    app.loop = uv_default_loop();
    app.started_ms = uv_now(app.loop);
    if (sdnotify_open(&app.notify, err, sizeof(err)) != HA_OK) log_warn("%s", err);
    /* The start sequence: what needs privileges, then give them up, then
     * everything a reload may have to do again, as the same user
     * (collectors, TLS files, spool, -w files). */
    app.dedup = dedup_new(&app.cfg->dedup);
    if (!app.dedup) {
        log_fatal("out of memory");
        rc = EXIT_RUNTIME;
        goto out;
    }
    rc = open_privileged(&app);
    if (rc != EXIT_OK) goto out;
    rc = drop_privileges(&app);
    if (rc != EXIT_OK) goto out;
    rc = sender_create(app.loop, app.cfg, &app.stats, &app.sender, err, sizeof(err));
    if (rc == HA_OK && app.relay) app.relay->sender = app.sender;
    if (rc != HA_OK) {
        /* a TLS file or spool directory -t refuses is refused here the same way */
        log_fatal("%s%s", rc == HA_EINVAL ? "config: " : "", err);
        rc = rc == HA_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    if (pipeline_init(&app.pipeline, app.cfg, &app.stats, app.sender) != HA_OK) {
        log_fatal("out of memory");
        rc = EXIT_RUNTIME;
        goto out;
    }
    app.pipeline.redact_stats = &app.redact_stats;
    app.pipeline.dedup = app.dedup;
    rc = open_console(&app);
    if (rc == EXIT_OK) rc = open_tls(&app);
    if (rc != EXIT_OK) goto out;
    uv_timer_init(app.loop, &app.drain_timer);
    app.drain_timer.data = &app;
    uv_timer_init(app.loop, &app.summary_timer);
    app.summary_timer.data = &app;
    uv_timer_init(app.loop, &app.media_timer);
    app.media_timer.data = &app;
    static const int signums[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < HA_ARRAY_LEN(signums); i++) {
        uv_signal_init(app.loop, &app.signals[i]);
        app.signals[i].data = &app;
        uv_signal_start(&app.signals[i], on_signal, signums[i]);
    }
    start_sources(&app);
    if ((app.pipeline.media || app.pipeline.tls) && app.live_running && !app.files_left)
        uv_timer_start(&app.media_timer, media_tick_cb, 1000, 1000);
    log_info("capturing on %zu sources, %zu rules, sending to %zu collectors (%s)",
             app.source_count, app.cfg->rules.count, app.cfg->collector_count, app.cfg->origin);
    if (app.metrics) log_info("metrics on http://%s/metrics", metrics_listen(&app));
    snprintf(err, sizeof(err), "capturing on %zu sources, sending to %zu collectors",
             app.source_count, app.cfg->collector_count);
    sdnotify_ready(&app.notify, err);
    start_summary(&app);
    uv_run(app.loop, UV_RUN_DEFAULT);
    rc = app.exit_code;
out:
    cleanup(&app);
    sdnotify_close(&app.notify);
    return rc;
}
