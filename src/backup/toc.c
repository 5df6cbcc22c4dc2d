/*
 * toc: choose the entries of a pg_dump archive's table of contents that
 * bring a set of tables back whole.
 *
 * `pg_restore -l` names every entry by (type, schema, tag) but does not say
 * which table an index, trigger or foreign key belongs to, and its tags are
 * not quoted, so they cannot be split reliably. `pg_restore -s -f -` prints
 * the same entries as blocks headed "-- Name: X; Type: T; Schema: S; Owner:
 * O", each followed by its SQL, and the SQL names the table in properly
 * quoted form. So the schema text is tokenised (strings, dollar quotes and
 * quoted identifiers respected), each block's statement read for its table
 * and, for foreign keys, the referenced table; TOC lines are then matched
 * to blocks by "T S X".
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "lifeboat/backup.h"

/* ---- schema text → blocks of tokens ----------------------------------- */

enum tok_kind { TK_WORD, TK_QIDENT, TK_STRING, TK_NUM, TK_PUNCT };

struct tok {
    enum tok_kind kind;
    char *text; /* WORD: as written; QIDENT: unquoted; PUNCT: the char; else NULL */
};

/* A possibly qualified name; parts are identifier values (unquoted). */
struct qname {
    char *schema;
    char *name;
};

struct block {
    char *desc, *schema, *name;   /* from the header */
    struct tok *toks;
    size_t ntoks, cap;
    struct qname table;           /* the table this entry belongs to */
    struct qname ref;             /* FK: the table it references */
    char *conname;                /* constraint name (CONSTRAINT kinds) */
    struct qname rel;             /* COMMENT/ACL on an index or sequence: resolved later */
};

struct blocks {
    struct block *v;
    size_t n, cap;
};

static void qname_free(struct qname *q)
{
    free(q->schema);
    free(q->name);
    q->schema = NULL;
    q->name = NULL;
}

static void block_free(struct block *b)
{
    size_t i;

    free(b->desc);
    free(b->schema);
    free(b->name);
    for (i = 0; i < b->ntoks; i++)
        free(b->toks[i].text);
    free(b->toks);
    qname_free(&b->table);
    qname_free(&b->ref);
    qname_free(&b->rel);
    free(b->conname);
}

static void blocks_free(struct blocks *bs)
{
    size_t i;

    for (i = 0; i < bs->n; i++)
        block_free(&bs->v[i]);
    free(bs->v);
    bs->v = NULL;
    bs->n = bs->cap = 0;
}

static void tok_add(struct block *b, enum tok_kind kind, char *text)
{
    if (b == NULL) {
        free(text);
        return;
    }
    if (b->ntoks == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->toks = lb_xrealloc(b->toks, b->cap * sizeof(*b->toks));
    }
    b->toks[b->ntoks].kind = kind;
    b->toks[b->ntoks].text = text;
    b->ntoks++;
}

/* Copy of [s, s+n) with a trailing '\r' removed. */
static char *dup_field(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return lb_xstrndup(s, n);
}

/*
 * A header comment line (without the leading "--"), e.g.
 * " Name: inventory inventory_pkey; Type: CONSTRAINT; Schema: public; Owner: lb".
 * Returns 1 and appends a block if it is one.
 */
static int parse_header(const char *line, size_t len, struct blocks *bs)
{
    const char *end = line + len;
    const char *name, *type, *schema, *owner, *p;
    struct block *b;

    while (line < end && *line == ' ')
        line++;
    if (lb_str_starts(line, "Data for Name: "))
        name = line + strlen("Data for Name: ");
    else if (lb_str_starts(line, "Name: "))
        name = line + strlen("Name: ");
    else
        return 0;
    type = strstr(name, "; Type: ");
    if (type == NULL || type >= end)
        return 0;
    schema = strstr(type, "; Schema: ");
    if (schema == NULL || schema >= end)
        return 0;
    owner = strstr(schema, "; Owner: ");
    if (owner == NULL || owner >= end)
        return 0;
    if (bs->n == bs->cap) {
        bs->cap = bs->cap ? bs->cap * 2 : 64;
        bs->v = lb_xrealloc(bs->v, bs->cap * sizeof(*bs->v));
    }
    b = &bs->v[bs->n++];
    memset(b, 0, sizeof(*b));
    b->name = dup_field(name, (size_t)(type - name));
    p = type + strlen("; Type: ");
    b->desc = dup_field(p, (size_t)(schema - p));
    p = schema + strlen("; Schema: ");
    b->schema = dup_field(p, (size_t)(owner - p));
    return 1;
}

