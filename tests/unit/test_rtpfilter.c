/* The RTP-truncating capture filter, run by libpcap's own BPF interpreter
 * (bpf_filter, the kernel's semantics: the return value is the bytes kept)
 * on hand-made frames: RTP cut to its headers, RTCP, SIP, fragments, short
 * and non-UDP packets whole, and the source's own filter still deciding. */
#include "test_util.h"

#include <pcap/pcap.h>

#include "hepagent/rtpfilter.h"

enum { SNAP = 262144 };

/* An Ethernet frame (or a Linux cooked one) with IPv4/IPv6 + UDP and payload. */
static size_t frame(uint8_t *f, int cooked, int v6, uint16_t sport, uint16_t dport,
                    const uint8_t *payload, size_t len, int fragment)
{
    size_t l2 = cooked ? 16 : 14;
    memset(f, 0, 2048);
    uint16_t et = v6 ? 0x86dd : 0x0800;
    f[l2 - 2] = (uint8_t)(et >> 8);
    f[l2 - 1] = (uint8_t)et;
    uint8_t *ip = f + l2;
    size_t iph = v6 ? 40 : 20;
    uint16_t udplen = (uint16_t)(8 + len);
    if (v6) {
        ip[0] = 0x60;
        ip[4] = (uint8_t)(udplen >> 8);
        ip[5] = (uint8_t)udplen;
        ip[6] = 17;
    } else {
        ip[0] = 0x45;
        uint16_t total = (uint16_t)(20 + udplen);
        ip[2] = (uint8_t)(total >> 8);
        ip[3] = (uint8_t)total;
        if (fragment) ip[6] = 0x20; /* more fragments */
        ip[9] = 17;
    }
    uint8_t *udp = ip + iph;
    udp[0] = (uint8_t)(sport >> 8), udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)(udplen >> 8), udp[5] = (uint8_t)udplen;
    memcpy(udp + 8, payload, len);
    return l2 + iph + 8 + len;
}

static u_int run(const struct bpf_program *prog, const uint8_t *f, size_t len)
{
    return bpf_filter(prog->bf_insns, f, (u_int)len, (u_int)len);
}

static void patched(const char *expr, int linktype, struct bpf_program *out)
{
    pcap_t *dead = pcap_open_dead(linktype, SNAP);
    struct bpf_program in;
    assert_int_equal(pcap_compile(dead, &in, expr, 1, PCAP_NETMASK_UNKNOWN), 0);
    assert_int_equal(rtpfilter_patch(&in, linktype, SNAP, RTPFILTER_KEEP, out), 0);
    assert_true(bpf_validate(out->bf_insns, (int)out->bf_len));
    pcap_freecode(&in);
    pcap_close(dead);
}

static const uint8_t RTP[172] = {0x80, 0x08, 0x12, 0x34};
static const uint8_t RTP_MARKER[172] = {0x80, 0x80 | 96};
static const uint8_t RTCP_RR[32] = {0x81, 201, 0, 7};
static const uint8_t RTCP_FB[16] = {0x81, 206, 0, 3};
static const uint8_t SIP[] = "INVITE sip:b@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n";
static const uint8_t STUN[20] = {0x00, 0x01};

static void test_ethernet(void **state)
{
    (void)state;
    struct bpf_program p;
    patched("", DLT_EN10MB, &p);
    uint8_t f[2048];
    size_t n;
    n = frame(f, 0, 0, 4000, 5000, RTP, sizeof(RTP), 0);
    assert_int_equal(run(&p, f, n), 14 + 20 + 8 + RTPFILTER_KEEP);
    n = frame(f, 0, 0, 4000, 5000, RTP_MARKER, sizeof(RTP_MARKER), 0); /* 224: RTP */
    assert_int_equal(run(&p, f, n), 14 + 20 + 8 + RTPFILTER_KEEP);
    n = frame(f, 0, 1, 4000, 5000, RTP, sizeof(RTP), 0);
    assert_int_equal(run(&p, f, n), 14 + 40 + 8 + RTPFILTER_KEEP);
    /* RTCP, SIP, STUN, a fragment, a one-byte payload: whole */
    n = frame(f, 0, 0, 4001, 5001, RTCP_RR, sizeof(RTCP_RR), 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 1, 4000, 5000, RTCP_FB, sizeof(RTCP_FB), 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 0, 5060, 5060, SIP, sizeof(SIP) - 1, 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 1, 5060, 5060, SIP, sizeof(SIP) - 1, 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 0, 3478, 3478, STUN, sizeof(STUN), 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 0, 4000, 5000, RTP, sizeof(RTP), 1);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 0, 0, 4000, 5000, RTP, 1, 0);
    assert_int_equal(run(&p, f, n), SNAP);
    /* IPv4 with options: the cut follows the header length */
    n = frame(f, 0, 0, 4000, 5000, RTP, sizeof(RTP), 0);
    uint8_t g[2048];
    memcpy(g, f, 14);
    g[14] = 0x46; /* 24-byte header: 4 bytes of options */
    memcpy(g + 15, f + 15, 19);
    memset(g + 34, 1, 4);
    memcpy(g + 38, f + 34, n - 34);
    assert_int_equal(run(&p, g, n + 4), 14 + 24 + 8 + RTPFILTER_KEEP);
    /* not IP at all (ARP): whole */
    memset(f, 0, 64);
    f[12] = 0x08, f[13] = 0x06;
    assert_int_equal(run(&p, f, 60), SNAP);
    rtpfilter_free(&p);
}

/* The source's filter still decides what is captured at all. */
static void test_source_filter_decides(void **state)
{
    (void)state;
    struct bpf_program p;
    patched("udp portrange 4000-4999 or port 5060", DLT_EN10MB, &p);
    uint8_t f[2048];
    size_t n = frame(f, 0, 0, 4000, 5000, RTP, sizeof(RTP), 0);
    assert_int_equal(run(&p, f, n), 14 + 20 + 8 + RTPFILTER_KEEP);
    n = frame(f, 0, 0, 6000, 7000, RTP, sizeof(RTP), 0);
    assert_int_equal(run(&p, f, n), 0);
    n = frame(f, 0, 0, 5060, 5060, SIP, sizeof(SIP) - 1, 0);
    assert_int_equal(run(&p, f, n), SNAP);
    rtpfilter_free(&p);
}

/* Linux cooked ("any"): offsets as for the cooked header (libpcap moves
 * them when it installs the program in the kernel); in userland the same
 * verdicts. */
static void test_cooked(void **state)
{
    (void)state;
    struct bpf_program p;
    patched("", DLT_LINUX_SLL, &p);
    uint8_t f[2048];
    size_t n = frame(f, 1, 0, 4000, 5000, RTP, sizeof(RTP), 0);
    assert_int_equal(run(&p, f, n), 20 + 8 + RTPFILTER_KEEP); /* counted from the IP header */
    n = frame(f, 1, 0, 5060, 5060, SIP, sizeof(SIP) - 1, 0);
    assert_int_equal(run(&p, f, n), SNAP);
    n = frame(f, 1, 0, 4001, 5001, RTCP_RR, sizeof(RTCP_RR), 0);
    assert_int_equal(run(&p, f, n), SNAP);
    rtpfilter_free(&p);
    struct bpf_program in = {0, NULL}, out;
    assert_false(rtpfilter_supports(DLT_RAW));
    assert_int_equal(rtpfilter_patch(&in, DLT_RAW, SNAP, RTPFILTER_KEEP, &out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet),
        cmocka_unit_test(test_source_filter_decides),
        cmocka_unit_test(test_cooked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
