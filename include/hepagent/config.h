/* The configuration: parsed from JSON (json-c) into a plain struct that is
 * never modified afterwards. SIGHUP builds a complete new one and swaps it in
 * only when it is valid. Every error names the JSON path and the reason. */
#ifndef HEPAGENT_CONFIG_H
#define HEPAGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "hepagent/decode.h"
#include "hepagent/dedup.h"
#include "hepagent/input.h"
#include "hepagent/ipfrag.h"
#include "hepagent/log.h"
#include "hepagent/media.h"
#include "hepagent/metrics.h"
#include "hepagent/sctp.h"
#include "hepagent/tcpstream.h"
#include "hepagent/tlsdecrypt.h"
#include "hepagent/rules.h"

/* The fields below are filled along the schema in config_schema.c, which
 * holds each key's name, range, default and meaning: a new key is a field
 * here and a row there. */

typedef struct capture_source {
    char *interface; /* exactly one of interface and file is set */
    char *file;
    char *bpf; /* NULL: no filter */
    uint32_t snaplen;
    int promisc;
    uint32_t buffer_mb;
} capture_source_t;

typedef enum { COLLECTOR_UDP = 0, COLLECTOR_TCP, COLLECTOR_TLS } collector_transport_t;

typedef struct collector_config {
    char *url;
    collector_transport_t transport;
    char *host; /* without brackets for IPv6 */
    uint16_t port;
    int compress;
    uint32_t compress_min_bytes; /* payloads shorter than this go uncompressed */
    uint32_t queue_kb;
    uint32_t queue_packets;
    int drop;        /* index in "oldest", "newest" */
    int drop_oldest; /* when the queue (and spool) is full: drop the oldest, else the newest */
    int spool;       /* overflow to delivery.spool_dir while the collector cannot take data */
    /* TLS (tls:// only) */
    char *ca_file, *ca_dir, *cert_file, *key_file, *server_name;
    int insecure;
} collector_config_t;

typedef enum { DELIVERY_ALL = 0, DELIVERY_FAILOVER, DELIVERY_HASH } delivery_mode_t;

typedef struct delivery_config {
    delivery_mode_t mode;
    uint32_t connect_timeout_ms;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    char *spool_dir;   /* NULL: no spool */
    uint32_t spool_mb; /* per collector */
} delivery_config_t;

typedef struct config {
    char *origin; /* file path, or "built-in default" */
    uint32_t capture_id;
    char *node_name; /* NULL when not configured */
    char *auth_key;  /* NULL when not configured */
    log_level_t log_level;
    uint32_t shutdown_timeout_ms;
    char *user;  /* agent.user: become this user after start (NULL: stay) */
    char *group; /* agent.group */
    capture_source_t *sources;
    size_t source_count;
    decode_options_t decode;
    ipfrag_options_t ipfrag;
    tcpstream_options_t tcp;
    sctp_options_t sctp;
    rules_t rules;
    collector_config_t *collectors;
    size_t collector_count;
    delivery_config_t delivery;
    metrics_options_t stats; /* the metrics endpoint and the summary line */
    input_config_t *inputs;  /* HEP listeners (the relay) */
    size_t input_count;
    dedup_options_t dedup;
    media_options_t media;             /* rtcp and qos both off: no media tracking at all */
    tls_decrypt_options_t tls_decrypt; /* taken at start; --tls-keylog replaces its files */
} config_t;

/* Command-line settings that replace the config's; kept so a reload applies
 * them again. Lists are NULL-terminated; NULL fields change nothing. */
typedef struct config_overrides {
    const char *const *interfaces;
    const char *const *files;
    const char *const *collectors;
    const char *bpf;
    uint32_t snaplen; /* 0: unchanged */
    int has_capture_id;
    uint32_t capture_id;
    const char *node_name;
} config_overrides_t;

/* Whether two collector settings are the same (a reload keeps the running
 * collector then). */
int config_collector_equal(const collector_config_t *a, const collector_config_t *b);
/* Copies a collector's settings (strings duplicated); free with
 * config_collector_free. */
int config_collector_copy(collector_config_t *dst, const collector_config_t *src);
void config_collector_free(collector_config_t *c);

/* conf/hepagent.json, embedded at build time */
extern const char config_default_json[];

/* Parses JSON text; origin names it in messages. On error returns HA_EINVAL
 * with "config: PATH: reason" in err. */
int config_parse(const char *json, const char *origin, config_t **out, char *err, size_t errlen);
/* Reads and parses a file. */
int config_load_file(const char *path, config_t **out, char *err, size_t errlen);
/* The file to use when -c is not given: the system one if it exists, else
 * NULL meaning the embedded default. */
const char *config_default_path(void);
/* Loads path (or the embedded default when path is NULL), then applies the
 * overrides; the one entry point main.c uses for start and reload. */
int config_load(const char *path, const config_overrides_t *ov, config_t **out, char *err,
                size_t errlen);
/* Applies command-line overrides, validating what they bring. */
int config_apply_overrides(config_t *cfg, const config_overrides_t *ov, char *err, size_t errlen);
/* Parses "udp://host:port" / "tcp://[v6]:port" / "tls://..." into c (url
 * copied, other settings at their defaults). */
int config_parse_collector_url(const char *url, collector_config_t *c, char *why, size_t whylen);
/* Derives transport, host and port from c->url. */
int config_collector_url(collector_config_t *c, char *why, size_t whylen);

void config_free(config_t *cfg);

#endif