static int ident_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c >= 0x80;
}

static int ident_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skip a '...' literal starting at p (on the quote); backslash escapes when
 * `escapes` (E'...'). Returns the position after it. */
static const char *skip_string(const char *p, int escapes)
{
    p++;
    while (*p != '\0') {
        if (escapes && *p == '\\' && p[1] != '\0') {
            p += 2;
            continue;
        }
        if (*p == '\'') {
            if (p[1] == '\'') {
                p += 2;
                continue;
            }
            return p + 1;
        }
        p++;
    }
    return p;
}

/* If p starts a dollar quote ($$ or $tag$), return the position after its
 * closing delimiter; else NULL. */
static const char *skip_dollar(const char *p)
{
    const char *q = p + 1;
    const char *close;
    size_t taglen;

    if (*q != '$') {
        if (!ident_start((unsigned char)*q) || isdigit((unsigned char)*q))
            return NULL;
        while (ident_char((unsigned char)*q) && *q != '$')
            q++;
        if (*q != '$')
            return NULL;
    }
    taglen = (size_t)(q - p) + 1;
    close = q + 1;
    for (;;) {
        close = strchr(close, '$');
        if (close == NULL)
            return p + strlen(p);
        if (strncmp(close, p, taglen) == 0)
            return close + taglen;
        close++;
    }
}

/* Tokenise the whole schema dump into blocks. Text before the first header
 * (SET commands) belongs to no block and is dropped. */
static void tokenize(const char *sql, struct blocks *bs)
{
    const char *p = sql;
    struct block *cur = NULL;

    while (*p != '\0') {
        unsigned char c = (unsigned char)*p;

        if (isspace(c)) {
            p++;
        } else if (c == '-' && p[1] == '-') {
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);

            if (parse_header(p + 2, len - 2, bs))
                cur = &bs->v[bs->n - 1];
            p += len;
        } else if (c == '/' && p[1] == '*') {
            int depth = 1;

            p += 2;
            while (*p != '\0' && depth > 0) {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                } else if (p[0] == '*' && p[1] == '/') {
                    depth--;
                    p += 2;
                } else {
                    p++;
                }
            }
        } else if (c == '\'') {
            p = skip_string(p, 0);
            tok_add(cur, TK_STRING, NULL);
        } else if ((c == 'E' || c == 'e') && p[1] == '\'') {
            p = skip_string(p + 1, 1);
            tok_add(cur, TK_STRING, NULL);
        } else if (c == '"') {
            struct lb_buf v = {0};

            p++;
            while (*p != '\0') {
                if (*p == '"') {
                    if (p[1] != '"')
                        break;
                    p++;
                }
                lb_buf_addc(&v, *p++);
            }
            if (*p == '"')
                p++;
            tok_add(cur, TK_QIDENT, lb_buf_steal(&v));
        } else if (c == '$' && skip_dollar(p) != NULL) {
            p = skip_dollar(p);
            tok_add(cur, TK_STRING, NULL);
        } else if (ident_start(c)) {
            const char *s = p;

            while (ident_char((unsigned char)*p))
                p++;
            tok_add(cur, TK_WORD, lb_xstrndup(s, (size_t)(p - s)));
        } else if (isdigit(c)) {
            while (isalnum((unsigned char)*p) || *p == '.')
                p++;
            tok_add(cur, TK_NUM, NULL);
        } else {
            tok_add(cur, TK_PUNCT, lb_xstrndup(p, 1));
            p++;
        }
    }
}

/* ---- reading statements ------------------------------------------------ */

