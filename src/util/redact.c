/* redact: registered secrets and generic credential patterns masked out of text. */
#include <stdlib.h>
#include <string.h>

#include "lifeboat/util.h"

#define MASK "****"

struct lb_secrets {
    char **values; /* longest first, so a secret containing another wins */
    size_t n;
};

struct lb_secrets *lb_secrets_new(void)
{
    return lb_xcalloc(1, sizeof(struct lb_secrets));
}

void lb_secrets_free(struct lb_secrets *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n; i++)
        free(s->values[i]);
    free(s->values);
    free(s);
}

void lb_secrets_add(struct lb_secrets *s, const char *value)
{
    size_t len, i, at;

    if (s == NULL || value == NULL)
        return;
    len = strlen(value);
    if (len < 4)
        return;
    for (i = 0; i < s->n; i++) {
        if (strcmp(s->values[i], value) == 0)
            return;
    }
    at = s->n;
    for (i = 0; i < s->n; i++) {
        if (strlen(s->values[i]) < len) {
            at = i;
            break;
        }
    }
    s->values = lb_xrealloc(s->values, (s->n + 1) * sizeof(char *));
    memmove(s->values + at + 1, s->values + at, (s->n - at) * sizeof(char *));
    s->values[at] = lb_xstrdup(value);
    s->n++;
}

size_t lb_secrets_count(const struct lb_secrets *s)
{
    return s == NULL ? 0 : s->n;
}

/* Every occurrence of every registered secret replaced by the mask. */
static void replace_secrets(const struct lb_secrets *s, const char *text, struct lb_buf *out)
{
    const char *p = text;

    while (*p != '\0') {
        size_t i, hit = 0;

        for (i = 0; i < s->n && hit == 0; i++) {
            size_t len = strlen(s->values[i]);
            if (p[0] == s->values[i][0] && strncmp(p, s->values[i], len) == 0)
                hit = len;
        }
        if (hit > 0) {
            lb_buf_adds(out, MASK);
            p += hit;
        } else {
            lb_buf_addc(out, *p++);
        }
    }
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_ident(int c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Case-insensitive: does [s, s+n) equal word? */
static int ieq(const char *s, size_t n, const char *word)
{
    size_t i;

    if (strlen(word) != n)
        return 0;
    for (i = 0; i < n; i++) {
        if (lower((unsigned char)s[i]) != word[i])
            return 0;
    }
    return 1;
}

/* Case-insensitive: does [s, s+n) end with suffix? */
static int iends(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);

    return n >= m && ieq(s + n - m, m, suffix);
}

/* Key names whose value (key=value, "key": "value") is a secret. */
static int secret_key(const char *s, size_t n)
{
    static const char *const suffixes[] = {"password", "passwd", "secret", "token",
                                           "api_key", "apikey", "signature"};
    size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (iends(s, n, suffixes[i]))
            return 1;
    }
    return 0;
}

/* Header names whose whole value, to the end of the line, is a secret. */
static int secret_header(const char *s, size_t n)
{
    return ieq(s, n, "authorization") || ieq(s, n, "proxy-authorization") ||
           ieq(s, n, "x-amz-security-token") || ieq(s, n, "x-api-key") ||
           ieq(s, n, "cookie") || ieq(s, n, "set-cookie");
}

/* End of a quoted value starting at the opening quote q; points past the closing quote. */
static const char *skip_quoted(const char *q)
{
    char quote = *q++;

    while (*q != '\0' && *q != quote) {
        if (*q == '\\' && q[1] != '\0')
            q++;
        q++;
    }
    return *q == quote ? q + 1 : q;
}

/*
 * Mask the value that starts at p (after "key=" and blanks). In a URI query
 * (in_query) the value ends at '&' or '#' too. Returns the position after it.
 */
static const char *mask_value(const char *p, int in_query, struct lb_buf *out)
{
    const char *q = p;

    if (*p == '\'' || *p == '"') {
        q = skip_quoted(p);
        lb_buf_addc(out, *p);
        lb_buf_adds(out, MASK);
        if (q > p + 1 && q[-1] == *p)
            lb_buf_addc(out, *p);
        return q;
    }
    while (*q != '\0' && !is_ws((unsigned char)*q) &&
           !(in_query && (*q == '&' || *q == '#')))
        q++;
    if (q > p)
        lb_buf_adds(out, MASK);
    return q;
}

/*
 * At p, the identifier [p, p+n) has just been read. If it is a secret key or
 * header followed by its separator, write the masked form and return the
 * position after it; else NULL.
 */
