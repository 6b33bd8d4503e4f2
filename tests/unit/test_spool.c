/* The spool: order, its bound, that every packet it accepts is either
 * read back or counted as evicted, and that files damaged on disk are
 * counted and skipped, never trusted. */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

/* What this process wrote and has not read back is counted exactly: across
 * files, a half-read one, a packet put back, a prepended run; the files an
 * earlier run left are not. */
static void test_own_packets(void **state)
{
    (void)state;
    char err[256];
    spool_t *s = spool_open(dir, 64 << 20, err, sizeof(err));
    assert_non_null(s);
    for (uint32_t n = 0; n < 3000; n++) /* 3 MB: one file */
        assert_int_equal(spool_append(s, pkt(n), PKT, 1), HA_OK);
    spool_close(s);
    s = spool_open(dir, 64 << 20, err, sizeof(err)); /* an earlier run's file */
    assert_non_null(s);
    assert_int_equal(spool_own_packets(s), 0);
    for (uint32_t n = 3000; n < 9000; n++) /* 6 MB more: two files of this run */
        assert_int_equal(spool_append(s, pkt(n), PKT, 1), HA_OK);
    assert_int_equal(spool_own_packets(s), 6000);
    static uint8_t buf[65536];
    size_t len;
    for (uint32_t n = 0; n < 3500; n++) /* the earlier file, then 500 of this run's */
        assert_true(spool_read(s, buf, sizeof(buf), &len));
    assert_int_equal(be32(buf + 6), 3499);
    assert_int_equal(spool_own_packets(s), 5500);
    spool_unread(s, len);
    assert_int_equal(spool_own_packets(s), 5501);
    const uint8_t *front[2] = {pkt(1), pkt(2)};
    size_t lens[2] = {PKT, PKT};
    assert_int_equal(spool_prepend(s, front, lens, 2), HA_OK);
    assert_int_equal(spool_own_packets(s), 5503);
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

/* Damaged files: SEGS segments of PER packets each, written by separate runs
 * (each run starts a new file), numbered seg * 100 + i. */
enum { SEGS = 3, PER = 10, REC = 12 + PKT };
#define SEG0 0x4000000000000000ull /* the spool's first sequence number */

static void write_segments(void)
{
    char err[256];
    for (uint32_t seg = 0; seg < SEGS; seg++) {
        spool_t *s = spool_open(dir, 64 << 20, err, sizeof(err));
        assert_non_null(s);
        for (uint32_t i = 0; i < PER; i++)
            assert_int_equal(spool_append(s, pkt(seg * 100 + i), PKT, 0), HA_OK);
        spool_close(s);
    }
}

static void seg_path(uint32_t seg, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s/%016llx.%s", dir, (unsigned long long)(SEG0 + seg), ext);
}

/* Overwrites bytes at off of a file (creating it) */
static void put_bytes(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0640);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void damage_seg(uint32_t seg, long off, const void *bytes, size_t n)
{
    char path[256];
    seg_path(seg, "spool", path, sizeof(path));
    put_bytes(path, off, bytes, n);
}

static void truncate_seg(uint32_t seg, long len)
{
    char path[256];
    seg_path(seg, "spool", path, sizeof(path));
    assert_int_equal(truncate(path, len), 0);
}

static void write_file(const char *name, const void *bytes, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, n), (ssize_t)n);
    close(fd);
}

/* Which packets of a segment are expected back: [from, to) */
typedef struct {
    uint32_t from, to;
} span_t;

/* Reopens the spool, reads everything into a heap buffer of cap bytes (so an
 * overrun shows under ASan) and checks the packets are exactly spans[seg] of
 * every segment, in order, and the counters. */
