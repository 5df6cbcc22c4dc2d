/*
 * util: the pieces every other module stands on. Error reporting
 * (struct lb_err), a growable byte buffer, durations, clocks, the process-wide
 * interrupt flag, secret redaction, hex/SHA-256 and small string helpers.
 *
 * Depends on libc only. Nothing here prints or exits.
 */
#ifndef LIFEBOAT_UTIL_H
#define LIFEBOAT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---------------------------------------------------------- */

/*
 * Return codes. Functions return 0 on success or one of these (negative).
 * The CLI maps them to exit codes; see lb_rc_exit_code().
 */
enum lb_rc {
    LB_OK = 0,
    LB_EINVAL = -1,     /* bad input: usage, scenario, environment (exit 2) */
    LB_EIO = -2,        /* file or OS failure */
    LB_EDB = -3,        /* database error (SQLSTATE in err->sqlstate) */
    LB_ETIMEOUT = -4,   /* a deadline passed */
    LB_EINTR = -5,      /* interrupted by SIGINT/SIGTERM */
    LB_ESAFETY = -6,    /* refused by a safety guard (exit 3) */
    LB_ENOMEM = -7,
    LB_EPROC = -8,      /* a child process failed */
    LB_EHALT = -9,      /* halt switch is on */
    LB_ESTATE = -10,    /* operation not valid now (closed handle, ...) */
    LB_ENOTFOUND = -11,
    LB_EABORT = -12,    /* blast radius / stop condition: drill aborted */
};

/* Caller-owned error detail. Zero-initialise; lb_err_set overwrites. */
struct lb_err {
    int code;              /* enum lb_rc */
    char sqlstate[6];      /* "" unless a database error */
    char msg[1024];
};

