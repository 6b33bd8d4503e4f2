/* Frame decoding: every link type, VLAN/QinQ, IPv4 options, IPv6 extension
 * headers, fragments, tunnels, the depth cap, and every truncation point of
 * valid frames (run under ASan in CI, so an out-of-bounds read fails). */
#include "test_util.h"

#include "hepagent/common.h"
#include "hepagent/decode.h"

#include <arpa/inet.h>

typedef struct {
    uint8_t b[4096];
    size_t n;
} buf_t;

static void put(buf_t *f, const void *d, size_t n)
{
    memcpy(f->b + f->n, d, n);
    f->n += n;
}
static void put8(buf_t *f, uint8_t v)
{
    put(f, &v, 1);
}
static void put16(buf_t *f, uint16_t v)
{
    uint8_t b[2];
    put_be16(b, v);
    put(f, b, 2);
}
static void put32(buf_t *f, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    put(f, b, 4);
}

static const char PAYLOAD[] = "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";

/* UDP header + payload */
static void udp(buf_t *f, uint16_t sport, uint16_t dport, const void *payload, size_t n)
{
    put16(f, sport);
    put16(f, dport);
    put16(f, (uint16_t)(8 + n));
    put16(f, 0);
    put(f, payload, n);
}

/* IPv4 header (with optional options) around an L4 blob */
static void ipv4(buf_t *f, uint8_t proto, const buf_t *l4, size_t options, uint16_t frag)
{
    uint8_t ihl = (uint8_t)(5 + options / 4);
    put8(f, (uint8_t)(0x40 | ihl));
    put8(f, 0xb8);
    put16(f, (uint16_t)(ihl * 4 + l4->n));
    put16(f, 0x1234);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    put32(f, 0x0a000001);
    put32(f, 0x0a000002);
    for (size_t i = 0; i < options; i++)
        put8(f, 1); /* NOPs */
    put(f, l4->b, l4->n);
}

static void ipv6(buf_t *f, uint8_t next, const buf_t *rest)
{
    put32(f, 0x60000000);
    put16(f, (uint16_t)rest->n);
    put8(f, next);
    put8(f, 64);
    uint8_t a[16];
    inet_pton(AF_INET6, "2001:db8::1", a);
    put(f, a, 16);
    inet_pton(AF_INET6, "2001:db8::2", a);
    put(f, a, 16);
    put(f, rest->b, rest->n);
}

static void ether(buf_t *f, uint16_t type, const buf_t *rest)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
    put(f, macs, 12);
    put16(f, type);
    put(f, rest->b, rest->n);
}

static buf_t sip_udp_ipv4(void)
{
    buf_t l4 = {0}, ip = {0};
    udp(&l4, 5060, 5061, PAYLOAD, strlen(PAYLOAD));
    ipv4(&ip, 17, &l4, 0, 0);
    return ip;
}

static decode_result_t run(int linktype, const buf_t *f, packet_t *pkt)
{
    decode_options_t opts;
    decode_options_default(&opts);
    memset(pkt, 0, sizeof(*pkt));
    pkt->frame = f->b;
    pkt->caplen = pkt->wirelen = (uint32_t)f->n;
    pkt->linktype = linktype;
    return decode_frame(&opts, pkt);
}

static void assert_sip_payload(const packet_t *pkt)
{
    assert_int_equal(pkt->l4_proto, 17);
    assert_int_equal(pkt->payload_len, strlen(PAYLOAD));
    assert_memory_equal(pkt->payload, PAYLOAD, strlen(PAYLOAD));
}