static void expect_read_back_cap(const span_t *spans, uint64_t corrupt, size_t cap)
{
    char err[256];
    spool_t *s = spool_open(dir, 64 << 20, err, sizeof(err));
    assert_non_null(s);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    size_t len;
    uint64_t want = 0, got = 0;
    uint32_t seg = 0, i = spans[0].from;
    while (spool_read(s, buf, cap, &len)) {
        while (seg < SEGS && i >= spans[seg].to) {
            seg++;
            if (seg < SEGS) i = spans[seg].from;
        }
        assert_true(seg < SEGS); /* more than expected */
        assert_int_equal(len, PKT);
        assert_int_equal(be32(buf + 6), seg * 100 + i);
        i++;
        got++;
    }
    for (uint32_t k = 0; k < SEGS; k++)
        want += spans[k].to - spans[k].from;
    assert_int_equal(got, want);
    assert_int_equal(spool_stats(s)->read, want);
    assert_int_equal(spool_stats(s)->corrupt, corrupt);
    assert_true(spool_empty(s));
    free(buf);
    spool_close(s);
    /* every segment was consumed (read or dropped as damaged) */
    for (uint32_t k = 0; k < SEGS; k++) {
        char path[256];
        seg_path(k, "spool", path, sizeof(path));
        assert_int_not_equal(access(path, F_OK), 0);
    }
}

/* the buffer the sender reads into holds the largest HEP packet */
static void expect_read_back(const span_t *spans, uint64_t corrupt)
{
    expect_read_back_cap(spans, corrupt, 65535);
}

static const span_t all[SEGS] = {{0, PER}, {0, PER}, {0, PER}};

/* Nothing damaged: all 30 back, none counted. */
static void test_reopen_reads_all(void **state)
{
    (void)state;
    write_segments();
    expect_read_back(all, 0);
}

/* (a) A byte flipped inside packet 4 of segment 1: its CRC fails; packets 0-3
 * of that file and all of the others come back in order. */
static void test_flipped_byte(void **state)
{
    (void)state;
    write_segments();
    uint8_t x = 0x5a;
    damage_seg(1, 4 * REC + 12 + 500, &x, 1);
    expect_read_back((span_t[]){{0, PER}, {0, 4}, {0, PER}}, 1);
}

/* (b) Truncated as by a crash during a write: inside a packet, and inside a
 * record header (both counted). */
static void test_truncated_in_packet(void **state)
{
    (void)state;
    write_segments();
    truncate_seg(1, 6 * REC + 12 + 300);
    expect_read_back((span_t[]){{0, PER}, {0, 6}, {0, PER}}, 1);
}

static void test_truncated_in_header(void **state)
{
    (void)state;
    write_segments();
    truncate_seg(2, 7 * REC + 5);
    expect_read_back((span_t[]){{0, PER}, {0, PER}, {0, 7}}, 1);
}

/* (c) A segment of garbage, shorter garbage than a header, an empty one, and
 * one that is a lone record header. */
static void test_garbage_segment(void **state)
{
    (void)state;
    write_segments();
    static uint8_t junk[3000];
    uint32_t x = 12345;
    for (size_t k = 0; k < sizeof(junk); k++) {
        x = x * 1103515245u + 12345u;
        junk[k] = (uint8_t)(x >> 16);
    }
    truncate_seg(1, 0);
    damage_seg(1, 0, junk, sizeof(junk));
    expect_read_back((span_t[]){{0, PER}, {0, 0}, {0, PER}}, 1);
}

static void test_short_garbage_segment(void **state)
{
    (void)state;
    write_segments();
    truncate_seg(0, 0);
    damage_seg(0, 0, "HSP", 3);
    expect_read_back((span_t[]){{0, 0}, {0, PER}, {0, PER}}, 1);
}

static void test_empty_segment(void **state)
{
    (void)state;
    write_segments();
    truncate_seg(1, 0); /* created, then a crash before the first write */
    expect_read_back((span_t[]){{0, PER}, {0, 0}, {0, PER}}, 0);
}

static void test_header_only_segment(void **state)
{
    (void)state;
    write_segments();
    truncate_seg(1, 12);
    expect_read_back((span_t[]){{0, PER}, {0, 0}, {0, PER}}, 1);
}

/* (d) A bad magic, on the first record of a file and on a later one. */
static void test_bad_magic(void **state)
{
    (void)state;
    write_segments();
    damage_seg(0, 0, "XSP1", 4);
    damage_seg(2, 5 * REC, "HSP2", 4);
    expect_read_back((span_t[]){{0, 0}, {0, PER}, {0, 5}}, 2);
}

/* (e) Length fields: huge, larger than the reader's buffer (of 1500 bytes,
 * with more than that left in the file), smaller than a HEP header, and one
 * that disagrees with the HEP length although the CRC fits it. None may
 * allocate or write past the buffer. */
