/* The RTCP decoder on arbitrary bytes: a clean reason, or JSON that fits
 * the buffer and parses. */
#include "hepagent/rtcp.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    static char json[RTCP_JSON_MAX + 1];
    size_t n = 0;
    rtcp_info_t info;
    rtcp_result_t r = rtcp_to_json(copy, size, json, RTCP_JSON_MAX, &n, &info);
    if (r >= RTCP_RESULT_COUNT) abort();
    if (r == RTCP_RESULT_ok) {
        if (n == 0 || n >= RTCP_JSON_MAX) abort();
        json[n] = '\0';
        json_object *o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object)) abort();
        json_object_put(o);
    } else if (n != 0) {
        abort();
    }
    free(copy);
    return 0;
}
