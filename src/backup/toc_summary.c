/*
 * toc_summary: what `pg_restore --list` says of an archive (when and from
 * what it was dumped, how many entries, which tables), so backup:info()
 * can show the archive's own word next to its provenance file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lifeboat/backup.h"
#include "lifeboat/proc.h"

void lb_toc_summary_free(struct lb_toc_summary *s)
{
    if (!s)
        return;
    free(s->archive_created);
    free(s->dbname);
    free(s->format);
    free(s->compression);
    free(s->dumped_from);
    free(s->dumped_by);
    for (size_t i = 0; i < s->ntables; i++)
        free(s->tables[i]);
    free(s->tables);
    free(s);
}

/* Copy of [p, p+n) without surrounding blanks. */
static char *trimmed(const char *p, size_t n)
{
    while (n > 0 && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    return lb_xstrndup(p, n);
}

/* If the header line (';' and blanks skipped) starts with `key`, set *dst
 * to the rest, once. */
static int header_field(const char *line, size_t len, const char *key, char **dst)
{
    size_t k = strlen(key);
    if (len < k || strncmp(line, key, k) != 0)
        return 0;
    if (!*dst)
        *dst = trimmed(line + k, len - k);
    return 1;
}

static void read_header(struct lb_toc_summary *s, const char *p, size_t len)
{
    char *entries = NULL;

    while (len > 0 && (*p == ';' || isspace((unsigned char)*p))) {
        p++;
        len--;
    }
    if (header_field(p, len, "Archive created at ", &s->archive_created) ||
        header_field(p, len, "dbname:", &s->dbname) ||
        header_field(p, len, "Format:", &s->format) ||
        header_field(p, len, "Compression:", &s->compression) ||
        header_field(p, len, "Dumped from database version:", &s->dumped_from) ||
        header_field(p, len, "Dumped by pg_dump version:", &s->dumped_by))
        return;
    if (header_field(p, len, "TOC Entries:", &entries)) {
        int64_t n;
        if (lb_parse_int64(entries, &n) == 0)
            s->header_entries = n;
        free(entries);
    }
}

/* Skip one run of digits then one blank; NULL if the shape is wrong. */
static const char *skip_number(const char *p, const char *end, char after)
{
    const char *start = p;
    while (p < end && isdigit((unsigned char)*p))
        p++;
    if (p == start || p >= end || *p != after)
        return NULL;
    return p + 1;
}

/* "TABLE schema tag owner" → "schema.tag" (NULL if not that shape). */
static char *table_name(const char *p, const char *end)
{
    const char *schema = p, *schema_end, *owner;

    schema_end = memchr(p, ' ', (size_t)(end - p));
    if (!schema_end)
        return NULL;
    owner = end;
    while (owner > schema_end + 1 && owner[-1] != ' ')
        owner--;
    if (owner <= schema_end + 1)
        return NULL;          /* no tag between schema and owner */
    return lb_xasprintf("%.*s.%.*s", (int)(schema_end - schema), schema,
                        (int)(owner - 1 - (schema_end + 1)), schema_end + 1);
}

static void read_entry(struct lb_toc_summary *s, const char *p, size_t len, size_t *cap)
{
    const char *end = p + len;
    char *name;

    while (end > p && (end[-1] == '\r' || end[-1] == ' '))
        end--;
    /* "ID; TABLEOID OID " */
    if (!(p = skip_number(p, end, ';')) || p >= end || *p++ != ' ' ||
        !(p = skip_number(p, end, ' ')) || !(p = skip_number(p, end, ' ')))
        return;
    s->entries++;
    if (end - p > 11 && strncmp(p, "TABLE DATA ", 11) == 0) {
        s->data_entries++;
        return;
    }
    if (end - p <= 6 || strncmp(p, "TABLE ", 6) != 0 ||
        (end - p > 13 && strncmp(p, "TABLE ATTACH ", 13) == 0))
        return;
    name = table_name(p + 6, end);
    if (!name)
        return;
    if (s->ntables + 2 > *cap) {
        *cap = *cap ? *cap * 2 : 16;
        s->tables = lb_xrealloc(s->tables, *cap * sizeof(char *));
    }
    s->tables[s->ntables++] = name;
    s->tables[s->ntables] = NULL;
}

int lb_toc_summary_parse(const char *toc, struct lb_toc_summary **out, struct lb_err *err)
{
    struct lb_toc_summary *s = lb_xcalloc(1, sizeof(*s));
    size_t cap = 0;
    const char *p = toc ? toc : "";
    int rc = 0;

    *out = NULL;
    s->header_entries = -1;
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (*p == ';')
            read_header(s, p, len);
        else
            read_entry(s, p, len, &cap);
        p += len;
        if (*p == '\n')
            p++;
    }
    if (!s->tables)
        s->tables = lb_xcalloc(1, sizeof(char *));
    if (!s->archive_created && s->entries == 0) {
        rc = lb_err_set(err, LB_EINVAL, "not a pg_restore --list output");
        goto out;
    }
    *out = s;
    s = NULL;
out:
    lb_toc_summary_free(s);
    return rc;
}

int lb_backup_toc_summary(const char *archive, int64_t deadline_ms,
                          struct lb_toc_summary **out, struct lb_err *err)
{
    struct lb_proc_opts po = {0};
    struct lb_proc_result res = {0};
    char *tool = NULL, *list = NULL, *text = NULL;
    const char *base = getenv("TMPDIR");
    int fd = -1;
    int rc;

    *out = NULL;
    if (!archive || !lb_file_exists(archive)) {
        rc = lb_err_set(err, LB_ENOTFOUND, "%s: no such archive", archive ? archive : "?");
        goto out;
    }
    list = lb_xasprintf("%s/lifeboat-toc-XXXXXX", base && *base ? base : "/tmp");
    fd = mkstemp(list);
    if (fd < 0) {
        rc = lb_err_set(err, LB_EIO, "cannot create a scratch file: %s", strerror(errno));
        free(list);
        list = NULL;
        goto out;
    }
    close(fd);
    tool = lb_pg_tool("pg_restore");
    {
        const char *argv[] = {tool, "--list", archive, NULL};
        po.argv = argv;
        po.deadline_ms = deadline_ms;
        po.stdout_path = list;      /* a large TOC is never cut by the capture */
        rc = lb_proc_run(&po, &res, err);
    }
    if (rc < 0) {
        lb_err_prefix(err, "pg_restore --list");
        goto out;
    }
    if (!res.exited || res.status != 0) {
        const char *o = res.output ? res.output : "";
        size_t n = strlen(o);
        while (n > 0 && (o[n - 1] == '\n' || o[n - 1] == ' '))
            n--;
        size_t start = n;
        while (start > 0 && o[start - 1] != '\n')
            start--;
        rc = lb_err_set(err, LB_EPROC, "pg_restore --list %s failed (status %d): %.*s",
                        archive, res.status, (int)(n - start), o + start);
        goto out;
    }
    rc = lb_file_read(list, &text, NULL, err);
    if (rc < 0)
        goto out;
    rc = lb_toc_summary_parse(text, out, err);
    if (rc < 0)
        lb_err_prefix(err, "%s", archive);
out:
    if (list) {
        unlink(list);
        free(list);
    }
    lb_proc_result_free(&res);
    free(tool);
    free(text);
    return rc;
}
