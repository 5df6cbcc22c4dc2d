/* Unit tests of util: errors, buffers, durations, clocks, interrupts,
 * redaction, SHA-256, strings and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "lifeboat/util.h"

/* ---- errors ---------------------------------------------------------- */

static void test_util_err_set_formats_the_message_and_returns_the_code(void **state)
{
    struct lb_err err = {0};

    (void)state;
    memcpy(err.sqlstate, "42P01", 6);
    assert_int_equal(lb_err_set(&err, LB_EIO, "open %s: %d", "x.db", 2), LB_EIO);
    assert_int_equal(err.code, LB_EIO);
    assert_string_equal(err.msg, "open x.db: 2");
    assert_string_equal(err.sqlstate, "");
}

static void test_util_err_prefix_prepends_what_failed(void **state)
{
    struct lb_err err = {0};

    (void)state;
    lb_err_set(&err, LB_EDB, "relation does not exist");
    assert_int_equal(lb_err_prefix(&err, "step %d", 3), LB_EDB);
    assert_string_equal(err.msg, "step 3: relation does not exist");
}

static void test_util_err_prefix_truncates_instead_of_overflowing(void **state)
{
    struct lb_err err = {0};
    char big[2000];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lb_err_set(&err, LB_EIO, "%s", big);
    lb_err_prefix(&err, "prefix");
    assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
    assert_memory_equal(err.msg, "prefix: xxx", 11);
}

static void test_util_err_clear_resets_everything(void **state)
{
    struct lb_err err = {0};

    (void)state;
    lb_err_set(&err, LB_EIO, "boom");
    lb_err_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.msg, "");
}

static void test_util_rc_names_and_exit_codes_are_stable(void **state)
{
    (void)state;
    assert_string_equal(lb_rc_name(LB_ETIMEOUT), "timeout");
    assert_string_equal(lb_rc_name(LB_ESAFETY), "safety");
    assert_string_equal(lb_rc_name(LB_OK), "ok");
    assert_int_equal(lb_rc_exit_code(LB_OK), 0);
    assert_int_equal(lb_rc_exit_code(LB_EINVAL), 2);
    assert_int_equal(lb_rc_exit_code(LB_ESAFETY), 3);
    assert_int_equal(lb_rc_exit_code(LB_EABORT), 4);
    assert_int_equal(lb_rc_exit_code(LB_EINTR), 130);
    assert_int_equal(lb_rc_exit_code(LB_EDB), 1);
}

/* ---- memory and buffers ---------------------------------------------- */

static void test_util_xasprintf_and_strndup_copy_text(void **state)
{
    char *a = lb_xasprintf("%s-%d", "run", 42);
    char *b = lb_xstrndup("abcdef", 3);

    (void)state;
    assert_string_equal(a, "run-42");
    assert_string_equal(b, "abc");
    assert_null(lb_xstrdup(NULL));
    free(a);
    free(b);
}

static void test_util_buf_grows_and_steals(void **state)
{
    struct lb_buf b = {0};
    char *s;
    int i;

    (void)state;
    for (i = 0; i < 1000; i++)
        lb_buf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[b.len], '\0');
    lb_buf_addc(&b, '!');
    lb_buf_adds(&b, "end");
    assert_string_equal(b.data + 1996, "8,9,!end");
    s = lb_buf_steal(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(strlen(s), 2004);
    free(s);
    s = lb_buf_steal(&b);
    assert_string_equal(s, "");
    free(s);
}

static void test_util_buf_keep_tail_keeps_the_last_bytes(void **state)
{
    struct lb_buf b = {0};

    (void)state;
    lb_buf_adds(&b, "0123456789");
    lb_buf_keep_tail(&b, 4);
    assert_string_equal(b.data, "6789");
    lb_buf_keep_tail(&b, 10);
    assert_string_equal(b.data, "6789");
    lb_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    lb_buf_free(&b);
}

/* ---- durations ------------------------------------------------------- */

static int64_t parse_ok(const char *text)
{
    struct lb_err err = {0};
    int64_t ms = -1;

    assert_int_equal(lb_duration_parse(text, &ms, &err), 0);
    return ms;
}

static void test_util_duration_parse_accepts_every_unit(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("250ms"), 250);
    assert_int_equal(parse_ok("90s"), 90000);
    assert_int_equal(parse_ok("10m"), 600000);
    assert_int_equal(parse_ok("2h"), 7200000);
    assert_int_equal(parse_ok("1d"), 86400000);
}

