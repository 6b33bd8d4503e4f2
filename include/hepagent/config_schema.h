/* The configuration schema: one table of every key (JSON name, type, range,
 * default, help). The parser walks it, defaults are set from it, reloads
 * compare collectors through it, and --help's config reference, the
 * hepagent.json(5) man page and README's reference are printed from it, so
 * the documentation cannot drift from what the code accepts. */
#ifndef HEPAGENT_CONFIG_SCHEMA_H
#define HEPAGENT_CONFIG_SCHEMA_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hepagent/config.h"

typedef enum {
    CFG_BOOL,   /* true/false into an integer of `size` bytes */
    CFG_UINT,   /* integer min..max, stored times `scale` into `size` bytes */
    CFG_STRING, /* char *, at most `max` characters */
    CFG_ENUM,   /* one of `choices`, stored as its index (int) */
    CFG_OBJECT, /* nested keys of `section`, filling the same struct */
    CFG_LIST,   /* array of objects of `section`: a pointer at offset, a size_t count */
    CFG_CUSTOM, /* `parse` reads the value (lists of ports, CIDRs, ...) */
} cfg_type_t;

enum {
    CFG_REQUIRED = 1 << 0, /* the key must be present */
    CFG_EMPTY_OK = 1 << 1, /* CFG_STRING: "" is accepted */
    CFG_HIDDEN = 1 << 2,   /* not a JSON key: a field derived by a check (freed, copied) */
    CFG_SECRET = 1 << 3,   /* never printed (auth keys): errors do not echo the value */
};

typedef struct cfg_ctx {
    char *err;
    size_t errlen;
    char path[256];
    size_t path_len;
    config_t *cfg; /* the document being built, for checks across sections */
} cfg_ctx_t;

typedef struct cfg_section cfg_section_t;

typedef struct cfg_key {
    const char *name;
    cfg_type_t type;
    size_t offset;    /* in the section's struct */
    size_t size;      /* width of the field (CFG_BOOL, CFG_UINT, CFG_CUSTOM defaults) */
    int64_t min, max; /* CFG_UINT range in JSON units; CFG_STRING: max is the length */
    uint32_t scale;   /* CFG_UINT: stored value = JSON value * scale (0 means 1) */
    int64_t def;      /* default of CFG_BOOL, CFG_UINT, CFG_ENUM (and CFG_CUSTOM with size) */
    const char *const *choices;   /* CFG_ENUM, NULL-terminated */
    const cfg_section_t *section; /* CFG_OBJECT, CFG_LIST */
    size_t count_offset;          /* CFG_LIST: the size_t element count */
    const char *if_empty; /* CFG_LIST, CFG_CUSTOM lists: an empty array is refused with this */
    int (*parse)(cfg_ctx_t *ctx, json_object *v, void *base); /* CFG_CUSTOM */
    void (*release)(void *base);                              /* CFG_CUSTOM: frees it */
    unsigned flags;
    const char *doc_type;    /* type as the reference shows it, when the type says too little */
    const char *doc_default; /* default as the reference shows it, when not the plain value */
    const char *help;
} cfg_key_t;

struct cfg_section {
    const cfg_key_t *keys;
    size_t key_count;
    size_t size; /* of one element, for CFG_LIST */
    /* after every key of one object was read: cross-key checks, derived fields */
    int (*check)(cfg_ctx_t *ctx, void *base);
};

/* The whole document. */
extern const cfg_section_t config_schema;
/* The document as one key: the parser's entry point. */
extern const cfg_key_t config_document_key;
/* One collectors[] element: -H URLs are built from it. */
extern const cfg_section_t config_collector_schema;
/* One capture[] element: -i and -r sources are built from it. */
extern const cfg_section_t config_source_schema;

/* Engine (config.c). */
int cfg_fail(cfg_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t cfg_push_key(cfg_ctx_t *ctx, const char *key);
size_t cfg_push_index(cfg_ctx_t *ctx, size_t index);
void cfg_pop(cfg_ctx_t *ctx, size_t saved);
const char *cfg_type_name(json_object *v);
int cfg_integer_value(cfg_ctx_t *ctx, json_object *v, int64_t min, int64_t max, int64_t *out);
/* Each element of array v through parse_one (path indexed); if_empty refuses []. */
int cfg_each(cfg_ctx_t *ctx, json_object *v, const char *if_empty, void *base,
             int (*parse_one)(cfg_ctx_t *ctx, json_object *item, void *base));
void cfg_section_defaults(const cfg_section_t *sec, void *base);
void cfg_section_free(const cfg_section_t *sec, void *base);
int cfg_section_copy(const cfg_section_t *sec, void *dst, const void *src);
int cfg_section_equal(const cfg_section_t *sec, const void *a, const void *b);

/* The reference, printed from the schema (config_doc.c). */
typedef enum { CFG_DOC_MARKDOWN, CFG_DOC_MAN, CFG_DOC_TEXT } cfg_doc_format_t;
void config_reference(FILE *out, cfg_doc_format_t format);

#endif
