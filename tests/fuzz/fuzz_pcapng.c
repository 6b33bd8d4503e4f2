/* The pcapng reader on arbitrary files. */
#include "hepagent/pcapng.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz_pcapng.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    char err[256];
    pcapng_t *r = pcapng_open(path, err, sizeof(err));
    if (r) {
        struct pcap_pkthdr hdr;
        const uint8_t *pkt;
        int linktype;
        uint32_t ifindex;
        for (int i = 0; i < 10000; i++) {
            int rc = pcapng_next(r, &hdr, &pkt, &linktype, &ifindex, err, sizeof(err));
            if (rc <= 0) break;
            uint32_t sum = 0;
            for (uint32_t k = 0; k < hdr.caplen; k++) sum += pkt[k]; /* touch every byte */
            if (sum == UINT32_MAX) abort();                          /* keeps the loop */
        }
        pcapng_close(r);
    }
    unlink(path);
    return 0;
}