static void test_util_duration_parse_accepts_combinations_and_bare_seconds(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1h30m"), 5400000);
    assert_int_equal(parse_ok("1m30s500ms"), 90500);
    assert_int_equal(parse_ok("45"), 45000);
    assert_int_equal(parse_ok("1.5"), 1500);
    assert_int_equal(parse_ok("1.5h"), 5400000);
    assert_int_equal(parse_ok(" 26h "), 26 * 3600000);
    assert_int_equal(parse_ok("0"), 0);
}

static void test_util_duration_parse_rejects_bad_text_quoting_it(void **state)
{
    static const char *const bad[] = {"", "   ", "-5s", "abc", "s", "ms", "10x", "1h30",
                                      "1..5s", "5 s", "+3s", "99999999999999999999",
                                      "200000000000000d", NULL};
    struct lb_err err = {0};
    int64_t ms = 0;
    char quoted[64];
    int i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        lb_err_clear(&err);
        assert_int_equal(lb_duration_parse(bad[i], &ms, &err), LB_EINVAL);
        snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
        assert_non_null(strstr(err.msg, quoted));
    }
    lb_duration_parse("10x", &ms, &err);
    assert_string_equal(err.msg, "bad duration \"10x\": unknown unit \"x\" (use ms, s, m, h, d)");
    lb_duration_parse("-5s", &ms, &err);
    assert_non_null(strstr(err.msg, "negative"));
    lb_duration_parse("99999999999999999999", &ms, &err);
    assert_non_null(strstr(err.msg, "too large"));
    lb_duration_parse("h", &ms, &err);
    assert_non_null(strstr(err.msg, "without a number"));
}

static void test_util_duration_format_is_compact(void **state)
{
    char out[32];

    (void)state;
    lb_duration_format(850, out, sizeof(out));
    assert_string_equal(out, "850ms");
    lb_duration_format(12400, out, sizeof(out));
    assert_string_equal(out, "12.4s");
    lb_duration_format(187000, out, sizeof(out));
    assert_string_equal(out, "3m07s");
    lb_duration_format(7500000, out, sizeof(out));
    assert_string_equal(out, "2h05m");
    lb_duration_format(93600000, out, sizeof(out));
    assert_string_equal(out, "1d02h");
    lb_duration_format(-1500, out, sizeof(out));
    assert_string_equal(out, "-1.5s");
    lb_duration_format(0, out, sizeof(out));
    assert_string_equal(out, "0ms");
}

/* ---- clocks ---------------------------------------------------------- */

