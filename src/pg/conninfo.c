/* conninfo: parse, redact and rewrite connection strings with PQconninfoParse. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lifeboat/pg.h"

/* Append one keyword=value, single-quoted when libpq needs it. */
static void add_option(struct lb_buf *b, const char *keyword, const char *value)
{
    const char *p;
    int plain = *value != '\0';

    for (p = value; *p != '\0' && plain; p++)
        plain = *p != '\'' && *p != '\\' && *p != ' ' && *p != '\t' && *p != '\n' &&
                *p != '\r' && *p != '\f' && *p != '\v' && *p != '=';
    if (b->len > 0)
        lb_buf_addc(b, ' ');
    lb_buf_adds(b, keyword);
    lb_buf_addc(b, '=');
    if (plain) {
        lb_buf_adds(b, value);
        return;
    }
    lb_buf_addc(b, '\'');
    for (p = value; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            lb_buf_addc(b, '\\');
        lb_buf_addc(b, *p);
    }
    lb_buf_addc(b, '\'');
}

/* Parse; NULL if libpq rejects the text. */
static PQconninfoOption *parse(const char *conninfo, char **errmsg)
{
    char *msg = NULL;
    PQconninfoOption *opts;

    if (errmsg != NULL)
        *errmsg = NULL;
    if (conninfo == NULL)
        return NULL;
    opts = PQconninfoParse(conninfo, &msg);
    if (opts == NULL && errmsg != NULL && msg != NULL)
        *errmsg = lb_xstrdup(msg);
    if (msg != NULL)
        PQfreemem(msg);
    return opts;
}

static int is_secret(const PQconninfoOption *o)
{
    return o->dispchar != NULL && strchr(o->dispchar, '*') != NULL;
}

char *lb_pg_conninfo_redact(const char *conninfo)
{
    struct lb_buf b = {0};
    PQconninfoOption *opts = parse(conninfo, NULL);
    PQconninfoOption *o;

    if (opts == NULL)
        return conninfo != NULL ? lb_redact_text(NULL, conninfo) : NULL;
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        add_option(&b, o->keyword, is_secret(o) ? "****" : o->val);
    }
    PQconninfoFree(opts);
    return lb_buf_steal(&b);
}

/* libpq's parse error with quoted fragments (which may be pieces of a
 * password) elided. Caller frees. */
static char *safe_parse_error(const char *msg)
{
    struct lb_buf b = {0};
    const char *p;
    int quoted = 0;

    for (p = msg != NULL ? msg : "invalid connection string"; *p != '\0'; p++) {
        if (*p == '"') {
            if (!quoted)
                lb_buf_adds(&b, "\"...\"");
            quoted = !quoted;
        } else if (!quoted && *p != '\n') {
            lb_buf_addc(&b, *p);
        }
    }
    return lb_buf_steal(&b);
}

int lb_pg_conninfo_split_password(const char *conninfo, char **without, char **password,
                                  struct lb_err *err)
{
    struct lb_buf b = {0};
    PQconninfoOption *opts = NULL;
    PQconninfoOption *o;
    char *msg = NULL;
    int rc = 0;

    *without = NULL;
    *password = NULL;
    opts = parse(conninfo, &msg);
    if (opts == NULL) {
        char *safe = safe_parse_error(msg);
        rc = lb_err_set(err, LB_EINVAL, "bad connection string: %s", safe);
        free(safe);
        goto out;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            free(*password);
            *password = lb_xstrdup(o->val);
            continue;
        }
        add_option(&b, o->keyword, o->val);
    }
    *without = lb_buf_steal(&b);
out:
    lb_buf_free(&b);
    free(msg);
    if (opts != NULL)
        PQconninfoFree(opts);
    return rc;
}

char *lb_pg_conninfo_get(const char *conninfo, const char *keyword)
{
    PQconninfoOption *opts = parse(conninfo, NULL);
    PQconninfoOption *o;
    char *res = NULL;

    if (opts == NULL || keyword == NULL)
        goto out;
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0) {
            res = lb_xstrdup(o->val);
            break;
        }
    }
out:
    if (opts != NULL)
        PQconninfoFree(opts);
    return res;
}

char *lb_pg_conninfo_with(const char *conninfo, const char *keyword, const char *value)
{
    struct lb_buf b = {0};
    PQconninfoOption *opts = parse(conninfo, NULL);
    PQconninfoOption *o;
    int known = 0;

    if (opts == NULL || keyword == NULL)
        goto out;
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0) {
            known = 1;
            if (value != NULL)
                add_option(&b, o->keyword, value);
        } else if (o->val != NULL) {
            add_option(&b, o->keyword, o->val);
        }
    }
out:
    if (opts != NULL)
        PQconninfoFree(opts);
    if (!known) {
        lb_buf_free(&b);
        return NULL;
    }
    return lb_buf_steal(&b);
}
