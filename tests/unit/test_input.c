/* HEP listeners on a real loop and real sockets (loopback): UDP and TCP,
 * IPv4 and IPv6, the malformed corpus counted by reason, the allow-list,
 * the auth key, stream framing with packets split at every byte, garbage
 * closing the connection, max_connections, and the idle and frame
 * timeouts swept over several timings while another client is served. */
#include "test_util.h"

#include "hepagent/input.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    size_t packets;
    size_t payload_bytes;
    char last_input[64];
    uint32_t last_capture_id;
} got_t;

static void on_packet(void *ctx, const input_t *in, const hepin_packet_t *p)
{
    got_t *g = ctx;
    g->packets++;
    g->payload_bytes += p->msg.payload.len;
    snprintf(g->last_input, sizeof(g->last_input), "%s", input_name(in));
    g->last_capture_id = p->msg.capture_id;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop for ms milliseconds, or until *until reaches want. */
static void spin(uv_loop_t *loop, uint64_t ms, const size_t *until, size_t want)
{
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (until && *until >= want) return;
        usleep(1000);
    }
}

static input_config_t make_cfg(const char *url)
{
    input_config_t c;
    char why[256];
    if (input_parse_url(url, &c, why, sizeof(why)) != HA_OK) fail_msg("%s", why);
    return c;
}

typedef struct {
    uv_loop_t loop;
    input_set_t *set;
    got_t got;
} fixture_t;

static void start(fixture_t *f, input_config_t *cfgs, size_t n)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    char err[256];
    if (input_set_start(&f->loop, cfgs, n, on_packet, &f->got, &f->set, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < n; i++)
        input_config_free(&cfgs[i]);
}

static void stop(fixture_t *f)
{
    input_set_stop(f->set);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    input_set_free(f->set);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int udp_client(int family)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    return fd;
}

/* 127.0.0.1 or ::1, port. */
static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
        return sizeof(*a);
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, "::1", &a->sin6_addr);
    return sizeof(*a);
}

static void udp_send(int fd, int family, uint16_t port, const uint8_t *b, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = loopback(family, port, &ss);
    assert_int_equal(sendto(fd, b, n, 0, (struct sockaddr *)&ss, len), (ssize_t)n);
}

