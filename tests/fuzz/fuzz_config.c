/* The config parser on arbitrary text: it must refuse or accept, never
 * crash or leak, and what it accepts must pass the command-line overrides. */
#include "hepagent/config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    config_t *cfg = NULL;
    char err[512];
    if (config_parse(text, "fuzz", &cfg, err, sizeof(err)) == 0) {
        const char *files[] = {"x.pcap", NULL};
        config_overrides_t ov = {.files = files};
        config_apply_overrides(cfg, &ov, err, sizeof(err));
        config_free(cfg);
    } else if (strncmp(err, "config: ", 8) != 0) {
        abort(); /* every refusal says where */
    }
    free(text);
    return 0;
}