/* Token i is the bare keyword kw (case-insensitive). */
static int is_kw(const struct block *b, size_t i, const char *kw)
{
    return i < b->ntoks && b->toks[i].kind == TK_WORD && strcasecmp(b->toks[i].text, kw) == 0;
}

static int is_punct(const struct block *b, size_t i, char ch)
{
    return i < b->ntoks && b->toks[i].kind == TK_PUNCT && b->toks[i].text[0] == ch;
}

/* Identifier value of token i (bare words fold to lower case), or NULL. */
static char *ident_value(const struct block *b, size_t i)
{
    char *v, *q;

    if (i >= b->ntoks)
        return NULL;
    if (b->toks[i].kind == TK_QIDENT)
        return lb_xstrdup(b->toks[i].text);
    if (b->toks[i].kind != TK_WORD)
        return NULL;
    v = lb_xstrdup(b->toks[i].text);
    for (q = v; *q != '\0'; q++)
        *q = (char)tolower((unsigned char)*q);
    return v;
}

/*
 * Read a dotted name of up to three parts at *i. With `parts` = 3 the last
 * part (a column) is dropped and the first two kept: "s.t.col" → s, t. A
 * single part has a NULL schema. Returns 0, or -1 if there is no name.
 */
static int read_qname(const struct block *b, size_t *i, struct qname *out)
{
    char *part[3] = {NULL, NULL, NULL};
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    while (n < 3) {
        part[n] = ident_value(b, *i);
        if (part[n] == NULL)
            break;
        n++;
        (*i)++;
        if (!is_punct(b, *i, '.'))
            break;
        (*i)++;
    }
    if (n == 0)
        return -1;
    if (n == 1) {
        out->name = part[0];
    } else {
        out->schema = part[0];
        out->name = part[1];
        free(part[2]);
    }
    return 0;
}

/* Advance *i past the next bare keyword kw (within the first statement).
 * Returns 0, or -1 if not found. */
static int skip_to_kw(const struct block *b, size_t *i, const char *kw)
{
    while (*i < b->ntoks && !is_punct(b, *i, ';')) {
        if (is_kw(b, *i, kw)) {
            (*i)++;
            return 0;
        }
        (*i)++;
    }
    return -1;
}

/* Skip any of the given optional keywords at *i. */
static void skip_kws(const struct block *b, size_t *i, const char *const *kws)
{
    int again = 1;

    while (again) {
        size_t k;

        again = 0;
        for (k = 0; kws[k] != NULL; k++) {
            if (is_kw(b, *i, kws[k])) {
                (*i)++;
                again = 1;
            }
        }
    }
}

/* "ALTER TABLE [IF EXISTS] [ONLY] name" at the start → name. */
static int read_alter_table(const struct block *b, size_t *i, struct qname *out)
{
    static const char *const opt[] = {"IF", "EXISTS", "ONLY", NULL};

    *i = 0;
    if (!is_kw(b, 0, "ALTER") || !is_kw(b, 1, "TABLE"))
        return -1;
    *i = 2;
    skip_kws(b, i, opt);
    return read_qname(b, i, out);
}

/* The name after the next "ON [ONLY]" keyword (triggers, policies, indexes). */
static int read_on_target(const struct block *b, size_t *i, struct qname *out)
{
    static const char *const opt[] = {"ONLY", NULL};

    if (skip_to_kw(b, i, "ON") != 0)
        return -1;
    skip_kws(b, i, opt);
    return read_qname(b, i, out);
}

/*
 * COMMENT ON / SECURITY LABEL ON <kind> <object> [ON <table>] IS ...
 * Fills the table directly where the statement names it, or `rel` for an
 * index or sequence (resolved once every block is read).
 */