static int tcp_connect(int family, uint16_t port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage ss;
    socklen_t len = loopback(family, port, &ss);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

/* Whether the server closed fd (read gives EOF or a reset). */
static int peer_closed(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    char b[16];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static uint8_t *vector(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", TEST_VECTORS_DIR, name);
    return test_read_file(path, len);
}

static void test_udp_v4_v6_and_malformed_corpus(void **state)
{
    (void)state;
    input_config_t cfgs[2] = {make_cfg("udp://127.0.0.1:0"), make_cfg("udp://[::1]:0")};
    cfgs[1].name = strdup("v6-in");
    fixture_t f;
    start(&f, cfgs, 2);
    const input_t *in4 = input_set_get(f.set, 0), *in6 = input_set_get(f.set, 1);
    size_t len;
    uint8_t *a = vector("a_ipv4_udp_options", &len);
    int c4 = udp_client(AF_INET), c6 = udp_client(AF_INET6);
    udp_send(c4, AF_INET, input_port(in4), a, len);
    spin(&f.loop, 2000, &f.got.packets, 1);
    assert_int_equal(f.got.packets, 1);
    assert_string_equal(f.got.last_input, "udp://127.0.0.1:0");
    assert_int_equal(f.got.last_capture_id, 2001);
    udp_send(c6, AF_INET6, input_port(in6), a, len);
    spin(&f.loop, 2000, &f.got.packets, 2);
    assert_int_equal(f.got.packets, 2);
    assert_string_equal(f.got.last_input, "v6-in");

    /* the corpus: every file counted under the reason its name gives */
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/hepin/malformed", TEST_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    size_t want_ok = 2, want_bad = 0;
    size_t by_reason[HEPIN_RESULT_COUNT] = {0};
    while ((e = readdir(d))) {
        const char *sep = strstr(e->d_name, "__");
        if (!sep) continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t n;
        uint8_t *b = test_read_file(path, &n);
        udp_send(c4, AF_INET, input_port(in4), b, n);
        free(b);
        int r;
        for (r = 0; r < HEPIN_RESULT_COUNT; r++)
            if (strlen(hepin_result_name((hepin_result_t)r)) == (size_t)(sep - e->d_name) &&
                strncmp(hepin_result_name((hepin_result_t)r), e->d_name,
                        (size_t)(sep - e->d_name)) == 0)
                break;
        assert_true(r < HEPIN_RESULT_COUNT);
        by_reason[r]++;
        if (r == HEPIN_OK)
            want_ok++;
        else
            want_bad++;
        spin(&f.loop, 5, NULL, 0); /* keep well under the socket buffer */
    }
    closedir(d);
    spin(&f.loop, 2000, &f.got.packets, want_ok);
    const input_stats_t *st = input_stats(in4);
    for (int i = 0; i < 100 && st->malformed < want_bad; i++)
        spin(&f.loop, 10, NULL, 0);
    assert_int_equal(f.got.packets, want_ok);
    assert_int_equal(st->malformed, want_bad);
    for (int r = 1; r < HEPIN_RESULT_COUNT; r++)
        assert_int_equal(st->malformed_by[r], by_reason[r]);
    assert_int_equal(st->converted_v2, 3); /* ok__hepv1, ok__hepv2, ok__hepv2_ipv6 */
    close(c4);
    close(c6);
    free(a);
    stop(&f);
}

static void test_allow_list_and_auth_key(void **state)
{
    (void)state;
    input_config_t cfgs[2] = {make_cfg("udp://127.0.0.1:0"), make_cfg("tcp://127.0.0.1:0")};
    /* the first lets in 10.0.0.0/8 only; the second anyone with key s3cret */
    cfgs[0].allow = calloc(1, sizeof(rule_cidr_t));
    cfgs[0].allow_count = 1;
    assert_int_equal(rules_parse_cidr("10.0.0.0/8", &cfgs[0].allow[0]), 0);
    cfgs[1].auth_key = strdup("s3cret");
    fixture_t f;
    start(&f, cfgs, 2);
    size_t len_a, len_c;
    uint8_t *a = vector("a_ipv4_udp_options", &len_a);       /* no auth key */
    uint8_t *c = vector("c_ipv4_tcp_bye_auth_node", &len_c); /* auth key s3cret */
    int u = udp_client(AF_INET);
    udp_send(u, AF_INET, input_port(input_set_get(f.set, 0)), a, len_a);
    const input_stats_t *s0 = input_stats(input_set_get(f.set, 0));
    for (int i = 0; i < 200 && !s0->refused_address; i++)
        spin(&f.loop, 5, NULL, 0);
    assert_int_equal(s0->refused_address, 1);
    assert_int_equal(f.got.packets, 0);

    int t = tcp_connect(AF_INET, input_port(input_set_get(f.set, 1)));
    assert_int_equal(write(t, a, len_a), (ssize_t)len_a);
    assert_int_equal(write(t, c, len_c), (ssize_t)len_c);
    spin(&f.loop, 2000, &f.got.packets, 1);
    spin(&f.loop, 50, NULL, 0);
    const input_stats_t *s1 = input_stats(input_set_get(f.set, 1));
    assert_int_equal(f.got.packets, 1);
    assert_int_equal(f.got.last_capture_id, 2002);
    assert_int_equal(s1->bad_auth, 1);
    close(t);
    close(u);
    free(a);
    free(c);
    stop(&f);
}

/* Vectors back to back, written in pieces of every size from 1 byte, over
 * IPv4 and IPv6: every packet arrives whole, once. */
static void test_tcp_framing_split_everywhere(void **state)
{
    (void)state;
    input_config_t cfgs[2] = {make_cfg("tcp://127.0.0.1:0"), make_cfg("tcp://[::1]:0")};
    fixture_t f;
    start(&f, cfgs, 2);
    static const char *const names[] = {"a_ipv4_udp_options", "b_ipv6_udp_options",
                                        "c_ipv4_tcp_bye_auth_node", "d_rtcp_json",
                                        "e_ipv4_udp_options_vlan_zlib"};
    uint8_t stream[4096];
    size_t total = 0;
    for (size_t i = 0; i < HA_ARRAY_LEN(names); i++) {
        size_t n;
        uint8_t *b = vector(names[i], &n);
        memcpy(stream + total, b, n);
        total += n;
        free(b);
    }
    size_t expect = 0;
    for (int family = 0; family < 2; family++) {
        const input_t *in = input_set_get(f.set, (size_t)family);
        for (size_t piece = 1; piece <= 700; piece = piece < 8 ? piece + 1 : piece * 3) {
            int t = tcp_connect(family ? AF_INET6 : AF_INET, input_port(in));
            for (size_t off = 0; off < total; off += piece) {
                size_t n = HA_MIN(piece, total - off);
                assert_int_equal(write(t, stream + off, n), (ssize_t)n);
                if ((off / piece) % 16 == 0) spin(&f.loop, 1, NULL, 0);
            }
            expect += HA_ARRAY_LEN(names);
            spin(&f.loop, 2000, &f.got.packets, expect);
            assert_int_equal(f.got.packets, expect);
            assert_false(peer_closed(t));
            close(t);
        }
        assert_int_equal(input_stats(in)->malformed, 0);
    }
    stop(&f);
}

/* A framed packet that fails a check is dropped alone; bytes that are not a
 * HEP3 header close the connection; the other connection goes on. */
static void test_tcp_malformed_and_garbage(void **state)
{
    (void)state;
    input_config_t cfgs[1] = {make_cfg("tcp://127.0.0.1:0")};
    fixture_t f;
    start(&f, cfgs, 1);
    const input_t *in = input_set_get(f.set, 0);
    size_t len;
    uint8_t *a = vector("a_ipv4_udp_options", &len);
    int good = tcp_connect(AF_INET, input_port(in)), bad = tcp_connect(AF_INET, input_port(in));
    /* framed but with a protocol type of 0 */
    uint8_t *broken = malloc(len);
    memcpy(broken, a, len);
    uint8_t *pt = memmem(broken, len, "\x00\x00\x00\x0b\x00\x07\x01", 7);
    assert_non_null(pt);
    pt[6] = 0;
    assert_int_equal(write(bad, broken, len), (ssize_t)len);
    assert_int_equal(write(bad, a, len), (ssize_t)len);
    spin(&f.loop, 2000, &f.got.packets, 1);
    assert_int_equal(f.got.packets, 1);
    assert_int_equal(input_stats(in)->malformed_by[HEPIN_proto_type_zero], 1);
    assert_false(peer_closed(bad));
    /* garbage where a header must start */
    assert_int_equal(write(bad, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    for (int i = 0; i < 200 && !input_stats(in)->closed_garbage; i++)
        spin(&f.loop, 5, NULL, 0);
    assert_int_equal(input_stats(in)->closed_garbage, 1);
    spin(&f.loop, 20, NULL, 0);
    assert_true(peer_closed(bad));
    /* the other connection is served */
    assert_int_equal(write(good, a, len), (ssize_t)len);
    spin(&f.loop, 2000, &f.got.packets, 2);
    assert_int_equal(f.got.packets, 2);
    assert_int_equal(input_connections(in), 1);
    close(good);
    close(bad);
    free(broken);
    free(a);
    stop(&f);
}

static void test_max_connections(void **state)
{
    (void)state;
    input_config_t cfgs[1] = {make_cfg("tcp://127.0.0.1:0")};
    cfgs[0].max_connections = 2;
    fixture_t f;
    start(&f, cfgs, 1);
    const input_t *in = input_set_get(f.set, 0);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = tcp_connect(AF_INET, input_port(in));
        spin(&f.loop, 20, NULL, 0);
    }
    assert_int_equal(input_stats(in)->refused_connections, 1);
    assert_int_equal(input_connections(in), 2);
    assert_true(peer_closed(fds[2]));
    assert_false(peer_closed(fds[0]));
    /* one leaves: the next one is taken */
    close(fds[0]);
    spin(&f.loop, 50, NULL, 0);
    int again = tcp_connect(AF_INET, input_port(in));
    spin(&f.loop, 50, NULL, 0);
    assert_int_equal(input_connections(in), 2);
    assert_false(peer_closed(again));
    close(again);
    close(fds[1]);
    close(fds[2]);
    stop(&f);
}

/* A slow-loris client: a header begun, then one byte every `gap` ms, never
 * finishing. It is closed by the frame timeout (200 ms) whatever the pace,
 * not before it, while a client sending whole packets every 40 ms is served
 * throughout and never closed (its gaps stay under the idle timeout). */
static void slow_loris(uint32_t gap_ms)
{
    input_config_t cfgs[1] = {make_cfg("tcp://127.0.0.1:0")};
    cfgs[0].frame_timeout_ms = 200;
    cfgs[0].idle_timeout_ms = 150;
    fixture_t f;
    start(&f, cfgs, 1);
    const input_t *in = input_set_get(f.set, 0);
    size_t len;
    uint8_t *a = vector("a_ipv4_udp_options", &len);
    int slow = tcp_connect(AF_INET, input_port(in)), busy = tcp_connect(AF_INET, input_port(in));
    uint64_t start_ms = now_ms(), closed_at = 0;
    size_t sent = 0, slow_off = 0;
    uint64_t next_slow = start_ms, next_busy = start_ms;
    while (now_ms() - start_ms < 600) {
        uint64_t now = now_ms();
        if (!closed_at && now >= next_slow && slow_off < len - 1) {
            if (send(slow, a + slow_off, 1, MSG_NOSIGNAL) == 1) slow_off++;
            next_slow = now + gap_ms;
        }
        if (now >= next_busy) {
            assert_int_equal(write(busy, a, len), (ssize_t)len);
            sent++;
            next_busy = now + 40;
        }
        spin(&f.loop, 2, NULL, 0);
        if (!closed_at && input_stats(in)->closed_slow) closed_at = now_ms();
    }
    spin(&f.loop, 500, &f.got.packets, sent);
    const input_stats_t *st = input_stats(in);
    assert_int_equal(st->closed_slow, 1);
    assert_int_equal(st->closed_idle, 0);
    /* not before the timeout, and not much after it (sweep every 37 ms) */
    assert_true(closed_at - start_ms >= 200);
    assert_true(closed_at - start_ms <= 200 + 150);
    assert_true(peer_closed(slow));
    assert_false(peer_closed(busy));
    assert_int_equal(f.got.packets, sent);
    close(slow);
    close(busy);
    free(a);
    stop(&f);
}

static void test_slow_loris_paces(void **state)
{
    (void)state;
    static const uint32_t gaps[] = {1, 20, 60, 120}; /* fast to just under the idle timeout */
    for (int rep = 0; rep < 2; rep++)
        for (size_t i = 0; i < HA_ARRAY_LEN(gaps); i++)
            slow_loris(gaps[i]);
}

/* A connection that says nothing is closed after the idle timeout, not
 * before; one that sends whole packets more often than that stays. */
static void test_idle_timeout(void **state)
{
    (void)state;
    static const uint32_t idles[] = {60, 120, 250};
    for (size_t k = 0; k < HA_ARRAY_LEN(idles); k++) {
        input_config_t cfgs[1] = {make_cfg("tcp://127.0.0.1:0")};
        cfgs[0].idle_timeout_ms = idles[k];
        fixture_t f;
        start(&f, cfgs, 1);
        const input_t *in = input_set_get(f.set, 0);
        size_t len;
        uint8_t *a = vector("a_ipv4_udp_options", &len);
        int quiet = tcp_connect(AF_INET, input_port(in)),
            chatty = tcp_connect(AF_INET, input_port(in));
        uint64_t t0 = now_ms(), closed_at = 0;
        while (now_ms() - t0 < idles[k] * 3) {
            if ((now_ms() - t0) % (idles[k] / 3) < 3)
                assert_int_equal(write(chatty, a, len), (ssize_t)len);
            spin(&f.loop, 3, NULL, 0);
            if (!closed_at && input_stats(in)->closed_idle) closed_at = now_ms();
        }
        assert_int_equal(input_stats(in)->closed_idle, 1);
        assert_true(closed_at - t0 >= idles[k]);
        assert_true(closed_at - t0 <= idles[k] + idles[k] / 4 + 30);
        assert_true(peer_closed(quiet));
        assert_false(peer_closed(chatty));
        close(quiet);
        close(chatty);
        free(a);
        stop(&f);
    }
}

static void test_parse_url(void **state)
{
    (void)state;
    input_config_t c;
    char why[256];
    assert_int_equal(input_parse_url("tcp://[::]:9061", &c, why, sizeof(why)), 0);
    assert_int_equal(c.transport, INPUT_TCP);
    assert_string_equal(c.host, "::");
    assert_int_equal(c.port, 9061);
    input_config_free(&c);
    assert_int_equal(input_parse_url("tls://0.0.0.0:9062", &c, why, sizeof(why)), 0);
    assert_int_equal(c.transport, INPUT_TLS);
    input_config_free(&c);
    static const char *const bad[] = {"http://1.2.3.4:5", "udp://1.2.3.4",   "udp://:9060",
                                      "udp://1.2.3.4:x",  "udp://[::1:9060", "udp://1.2.3.4:70000",
                                      "udp://1.2.3.4:-1"};
    for (size_t i = 0; i < HA_ARRAY_LEN(bad); i++)
        assert_int_equal(input_parse_url(bad[i], &c, why, sizeof(why)), HA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_udp_v4_v6_and_malformed_corpus),
        cmocka_unit_test(test_allow_list_and_auth_key),
        cmocka_unit_test(test_tcp_framing_split_everywhere),
        cmocka_unit_test(test_tcp_malformed_and_garbage),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_slow_loris_paces),
        cmocka_unit_test(test_idle_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
