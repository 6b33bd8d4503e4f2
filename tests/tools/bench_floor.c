/* bench_floor: the floor of scripts/bench.sh, the least work a capture replay
 * to a collector can do. libpcap reads each record of a capture file
 * (pcap_next_ex) and its captured bytes go, unparsed, as one UDP datagram
 * (one send()) to ADDR:PORT. No decoding, no HEP, no batching.
 *   bench_floor -r FILE -p PORT [-a 127.0.0.1]
 * Prints one summary line (key=value) to stdout; exit 0 when every record
 * was sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out, int code)
{
    fputs("usage: bench_floor -r FILE -p PORT [-a ADDR]\n"
          "  sends every record of FILE, unparsed, as one UDP datagram to ADDR:PORT\n"
          "  (ADDR default 127.0.0.1), then prints a summary line\n",
          out);
    exit(code);
}

int main(int argc, char **argv)
{
    const char *file = NULL, *addr = "127.0.0.1";
    int port = -1, opt;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    while ((opt = getopt_long(argc, argv, "r:p:a:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            file = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'a':
            addr = optarg;
            break;
        case 'h':
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2);
        }
    }
    if (!file || port <= 0 || port > 65535) usage(stderr, 2);

    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(file, ebuf);
    if (!p) {
        fprintf(stderr, "bench_floor: %s\n", ebuf);
        return 1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "bench_floor: bad IPv4 address %s\n", addr);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("bench_floor: socket");
        return 1;
    }
    int size = 4 << 20; /* what hepagent asks for its UDP collectors */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));

    uint64_t records = 0, sent = 0, bytes = 0, too_big = 0, errors = 0, retries = 0;
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        records++;
        if (hdr->caplen > 65507) {
            too_big++;
            continue;
        }
        for (;;) {
            ssize_t r = send(fd, data, hdr->caplen, 0);
            if (r >= 0) {
                sent++;
                bytes += (uint64_t)r;
                break;
            }
            if (errno == EINTR) continue;
            if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED) {
                /* a full queue, or the ICMP of an earlier datagram: again */
                retries++;
                if (errno != ECONNREFUSED) {
                    struct timespec ts = {0, 10000};
                    nanosleep(&ts, NULL);
                }
                if (retries > 1000000) return 1;
                continue;
            }
            errors++;
            break;
        }
    }
    int failed = rc != PCAP_ERROR_BREAK;
    if (failed) fprintf(stderr, "bench_floor: %s: %s\n", file, pcap_geterr(p));
    printf("bench_floor records=%" PRIu64 " sent=%" PRIu64 " bytes=%" PRIu64 " too_big=%" PRIu64
           " errors=%" PRIu64 " retries=%" PRIu64 "\n",
           records, sent, bytes, too_big, errors, retries);
    pcap_close(p);
    close(fd);
    return failed || errors || too_big ? 1 : 0;
}
