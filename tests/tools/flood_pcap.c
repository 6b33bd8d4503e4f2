/* flood_pcap: writes a pcap stream (to stdout) of state that never
 * completes, to show the reassembly tables stay bounded:
 *   flood_pcap FRAGMENTS STREAMS
 * FRAGMENTS first IPv4 fragments of distinct datagrams (1200 bytes each), and
 * STREAMS TCP connections that open (SYN) and send the first half of a SIP
 * message, never the rest. Timestamps advance 10 us per frame. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t now_us = 1700000000ull * 1000000;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static void frame(const uint8_t *data, uint32_t len)
{
    uint32_t rec[4] = {(uint32_t)(now_us / 1000000), (uint32_t)(now_us % 1000000), len, len};
    fwrite(rec, sizeof(rec), 1, stdout);
    fwrite(data, len, 1, stdout);
    now_us += 10;
}

/* Ethernet + IPv4 header for len bytes of L4 data; returns the header size */
static size_t ip_header(uint8_t *b, uint32_t src, uint16_t id, uint16_t frag, uint8_t proto,
                        size_t l4_len)
{
    memset(b, 0, 34);
    put16(b + 12, 0x0800);
    uint8_t *ip = b + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + l4_len));
    put16(ip + 4, id);
    put16(ip + 6, frag);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, 0x0a000001);
    return 34;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: flood_pcap FRAGMENTS STREAMS > out.pcap\n");
        return 2;
    }
    long fragments = atol(argv[1]), streams = atol(argv[2]);
    uint32_t ghdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    fwrite(ghdr, sizeof(ghdr), 1, stdout);
    static uint8_t b[2000];
    static const char half[] = "INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: flood\r\n"
                               "CSeq: 1 INVITE\r\nContent-Length: 500\r\n\r\nv=0\r\n";
    long f = 0, s = 0;
    while (f < fragments || s < streams) {
        if (f < fragments) { /* first fragment, more fragments set, never the rest */
            uint32_t src = 0x0b000000u + (uint32_t)(f >> 16);
            size_t h = ip_header(b, src, (uint16_t)f, 0x2000, 17, 1200);
            memset(b + h, 'x', 1200);
            put16(b + h, 5060);
            put16(b + h + 2, 5060);
            frame(b, (uint32_t)(h + 1200));
            f++;
        }
        if (s < streams) {
            uint32_t src = 0x0c000000u + (uint32_t)s;
            for (int step = 0; step < 2; step++) {
                size_t l4 = 20 + (step ? sizeof(half) - 1 : 0);
                size_t h = ip_header(b, src, 1, 0x4000, 6, l4);
                uint8_t *t = b + h;
                memset(t, 0, 20);
                put16(t, (uint16_t)(1024 + s % 60000));
                put16(t + 2, 5060);
                put32(t + 4, step ? 1001 : 1000);
                t[12] = 0x50;
                t[13] = step ? 0x18 : 0x02;
                if (step) memcpy(t + 20, half, sizeof(half) - 1);
                frame(b, (uint32_t)(h + l4));
            }
            s++;
        }
    }
    return 0;
}