static void test_ethernet_ipv4_udp(void **state)
{
    (void)state;
    buf_t ip = sip_udp_ipv4(), f = {0};
    ether(&f, ETHERTYPE_IPV4, &ip);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_ETHERNET, &f, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
    assert_int_equal(pkt.ip_version, 4);
    assert_int_equal(pkt.src_port, 5060);
    assert_int_equal(pkt.dst_port, 5061);
    assert_int_equal(pkt.src_addr[0], 10);
    assert_int_equal(pkt.dst_addr[3], 2);
    assert_int_equal(pkt.ip_tos, 0xb8);
    /* Ethernet padding after the IP packet is not payload */
    static const uint8_t pad[8] = {0};
    put(&f, pad, sizeof(pad));
    assert_int_equal(run(LINKTYPE_ETHERNET, &f, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
}

static void test_vlan_and_qinq(void **state)
{
    (void)state;
    buf_t ip = sip_udp_ipv4(), tagged = {0}, f = {0};
    put16(&tagged, 0x2000 | 100); /* PCP 1, VLAN 100 */
    put16(&tagged, ETHERTYPE_IPV4);
    put(&tagged, ip.b, ip.n);
    ether(&f, ETHERTYPE_VLAN, &tagged);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_ETHERNET, &f, &pkt), DECODE_OK);
    assert_int_equal(pkt.vlan_count, 1);
    assert_int_equal(packet_vlan(&pkt), 100);
    assert_sip_payload(&pkt);

    buf_t qinq = {0}, g = {0};
    put16(&qinq, 10);
    put16(&qinq, ETHERTYPE_VLAN);
    put16(&qinq, 20);
    put16(&qinq, ETHERTYPE_IPV4);
    put(&qinq, ip.b, ip.n);
    ether(&g, ETHERTYPE_QINQ, &qinq);
    assert_int_equal(run(LINKTYPE_ETHERNET, &g, &pkt), DECODE_OK);
    assert_int_equal(pkt.vlan_count, 2);
    assert_int_equal(pkt.vlan_ids[0], 10);
    assert_int_equal(packet_vlan(&pkt), 20); /* innermost goes to HEP */
}

static void test_cooked_and_bsd_links(void **state)
{
    (void)state;
    buf_t ip = sip_udp_ipv4();
    packet_t pkt;
    buf_t sll = {0};
    put16(&sll, 0);
    put16(&sll, 1);
    put16(&sll, 6);
    static const uint8_t addr[8] = {0};
    put(&sll, addr, 8);
    put16(&sll, ETHERTYPE_IPV4);
    put(&sll, ip.b, ip.n);
    assert_int_equal(run(LINKTYPE_LINUX_SLL, &sll, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);

    buf_t sll2 = {0};
    put16(&sll2, ETHERTYPE_IPV4);
    put16(&sll2, 0);
    put32(&sll2, 1);
    put16(&sll2, 1);
    put8(&sll2, 0);
    put8(&sll2, 6);
    put(&sll2, addr, 8);
    put(&sll2, ip.b, ip.n);
    assert_int_equal(run(LINKTYPE_LINUX_SLL2, &sll2, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);

    buf_t null_le = {0}, null_be = {0}, loop = {0};
    static const uint8_t af_le[4] = {2, 0, 0, 0}, af_be[4] = {0, 0, 0, 2};
    put(&null_le, af_le, 4);
    put(&null_le, ip.b, ip.n);
    put(&null_be, af_be, 4);
    put(&null_be, ip.b, ip.n);
    put(&loop, af_be, 4);
    put(&loop, ip.b, ip.n);
    assert_int_equal(run(LINKTYPE_NULL, &null_le, &pkt), DECODE_OK);
    assert_int_equal(run(LINKTYPE_NULL, &null_be, &pkt), DECODE_OK);
    assert_int_equal(run(LINKTYPE_LOOP, &loop, &pkt), DECODE_OK);
    assert_int_equal(run(LINKTYPE_RAW, &ip, &pkt), DECODE_OK);
    assert_int_equal(run(LINKTYPE_IPV4, &ip, &pkt), DECODE_OK);
    assert_int_equal(run(147 /* USER0 */, &ip, &pkt), DECODE_LINK_UNSUPPORTED);
}

static void test_ipv4_options_and_tcp(void **state)
{
    (void)state;
    buf_t l4 = {0}, ip = {0};
    put16(&l4, 40000);
    put16(&l4, 5060);
    put32(&l4, 1000);
    put32(&l4, 2000);
    put8(&l4, 0x80); /* data offset 8 words: 12 bytes of options */
    put8(&l4, TCP_FLAG_PSH | TCP_FLAG_ACK);
    put16(&l4, 65535);
    put32(&l4, 0);
    static const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    put(&l4, opts, 12);
    put(&l4, PAYLOAD, strlen(PAYLOAD));
    ipv4(&ip, 6, &l4, 8, 0x4000 /* DF */);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_RAW, &ip, &pkt), DECODE_OK);
    assert_int_equal(pkt.l4_proto, 6);
    assert_int_equal(pkt.tcp_seq, 1000);
    assert_int_equal(pkt.tcp_flags, TCP_FLAG_PSH | TCP_FLAG_ACK);
    assert_int_equal(pkt.payload_len, strlen(PAYLOAD));
    assert_memory_equal(pkt.payload, PAYLOAD, strlen(PAYLOAD));
}

