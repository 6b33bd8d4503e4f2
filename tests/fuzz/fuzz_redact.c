/* Redaction of arbitrary bytes under every policy shape the first byte
 * picks: whatever is redacted must still parse as SIP with Call-ID and
 * CSeq, its Content-Length (when it has one) must be its body, and
 * redacting it again must work. */
#include "hepagent/redact.h"
#include "hepagent/sip.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static redact_t *policies[8];

static void make_policies(void)
{
    static const uint8_t key[] = "fuzzing key of enough length";
    static const char *const drop[] = {"Via", "User-Agent"};
    static const char *const headers[] = {"Request-URI", "f", "To", "Contact", "Call-Info"};
    static const redact_body_rule_t bodies[] = {{"application/sdp", REDACT_BODY_BLANK},
                                                {"*", REDACT_BODY_DROP}};
    char err[256];
    for (int i = 0; i < 8; i++) {
        redact_options_t o = {.mode = (i & 1) ? REDACT_MASK : REDACT_HASH,
                              .key = key,
                              .key_len = sizeof(key) - 1,
                              .keep_digits = (unsigned)i,
                              .keep_digits_set = 1,
                              .headers = (i & 2) ? headers : NULL,
                              .header_count = (i & 2) ? 5 : 0,
                              .drop_headers = drop,
                              .drop_count = (i & 4) ? 2 : 0,
                              .bodies = bodies,
                              .body_count = (size_t)(i % 3),
                              .call_id = i >= 4};
        policies[i] = redact_new(&o, err, sizeof(err));
        if (!policies[i]) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!policies[0]) make_policies();
    if (size < 1) return 0;
    redact_t *r = policies[data[0] & 7];
    uint8_t *copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees any overread */
    memcpy(copy, data + 1, size - 1);
    static uint8_t out[70000], again[70000];
    redact_stats_t st = {0};
    int n = redact_sip(r, copy, size - 1, out, sizeof(out), &st);
    if (n >= 0) {
        sip_msg_t sip;
        if (sip_parse(out, (size_t)n, &sip) != SIP_OK || !sip_has_mandatory(&sip)) abort();
        if (sip.content_length >= 0 && (size_t)sip.content_length != (size_t)n - sip.header_len)
            abort();
        if (redact_sip(r, out, (size_t)n, again, sizeof(again), &st) < 0) abort();
    }
    free(copy);
    return 0;
}
