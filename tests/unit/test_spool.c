/* The spool: order, its bound, and that every packet it accepts is either
 * read back or counted as evicted. */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/spool.h"

#include <unistd.h>

enum { PKT = 1000 };

/* a HEP-looking packet (the spool checks magic and length) numbered n */
static const uint8_t *pkt(uint32_t n)
{
    static uint8_t b[PKT];
    memset(b, 0, sizeof(b));
    memcpy(b, "HEP3", 4);
    put_be16(b + 4, PKT);
    put_be32(b + 6, n);
    return b;
}

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hepagent-spool.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads everything back; checks the numbers rise; returns how many. */
static uint32_t read_all(spool_t *s, uint32_t *first)
{
    static uint8_t buf[65536];
    size_t len;
    uint32_t count = 0, last = 0;
    while (spool_read(s, buf, sizeof(buf), &len)) {
        assert_int_equal(len, PKT);
        uint32_t n = be32(buf + 6);
        if (count == 0) *first = n;
        if (count > 0) assert_true(n > last);
        last = n;
        count++;
    }
    return count;
}

/* 10 MB into an 8 MB spool of 4 MB files: drop oldest evicts whole files,
 * and what they held is counted, exactly, also when one was half read. */
static void test_evicted_are_counted(void **state)
{
    (void)state;
    char err[256];
    spool_t *s = spool_open(dir, 8 << 20, err, sizeof(err));
    assert_non_null(s);
    uint32_t total = 10000, first = 0;
    static uint8_t buf[65536];
    size_t len;
    for (uint32_t n = 0; n < total; n++) {
        assert_int_equal(spool_append(s, pkt(n), PKT, 1), HA_OK);
        if (n == 100) { /* read a little: the reader holds the oldest file */
            spool_sync(s);
            for (int k = 0; k < 10; k++)
                assert_true(spool_read(s, buf, sizeof(buf), &len));
        }
    }
    const spool_stats_t *st = spool_stats(s);
    assert_true(st->evicted > 0);
    assert_true(spool_bytes(s) <= 8 << 20);
    uint32_t left = read_all(s, &first);
    assert_int_equal(10 + st->evicted + left, total);
    assert_int_equal(first, st->evicted + 10); /* the newest survive, in order */
    assert_int_equal(st->dropped_full, 0);
    spool_close(s);
}

/* drop newest: a full spool refuses the packet and keeps what it has. */
static void test_refused_when_full(void **state)
{
    (void)state;
    char err[256];
    spool_t *s = spool_open(dir, 1 << 20, err, sizeof(err));
    assert_non_null(s);
    uint32_t accepted = 0, first = 0;
    for (uint32_t n = 0; n < 2000; n++)
        if (spool_append(s, pkt(n), PKT, 0) == HA_OK) accepted++;
    const spool_stats_t *st = spool_stats(s);
    assert_int_equal(accepted + st->dropped_full, 2000);
    assert_int_equal(st->evicted, 0);
    assert_int_equal(read_all(s, &first), accepted);
    assert_int_equal(first, 0);
    spool_close(s);
}

/* A packet put back is read again next, and only once. */
static void test_unread(void **state)
{
    (void)state;
    char err[256];
    spool_t *s = spool_open(dir, 8 << 20, err, sizeof(err));
    assert_non_null(s);
    for (uint32_t n = 0; n < 5; n++)
        assert_int_equal(spool_append(s, pkt(n), PKT, 1), HA_OK);
    static uint8_t buf[65536];
    size_t len;
    assert_true(spool_read(s, buf, sizeof(buf), &len));
    assert_true(spool_read(s, buf, sizeof(buf), &len));
    assert_int_equal(be32(buf + 6), 1);
    spool_unread(s, len);
    uint32_t first = 0;
    assert_int_equal(read_all(s, &first), 4); /* 1 again, then 2, 3, 4 */
    assert_int_equal(first, 1);
    assert_int_equal(spool_stats(s)->read, 5);
    assert_true(spool_empty(s));
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evicted_are_counted, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_refused_when_full, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_unread, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