static void test_util_wall_format_is_iso8601_utc_with_millis(void **state)
{
    char out[40];

    (void)state;
    lb_wall_format(1795705056123LL, out, sizeof(out));
    assert_string_equal(out, "2026-11-26T14:57:36.123Z");
    lb_wall_format(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    lb_wall_format(-500, out, sizeof(out));
    assert_string_equal(out, "1969-12-31T23:59:59.500Z");
}

static void test_util_wall_parse_inverts_format_and_accepts_variants(void **state)
{
    int64_t ms = 0;
    char out[40];
    int64_t now = lb_wall_ms();

    (void)state;
    assert_int_equal(lb_wall_parse("2026-11-26T14:57:36.123Z", &ms), 0);
    assert_int_equal(ms, 1795705056123LL);
    assert_int_equal(lb_wall_parse("2024-02-29 23:59:59", &ms), 0);
    assert_int_equal(ms, 1709251199000LL);
    assert_int_equal(lb_wall_parse("2024-02-29T23:59:59Z", &ms), 0);
    assert_int_equal(ms, 1709251199000LL);
    assert_int_equal(lb_wall_parse("2026-11-26T14:57:36.1", &ms), 0);
    assert_int_equal(ms, 1795705056100LL);
    lb_wall_format(now, out, sizeof(out));
    assert_int_equal(lb_wall_parse(out, &ms), 0);
    assert_int_equal(ms, now);
}

static void test_util_wall_parse_rejects_impossible_dates(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_int_equal(lb_wall_parse("2023-02-29T00:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(lb_wall_parse("2026-13-01T00:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(lb_wall_parse("2026-11-26T24:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(lb_wall_parse("2026-11-26", &ms), LB_EINVAL);
    assert_int_equal(lb_wall_parse("yesterday", &ms), LB_EINVAL);
    assert_int_equal(lb_wall_parse("2026-11-26T14:57:36Zjunk", &ms), LB_EINVAL);
}

static void test_util_monotonic_clock_and_deadlines_move_forward(void **state)
{
    int64_t t0 = lb_mono_ms();
    int64_t t1;

    (void)state;
    lb_sleep_ms(30);
    t1 = lb_mono_ms();
    assert_true(t1 - t0 >= 30);
    assert_int_equal(lb_deadline_left(t1 - 1), 0);
    assert_true(lb_deadline_left(t1 + 10000) > 9000);
    assert_true(lb_deadline_left(LB_NO_DEADLINE) > (int64_t)1 << 60);
}

/* ---- interrupts ------------------------------------------------------ */

static void test_util_interrupt_counts_signals_without_dying(void **state)
{
    (void)state;
    lb_interrupt_install();
    lb_interrupt_reset();
    assert_int_equal(lb_interrupted(), 0);
    raise(SIGINT);
    assert_int_equal(lb_interrupted(), 1);
    raise(SIGTERM);
    assert_int_equal(lb_interrupted(), 2);
    lb_interrupt_reset();
    assert_int_equal(lb_interrupted(), 0);
    lb_interrupt_raise();
    assert_int_equal(lb_interrupted(), 1);
    lb_interrupt_reset();
}

static void test_util_interrupt_acknowledge_forgets_handled_signals(void **state)
{
    (void)state;
    lb_interrupt_reset();
    lb_interrupt_raise();
    lb_interrupt_raise();
    assert_int_equal(lb_interrupted(), 2);
    lb_interrupt_acknowledge();
    assert_int_equal(lb_interrupted(), 0);
    lb_interrupt_raise();
    assert_int_equal(lb_interrupted(), 1);
    lb_interrupt_reset();
    assert_int_equal(lb_interrupted(), 0);
}

/* Send SIGINT to the main thread after 100 ms. */
static void *interrupt_main_later(void *arg)
{
    usleep(100000);
    pthread_kill(*(pthread_t *)arg, SIGINT);
    return NULL;
}

static void test_util_sleep_returns_early_on_an_interrupt(void **state)
{
    pthread_t self = pthread_self();
    pthread_t helper;
    int64_t t0;

    (void)state;
    lb_interrupt_install();
    lb_interrupt_reset();
    t0 = lb_mono_ms();
    assert_int_equal(pthread_create(&helper, NULL, interrupt_main_later, &self), 0);
    lb_sleep_ms(5000);
    assert_true(lb_mono_ms() - t0 < 3000);
    assert_int_equal(lb_interrupted(), 1);
    pthread_join(helper, NULL);
    lb_interrupt_reset();
}

/* ---- redaction ------------------------------------------------------- */

static void assert_redacts(const struct lb_secrets *s, const char *in, const char *want)
{
    char *got = lb_redact_text(s, in);

    assert_string_equal(got, want);
    free(got);
}

static void test_util_redact_replaces_every_registered_secret(void **state)
{
    struct lb_secrets *s = lb_secrets_new();

    (void)state;
    lb_secrets_add(s, "hunter2hunter2");
    lb_secrets_add(s, "hunter2");
    lb_secrets_add(s, "abc"); /* too short: ignored */
    lb_secrets_add(s, "hunter2");
    assert_int_equal(lb_secrets_count(s), 2);
    assert_redacts(s, "login hunter2hunter2 then hunter2 and abc",
                   "login **** then **** and abc");
    assert_redacts(s, "hunter2", "****");
    lb_secrets_free(s);
}

static void test_util_redact_masks_conninfo_passwords(void **state)
{
    (void)state;
    assert_redacts(NULL, "host=db password=s3cret user=app", "host=db password=**** user=app");
    assert_redacts(NULL, "host=db password = 'a b\\' c' user=app",
                   "host=db password = '****' user=app");
    assert_redacts(NULL, "PASSWORD=Xyz", "PASSWORD=****");
    assert_redacts(NULL, "PGPASSWORD=topsecret pg_dump -h db", "PGPASSWORD=**** pg_dump -h db");
    assert_redacts(NULL, "export DB_PASSWORD=\"q w\"", "export DB_PASSWORD=\"****\"");
}

static void test_util_redact_masks_uri_userinfo_passwords(void **state)
{
    (void)state;
    assert_redacts(NULL, "connect postgresql://app:s3cret@db.example:5432/prod failed",
                   "connect postgresql://app:****@db.example:5432/prod failed");
    assert_redacts(NULL, "https://user:p%40ss@hooks.example/x", "https://user:****@hooks.example/x");
    assert_redacts(NULL, "postgres://app@db/prod", "postgres://app@db/prod");
}

static void test_util_redact_masks_query_passwords_and_tokens(void **state)
{
    (void)state;
    assert_redacts(NULL, "postgresql://db/prod?sslmode=require&password=pw&user=a",
                   "postgresql://db/prod?sslmode=require&password=****&user=a");
    assert_redacts(NULL, "postgresql://db/prod?password=pw",
                   "postgresql://db/prod?password=****");
    assert_redacts(NULL, "https://s3/b/k?X-Amz-Security-Token=FQoGZX&X-Amz-Date=1",
                   "https://s3/b/k?X-Amz-Security-Token=****&X-Amz-Date=1");
}

static void test_util_redact_masks_authorization_headers_and_bearer_tokens(void **state)
{
    (void)state;
    assert_redacts(NULL, "> Authorization: Basic dXNlcjpwYXNz\r\n> Accept: */*",
                   "> Authorization: ****\r\n> Accept: */*");
    assert_redacts(NULL, "authorization:Bearer abc\nnext", "authorization:****\nnext");
    assert_redacts(NULL, "X-Amz-Security-Token: IQoJb3JpZ2lu\n", "X-Amz-Security-Token: ****\n");
    assert_redacts(NULL, "curl -H 'token is Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'",
                   "curl -H 'token is Bearer ****'");
    assert_redacts(NULL, "{\"password\": \"pw\\\"x\", \"user\": \"a\"}",
                   "{\"password\": \"****\", \"user\": \"a\"}");
}

static void test_util_redact_of_empty_text_with_secrets_is_empty(void **state)
{
    struct lb_secrets *sec = lb_secrets_new();
    (void)state;
    lb_secrets_add(sec, "hunter2secret");
    char *out = lb_redact_text(sec, "");
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);
    lb_secrets_free(sec);
}

static void test_util_redact_leaves_ordinary_text_unchanged(void **state)
{
    static const char *const plain[] = {
        "The password was rotated at 10:30; see https://wiki.example/dr#passwords.",
        "restored 4096 rows into inventory in 1m07s (host=db port=5432 user=app)",
        "mailto user@example.com or http://[::1]:8080/health?check=1&verbose=true",
        "the Bearer of bad news: tokens: 5, authorization pending",
        "",
        NULL,
    };
    int i;

    (void)state;
    for (i = 0; plain[i] != NULL; i++)
        assert_redacts(NULL, plain[i], plain[i]);
    assert_null(lb_redact_text(NULL, NULL));
}

/* ---- SHA-256 and randomness ------------------------------------------ */

static void test_util_sha256_matches_the_nist_vectors(void **state)
{
    char hex[65];
    struct lb_sha256 h;
    uint8_t digest[32];
    char chunk[1000];
    int i;

    (void)state;
    lb_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    lb_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    lb_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(chunk, 'a', sizeof(chunk));
    lb_sha256_init(&h);
    for (i = 0; i < 1000; i++)
        lb_sha256_update(&h, chunk, sizeof(chunk));
    lb_sha256_final(&h, digest);
    lb_hex_encode(digest, sizeof(digest), hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_util_sha256_is_the_same_fed_byte_by_byte(void **state)
{
    char x[64];
    char one[65], bytes[65];
    struct lb_sha256 h;
    uint8_t digest[32];
    size_t i;

    (void)state;
    memset(x, 'x', sizeof(x));
    lb_sha256_hex(x, 55, one);
    assert_string_equal(one, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
    lb_sha256_hex(x, 64, one);
    lb_sha256_init(&h);
    for (i = 0; i < 64; i++)
        lb_sha256_update(&h, x + i, 1);
    lb_sha256_final(&h, digest);
    lb_hex_encode(digest, 32, bytes);
    assert_string_equal(one, bytes);
    assert_string_equal(one, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

static void test_util_random_bytes_differ_between_calls(void **state)
{
    uint8_t a[32] = {0}, b[32] = {0};
    struct lb_err err = {0};

    (void)state;
    assert_int_equal(lb_random_bytes(a, sizeof(a), &err), 0);
    assert_int_equal(lb_random_bytes(b, sizeof(b), &err), 0);
    assert_memory_not_equal(a, b, sizeof(a));
}

/* ---- strings, files and paths ---------------------------------------- */

static void test_util_parse_int64_checks_the_whole_string(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(lb_parse_int64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(lb_parse_int64("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(lb_parse_int64("9223372036854775808", &v), LB_EINVAL);
    assert_int_equal(lb_parse_int64("12abc", &v), LB_EINVAL);
    assert_int_equal(lb_parse_int64("", &v), LB_EINVAL);
    assert_int_equal(lb_parse_int64(" 1", &v), LB_EINVAL);
    assert_int_equal(lb_str_starts("lifeboat", "life"), 1);
    assert_int_equal(lb_str_starts("life", "lifeboat"), 0);
    assert_int_equal(lb_str_ends("report.html", ".html"), 1);
    assert_int_equal(lb_str_ends("html", "report.html"), 0);
}

/* A fresh scratch directory per test. */
static int setup_dir(void **state)
{
    char tmpl[] = "/tmp/lb-test-util-XXXXXX";
    char *d = mkdtemp(tmpl);

    if (d == NULL)
        return -1;
    *state = lb_xstrdup(d);
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char *child;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        child = lb_path_join(path, e->d_name);
        remove_tree(child);
        free(child);
    }
    closedir(d);
    rmdir(path);
}

static int teardown_dir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_util_file_write_is_atomic_and_read_returns_it(void **state)
{
    struct lb_err err = {0};
    char *path = lb_path_join(*state, "report.md");
    char *data = NULL;
    size_t len = 0;
    struct stat st;

    assert_int_equal(lb_file_write(path, "first", 5, &err), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(lb_file_write(path, "second\0x", 8, &err), 0);
    assert_int_equal(lb_file_read(path, &data, &len, &err), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(data, "second\0x", 8);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* No temporary file left behind. */
    assert_int_equal(count_entries(*state), 1);
    assert_true(lb_file_exists(path));
    free(data);
    free(path);
}

static void test_util_file_read_of_a_missing_file_names_it(void **state)
{
    struct lb_err err = {0};
    char *path = lb_path_join(*state, "nope.txt");
    char *data = NULL;

    assert_int_equal(lb_file_read(path, &data, NULL, &err), LB_ENOTFOUND);
    assert_null(data);
    assert_non_null(strstr(err.msg, "nope.txt"));
    assert_false(lb_file_exists(path));
    assert_int_equal(lb_sha256_file_hex(path, (char[65]){0}, &err), LB_EIO);
    free(path);
}

static void test_util_file_write_into_a_missing_directory_fails(void **state)
{
    struct lb_err err = {0};
    char *path = lb_path_join(*state, "no/such/dir/x");

    assert_int_equal(lb_file_write(path, "x", 1, &err), LB_EIO);
    assert_non_null(strstr(err.msg, "no/such/dir/x"));
    free(path);
}

static void test_util_sha256_file_hex_hashes_the_contents(void **state)
{
    struct lb_err err = {0};
    char *path = lb_path_join(*state, "abc");
    char hex[65];

    assert_int_equal(lb_file_write(path, "abc", 3, &err), 0);
    assert_int_equal(lb_sha256_file_hex(path, hex, &err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(path);
}

static void test_util_mkdirs_creates_nested_directories(void **state)
{
    struct lb_err err = {0};
    char *path = lb_path_join(*state, "a/b//c/");
    char *file = lb_path_join(*state, "a/file");
    struct stat st;

    assert_int_equal(lb_mkdirs(path, 0755, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(lb_mkdirs(path, 0755, &err), 0);
    assert_int_equal(lb_file_write(file, "x", 1, &err), 0);
    assert_int_equal(lb_mkdirs(file, 0755, &err), LB_EIO);
    free(path);
    free(file);
}

static void test_util_quoting_for_the_shell_and_postgresql_conf(void **state)
{
    struct lb_buf b = {0};

    (void)state;
    lb_buf_add_sh_word(&b, "it's a $dir");
    assert_string_equal(b.data, "'it'\\''s a $dir'");
    lb_buf_reset(&b);
    lb_buf_add_conf_string(&b, "cp '%p' C:\\x");
    assert_string_equal(b.data, "'cp ''%p'' C:\\\\x'");
    lb_buf_free(&b);
}

static void test_util_paths_are_joined_normalised_and_split(void **state)
{
    char *s;
    char cwd[4096];

    (void)state;
    s = lb_path_abs("/a/./b//c/../d/");
    assert_string_equal(s, "/a/b/d");
    free(s);
    s = lb_path_abs("/..");
    assert_string_equal(s, "/");
    free(s);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    s = lb_path_abs("x/y");
    assert_true(lb_str_starts(s, cwd));
    assert_true(lb_str_ends(s, "/x/y"));
    free(s);
    s = lb_path_join("/srv/", "/data");
    assert_string_equal(s, "/srv/data");
    free(s);
    s = lb_path_join("/", "etc");
    assert_string_equal(s, "/etc");
    free(s);
    s = lb_path_dir("/var/lib/x.db");
    assert_string_equal(s, "/var/lib");
    free(s);
    s = lb_path_dir("x.db");
    assert_string_equal(s, ".");
    free(s);
    s = lb_path_dir("/x");
    assert_string_equal(s, "/");
    free(s);
    s = lb_path_dir("a/b/");
    assert_string_equal(s, "a");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_err_set_formats_the_message_and_returns_the_code),
        cmocka_unit_test(test_util_err_prefix_prepends_what_failed),
        cmocka_unit_test(test_util_err_prefix_truncates_instead_of_overflowing),
        cmocka_unit_test(test_util_err_clear_resets_everything),
        cmocka_unit_test(test_util_rc_names_and_exit_codes_are_stable),
        cmocka_unit_test(test_util_xasprintf_and_strndup_copy_text),
        cmocka_unit_test(test_util_buf_grows_and_steals),
        cmocka_unit_test(test_util_buf_keep_tail_keeps_the_last_bytes),
        cmocka_unit_test(test_util_duration_parse_accepts_every_unit),
        cmocka_unit_test(test_util_duration_parse_accepts_combinations_and_bare_seconds),
        cmocka_unit_test(test_util_duration_parse_rejects_bad_text_quoting_it),
        cmocka_unit_test(test_util_duration_format_is_compact),
        cmocka_unit_test(test_util_wall_format_is_iso8601_utc_with_millis),
        cmocka_unit_test(test_util_wall_parse_inverts_format_and_accepts_variants),
        cmocka_unit_test(test_util_wall_parse_rejects_impossible_dates),
        cmocka_unit_test(test_util_monotonic_clock_and_deadlines_move_forward),
        cmocka_unit_test(test_util_interrupt_counts_signals_without_dying),
        cmocka_unit_test(test_util_interrupt_acknowledge_forgets_handled_signals),
        cmocka_unit_test(test_util_sleep_returns_early_on_an_interrupt),
        cmocka_unit_test(test_util_redact_replaces_every_registered_secret),
        cmocka_unit_test(test_util_redact_masks_conninfo_passwords),
        cmocka_unit_test(test_util_redact_of_empty_text_with_secrets_is_empty),
        cmocka_unit_test(test_util_redact_masks_uri_userinfo_passwords),
        cmocka_unit_test(test_util_redact_masks_query_passwords_and_tokens),
        cmocka_unit_test(test_util_redact_masks_authorization_headers_and_bearer_tokens),
        cmocka_unit_test(test_util_redact_leaves_ordinary_text_unchanged),
        cmocka_unit_test(test_util_sha256_matches_the_nist_vectors),
        cmocka_unit_test(test_util_sha256_is_the_same_fed_byte_by_byte),
        cmocka_unit_test(test_util_random_bytes_differ_between_calls),
        cmocka_unit_test(test_util_parse_int64_checks_the_whole_string),
        cmocka_unit_test_setup_teardown(test_util_file_write_is_atomic_and_read_returns_it,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_util_file_read_of_a_missing_file_names_it,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_util_file_write_into_a_missing_directory_fails,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_util_sha256_file_hex_hashes_the_contents,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_util_mkdirs_creates_nested_directories,
                                        setup_dir, teardown_dir),
        cmocka_unit_test(test_util_paths_are_joined_normalised_and_split),
        cmocka_unit_test(test_util_quoting_for_the_shell_and_postgresql_conf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