static void read_comment_target(struct block *b)
{
    size_t i = 0;

    if (skip_to_kw(b, &i, "ON") != 0)
        return;
    if (is_kw(b, i, "TABLE") || is_kw(b, i, "COLUMN")) {
        i++;
        read_qname(b, &i, &b->table);
    } else if (is_kw(b, i, "INDEX") || is_kw(b, i, "SEQUENCE")) {
        i++;
        read_qname(b, &i, &b->rel);
    } else if (is_kw(b, i, "CONSTRAINT") || is_kw(b, i, "TRIGGER") || is_kw(b, i, "POLICY") ||
               is_kw(b, i, "RULE")) {
        i += 2;
        if (is_kw(b, i, "ON") && !is_kw(b, i + 1, "DOMAIN")) {
            i++;
            read_qname(b, &i, &b->table);
        }
    }
}

/* GRANT/REVOKE ... ON TABLE t / ON SEQUENCE s (the first one in the block). */
static void read_acl_target(struct block *b)
{
    size_t i;

    for (i = 0; i + 1 < b->ntoks; i++) {
        if (!is_kw(b, i, "ON"))
            continue;
        if (is_kw(b, i + 1, "TABLE")) {
            i += 2;
            read_qname(b, &i, &b->table);
            return;
        }
        if (is_kw(b, i + 1, "SEQUENCE")) {
            i += 2;
            read_qname(b, &i, &b->rel);
            return;
        }
    }
}

/* Learn, from a block's statement, which table it belongs to. */
static void analyse(struct block *b)
{
    static const char *const create_opt[] = {"OR", "REPLACE", "UNIQUE", "CONSTRAINT",
                                             "CONCURRENTLY", NULL};
    const char *d = b->desc;
    size_t i = 0;

    if (strcmp(d, "TABLE") == 0) {
        b->table.schema = lb_xstrdup(b->schema);
        b->table.name = lb_xstrdup(b->name);
    } else if (strcmp(d, "SEQUENCE") == 0) {
        /* Identity columns: "ALTER TABLE t ALTER COLUMN c ADD GENERATED ...". */
        read_alter_table(b, &i, &b->table);
    } else if (strcmp(d, "SEQUENCE OWNED BY") == 0) {
        /* ALTER SEQUENCE s.q OWNED BY s.t.col */
        struct qname seq;

        if (is_kw(b, 0, "ALTER") && is_kw(b, 1, "SEQUENCE")) {
            i = 2;
            if (read_qname(b, &i, &seq) == 0) {
                qname_free(&seq);
                if (is_kw(b, i, "OWNED") && is_kw(b, i + 1, "BY")) {
                    i += 2;
                    read_qname(b, &i, &b->table);
                }
            }
        }
    } else if (strcmp(d, "DEFAULT") == 0 || strcmp(d, "ROW SECURITY") == 0) {
        read_alter_table(b, &i, &b->table);
    } else if (strcmp(d, "CONSTRAINT") == 0 || strcmp(d, "CHECK CONSTRAINT") == 0 ||
               strcmp(d, "FK CONSTRAINT") == 0) {
        if (read_alter_table(b, &i, &b->table) == 0 && is_kw(b, i, "ADD") &&
            is_kw(b, i + 1, "CONSTRAINT")) {
            i += 2;
            b->conname = ident_value(b, i);
            if (strcmp(d, "FK CONSTRAINT") == 0 && skip_to_kw(b, &i, "REFERENCES") == 0)
                read_qname(b, &i, &b->ref);
        }
    } else if (strcmp(d, "INDEX") == 0 || strcmp(d, "TRIGGER") == 0 ||
               strcmp(d, "POLICY") == 0) {
        if (is_kw(b, 0, "CREATE")) {
            struct qname ignored;

            i = 1;
            skip_kws(b, &i, create_opt);
            if (is_kw(b, i, "INDEX") || is_kw(b, i, "TRIGGER") || is_kw(b, i, "POLICY")) {
                i++;
                /* The object's own name first, so an index named "on" is not the keyword. */
                if (is_kw(b, i, "IF") && is_kw(b, i + 1, "NOT") && is_kw(b, i + 2, "EXISTS"))
                    i += 3;
                if (!is_kw(b, i, "ON") && read_qname(b, &i, &ignored) == 0)
                    qname_free(&ignored);
                read_on_target(b, &i, &b->table);
            }
        }
    } else if (strcmp(d, "RULE") == 0) {
        /* CREATE RULE r AS ON event TO t */
        if (skip_to_kw(b, &i, "ON") == 0 && skip_to_kw(b, &i, "TO") == 0)
            read_qname(b, &i, &b->table);
    } else if (strcmp(d, "STATISTICS") == 0) {
        if (skip_to_kw(b, &i, "FROM") == 0)
            read_qname(b, &i, &b->table);
    } else if (strcmp(d, "COMMENT") == 0 || strcmp(d, "SECURITY LABEL") == 0) {
        read_comment_target(b);
    } else if (strcmp(d, "ACL") == 0) {
        read_acl_target(b);
    }
    /* pg_dump qualifies every name (search_path is empty); be lenient anyway. */
    if (b->table.name != NULL && b->table.schema == NULL)
        b->table.schema = lb_xstrdup(b->schema);
    if (b->ref.name != NULL && b->ref.schema == NULL)
        b->ref.schema = lb_xstrdup(b->schema);
    if (b->rel.name != NULL && b->rel.schema == NULL)
        b->rel.schema = lb_xstrdup(b->schema);
}

