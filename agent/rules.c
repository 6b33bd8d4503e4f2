/* Rule matching. Rules are compiled by config.c into plain arrays; matching is
 * a linear walk, cheap for the handful of rules a capture agent has. */
#include "hepagent/rules.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static int rules_port_in(const rule_t *rule, uint16_t port)
{
    for (size_t i = 0; i < rule->port_count; i++)
        if (port >= rule->ports[i].low && port <= rule->ports[i].high) return 1;
    return 0;
}

int rules_cidr_contains(const rule_cidr_t *cidr, uint8_t version, const uint8_t *addr)
{
    if (cidr->version != version) return 0;
    unsigned full = cidr->prefix / 8, rest = cidr->prefix % 8;
    if (memcmp(cidr->addr, addr, full) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (cidr->addr[full] & mask) == (addr[full] & mask);
}

static int rules_host_in(const rule_t *rule, uint8_t version, const uint8_t *addr)
{
    for (size_t i = 0; i < rule->host_count; i++)
        if (rules_cidr_contains(&rule->hosts[i], version, addr)) return 1;
    return 0;
}

static int rules_method_in(char *const *list, size_t count, ha_bytes_t method)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == method.len && memcmp(list[i], method.ptr, method.len) == 0) return 1;
    return 0;
}

static int rules_input_in(const rule_t *rule, const rules_input_t *in)
{
    for (size_t i = 0; i < rule->input_count; i++) {
        const char *want = rule->inputs[i];
        if (!in->input ? strcmp(want, RULES_INPUT_CAPTURE) == 0
                       : strcmp(want, in->input) == 0 ||
                             (in->input_url && strcmp(want, in->input_url) == 0))
            return 1;
    }
    return 0;
}

static int rules_proto_type_in(const rule_t *rule, uint8_t type)
{
    return memchr(rule->proto_types, type, rule->proto_type_count) != NULL;
}

static int rules_match_one(const rule_t *rule, const rules_input_t *in)
{
    /* an unknown transport only matches a rule that names none */
    if (rule->transports != RULE_TRANSPORT_ALL && !(rule->transports & in->transport)) return 0;
    if (rule->inputs && !rules_input_in(rule, in)) return 0;
    if (rule->proto_types && !rules_proto_type_in(rule, in->proto_type)) return 0;
    if (rule->ports && !rules_port_in(rule, in->src_port) && !rules_port_in(rule, in->dst_port))
        return 0;
    if (rule->hosts && !rules_host_in(rule, in->ip_version, in->src_addr) &&
        !rules_host_in(rule, in->ip_version, in->dst_addr))
        return 0;
    if (rule->methods && !rules_method_in(rule->methods, rule->method_count, in->method)) return 0;
    if (rule->methods_exclude &&
        rules_method_in(rule->methods_exclude, rule->method_exclude_count, in->method))
        return 0;
    return 1;
}

const rule_t *rules_match(const rules_t *rules, const rules_input_t *in)
{
    for (size_t i = 0; i < rules->count; i++)
        if (rules_match_one(&rules->items[i], in)) return &rules->items[i];
    return NULL;
}

int rules_parse_cidr(const char *text, rule_cidr_t *out)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    if (addr_len == 0 || addr_len >= sizeof(addr)) return HA_EINVAL;
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->version = 4;
        out->prefix = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->version = 6;
        out->prefix = 128;
    } else {
        return HA_EINVAL;
    }
    if (slash) {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3) return HA_EINVAL;
        unsigned prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') return HA_EINVAL;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > out->prefix) return HA_EINVAL;
        out->prefix = (uint8_t)prefix;
    }
    /* Clear host bits so "10.1.2.3/8" means 10.0.0.0/8, as ip route does. */
    for (unsigned bit = out->prefix; bit < 128; bit++)
        out->addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    return HA_OK;
}

static int rules_parse_port(const char *p, const char *end, uint16_t *out)
{
    if (p == end || end - p > 5) return HA_EINVAL;
    unsigned v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return HA_EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v < 1 || v > 65535) return HA_EINVAL;
    *out = (uint16_t)v;
    return HA_OK;
}

int rules_parse_port_range(const char *text, rule_port_range_t *out)
{
    const char *dash = strchr(text, '-');
    const char *end = text + strlen(text);
    if (!dash) {
        if (rules_parse_port(text, end, &out->low) != HA_OK) return HA_EINVAL;
        out->high = out->low;
        return HA_OK;
    }
    if (rules_parse_port(text, dash, &out->low) != HA_OK ||
        rules_parse_port(dash + 1, end, &out->high) != HA_OK || out->low > out->high)
        return HA_EINVAL;
    return HA_OK;
}

static const char *const rules_transport_names[] = {"udp", "tcp", "sctp", "ws", "tls", "wss"};

int rules_parse_transport(const char *text, unsigned *bit)
{
    for (size_t i = 0; i < HA_ARRAY_LEN(rules_transport_names); i++) {
        if (strcmp(text, rules_transport_names[i]) == 0) {
            *bit = 1u << i;
            return HA_OK;
        }
    }
    return HA_EINVAL;
}

unsigned rules_transport_of(uint8_t ip_proto)
{
    switch (ip_proto) {
    case 17:
        return RULE_TRANSPORT_UDP;
    case 6:
        return RULE_TRANSPORT_TCP;
    case 132:
        return RULE_TRANSPORT_SCTP;
    default:
        return 0;
    }
}

const char *rules_transport_name(unsigned bit)
{
    for (size_t i = 0; i < HA_ARRAY_LEN(rules_transport_names); i++)
        if (bit == 1u << i) return rules_transport_names[i];
    return "?";
}

static void rules_free_strings(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

void rules_free(rules_t *rules)
{
    for (size_t i = 0; i < rules->count; i++) {
        rule_t *r = &rules->items[i];
        free(r->name);
        free(r->ports);
        free(r->hosts);
        rules_free_strings(r->methods, r->method_count);
        rules_free_strings(r->methods_exclude, r->method_exclude_count);
        rules_free_strings(r->inputs, r->input_count);
        free(r->proto_types);
        free(r->node_name);
        free(r->auth_key);
        redact_free(r->redact);
        redact_config_free(&r->redact_cfg);
    }
    free(rules->items);
    rules->items = NULL;
    rules->count = 0;
}