static void test_bad_lengths(void **state)
{
    (void)state;
    write_segments();
    uint8_t h[4];
    put_be32(h, 0xffffffffu);
    damage_seg(0, 3 * REC + 4, h, 4);
    put_be32(h, 4);
    damage_seg(1, 8 * REC + 4, h, 4);
    put_be32(h, 5000);
    damage_seg(2, 2 * REC + 4, h, 4);
    expect_read_back_cap((span_t[]){{0, 3}, {0, 8}, {0, 2}}, 3, 1500);
}

static void test_length_disagrees_with_hep(void **state)
{
    (void)state;
    write_segments();
    /* record 1 of segment 0 says 500 bytes with the right CRC of those 500,
     * but the HEP header inside says 1000 */
    static uint8_t rec[12 + 500];
    memcpy(rec, "HSP1", 4);
    put_be32(rec + 4, 500);
    memcpy(rec + 12, pkt(1), 500);
    put_be32(rec + 8, (uint32_t)crc32(0, rec + 12, 500));
    damage_seg(0, REC, rec, sizeof(rec));
    expect_read_back((span_t[]){{0, 1}, {0, PER}, {0, PER}}, 1);
}

/* (f) Files that are not segments are left alone; a directory with a
 * segment's name is not one either. */
static void test_not_segments(void **state)
{
    (void)state;
    write_segments();
    static const char *names[] = {
        "notes.txt",
        "4000000000000001.spool.tmp",
        "4000000000000001.SPOOL",
        "400000000000000g.spool",
        "400000000000001.spool",
        "40000000000000001.spool",
        "0x00000000000001.spool",
        ".spool",
        "4000000000000001.pos.spool",
    };
    for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++)
        write_file(names[k], pkt(999), PKT);
    char path[256];
    seg_path(5, "spool", path, sizeof(path));
    assert_int_equal(mkdir(path, 0750), 0);
    expect_read_back(all, 0);
    for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
        assert_int_equal(access(path, F_OK), 0); /* not deleted either */
    }
}

/* (f) The read position file: a good one resumes there; garbage, past the
 * end, or negative is ignored (the file is read from its start: packets may
 * be sent twice, none lost); one inside a record is a damaged record. */
static void write_pos(const char *text)
{
    char path[256];
    seg_path(0, "pos", path, sizeof(path));
    write_file(strrchr(path, '/') + 1, text, strlen(text));
}

static void test_pos_good(void **state)
{
    (void)state;
    write_segments();
    char text[32];
    snprintf(text, sizeof(text), "%d\n", 3 * REC);
    write_pos(text);
    expect_read_back((span_t[]){{3, PER}, {0, PER}, {0, PER}}, 0);
}

static void test_pos_at_end(void **state)
{
    (void)state;
    write_segments();
    char text[32];
    snprintf(text, sizeof(text), "%d\n", PER * REC);
    write_pos(text);
    expect_read_back((span_t[]){{0, 0}, {0, PER}, {0, PER}}, 0);
}

static void test_pos_garbage(void **state)
{
    (void)state;
    write_segments();
    write_pos("\x01\xffnot a number");
    expect_read_back(all, 0);
}

static void test_pos_past_end(void **state)
{
    (void)state;
    write_segments();
    write_pos("999999999999\n");
    expect_read_back(all, 0);
}

static void test_pos_negative(void **state)
{
    (void)state;
    write_segments();
    write_pos("-12\n");
    expect_read_back(all, 0);
}

static void test_pos_inside_record(void **state)
{
    (void)state;
    write_segments();
    write_pos("500\n");
    expect_read_back((span_t[]){{0, 0}, {0, PER}, {0, PER}}, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_evicted_are_counted, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_refused_when_full, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_unread, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_own_packets, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reopen_reads_all, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_flipped_byte, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_truncated_in_packet, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_truncated_in_header, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_garbage_segment, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_short_garbage_segment, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_empty_segment, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_header_only_segment, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_bad_magic, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_bad_lengths, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_length_disagrees_with_hep, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_not_segments, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_good, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_at_end, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_garbage, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_past_end, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_negative, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_pos_inside_record, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
