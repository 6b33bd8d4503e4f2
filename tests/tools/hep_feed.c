/* hep_feed: the sender of the relay benchmark. Reads a file of HEP packets
 * back to back (what a HEP TCP stream carries) and sends them to a relay:
 * over UDP one datagram each, in sendmmsg batches of 64, at most -R packets
 * per second when given (so the relay's socket buffer is not simply
 * overrun); over TCP the whole stream in large writes.
 *   hep_feed -f FILE -p PORT [-a 127.0.0.1] [-t] [-R PPS]
 * Prints one summary line (key=value) to stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 64 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *addr = "127.0.0.1";
    int port = -1, tcp = 0, opt;
    double pps = 0;
    while ((opt = getopt(argc, argv, "f:p:a:tR:")) != -1) {
        switch (opt) {
        case 'f':
            file = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'a':
            addr = optarg;
            break;
        case 't':
            tcp = 1;
            break;
        case 'R':
            pps = atof(optarg);
            break;
        default:
            fprintf(stderr, "usage: hep_feed -f FILE -p PORT [-a ADDR] [-t] [-R PPS]\n");
            return 2;
        }
    }
    if (!file || port <= 0) {
        fprintf(stderr, "usage: hep_feed -f FILE -p PORT [-a ADDR] [-t] [-R PPS]\n");
        return 2;
    }
    FILE *f = fopen(file, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        perror(file);
        return 1;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        perror(file);
        return 1;
    }
    fclose(f);
    size_t len = (size_t)st.st_size;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        return 1;
    }
    double t0 = now_s();
    uint64_t packets = 0, errors = 0;
    if (tcp) {
        for (size_t off = 0; off < len;) {
            ssize_t n = write(fd, buf + off, len - off > (1 << 20) ? (1 << 20) : len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                perror("write");
                return 1;
            }
            off += (size_t)n;
        }
        for (size_t off = 0; off + 6 <= len; off += (size_t)((buf[off + 4] << 8) | buf[off + 5]))
            packets++;
        shutdown(fd, SHUT_WR);
        char b[256];
        while (read(fd, b, sizeof(b)) > 0) /* until the relay closes (it is stopped) */
            break;
    } else {
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        size_t off = 0;
        while (off + 6 <= len) {
            int n = 0;
            while (n < BATCH && off + 6 <= len) {
                size_t plen = (size_t)((buf[off + 4] << 8) | buf[off + 5]);
                if (plen < 6 || off + plen > len) {
                    fprintf(stderr, "hep_feed: not a HEP stream at offset %zu\n", off);
                    return 1;
                }
                iov[n] = (struct iovec){buf + off, plen};
                memset(&msgs[n], 0, sizeof(msgs[n]));
                msgs[n].msg_hdr.msg_iov = &iov[n];
                msgs[n].msg_hdr.msg_iovlen = 1;
                off += plen;
                n++;
            }
            for (int sent = 0; sent < n;) {
                int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
                if (k < 0) {
                    if (errno == EINTR) continue;
                    errors += (uint64_t)(n - sent); /* ECONNREFUSED and the like */
                    break;
                }
                sent += k;
            }
            packets += (uint64_t)n;
            if (pps > 0) {
                double due = t0 + (double)packets / pps;
                double wait = due - now_s();
                if (wait > 0) {
                    struct timespec ts = {(time_t)wait,
                                          (long)((wait - (double)(time_t)wait) * 1e9)};
                    nanosleep(&ts, NULL);
                }
            }
        }
    }
    double secs = now_s() - t0;
    printf("hep_feed packets=%llu bytes=%zu errors=%llu seconds=%.3f\n",
           (unsigned long long)packets, len, (unsigned long long)errors, secs);
    free(buf);
    close(fd);
    return 0;
}
