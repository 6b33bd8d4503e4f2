/* SDP on arbitrary bytes: as a SIP message whose body is found by its
 * Content-Type (plain or multipart), and as a bare SDP body. */
#include "hepagent/sdp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    sdp_t sdp;
    sip_msg_t sip;
    if (sip_parse(copy, size, &sip) == SIP_OK) {
        ha_bytes_t body;
        if (sdp_find_body(copy, size, &sip, &body) == SDP_OK) {
            if (body.ptr < copy || body.ptr + body.len > copy + size) abort();
            sdp_parse(body.ptr, body.len, &sdp);
        }
    }
    if (sdp_parse(copy, size, &sdp) == SDP_OK) {
        if (sdp.media_count > SDP_MAX_MEDIA) abort();
        for (unsigned i = 0; i < sdp.media_count; i++) {
            const sdp_media_t *m = &sdp.media[i];
            if (m->rtpmap_count > SDP_MAX_RTPMAP) abort();
            for (unsigned k = 0; k < m->rtpmap_count; k++)
                if (strlen(m->rtpmap[k].codec) > SDP_MAX_CODEC_LEN || m->rtpmap[k].clock_rate == 0)
                    abort();
        }
    }
    free(copy);
    return 0;
}
