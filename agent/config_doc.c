/* The configuration reference, printed from the schema: a Markdown table for
 * README, roff for hepagent.json(5), plain text for --help-config. Nothing
 * here knows a key by name, so a key added to the schema is documented
 * everywhere at once. */
#include "hepagent/config_schema.h"

#include <inttypes.h>
#include <string.h>

/* "`x`" is code in Markdown; roff shows it bold, text as it is. */
static void doc_text(FILE *out, cfg_doc_format_t format, const char *s)
{
    int code = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '`' && format == CFG_DOC_MAN) {
            fputs(code ? "\\fR" : "\\fB", out);
            code = !code;
        } else if (format == CFG_DOC_MAN && (*p == '\\' || *p == '-')) {
            fputc('\\', out);
            fputc(*p, out);
        } else if (format != CFG_DOC_MARKDOWN && strncmp(p, "–", strlen("–")) == 0) {
            fputs(format == CFG_DOC_MAN ? "\\(en" : "-", out);
            p += strlen("–") - 1;
        } else if (format != CFG_DOC_MARKDOWN && strncmp(p, "≥", strlen("≥")) == 0) {
            fputs(format == CFG_DOC_MAN ? "\\(>=" : ">=", out);
            p += strlen("≥") - 1;
        } else if (format == CFG_DOC_MARKDOWN && *p == '|') {
            fputs("\\|", out);
        } else if (format == CFG_DOC_TEXT && *p == '`') {
            continue;
        } else {
            fputc(*p, out);
        }
    }
    if (code) fputs("\\fR", out);
}

static void doc_choices(FILE *out, cfg_doc_format_t format, const cfg_key_t *k)
{
    for (int i = 0; k->choices[i]; i++) {
        char word[64];
        snprintf(word, sizeof(word), "%s`%s`", i ? " " : "", k->choices[i]);
        doc_text(out, format, word);
    }
}

/* "type, default" as the reference shows it. */
static void doc_type(FILE *out, cfg_doc_format_t format, const cfg_key_t *k)
{
    char buf[128];
    if (k->doc_type) {
        doc_text(out, format, k->doc_type);
    } else {
        switch (k->type) {
        case CFG_BOOL:
            doc_text(out, format, "bool");
            break;
        case CFG_UINT:
            if (k->min == 0 && k->max == UINT32_MAX)
                snprintf(buf, sizeof(buf), "u32");
            else
                snprintf(buf, sizeof(buf), "%" PRId64 "–%" PRId64, k->min, k->max);
            doc_text(out, format, buf);
            break;
        case CFG_STRING:
            doc_text(out, format, "string");
            break;
        case CFG_ENUM:
            doc_choices(out, format, k);
            break;
        case CFG_OBJECT:
            doc_text(out, format, "object");
            break;
        case CFG_LIST:
            doc_text(out, format, "list");
            break;
        case CFG_CUSTOM:
            break;
        }
    }
    if (k->flags & CFG_REQUIRED) doc_text(out, format, ", required");
    if (k->type == CFG_LIST && (k->flags & CFG_REQUIRED) && k->if_empty)
        doc_text(out, format, ", ≥ 1");
    if (k->doc_default) {
        doc_text(out, format, ", ");
        doc_text(out, format, k->doc_default);
        return;
    }
    switch (k->type) {
    case CFG_BOOL:
        doc_text(out, format, k->def ? ", true" : ", false");
        break;
    case CFG_UINT:
        snprintf(buf, sizeof(buf), ", %" PRId64, k->def);
        doc_text(out, format, buf);
        break;
    case CFG_ENUM:
        snprintf(buf, sizeof(buf), ", `%s`", k->choices[k->def]);
        doc_text(out, format, buf);
        break;
    case CFG_STRING:
        if (!(k->flags & CFG_REQUIRED)) doc_text(out, format, ", none");
        break;
    default:
        break;
    }
}

static void doc_key(FILE *out, cfg_doc_format_t format, const char *path, const cfg_key_t *k)
{
    switch (format) {
    case CFG_DOC_MARKDOWN:
        fprintf(out, "| `%s` | ", path);
        doc_type(out, format, k);
        fputs(" | ", out);
        doc_text(out, format, k->help ? k->help : "");
        fputs(" |\n", out);
        break;
    case CFG_DOC_MAN:
        if (strchr(path, '.') || strstr(path, "[].")) {
            fputs(".TP\n.B ", out);
            doc_text(out, format, path);
            fputs("\n", out);
        } else { /* a top-level key is its section's heading */
            fputs(".SS ", out);
            doc_text(out, format, path);
            fputs("\n", out);
        }
        doc_type(out, format, k);
        fputs(".\n", out);
        doc_text(out, format, k->help ? k->help : "");
        fputs(".\n", out);
        break;
    case CFG_DOC_TEXT:
        fprintf(out, "  %-34s ", path);
        doc_type(out, format, k);
        fputs("\n      ", out);
        doc_text(out, format, k->help ? k->help : "");
        fputs("\n", out);
        break;
    }
}

static void doc_section(FILE *out, cfg_doc_format_t format, const char *prefix,
                        const cfg_section_t *sec)
{
    for (size_t i = 0; i < sec->key_count; i++) {
        const cfg_key_t *k = &sec->keys[i];
        if (k->flags & CFG_HIDDEN) continue;
        char path[160];
        snprintf(path, sizeof(path), "%s%s%s%s", prefix, prefix[0] ? "." : "", k->name,
                 k->type == CFG_LIST ? "[]" : "");
        doc_key(out, format, path, k);
        if (k->type == CFG_OBJECT || k->type == CFG_LIST)
            doc_section(out, format, path, k->section);
    }
}

void config_reference(FILE *out, cfg_doc_format_t format)
{
    if (format == CFG_DOC_MARKDOWN)
        fputs("| key | type, default | meaning |\n|---|---|---|\n", out);
    doc_section(out, format, "", &config_schema);
}
