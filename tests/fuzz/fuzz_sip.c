/* The SIP parser and start-line probe on arbitrary bytes. */
#include "hepagent/sip.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    sip_msg_t msg;
    sip_result_t r = sip_parse(copy, size, &msg);
    if (r == SIP_OK) {
        /* the fields point inside the input */
        const ha_bytes_t *fields[] = {&msg.method, &msg.uri, &msg.call_id, &msg.cseq_method,
                                      &msg.from, &msg.to, &msg.reason};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (fields[i]->len && (fields[i]->ptr < copy || fields[i]->ptr + fields[i]->len > copy + size))
                abort();
        if (msg.header_len > size) abort();
    }
    sip_probe_start_line(copy, size);
    sip_is_keepalive(copy, size);
    free(copy);
    return 0;
}
