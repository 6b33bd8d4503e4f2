/* cli_parse: what the command line asks for, before main.c applies it --
 * repeatable options in order, the filter words after the options joined as
 * tcpdump does, the numeric ranges at their edges, the conflicts, and -A
 * alone sending nothing. The exit codes themselves: tests/e2e/exit_codes.sh. */
#include "test_util.h"

#include "hepagent/cli.h"
#include "hepagent/common.h"

#include <getopt.h>

/* Parses the NULL-terminated words (argv[0] added) into a. */
static cli_result_t parse(cli_args_t *a, const char *const *words)
{
    char *argv[32] = {"hepagent"};
    int argc = 1;
    for (; words[argc - 1]; argc++)
        argv[argc] = (char *)words[argc - 1];
    memset(a, 0, sizeof(*a));
    optind = 0; /* glibc: a full restart of getopt for each parse */
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w"); /* the usage errors' one line */
    cli_result_t r = cli_parse(a, argc, argv);
    fclose(stderr);
    stderr = saved;
    return r;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_lists_and_filter(void **state)
{
    (void)state;
    cli_args_t a;
    assert_int_equal(parse(&a, WORDS("-i", "eth0", "-r", "a.pcap", "-i", "eth1", "-H",
                                     "udp://127.0.0.1:9060", "udp", "port", "5060")),
                     CLI_RUN);
    assert_string_equal(a.ov.interfaces[0], "eth0");
    assert_string_equal(a.ov.interfaces[1], "eth1");
    assert_null(a.ov.interfaces[2]);
    assert_string_equal(a.ov.files[0], "a.pcap");
    assert_null(a.ov.files[1]);
    assert_string_equal(a.ov.collectors[0], "udp://127.0.0.1:9060");
    assert_string_equal(a.ov.bpf, "udp port 5060");
    cli_args_free(&a);

    assert_int_equal(parse(&a, WORDS("-f", "port 5060")), CLI_RUN);
    assert_string_equal(a.ov.bpf, "port 5060");
    assert_null(a.bpf_words);
    cli_args_free(&a);
    /* both: which one was meant? */
    assert_int_equal(parse(&a, WORDS("-f", "port 5060", "udp")), CLI_USAGE_ERROR);
    cli_args_free(&a);
}

static void test_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *option, *value;
        cli_result_t want;
    } cases[] = {
        {"--pps", "1", CLI_RUN},
        {"--pps", "10000000", CLI_RUN},
        {"--pps", "0", CLI_USAGE_ERROR},
        {"--pps", "10000001", CLI_USAGE_ERROR},
        {"--pps", "-5", CLI_USAGE_ERROR},
        {"--pps", "12x", CLI_USAGE_ERROR},
        {"--pps", "", CLI_USAGE_ERROR},
        {"-s", "64", CLI_RUN},
        {"-s", "63", CLI_USAGE_ERROR},
        {"-s", "262144", CLI_RUN},
        {"-s", "262145", CLI_USAGE_ERROR},
        {"--capture-id", "4294967295", CLI_RUN},
        {"--capture-id", "4294967296", CLI_USAGE_ERROR},
        {"--count", "0", CLI_USAGE_ERROR},
        {"--stats-interval", "86400", CLI_RUN},
        {"--stats-interval", "86401", CLI_USAGE_ERROR},
        {"--metrics", "127.0.0.1:9096", CLI_RUN},
        {"--metrics", "127.0.0.1:99999", CLI_USAGE_ERROR},
        {"--tls-keylog-listen", "udp://127.0.0.1:5099", CLI_RUN},
        {"--tls-keylog-listen", "tcp://127.0.0.1:5099", CLI_USAGE_ERROR},
    };
    for (size_t i = 0; i < HA_ARRAY_LEN(cases); i++) {
        cli_args_t a;
        cli_result_t r = parse(&a, WORDS(cases[i].option, cases[i].value));
        if (r != cases[i].want)
            fail_msg("%s %s: %d, expected %d", cases[i].option, cases[i].value, r, cases[i].want);
        cli_args_free(&a);
    }
    cli_args_t a;
    assert_int_equal(parse(&a, WORDS("-s", "1500", "--capture-id", "7", "--pps", "250")), CLI_RUN);
    assert_int_equal(a.ov.snaplen, 1500);
    assert_int_equal(a.ov.capture_id, 7);
    assert_true(a.ov.has_capture_id);
    assert_int_equal(a.pps, 250);
    cli_args_free(&a);
}

static void test_conflicts_and_console(void **state)
{
    (void)state;
    cli_args_t a;
    assert_int_equal(parse(&a, WORDS("--pps", "100", "--realtime")), CLI_USAGE_ERROR);
    cli_args_free(&a);
    assert_int_equal(parse(&a, WORDS("--no-such-option")), CLI_USAGE_ERROR);
    cli_args_free(&a);
    assert_int_equal(parse(&a, WORDS("-c")), CLI_USAGE_ERROR); /* needs an argument */
    cli_args_free(&a);

    /* -A alone is a console tool: an empty collector list, not the config's */
    assert_int_equal(parse(&a, WORDS("-A", "-i", "lo")), CLI_RUN);
    assert_true(a.trace);
    assert_non_null(a.ov.collectors);
    assert_null(a.ov.collectors[0]);
    cli_args_free(&a);
    /* with a config, the config's collectors stay */
    assert_int_equal(parse(&a, WORDS("-A", "-c", "x.json")), CLI_RUN);
    assert_null(a.ov.collectors);
    cli_args_free(&a);

    assert_int_equal(parse(&a, WORDS("--tls-keylog", "a.keys", "--tls-keylog", "b.keys")), CLI_RUN);
    assert_int_equal(a.tls.keylog_file_count, 2);
    assert_string_equal(a.tls.keylog_files[1], "b.keys");
    cli_args_free(&a);
    assert_int_equal(
        parse(&a, WORDS("--listen", "udp://127.0.0.1:9060", "--listen", "tcp://127.0.0.1:9061")),
        CLI_RUN);
    assert_string_equal(a.listen[1], "tcp://127.0.0.1:9061");
    assert_null(a.listen[2]);
    cli_args_free(&a);
}

static void test_done(void **state)
{
    (void)state;
    cli_args_t a;
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    cli_result_t version = parse(&a, WORDS("-V"));
    cli_args_free(&a);
    cli_result_t reference = parse(&a, WORDS("--reference", "options"));
    cli_args_free(&a);
    cli_result_t unknown = parse(&a, WORDS("--reference", "man9"));
    cli_args_free(&a);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(version, CLI_DONE);
    assert_int_equal(reference, CLI_DONE);
    assert_int_equal(unknown, CLI_USAGE_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_and_filter),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_conflicts_and_console),
        cmocka_unit_test(test_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