/* Record an error and return code (so callers can `return lb_err_set(...)`). */
int lb_err_set(struct lb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "what: ". Returns err->code. */
int lb_err_prefix(struct lb_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lb_err_clear(struct lb_err *err);
/* Short stable name of a code: "timeout", "safety", ... */
const char *lb_rc_name(int code);
/* CLI exit code for a return code when nothing more specific is known:
 * 0 → 0, LB_EINVAL → 2, LB_ESAFETY → 3, LB_EHALT/LB_EABORT → 4,
 * LB_EINTR → 130, anything else → 1. */
int lb_rc_exit_code(int code);

/* Exit codes of the CLI, as DESIGN defines them. */
enum lb_exit {
    LB_EXIT_PASSED = 0,
    LB_EXIT_GAPS = 1,
    LB_EXIT_USAGE = 2,
    LB_EXIT_SAFETY = 3,
    LB_EXIT_ABORTED = 4,
    LB_EXIT_ROLLBACK = 5,
    LB_EXIT_INTERRUPTED = 130,
};

/* ---- memory ---------------------------------------------------------- */

/* Allocation that aborts on out-of-memory: failures here are not recoverable
 * in a drill orchestrator and every caller checking them adds noise. */
void *lb_xmalloc(size_t n);
void *lb_xcalloc(size_t n, size_t size);
void *lb_xrealloc(void *p, size_t n);
char *lb_xstrdup(const char *s);          /* NULL in, NULL out */
char *lb_xstrndup(const char *s, size_t n);
/* malloc'ed printf. Caller frees. */
char *lb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- buffer ---------------------------------------------------------- */

/* Growable NUL-terminated byte buffer. Zero-initialised is empty and valid. */
struct lb_buf {
    char *data;
    size_t len;
    size_t cap;
};

void lb_buf_init(struct lb_buf *b);
void lb_buf_free(struct lb_buf *b);
void lb_buf_reset(struct lb_buf *b);
void lb_buf_add(struct lb_buf *b, const void *p, size_t n);
void lb_buf_adds(struct lb_buf *b, const char *s);
void lb_buf_addc(struct lb_buf *b, char c);
/* A word for /bin/sh: single-quoted, embedded quotes closed and escaped. */
void lb_buf_add_sh_word(struct lb_buf *b, const char *s);
/* A string value for postgresql.conf: 'quoted', quotes doubled,
 * backslashes escaped. */
void lb_buf_add_conf_string(struct lb_buf *b, const char *s);
void lb_buf_printf(struct lb_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lb_buf_vprintf(struct lb_buf *b, const char *fmt, va_list ap);
/* Detach the contents (never NULL). Caller frees; the buffer is empty after. */
char *lb_buf_steal(struct lb_buf *b);
/* Keep only the last n bytes. */
void lb_buf_keep_tail(struct lb_buf *b, size_t n);

/* ---- durations and time ---------------------------------------------- */

/*
 * Parse "250ms", "90s", "10m", "2h", "1d", a combination ("1h30m"), or a bare
 * number of seconds ("45", "1.5"). Result in milliseconds. Returns 0 or
 * LB_EINVAL with a message naming the bad text.
 */
int lb_duration_parse(const char *text, int64_t *out_ms, struct lb_err *err);
/* Format milliseconds compactly: "850ms", "12.4s", "3m07s", "2h05m", "1d02h". */
void lb_duration_format(int64_t ms, char *out, size_t outsz);

/* Monotonic clock, milliseconds (for durations and deadlines). */
int64_t lb_mono_ms(void);
/* Wall clock, UTC milliseconds since the epoch (for display and the store). */
int64_t lb_wall_ms(void);
/* "2026-11-26T14:57:36.123Z" */
void lb_wall_format(int64_t wall_ms, char *out, size_t outsz);
/* Parse the format above (or without millis / without Z). LB_EINVAL if bad. */
int lb_wall_parse(const char *text, int64_t *out_ms);

/* Sentinel for "no deadline". */
#define LB_NO_DEADLINE INT64_MAX
/* Milliseconds left before a monotonic deadline (0 if passed). */
int64_t lb_deadline_left(int64_t deadline_mono_ms);
/* Sleep; returns early when an interrupt (lb_interrupted) arrives. */
void lb_sleep_ms(int64_t ms);

/* ---- interrupts ------------------------------------------------------ */

/*
 * SIGINT/SIGTERM handling. This is process-wide by nature (a signal handler
 * can reach nothing else), so it is the one piece of global state lifeboat
 * keeps. lb_interrupt_install sets the handlers; lb_interrupted() returns the
 * number of signals received and not yet acknowledged. The first signal
 * stops the step; the runner acknowledges it and runs the rollbacks, which
 * every wait lets finish unless a second signal arrives (force).
 */
void lb_interrupt_install(void);
int lb_interrupted(void);
/* Mark every signal so far as handled: lb_interrupted() reads 0 again. */
void lb_interrupt_acknowledge(void);
/* For tests and for re-arming after a handled interrupt. */
void lb_interrupt_reset(void);
/* Raise the count as a signal would (used by tests). */
void lb_interrupt_raise(void);

/* ---- redaction ------------------------------------------------------- */

/*
 * A set of secret values. Anything lifeboat loads that is a secret (passwords,
 * tokens, webhook URLs) is registered here, and every text that leaves the
 * process (store, reports, logs) is passed through lb_redact_text. Owned by
 * the run; never global.
 */
struct lb_secrets;

struct lb_secrets *lb_secrets_new(void);
void lb_secrets_free(struct lb_secrets *s);
/* Copies the value. Values shorter than 4 bytes are ignored (they would
 * mangle ordinary text and protect nothing). */
void lb_secrets_add(struct lb_secrets *s, const char *value);
size_t lb_secrets_count(const struct lb_secrets *s);
/*
 * Return a copy of text with every registered secret replaced by "****",
 * and generic patterns masked too: "password=..." / "PGPASSWORD=...",
 * URI userinfo passwords ("postgres://u:pw@h"), "?password=...",
 * "Authorization: ..." headers. s may be NULL (patterns only). Caller frees.
 * Also masked: values of keys ending in password/passwd/secret/token/api_key/
 * signature ("key=value", "key = 'quoted'", JSON "key": "value"), the
 * Proxy-Authorization, X-Amz-Security-Token, X-Api-Key and Cookie headers,
 * and "Bearer <token>". NULL text gives NULL.
 */
char *lb_redact_text(const struct lb_secrets *s, const char *text);

/* ---- hashing and encoding -------------------------------------------- */

struct lb_sha256 {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
};
void lb_sha256_init(struct lb_sha256 *h);
void lb_sha256_update(struct lb_sha256 *h, const void *data, size_t n);
void lb_sha256_final(struct lb_sha256 *h, uint8_t out[32]);
/* Hex digest of a buffer into out (65 bytes). */
void lb_sha256_hex(const void *data, size_t n, char out[65]);
/* Hex digest of a file; LB_EIO if unreadable. */
int lb_sha256_file_hex(const char *path, char out[65], struct lb_err *err);
void lb_hex_encode(const uint8_t *in, size_t n, char *out /* 2n+1 */);
/* Fill with n random bytes from the OS. */
int lb_random_bytes(void *out, size_t n, struct lb_err *err);

/* ---- strings and files ----------------------------------------------- */

/* Checked strtoll of the whole string. */
int lb_parse_int64(const char *s, int64_t *out);
int lb_str_starts(const char *s, const char *prefix);
/* The last non-empty line of a tool's output, without its line end ("" for
 * NULL or blank text). Caller frees. */
char *lb_str_last_line(const char *text);
int lb_str_ends(const char *s, const char *suffix);
/* Read a whole file. Caller frees *out. */
int lb_file_read(const char *path, char **out, size_t *len, struct lb_err *err);
/* Write atomically: temp file in the same directory, fsync, rename. A new
 * file gets mode 0644; an existing file keeps its mode. */
int lb_file_write(const char *path, const void *data, size_t len, struct lb_err *err);
int lb_file_exists(const char *path);
/* mkdir -p. */
int lb_mkdirs(const char *path, unsigned mode, struct lb_err *err);
/* rm -r. A missing path is not an error; directories closed to their
 * owner (a fenced data directory, mode 000) are opened on the way. */
int lb_rmtree(const char *path, struct lb_err *err);
/* Up to n-1 bytes of a small file (a pid file, a marker), NUL-ended; ""
 * when it cannot be read. */
void lb_file_read_small(const char *path, char *out, size_t n);
/* Absolute, normalised path (no symlink resolution needed). Caller frees. */
char *lb_path_abs(const char *path);
/* Join two path parts with one slash. Caller frees. */
char *lb_path_join(const char *a, const char *b);
/* Directory part of a path ("." if none). Caller frees. */
char *lb_path_dir(const char *path);

#endif