static int qname_eq(const struct qname *a, const char *schema, const char *name)
{
    return a->name != NULL && a->schema != NULL && strcmp(a->schema, schema) == 0 &&
           strcmp(a->name, name) == 0;
}

/* An index or sequence and the table it belongs to. */
struct rel {
    const char *schema, *name;
    const struct qname *table;
};

static int rel_cmp(const void *a, const void *b)
{
    const struct rel *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);

    return c != 0 ? c : strcmp(x->name, y->name);
}

/* Index and sequence → table, learned from INDEX blocks, identity
 * sequences and SEQUENCE OWNED BY; sorted for bsearch. */
static struct rel *relations(const struct blocks *bs, size_t *n)
{
    struct rel *v = lb_xcalloc(bs->n + 1, sizeof(*v));
    size_t k;

    *n = 0;
    for (k = 0; k < bs->n; k++) {
        const struct block *o = &bs->v[k];

        if (o->table.name == NULL)
            continue;
        if (strcmp(o->desc, "INDEX") == 0 || strcmp(o->desc, "SEQUENCE") == 0 ||
            strcmp(o->desc, "SEQUENCE OWNED BY") == 0) {
            v[*n].schema = o->schema;
            v[*n].name = o->name;
            v[*n].table = &o->table;
            (*n)++;
        }
    }
    qsort(v, *n, sizeof(*v), rel_cmp);
    return v;
}

static const struct qname *relation_table(const struct rel *rels, size_t n, const char *schema,
                                          const char *name)
{
    struct rel key = {schema, name, NULL};
    const struct rel *hit = bsearch(&key, rels, n, sizeof(*rels), rel_cmp);

    return hit != NULL ? hit->table : NULL;
}

/* A sequence created with CREATE SEQUENCE belongs to the table of its
 * OWNED BY, a COMMENT or ACL on an index or sequence to that index's or
 * sequence's table. */
static void resolve(struct blocks *bs)
{
    size_t k, n;
    struct rel *rels = relations(bs, &n);

    for (k = 0; k < bs->n; k++) {
        struct block *b = &bs->v[k];
        const struct qname *t = NULL;

        if (b->table.name == NULL && strcmp(b->desc, "SEQUENCE") == 0)
            t = relation_table(rels, n, b->schema, b->name);
        else if (b->table.name == NULL && b->rel.name != NULL)
            t = relation_table(rels, n, b->rel.schema, b->rel.name);
        /* Pointers into bs stay valid: only strings are added below. */
        if (t != NULL) {
            b->table.schema = lb_xstrdup(t->schema);
            b->table.name = lb_xstrdup(t->name);
        }
    }
    free(rels);
}

/* ---- TOC lines → blocks ------------------------------------------------ */

struct key {
    char *text;        /* "DESC SCHEMA TAG" */
    const char *desc;  /* the TOC entry type this key stands for */
    size_t block;
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct key *)a)->text, ((const struct key *)b)->text);
}

