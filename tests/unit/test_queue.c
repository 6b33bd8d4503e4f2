/* The packet ring: order, wrap-around, limits, and the byte runs TCP writes. */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/queue.h"

/* a fake HEP packet of len bytes whose body is filled with tag */
static const uint8_t *pkt(size_t len, uint8_t tag)
{
    static uint8_t b[70000];
    memcpy(b, "HEP3", 4);
    put_be16(b + 4, (uint16_t)len);
    memset(b + 6, tag, len - 6);
    return b;
}

static void test_fifo_and_wrap(void **state)
{
    (void)state;
    queue_t q;
    assert_int_equal(queue_init(&q, 100, 1000), HA_OK);
    assert_int_equal(queue_push(&q, pkt(40, 1), 40), HA_OK);
    assert_int_equal(queue_push(&q, pkt(40, 2), 40), HA_OK);
    assert_false(queue_fits(&q, 30)); /* 20 left at the end, head at 0 */
    queue_pop(&q);
    assert_true(queue_fits(&q, 30)); /* wraps into the 40 freed at the start */
    assert_int_equal(queue_push(&q, pkt(30, 3), 30), HA_OK);
    assert_int_equal(q.count, 2);
    size_t len;
    const uint8_t *p = queue_front(&q, &len);
    assert_int_equal(len, 40);
    assert_int_equal(p[6], 2);
    struct iovec iov[4];
    assert_int_equal(queue_peek_packets(&q, iov, 4), 2);
    assert_int_equal(((uint8_t *)iov[1].iov_base)[6], 3);
    /* byte runs: [40..80) then [0..30); skipping 45 bytes lands in the second */
    assert_int_equal(queue_peek_bytes(&q, 0, iov), 2);
    assert_int_equal(iov[0].iov_len, 40);
    assert_int_equal(iov[1].iov_len, 30);
    assert_int_equal(queue_peek_bytes(&q, 45, iov), 1);
    assert_int_equal(iov[0].iov_len, 25);
    queue_pop(&q);
    p = queue_front(&q, &len);
    assert_int_equal(len, 30);
    assert_int_equal(p[6], 3);
    queue_pop(&q);
    assert_null(queue_front(&q, &len));
    assert_int_equal(q.bytes, 0);
    queue_free(&q);
}

/* Less than half full is not always room for a packet: the free bytes can
 * lie in two runs, each too short (the spool replay relies on this check). */
static void test_half_empty_without_room(void **state)
{
    (void)state;
    queue_t q;
    assert_int_equal(queue_init(&q, 100, 1000), HA_OK);
    assert_int_equal(queue_push(&q, pkt(30, 1), 30), HA_OK);
    assert_int_equal(queue_push(&q, pkt(30, 2), 30), HA_OK);
    queue_pop(&q); /* 30 bytes used at [30, 60): 40 free at the end, 30 at the start */
    assert_true(q.bytes < q.cap / 2);
    assert_true(queue_fits(&q, 40));
    assert_false(queue_fits(&q, 45));
    assert_int_equal(queue_push(&q, pkt(45, 3), 45), HA_ENOSPC);
    queue_free(&q);
}

static void test_limits(void **state)
{
    (void)state;
    queue_t q;
    assert_int_equal(queue_init(&q, 1000, 3), HA_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(queue_push(&q, pkt(10, 0), 10), HA_OK);
    assert_int_equal(queue_push(&q, pkt(10, 0), 10), HA_ENOSPC); /* packet limit */
    assert_false(queue_fits(&q, 2000));
    queue_free(&q);
}

/* Random pushes and pops against a simple model: contents and order hold. */
static void test_against_model(void **state)
{
    (void)state;
    queue_t q;
    assert_int_equal(queue_init(&q, 4096, 100000), HA_OK);
    size_t model_len[100000];
    uint8_t model_tag[100000];
    size_t head = 0, tail = 0;
    srand(1);
    for (int step = 0; step < 200000; step++) {
        if (rand() % 2) {
            size_t len = 6 + (size_t)(rand() % 700);
            uint8_t tag = (uint8_t)rand();
            int fits = queue_fits(&q, len);
            assert_int_equal(queue_push(&q, pkt(len, tag), len), fits ? HA_OK : HA_ENOSPC);
            if (fits) {
                model_len[tail % 100000] = len;
                model_tag[tail % 100000] = tag;
                tail++;
            }
        } else if (head < tail) {
            size_t len;
            const uint8_t *p = queue_front(&q, &len);
            assert_int_equal(len, model_len[head % 100000]);
            if (len > 6) assert_int_equal(p[len - 1], model_tag[head % 100000]);
            queue_pop(&q);
            head++;
        }
        assert_int_equal(q.count, tail - head);
    }
    queue_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_wrap),
        cmocka_unit_test(test_half_empty_without_room),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
