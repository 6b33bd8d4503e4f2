/* The RTP-truncating capture filter: a hand-written classic BPF block
 * appended to the source's compiled filter, whose accepting returns jump to
 * it. IPv4 (not fragments) and IPv6 (UDP right after the fixed header) UDP
 * with at least two payload bytes, the first of version 2 and the second
 * not an RTCP packet type (192-223, RFC 5761 §4), is cut to its IP, UDP and
 * RTP headers; the rest keeps the source filter's verdict and the full
 * snaplen. For Linux cooked captures ("any") the offsets are written as for
 * the cooked header; libpcap moves them to the network header when it
 * installs the program, and the kernel counts the return value from there. */
#include "hepagent/rtpfilter.h"

#include <stdlib.h>
#include <string.h>

/* An instruction of the block with jump targets as block indexes. */
typedef struct {
    uint16_t code;
    uint8_t jt, jf; /* targets (absolute, within the block) */
    uint32_t k;
} rtpfilter_insn_t;

enum {
    ET_IPV4 = 0x0800,
    ET_IPV6 = 0x86dd,
    IP_UDP = 17,
    UDP_HEADER = 8,
    IPV6_HEADER = 40,
    RTCP_FIRST = 192,
    RTCP_LAST = 223,
};

int rtpfilter_supports(int linktype)
{
    return linktype == DLT_EN10MB || linktype == DLT_LINUX_SLL;
}

int rtpfilter_patch(const struct bpf_program *in, int linktype, uint32_t snaplen, uint32_t keep,
                    struct bpf_program *out)
{
    memset(out, 0, sizeof(*out));
    if (!rtpfilter_supports(linktype)) return -1;
    /* where the network header starts in the program's view, where the
     * EtherType is, and what the kernel counts the return value from */
    uint32_t l3 = linktype == DLT_EN10MB ? 14 : 16;
    uint32_t et = linktype == DLT_EN10MB ? 12 : 14;
    uint32_t base = linktype == DLT_EN10MB ? 14 : 0;
    enum { V4 = 3, T4 = 16, V6 = 19, T6 = 29, ACC = 30 }; /* labels: block indexes */
    const rtpfilter_insn_t block[] = {
        /* 0 */ {BPF_LD | BPF_H | BPF_ABS, 0, 0, et},
        /* 1 */ {BPF_JMP | BPF_JEQ | BPF_K, V4, 2, ET_IPV4},
        /* 2 */ {BPF_JMP | BPF_JEQ | BPF_K, V6, ACC, ET_IPV6},
        /* 3 V4 */ {BPF_LD | BPF_B | BPF_ABS, 0, 0, l3 + 9},
        /* 4 */ {BPF_JMP | BPF_JEQ | BPF_K, 5, ACC, IP_UDP},
        /* 5 */ {BPF_LD | BPF_H | BPF_ABS, 0, 0, l3 + 6},
        /* 6 */ {BPF_JMP | BPF_JSET | BPF_K, ACC, 7, 0x3fff}, /* MF or an offset: whole */
        /* 7 */ {BPF_LDX | BPF_B | BPF_MSH, 0, 0, l3},
        /* 8 */ {BPF_LD | BPF_H | BPF_IND, 0, 0, l3 + 4}, /* UDP length */
        /* 9 */ {BPF_JMP | BPF_JGE | BPF_K, 10, ACC, UDP_HEADER + 2},
        /* 10 */ {BPF_LD | BPF_B | BPF_IND, 0, 0, l3 + UDP_HEADER},
        /* 11 */ {BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xc0},
        /* 12 */ {BPF_JMP | BPF_JEQ | BPF_K, 13, ACC, 0x80},
        /* 13 */ {BPF_LD | BPF_B | BPF_IND, 0, 0, l3 + UDP_HEADER + 1},
        /* 14 */ {BPF_JMP | BPF_JGE | BPF_K, 15, T4, RTCP_FIRST},
        /* 15 */ {BPF_JMP | BPF_JGT | BPF_K, T4, ACC, RTCP_LAST},
        /* 16 T4 */ {BPF_MISC | BPF_TXA, 0, 0, 0},
        /* 17 */ {BPF_ALU | BPF_ADD | BPF_K, 0, 0, base + UDP_HEADER + keep},
        /* 18 */ {BPF_RET | BPF_A, 0, 0, 0},
        /* 19 V6 */ {BPF_LD | BPF_B | BPF_ABS, 0, 0, l3 + 6},
        /* 20 */ {BPF_JMP | BPF_JEQ | BPF_K, 21, ACC, IP_UDP},
        /* 21 */ {BPF_LD | BPF_H | BPF_ABS, 0, 0, l3 + IPV6_HEADER + 4},
        /* 22 */ {BPF_JMP | BPF_JGE | BPF_K, 23, ACC, UDP_HEADER + 2},
        /* 23 */ {BPF_LD | BPF_B | BPF_ABS, 0, 0, l3 + IPV6_HEADER + UDP_HEADER},
        /* 24 */ {BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xc0},
        /* 25 */ {BPF_JMP | BPF_JEQ | BPF_K, 26, ACC, 0x80},
        /* 26 */ {BPF_LD | BPF_B | BPF_ABS, 0, 0, l3 + IPV6_HEADER + UDP_HEADER + 1},
        /* 27 */ {BPF_JMP | BPF_JGE | BPF_K, 28, T6, RTCP_FIRST},
        /* 28 */ {BPF_JMP | BPF_JGT | BPF_K, T6, ACC, RTCP_LAST},
        /* 29 T6 */ {BPF_RET | BPF_K, 0, 0, base + IPV6_HEADER + UDP_HEADER + keep},
        /* 30 ACC */ {BPF_RET | BPF_K, 0, 0, snaplen},
    };
    size_t nblock = sizeof(block) / sizeof(block[0]);
    size_t n = in->bf_len;
    struct bpf_insn *p = calloc(n + nblock, sizeof(*p));
    if (!p) return -1;
    for (size_t i = 0; i < n; i++) {
        p[i] = in->bf_insns[i];
        /* an accepting return goes through the block instead */
        if (BPF_CLASS(p[i].code) == BPF_RET && BPF_RVAL(p[i].code) == BPF_K && p[i].k != 0) {
            p[i].code = BPF_JMP | BPF_JA;
            p[i].k = (uint32_t)(n - i - 1);
            p[i].jt = p[i].jf = 0;
        }
    }
    for (size_t i = 0; i < nblock; i++) {
        const rtpfilter_insn_t *b = &block[i];
        struct bpf_insn *q = &p[n + i];
        q->code = b->code;
        q->k = b->k;
        if (BPF_CLASS(b->code) == BPF_JMP && BPF_OP(b->code) != BPF_JA) {
            q->jt = (uint8_t)(b->jt - i - 1);
            q->jf = (uint8_t)(b->jf - i - 1);
        }
    }
    out->bf_len = (u_int)(n + nblock);
    out->bf_insns = p;
    return 0;
}

void rtpfilter_free(struct bpf_program *prog)
{
    free(prog->bf_insns);
    prog->bf_insns = NULL;
    prog->bf_len = 0;
}