static const char *try_key(const char *text, const char *p, size_t n, struct lb_buf *out)
{
    const char *q = p + n;
    char before = p > text ? p[-1] : '\0';

    if (secret_header(p, n) && *q == ':' && (before == '\0' || !is_ident((unsigned char)before))) {
        const char *v = q + 1;
        while (is_blank((unsigned char)*v))
            v++;
        lb_buf_add(out, p, (size_t)(v - p));
        q = v;
        while (*q != '\0' && *q != '\n' && *q != '\r')
            q++;
        if (q > v)
            lb_buf_adds(out, MASK);
        return q;
    }
    if (!secret_key(p, n) && !secret_header(p, n))
        return NULL;
    /* JSON / quoted key: "password": "value" */
    if (before == '"' && *q == '"') {
        const char *v = q + 1;
        while (is_ws((unsigned char)*v))
            v++;
        if (*v != ':')
            return NULL;
        v++;
        while (is_ws((unsigned char)*v))
            v++;
        if (*v != '"')
            return NULL;
        lb_buf_add(out, p, (size_t)(v - p));
        return mask_value(v, 0, out);
    }
    /* key=value (conninfo, environment, URI query), blanks allowed around '=' */
    while (is_blank((unsigned char)*q))
        q++;
    if (*q != '=')
        return NULL;
    q++;
    while (is_blank((unsigned char)*q))
        q++;
    lb_buf_add(out, p, (size_t)(q - p));
    return mask_value(q, before == '?' || before == '&', out);
}

/*
 * At p, "://" follows a scheme. Mask the password of the userinfo, if any,
 * and return the position after the '@'; else NULL.
 */
static const char *try_uri(const char *p, struct lb_buf *out)
{
    const char *auth = p + 3, *end = auth, *at = NULL, *colon = NULL, *q;

    while (*end != '\0' && *end != '/' && *end != '?' && *end != '#' &&
           !is_ws((unsigned char)*end) && *end != '"' && *end != '\'' && *end != '<' &&
           *end != '>')
        end++;
    for (q = auth; q < end; q++) {
        if (*q == '@')
            at = q;
    }
    if (at == NULL)
        return NULL;
    for (q = auth; q < at; q++) {
        if (*q == ':') {
            colon = q;
            break;
        }
    }
    if (colon == NULL || colon + 1 == at)
        return NULL;
    lb_buf_add(out, p, (size_t)(colon + 1 - p));
    lb_buf_adds(out, MASK);
    lb_buf_addc(out, '@');
    return at + 1;
}

/* "Bearer <token68>" with a token of 8+ characters. */
static const char *try_bearer(const char *p, size_t n, struct lb_buf *out)
{
    const char *q = p + n, *t;

    if (n != 6 || strncmp(p, "Bearer", 6) != 0 || !is_blank((unsigned char)*q))
        return NULL;
    while (is_blank((unsigned char)*q))
        q++;
    t = q;
    while (is_alnum((unsigned char)*q) || strchr("-._~+/=", *q) != NULL) {
        if (*q == '\0')
            break;
        q++;
    }
    if (q - t < 8)
        return NULL;
    lb_buf_add(out, p, (size_t)(t - p));
    lb_buf_adds(out, MASK);
    return q;
}

static void mask_patterns(const char *text, struct lb_buf *out)
{
    const char *p = text;

    while (*p != '\0') {
        const char *next = NULL;

        if (is_ident((unsigned char)*p)) {
            size_t n = 0;
            while (is_ident((unsigned char)p[n]))
                n++;
            next = try_bearer(p, n, out);
            if (next == NULL)
                next = try_key(text, p, n, out);
            if (next == NULL) {
                lb_buf_add(out, p, n);
                next = p + n;
            }
        } else if (p[0] == ':' && p[1] == '/' && p[2] == '/' && p > text &&
                   is_alnum((unsigned char)p[-1])) {
            next = try_uri(p, out);
        }
        if (next == NULL) {
            lb_buf_addc(out, *p);
            next = p + 1;
        }
        p = next;
    }
}

char *lb_redact_text(const struct lb_secrets *s, const char *text)
{
    struct lb_buf first = {0};
    struct lb_buf out = {0};

    if (text == NULL)
        return NULL;
    if (s != NULL && s->n > 0) {
        replace_secrets(s, text, &first);
        text = first.data ? first.data : "";
    }
    mask_patterns(text, &out);
    lb_buf_free(&first);
    return lb_buf_steal(&out);
}
