/* De-duplication: a second copy is a duplicate up to exactly window_ms
 * after (or before) the first and not a microsecond later, swept over the
 * distance and repeated in both orders; a retransmission restarts the
 * window; what differs in any part of the identity is not a duplicate;
 * the table stays its size under a flood and counts what it pushed out. */
#include "test_util.h"

#include "hepagent/dedup.h"

#include <arpa/inet.h>

static const char MSG[] = "INVITE sip:b@h SIP/2.0\r\nCall-ID: d1\r\nCSeq: 1 INVITE\r\n\r\n";

static dedup_key_t key(uint8_t *src, uint8_t *dst, const char *payload)
{
    inet_pton(AF_INET, "10.0.0.1", src);
    inet_pton(AF_INET, "10.0.0.2", dst);
    return (dedup_key_t){.proto_type = 1,
                         .ip_proto = 17,
                         .ip_version = 4,
                         .src_addr = src,
                         .dst_addr = dst,
                         .src_port = 5060,
                         .dst_port = 5060,
                         .payload = {(const uint8_t *)payload, strlen(payload)}};
}

static uint64_t T0 = 1700000000;

static int seen_at(dedup_t *d, const dedup_key_t *k, uint64_t us)
{
    return dedup_seen(d, k, T0 + us / 1000000, (uint32_t)(us % 1000000));
}

static void test_window_edges(void **state)
{
    (void)state;
    /* distance between the copies in µs, and whether the second is a duplicate */
    static const struct {
        uint64_t delta;
        int dup;
    } cases[] = {{0, 1},     {1, 1},     {10000, 1},  {49999, 1},
                 {50000, 1}, {50001, 0}, {120000, 0}, {500000, 0}};
    for (size_t i = 0; i < HA_ARRAY_LEN(cases); i++) {
        for (int order = 0; order < 2; order++) {
            for (int rep = 0; rep < 3; rep++) {
                dedup_t *d = dedup_new(&(dedup_options_t){.window_ms = 50});
                uint8_t s[16], t[16];
                dedup_key_t k = key(s, t, MSG);
                uint64_t base = 5000000 + (uint64_t)rep * 777777;
                uint64_t first = order ? base + cases[i].delta : base;
                uint64_t second = order ? base : base + cases[i].delta;
                assert_int_equal(seen_at(d, &k, first), 0);
                if (seen_at(d, &k, second) != cases[i].dup)
                    fail_msg("delta %llu us, order %d: want dup=%d",
                             (unsigned long long)cases[i].delta, order, cases[i].dup);
                dedup_free(d);
            }
        }
    }
}

static void test_retransmission_and_its_copy(void **state)
{
    (void)state;
    dedup_t *d = dedup_new(&(dedup_options_t){.window_ms = 50});
    uint8_t s[16], t[16];
    dedup_key_t k = key(s, t, MSG);
    assert_int_equal(seen_at(d, &k, 0), 0);      /* interface 1 */
    assert_int_equal(seen_at(d, &k, 40), 1);     /* interface 2, 40 µs later */
    assert_int_equal(seen_at(d, &k, 500000), 0); /* retransmission after T1 */
    assert_int_equal(seen_at(d, &k, 500035), 1); /* its copy on interface 2 */
    assert_int_equal(seen_at(d, &k, 1500000), 0);
    assert_int_equal(seen_at(d, &k, 1500010), 1);
    const dedup_stats_t *st = dedup_stats(d);
    assert_int_equal(st->checked, 6);
    assert_int_equal(st->duplicates, 3);
    assert_int_equal(st->retransmissions, 2);
    dedup_free(d);
}

static void test_identity(void **state)
{
    (void)state;
    dedup_t *d = dedup_new(&(dedup_options_t){.window_ms = 50});
    uint8_t s[16], t[16];
    dedup_key_t k = key(s, t, MSG);
    assert_int_equal(seen_at(d, &k, 0), 0);
    dedup_key_t other = k;
    other.src_port = 5061;
    assert_int_equal(seen_at(d, &other, 1), 0);
    other = k;
    other.ip_proto = 6;
    assert_int_equal(seen_at(d, &other, 2), 0);
    other = k;
    other.proto_type = 5;
    assert_int_equal(seen_at(d, &other, 3), 0);
    uint8_t s2[16];
    memcpy(s2, s, 16);
    s2[3] ^= 1;
    other = k;
    other.src_addr = s2;
    assert_int_equal(seen_at(d, &other, 4), 0);
    char msg2[sizeof(MSG)];
    memcpy(msg2, MSG, sizeof(MSG));
    msg2[sizeof(MSG) - 6] = 'X'; /* one byte of the payload */
    other = k;
    other.payload = (ha_bytes_t){(const uint8_t *)msg2, strlen(msg2)};
    assert_int_equal(seen_at(d, &other, 5), 0);
    assert_int_equal(seen_at(d, &k, 6), 1); /* the original still is */
    dedup_free(d);
}

static void test_off_and_bounded(void **state)
{
    (void)state;
    dedup_t *off = dedup_new(&(dedup_options_t){.window_ms = 0});
    uint8_t s[16], t[16];
    dedup_key_t k = key(s, t, MSG);
    assert_int_equal(seen_at(off, &k, 0), 0);
    assert_int_equal(seen_at(off, &k, 0), 0);
    dedup_free(off);

    dedup_t *d = dedup_new(&(dedup_options_t){.window_ms = 50, .max_entries = 64});
    size_t mem = dedup_memory(d);
    assert_int_equal(mem, 64 * 16);
    char payload[64];
    /* 100 000 distinct messages in 10 s: 500 live per window, 64 slots */
    for (uint64_t i = 0; i < 100000; i++) {
        snprintf(payload, sizeof(payload), "message %llu", (unsigned long long)i);
        dedup_key_t m = key(s, t, payload);
        assert_int_equal(seen_at(d, &m, i * 100), 0);
    }
    assert_int_equal(dedup_memory(d), mem);
    assert_true(dedup_stats(d)->evicted_live > 0);
    /* at a rate it can hold (500 live in 16384 entries, as 5000 msg/s in the
     * default 65536), nothing live is pushed out and every copy is found */
    dedup_t *e = dedup_new(&(dedup_options_t){.window_ms = 50, .max_entries = 16384});
    for (uint64_t i = 0; i < 100000; i++) {
        snprintf(payload, sizeof(payload), "message %llu", (unsigned long long)i);
        dedup_key_t m = key(s, t, payload);
        assert_int_equal(seen_at(e, &m, i * 100), 0);
        assert_int_equal(seen_at(e, &m, i * 100 + 30), 1);
    }
    assert_int_equal(dedup_stats(e)->evicted_live, 0);
    assert_int_equal(dedup_stats(e)->duplicates, 100000);
    /* a reload to another size empties the table */
    assert_int_equal(dedup_reconfigure(e, &(dedup_options_t){.window_ms = 50, .max_entries = 128}),
                     0);
    assert_int_equal(dedup_memory(e), 128 * 16);
    dedup_free(e);
    dedup_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_retransmission_and_its_copy),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_off_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
