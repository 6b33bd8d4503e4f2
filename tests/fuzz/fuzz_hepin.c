/* The input side of the relay: any bytes as a received datagram or frame.
 * Whatever passes must be written out, with every rewrite, as a packet that
 * passes again with the same payload and the rewrites in place. */
#include "hepagent/hepin.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(ha_bytes_t a, ha_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t conv[HEP_MAX_PACKET], conv2[HEP_MAX_PACKET], out[HEP_MAX_PACKET];
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    memcpy(copy, data, size);
    hepin_packet_t p;
    if (hepin_decode(copy, size, 1700000000, 1, conv, &p) == HEPIN_OK) {
        /* the rewrite chosen by the input's last byte, so the fuzzer explores all */
        uint8_t sel = size ? copy[size - 1] : 0;
        static const ha_bytes_t node = {(const uint8_t *)"fuzz-node", 9};
        static const ha_bytes_t key = {(const uint8_t *)"k", 1};
        static const ha_bytes_t corr = {(const uint8_t *)"corr", 4};
        static const ha_bytes_t body = {(const uint8_t *)"SIP/2.0 200 OK\r\n\r\n", 18};
        hepin_rewrite_t rw = {.set_capture_id = sel & 1,
                              .capture_id = 99,
                              .node_name = (sel & 2) ? node : (ha_bytes_t){NULL, 0},
                              .auth = (hepin_auth_t)((sel >> 2) % 3),
                              .auth_key = key,
                              .correlation_id = (sel & 16) ? corr : (ha_bytes_t){NULL, 0},
                              .payload = (sel & 32) ? &body : NULL,
                              .relay_id = (sel & 64) ? 0x11223344u : 0};
        size_t poff;
        int n = hepin_rewrite(&p, &rw, out, sizeof(out), &poff);
        if (n > 0) {
            hepin_packet_t q;
            if (hepin_decode(out, (size_t)n, 0, 0, conv2, &q) != HEPIN_OK) abort();
            if (q.payload_off != poff) abort();
            if (!same(q.msg.payload, rw.payload ? body : p.msg.payload)) abort();
            if (rw.set_capture_id && q.msg.capture_id != 99) abort();
            if (rw.node_name.len && !same(q.msg.node_name, node)) abort();
            if (rw.auth == HEPIN_AUTH_STRIP && hepin_has(&q, HEP_CHUNK_AUTH_KEY)) abort();
            if (rw.auth == HEPIN_AUTH_REPLACE && !same(q.msg.auth_key, key)) abort();
            if (rw.relay_id && !hepin_path_contains(&q, rw.relay_id)) abort();
            if (q.vendor_chunks != p.vendor_chunks) abort();
        }
    }
    free(copy);
    return 0;
}