static void test_ipv6_extension_headers(void **state)
{
    (void)state;
    buf_t rest = {0}, ip = {0};
    /* hop-by-hop (8 bytes) -> destination options (16 bytes) -> UDP */
    put8(&rest, 60);
    put8(&rest, 0);
    put16(&rest, 0x0104);
    put32(&rest, 0);
    put8(&rest, 17);
    put8(&rest, 1);
    for (int i = 0; i < 14; i++)
        put8(&rest, 0);
    udp(&rest, 5060, 5060, PAYLOAD, strlen(PAYLOAD));
    ipv6(&ip, 0, &rest);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_IPV6, &ip, &pkt), DECODE_OK);
    assert_int_equal(pkt.ip_version, 6);
    assert_sip_payload(&pkt);
    assert_int_equal(pkt.src_addr[15], 1);
}

static void test_fragments(void **state)
{
    (void)state;
    buf_t l4 = {0}, ip = {0};
    udp(&l4, 5060, 5060, PAYLOAD, 16);
    ipv4(&ip, 17, &l4, 0, 0x2000 /* MF, offset 0 */);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_RAW, &ip, &pkt), DECODE_FRAGMENT);
    assert_true(pkt.frag_more);
    assert_int_equal(pkt.frag_offset, 0);
    assert_int_equal(pkt.frag_id, 0x1234);
    assert_int_equal(pkt.frag_proto, 17);
    assert_int_equal(pkt.frag_len, 24);

    buf_t ip2 = {0};
    ipv4(&ip2, 17, &l4, 0, 0x0003 /* offset 24 bytes, last */);
    assert_int_equal(run(LINKTYPE_RAW, &ip2, &pkt), DECODE_FRAGMENT);
    assert_false(pkt.frag_more);
    assert_int_equal(pkt.frag_offset, 24);

    /* IPv6 fragment header, second fragment */
    buf_t rest = {0}, ip6 = {0};
    put8(&rest, 17);
    put8(&rest, 0);
    put16(&rest, (uint16_t)(1448 | 1));
    put32(&rest, 0xdeadbeef);
    put(&rest, PAYLOAD, 10);
    ipv6(&ip6, 44, &rest);
    assert_int_equal(run(LINKTYPE_IPV6, &ip6, &pkt), DECODE_FRAGMENT);
    assert_int_equal(pkt.frag_offset, 1448);
    assert_int_equal(pkt.frag_id, 0xdeadbeef);
    assert_true(pkt.frag_more);
    assert_int_equal(pkt.frag_len, 10);

    /* an atomic fragment (offset 0, no M) is just a packet */
    buf_t at = {0}, ip6b = {0};
    put8(&at, 17);
    put8(&at, 0);
    put16(&at, 0);
    put32(&at, 1);
    udp(&at, 5060, 5060, PAYLOAD, strlen(PAYLOAD));
    ipv6(&ip6b, 44, &at);
    assert_int_equal(run(LINKTYPE_IPV6, &ip6b, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
}

static void test_bad_headers(void **state)
{
    (void)state;
    buf_t ip = sip_udp_ipv4();
    packet_t pkt;
    buf_t b = ip;
    b.b[0] = 0x44; /* IHL 4 */
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_IPV4_BAD_HEADER_LENGTH);
    b = ip;
    b.b[0] = 0x55;
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_IP_BAD_VERSION);
    b = ip;
    put_be16(b.b + 2, 19);
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_IPV4_BAD_TOTAL_LENGTH);
    b = ip;
    put_be16(b.b + 2, (uint16_t)(ip.n + 10)); /* claims more than the wire had */
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_IPV4_BAD_TOTAL_LENGTH);
    b = ip;
    put_be16(b.b + 24, 7); /* UDP length below 8 */
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_UDP_BAD_LENGTH);
    b = ip;
    put_be16(b.b + 24, 2000);
    assert_int_equal(run(LINKTYPE_RAW, &b, &pkt), DECODE_UDP_BAD_LENGTH);
}

/* A frame cut by the snaplen decodes with truncated set; a frame that is
 * simply short on the wire never yields a payload. No cut reads out of
 * bounds: each prefix is copied to a buffer of exactly its size. */
