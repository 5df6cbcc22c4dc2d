/* mem: allocation that aborts on out-of-memory, and the byte buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifeboat/util.h"

/* The one place library code may print: the process is about to die. */
static void oom(size_t n)
{
    fprintf(stderr, "lifeboat: out of memory (%zu bytes)\n", n);
    abort();
}

void *lb_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *lb_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}

void *lb_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

char *lb_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return lb_xstrndup(s, strlen(s));
}

char *lb_xstrndup(const char *s, size_t n)
{
    char *p;
    size_t len = 0;

    if (s == NULL)
        return NULL;
    while (len < n && s[len] != '\0')
        len++;
    p = lb_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *lb_xasprintf(const char *fmt, ...)
{
    struct lb_buf b = {0};
    va_list ap;

    va_start(ap, fmt);
    lb_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return lb_buf_steal(&b);
}

void lb_buf_init(struct lb_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void lb_buf_free(struct lb_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    lb_buf_init(b);
}

void lb_buf_reset(struct lb_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static void buf_reserve(struct lb_buf *b, size_t n)
{
    size_t need = b->len + n + 1;
    size_t cap;

    if (need < b->len)
        oom(SIZE_MAX);
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    b->data = lb_xrealloc(b->data, cap);
    b->cap = cap;
}

void lb_buf_add(struct lb_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lb_buf_adds(struct lb_buf *b, const char *s)
{
    lb_buf_add(b, s, strlen(s));
}

void lb_buf_addc(struct lb_buf *b, char c)
{
    lb_buf_add(b, &c, 1);
}

void lb_buf_printf(struct lb_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lb_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void lb_buf_vprintf(struct lb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    buf_reserve(b, 64);
    va_copy(ap2, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

char *lb_buf_steal(struct lb_buf *b)
{
    char *p;

    buf_reserve(b, 0);
    b->data[b->len] = '\0';
    p = b->data;
    lb_buf_init(b);
    return p;
}

void lb_buf_keep_tail(struct lb_buf *b, size_t n)
{
    if (b->len <= n)
        return;
    memmove(b->data, b->data + (b->len - n), n);
    b->len = n;
    b->data[n] = '\0';
}

void lb_buf_add_sh_word(struct lb_buf *b, const char *s)
{
    lb_buf_addc(b, '\'');
    for (; *s != '\0'; s++) {
        if (*s == '\'')
            lb_buf_adds(b, "'\\''");
        else
            lb_buf_addc(b, *s);
    }
    lb_buf_addc(b, '\'');
}

void lb_buf_add_conf_string(struct lb_buf *b, const char *s)
{
    lb_buf_addc(b, '\'');
    for (; *s != '\0'; s++) {
        if (*s == '\'' || *s == '\\')
            lb_buf_addc(b, *s);
        lb_buf_addc(b, *s);
    }
    lb_buf_addc(b, '\'');
}