static void key_add(struct key **keys, size_t *n, size_t *cap, const char *desc,
                    const struct block *b, size_t idx)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *keys = lb_xrealloc(*keys, *cap * sizeof(**keys));
    }
    (*keys)[*n].text = lb_xasprintf("%s %s %s", desc, b->schema, b->name);
    (*keys)[*n].desc = desc;
    (*keys)[*n].block = idx;
    (*n)++;
}

/*
 * Find the key of a TOC line's "DESC SCHEMA TAG OWNER" part. The owner is
 * the last field but may itself hold spaces (or be empty), so try each
 * split from the right.
 */
static const struct key *find_key(const struct key *keys, size_t n, const char *rest)
{
    size_t len = strlen(rest);
    char *probe = lb_xstrndup(rest, len);
    const struct key *hit = NULL;
    size_t pos = len;

    while (pos > 0 && hit == NULL) {
        struct key k = {0};

        pos--;
        if (rest[pos] != ' ')
            continue;
        probe[pos] = '\0';
        k.text = probe;
        hit = bsearch(&k, keys, n, sizeof(*keys), key_cmp);
    }
    free(probe);
    return hit;
}

/* Entry types that travel with their table. */
static int travels_with_table(const char *desc)
{
    static const char *const kinds[] = {
        "TABLE", "TABLE DATA", "DEFAULT", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET",
        "INDEX", "CONSTRAINT", "CHECK CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "COMMENT",
        "ACL", "POLICY", "RULE", "ROW SECURITY", "STATISTICS", "SECURITY LABEL", NULL};
    size_t k;

    for (k = 0; kinds[k] != NULL; k++)
        if (strcmp(desc, kinds[k]) == 0)
            return 1;
    return 0;
}

/* ---- requested tables --------------------------------------------------- */

/*
 * Resolve one requested name ("inventory", "public.inventory",
 * "\"Order Lines\"", "s.\"T\"") to a TABLE block. A bare name found in
 * several schemas prefers public, else is ambiguous.
 */
static int find_table(const struct blocks *bs, const char *want, struct qname *out,
                      struct lb_err *err)
{
    struct blocks tmp = {0};
    struct block *b;
    struct qname q = {0};
    const struct block *hit = NULL;
    size_t k, i = 0, nhits = 0;
    int rc = 0;
    int pass;

    /* Parse the name with the SQL tokenizer through a fake block. */
    {
        char *hdr = lb_xasprintf("-- Name: x; Type: X; Schema: x; Owner: x\n%s", want);
        tokenize(hdr, &tmp);
        free(hdr);
    }
    b = &tmp.v[0];
    if (read_qname(b, &i, &q) != 0 || i != b->ntoks) {
        qname_free(&q);
        q.name = lb_xstrdup(want);   /* not SQL syntax: take it literally */
    }
    for (pass = 0; pass < 2 && nhits == 0; pass++) {
        /* Second pass: a bare mixed-case name, taken as written. */
        if (pass == 1) {
            if (q.schema != NULL || strcmp(q.name, want) == 0 || strchr(want, '"') != NULL)
                break;
            free(q.name);
            q.name = lb_xstrdup(want);
        }
        for (k = 0; k < bs->n; k++) {
            const struct block *t = &bs->v[k];

            if (strcmp(t->desc, "TABLE") != 0 || strcmp(t->name, q.name) != 0)
                continue;
            if (q.schema != NULL && strcmp(t->schema, q.schema) != 0)
                continue;
            if (hit == NULL || (strcmp(t->schema, "public") == 0 &&
                                strcmp(hit->schema, "public") != 0))
                hit = t;
            nhits++;
        }
    }
    if (hit == NULL) {
        rc = lb_err_set(err, LB_ENOTFOUND, "table '%s' is not in the archive", want);
        goto out;
    }
    if (nhits > 1 && strcmp(hit->schema, "public") != 0) {
        rc = lb_err_set(err, LB_EINVAL,
                        "table '%s' is in several schemas of the archive: name the schema",
                        want);
        goto out;
    }
    out->schema = lb_xstrdup(hit->schema);
    out->name = lb_xstrdup(hit->name);
out:
    qname_free(&q);
    blocks_free(&tmp);
    return rc;
}