static void test_every_truncation(void **state)
{
    (void)state;
    buf_t ip = sip_udp_ipv4(), f = {0};
    ether(&f, ETHERTYPE_IPV4, &ip);
    decode_options_t opts;
    decode_options_default(&opts);
    for (size_t cut = 0; cut < f.n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, f.b, cut);
        for (int snapped = 0; snapped < 2; snapped++) {
            packet_t pkt;
            memset(&pkt, 0, sizeof(pkt));
            pkt.frame = copy;
            pkt.caplen = (uint32_t)cut;
            pkt.wirelen = snapped ? (uint32_t)f.n : (uint32_t)cut;
            pkt.linktype = LINKTYPE_ETHERNET;
            decode_result_t r = decode_frame(&opts, &pkt);
            if (r == DECODE_OK) {
                assert_true(snapped);
                assert_true(pkt.truncated);
                assert_true(pkt.payload + pkt.payload_len <= copy + cut);
                assert_true(cut >= 14 + 20 + 8);
            } else if (cut >= 14) {
                assert_int_not_equal(r, DECODE_LINK_TRUNCATED);
            }
        }
        free(copy);
    }
}

static void test_tunnels(void **state)
{
    (void)state;
    buf_t inner_ip = sip_udp_ipv4(), inner_eth = {0};
    ether(&inner_eth, ETHERTYPE_IPV4, &inner_ip);
    packet_t pkt;

    /* GRE with key and sequence, transparent Ethernet bridging */
    buf_t gre = {0}, outer = {0};
    put16(&gre, 0x3000);
    put16(&gre, ETHERTYPE_TEB);
    put32(&gre, 42);
    put32(&gre, 7);
    put(&gre, inner_eth.b, inner_eth.n);
    ipv4(&outer, 47, &gre, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &outer, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
    assert_true(pkt.tunnelled);

    /* VXLAN on 4789 */
    buf_t vx = {0}, vxu = {0}, vxo = {0};
    put32(&vx, 0x08000000);
    put32(&vx, 0x00012300);
    put(&vx, inner_eth.b, inner_eth.n);
    udp(&vxu, 33333, 4789, vx.b, vx.n);
    ipv4(&vxo, 17, &vxu, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &vxo, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
    assert_int_equal(pkt.src_port, 5060); /* the inner UDP header's */

    /* GTP-U with a sequence number */
    buf_t gtp = {0}, gu = {0}, go = {0};
    put8(&gtp, 0x32);
    put8(&gtp, 0xff);
    put16(&gtp, (uint16_t)(4 + inner_ip.n));
    put32(&gtp, 1);
    put32(&gtp, 0x00010000);
    put(&gtp, inner_ip.b, inner_ip.n);
    udp(&gu, 2152, 2152, gtp.b, gtp.n);
    ipv4(&go, 17, &gu, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &go, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);

    /* IP-in-IP and MPLS (two labels) */
    buf_t ipip = {0};
    ipv4(&ipip, 4, &inner_ip, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &ipip, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
    buf_t mpls = {0}, me = {0};
    put32(&mpls, 0x00010040);
    put32(&mpls, 0x00020140);
    put(&mpls, inner_ip.b, inner_ip.n);
    ether(&me, ETHERTYPE_MPLS, &mpls);
    assert_int_equal(run(LINKTYPE_ETHERNET, &me, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);

    /* ERSPAN type II behind GRE with a sequence number */
    buf_t er = {0}, ero = {0};
    put16(&er, 0x1000);
    put16(&er, ETHERTYPE_ERSPAN2);
    put32(&er, 1);
    put32(&er, 0x10010001);
    put32(&er, 0);
    put(&er, inner_eth.b, inner_eth.n);
    ipv4(&ero, 47, &er, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &ero, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);

    /* a UDP datagram to 4789 that is not VXLAN stays plain UDP */
    buf_t plain = {0}, po = {0};
    udp(&plain, 5060, 4789, PAYLOAD, strlen(PAYLOAD));
    ipv4(&po, 17, &plain, 0, 0);
    assert_int_equal(run(LINKTYPE_RAW, &po, &pkt), DECODE_OK);
    assert_sip_payload(&pkt);
}

static void test_depth_cap(void **state)
{
    (void)state;
    /* ten IP-in-IP layers around the SIP packet */
    buf_t layers[11];
    memset(layers, 0, sizeof(layers));
    layers[0] = sip_udp_ipv4();
    for (int i = 1; i <= 10; i++)
        ipv4(&layers[i], 4, &layers[i - 1], 0, 0);
    packet_t pkt;
    assert_int_equal(run(LINKTYPE_RAW, &layers[10], &pkt), DECODE_ENCAP_TOO_DEEP);
    assert_int_equal(run(LINKTYPE_RAW, &layers[8], &pkt), DECODE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_ipv4_udp),
        cmocka_unit_test(test_vlan_and_qinq),
        cmocka_unit_test(test_cooked_and_bsd_links),
        cmocka_unit_test(test_ipv4_options_and_tcp),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_tunnels),
        cmocka_unit_test(test_depth_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
