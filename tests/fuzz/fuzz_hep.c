/* The HEP decoder used by the tests and the sink, plus stream framing; what
 * decodes must encode back to a packet that decodes the same. */
#include "hepagent/hep.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    hep_frame_length(copy, size);
    hep_decoded_t d;
    char err[256];
    if (hep_decode(copy, size, &d, err, sizeof(err)) == 0) {
        static uint8_t out[HEP_MAX_PACKET];
        int n = hep_encode(&d.msg, out, sizeof(out), HEP_MAX_PACKET);
        if (n > 0) {
            hep_decoded_t again;
            if (hep_decode(out, (size_t)n, &again, err, sizeof(err)) != 0) abort();
            if (again.msg.payload.len != d.msg.payload.len ||
                memcmp(again.msg.payload.ptr, d.msg.payload.ptr, d.msg.payload.len) != 0 ||
                again.msg.capture_id != d.msg.capture_id)
                abort();
        }
    }
    free(copy);
    return 0;
}