static int in_set(const struct qname *set, size_t n, const struct qname *t)
{
    size_t k;

    if (t->name == NULL)
        return 0;
    for (k = 0; k < n; k++)
        if (qname_eq(t, set[k].schema, set[k].name))
            return 1;
    return 0;
}

static int in_list(const char *const *list, const char *s)
{
    size_t k;

    if (list == NULL || s == NULL)
        return 0;
    for (k = 0; list[k] != NULL; k++)
        if (strcmp(list[k], s) == 0)
            return 1;
    return 0;
}

/* "123; 1259 16409 TABLE public inventory owner" → pointer to "TABLE ...",
 * or NULL for comments and blank lines. */
static const char *toc_rest(const char *line)
{
    const char *p = line;
    int field;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p != ';')
        return NULL;
    p++;
    for (field = 0; field < 2; field++) {
        while (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != ' ')
        return NULL;
    return p + 1;
}

int lb_toc_filter(const char *toc, const char *schema_sql, const char *const *tables,
                  const char *const *existing, char **out, struct lb_err *err)
{
    struct blocks bs = {0};
    struct qname *want = NULL;
    struct key *keys = NULL;
    struct lb_buf res = {0};
    size_t nwant = 0, nkeys = 0, capkeys = 0, k;
    const char *line;
    int rc = 0;

    *out = NULL;
    if (toc == NULL || schema_sql == NULL || tables == NULL || tables[0] == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "toc filter: no table of contents or no tables");
        goto out;
    }
    tokenize(schema_sql, &bs);
    for (k = 0; k < bs.n; k++)
        analyse(&bs.v[k]);
    resolve(&bs);

    for (k = 0; tables[k] != NULL; k++)
        ;
    want = lb_xcalloc(k, sizeof(*want));
    for (k = 0; tables[k] != NULL; k++) {
        rc = find_table(&bs, tables[k], &want[nwant], err);
        if (rc != 0)
            goto out;
        nwant++;
    }

    for (k = 0; k < bs.n; k++) {
        const struct block *b = &bs.v[k];

        key_add(&keys, &nkeys, &capkeys, b->desc, b, k);
        /* Data entries have no block in a schema-only dump. */
        if (strcmp(b->desc, "TABLE") == 0)
            key_add(&keys, &nkeys, &capkeys, "TABLE DATA", b, k);
        else if (strcmp(b->desc, "SEQUENCE") == 0)
            key_add(&keys, &nkeys, &capkeys, "SEQUENCE SET", b, k);
    }
    qsort(keys, nkeys, sizeof(*keys), key_cmp);

    lb_buf_adds(&res, ";\n; Selected by lifeboat for:");
    for (k = 0; k < nwant; k++)
        lb_buf_printf(&res, " %s.%s", want[k].schema, want[k].name);
    lb_buf_adds(&res, "\n;\n");
    for (line = toc; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char *copy = dup_field(line, len);
        const char *rest = toc_rest(copy);
        const struct key *key = rest ? find_key(keys, nkeys, rest) : NULL;
        int keep = 0;

        if (key != NULL) {
            const struct block *b = &bs.v[key->block];

            if (in_set(want, nwant, &b->table))
                keep = travels_with_table(key->desc);
            else if (strcmp(key->desc, "FK CONSTRAINT") == 0 && in_set(want, nwant, &b->ref))
                keep = !in_list(existing, b->conname);
        }
        if (keep) {
            lb_buf_adds(&res, copy);
            lb_buf_addc(&res, '\n');
        }
        free(copy);
        line += len;
        if (*line == '\n')
            line++;
    }
    *out = lb_buf_steal(&res);
out:
    for (k = 0; k < nkeys; k++)
        free(keys[k].text);
    free(keys);
    for (k = 0; k < nwant; k++)
        qname_free(&want[k]);
    free(want);
    blocks_free(&bs);
    lb_buf_free(&res);
    return rc;
}
