/*
 * pitr: the base backup + WAL archive layer. Taking a base backup with
 * pg_basebackup (and its provenance, from backup_label and
 * backup_manifest), and preparing a point-in-time recovery from it: the
 * target is checked against when the backup was taken before anything is
 * touched, so a drill asking for an instant the backup cannot reach gets a
 * clear refusal, never a silent restore of other data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lifeboat/cluster.h"
#include "lifeboat/pg.h"
#include "lifeboat/proc.h"
#include "backup_int.h"

#define DEFAULT_LABEL "lifeboat base backup"
#define DEFAULT_SEGMENT_SIZE (16 * 1024 * 1024)

/* ---- backup_label ------------------------------------------------------- */

/* Seconds east of UTC for a zone as backup_label prints it; 0 if unknown
 * (*ok = 0). */
static int64_t zone_offset(const char *z, int *ok)
{
    int sign, hh = 0, mm = 0;
    size_t n = strlen(z);

    *ok = 1;
    if (strcmp(z, "UTC") == 0 || strcmp(z, "GMT") == 0 || strcmp(z, "Z") == 0 ||
        strcmp(z, "Etc/UTC") == 0 || strcmp(z, "UCT") == 0)
        return 0;
    if ((z[0] != '+' && z[0] != '-') || n < 3)
        goto bad;
    sign = z[0] == '-' ? -1 : 1;
    if (z[1] < '0' || z[1] > '9' || z[2] < '0' || z[2] > '9')
        goto bad;
    hh = (z[1] - '0') * 10 + (z[2] - '0');
    z += 3;
    if (*z == ':')
        z++;
    if (*z != '\0') {
        if (z[0] < '0' || z[0] > '9' || z[1] < '0' || z[1] > '9' || z[2] != '\0')
            goto bad;
        mm = (z[0] - '0') * 10 + (z[1] - '0');
    }
    if (hh > 15 || mm > 59)
        goto bad;
    return sign * (int64_t)(hh * 3600 + mm * 60);
bad:
    *ok = 0;
    return 0;
}

/* "2026-01-02 03:04:05 UTC" → wall ms, -1 if unreadable. */
static int64_t label_time(const char *s)
{
    int y, mo, d, h, mi, sec, ok;
    char zone[32] = "";
    struct tm tm;
    time_t t;
    int64_t off;

    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d %31s", &y, &mo, &d, &h, &mi, &sec, zone) != 7)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    off = zone_offset(zone, &ok);
    if (!ok)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return ((int64_t)t - off) * 1000;
}

/* The value after "KEY: " when line starts with it, else NULL. */
static const char *label_value(const char *line, const char *key)
{
    size_t n = strlen(key);

    if (strncmp(line, key, n) != 0 || line[n] != ':')
        return NULL;
    line += n + 1;
    while (*line == ' ')
        line++;
    return line;
}

int lb_backup_label_parse(const char *text, struct lb_backup_label *out, struct lb_err *err)
{
    const char *p = text != NULL ? text : "";
    int have_start = 0;

    memset(out, 0, sizeof(*out));
    out->timeline = -1;
    out->start_ms = -1;
    while (*p != '\0') {
        size_t len = strcspn(p, "\n");
        char *line = lb_xstrndup(p, len);
        const char *v;
        int64_t n;

        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        if ((v = label_value(line, "START WAL LOCATION")) != NULL) {
            const char *file = strstr(v, "(file ");
            size_t l = strcspn(v, " ");

            snprintf(out->start_lsn, sizeof(out->start_lsn), "%.*s", (int)l, v);
            if (file != NULL) {
                file += strlen("(file ");
                snprintf(out->start_wal, sizeof(out->start_wal), "%.*s",
                         (int)strcspn(file, ")"), file);
            }
            have_start = out->start_lsn[0] != '\0';
        } else if ((v = label_value(line, "CHECKPOINT LOCATION")) != NULL) {
            snprintf(out->checkpoint_lsn, sizeof(out->checkpoint_lsn), "%.*s",
                     (int)strcspn(v, " "), v);
        } else if ((v = label_value(line, "START TIME")) != NULL) {
            out->start_ms = label_time(v);
        } else if ((v = label_value(line, "LABEL")) != NULL) {
            snprintf(out->label, sizeof(out->label), "%s", v);
        } else if ((v = label_value(line, "START TIMELINE")) != NULL) {
            if (lb_parse_int64(v, &n) == 0 && n > 0 && n <= INT32_MAX)
                out->timeline = (int)n;
        }
        free(line);
        p += len;
        if (*p == '\n')
            p++;
    }
    if (!have_start)
        return lb_err_set(err, LB_EINVAL, "not a backup_label: no START WAL LOCATION line");
    return 0;
}

/* The tar archive of a tar-format base backup ("base.tar", "base.tar.gz"),
 * or NULL. Caller frees. */
static char *find_tar(const char *dir, const char *name)
{
    static const char *const exts[] = {".tar", ".tar.gz", ".tgz", NULL};
    size_t i;

    for (i = 0; exts[i] != NULL; i++) {
        char *f = lb_xasprintf("%s/%s%s", dir, name, exts[i]);
        if (lb_file_exists(f))
            return f;
        free(f);
    }
    return NULL;
}

int lb_backup_label_read(const char *base_backup, int64_t deadline_ms,
                         struct lb_backup_label *out, struct lb_err *err)
{
    char *plain = lb_path_join(base_backup, "backup_label");
    char *tar = NULL, *text = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->timeline = -1;
    out->start_ms = -1;
    if (lb_file_exists(plain)) {
        rc = lb_file_read(plain, &text, NULL, err);
    } else if ((tar = find_tar(base_backup, "base")) != NULL) {
        const char *argv[] = {"tar", "-xOf", tar, "backup_label", NULL};
        struct lb_bk_exec x = {0};

        x.argv = argv;
        x.deadline_ms = deadline_ms;
        rc = lb_bk_exec_output(&x, NULL, &text, err);
    } else {
        rc = lb_err_set(err, LB_ENOTFOUND, "%s: no backup_label (not a base backup?)",
                        base_backup);
    }
    if (rc == 0)
        rc = lb_backup_label_parse(text, out, err);
    if (rc != 0 && rc != LB_ENOTFOUND)
        lb_err_prefix(err, "%s", base_backup);
    free(plain);
    free(tar);
    free(text);
    return rc;
}

/* ---- recovery settings ---------------------------------------------------- */

void lb_recovery_time_format(int64_t wall_ms, char *out, size_t outsz)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, outsz, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(wall_ms % 1000));
}

int lb_recovery_target_check(const struct lb_recovery_target *t, const char *what,
                             int64_t started_ms, int64_t finished_ms, struct lb_err *err)
{
    char target[40], when[40];

    if (t == NULL || t->kind != LB_RECOVERY_TIME)
        return 0;
    if (what == NULL)
        what = "base backup";
    lb_wall_format(t->time_ms, target, sizeof(target));
    if (started_ms > 0 && t->time_ms < started_ms) {
        lb_wall_format(started_ms, when, sizeof(when));
        return lb_err_set(err, LB_EINVAL,
                          "recovery target %s is before the %s (taken %s): nothing can be "
                          "restored to that instant", target, what, when);
    }
    if (finished_ms > 0 && t->time_ms < finished_ms) {
        lb_wall_format(finished_ms, when, sizeof(when));
        return lb_err_set(err, LB_EINVAL,
                          "recovery target %s is before the %s was consistent (finished %s): "
                          "nothing can be restored to that instant", target, what, when);
    }
    return 0;
}

/* "X/Y" in hex. */
static int lsn_ok(const char *s)
{
    size_t a, b;

    if (s == NULL)
        return 0;
    a = strspn(s, "0123456789abcdefABCDEF");
    if (a == 0 || a > 8 || s[a] != '/')
        return 0;
    b = strspn(s + a + 1, "0123456789abcdefABCDEF");
    return b > 0 && b <= 8 && s[a + 1 + b] == '\0';
}

int lb_recovery_conf_text(const char *wal_archive, const struct lb_recovery_target *t,
                          const char *const *settings, char **out, struct lb_err *err)
{
    struct lb_buf b = {0};
    struct lb_buf cmd = {0};
    struct lb_buf src = {0};
    const char *p;
    char when[48];
    int rc = 0;

    *out = NULL;
    if (wal_archive == NULL || wal_archive[0] == '\0' || strpbrk(wal_archive, "\n\r") != NULL) {
        rc = lb_err_set(err, LB_EINVAL, "a WAL archive directory (one line) is needed");
        goto out;
    }
    if (t->kind == LB_RECOVERY_LSN && !lsn_ok(t->lsn)) {
        rc = lb_err_set(err, LB_EINVAL, "recovery target LSN '%s' is not X/Y",
                        t->lsn != NULL ? t->lsn : "");
        goto out;
    }
    if (t->timeline != NULL && strpbrk(t->timeline, "\n\r'\\") != NULL) {
        rc = lb_err_set(err, LB_EINVAL, "recovery target timeline '%s' is not valid",
                        t->timeline);
        goto out;
    }
    /* '%' in the path would be read as a placeholder by the server. */
    for (p = wal_archive; *p != '\0'; p++) {
        if (*p == '%')
            lb_buf_addc(&src, '%');
        lb_buf_addc(&src, *p);
    }
    lb_buf_adds(&src, "/%f");
    lb_buf_adds(&cmd, "cp ");
    lb_buf_add_sh_word(&cmd, src.data);
    lb_buf_adds(&cmd, " \"%p\"");

    lb_buf_adds(&b, "\n# ---- lifeboat point-in-time recovery ----\nrestore_command = ");
    lb_buf_add_conf_string(&b, cmd.data);
    lb_buf_addc(&b, '\n');
    /* One value per name (the last occurrence of a name wins), and only
     * one kind of target may be set: the server refuses to assign even an
     * empty value to one kind once another is set, so the empty ones come
     * first and the target last. */
    when[0] = '\0';
    if (t->kind == LB_RECOVERY_TIME)
        lb_recovery_time_format(t->time_ms, when, sizeof(when));
    if (t->kind != LB_RECOVERY_IMMEDIATE)
        lb_buf_adds(&b, "recovery_target = ''\n");
    if (t->kind != LB_RECOVERY_LSN)
        lb_buf_adds(&b, "recovery_target_lsn = ''\n");
    lb_buf_adds(&b, "recovery_target_name = ''\n");
    if (t->kind != LB_RECOVERY_TIME)
        lb_buf_adds(&b, "recovery_target_time = ''\n");
    lb_buf_adds(&b, "recovery_target_xid = ''\n");
    if (t->kind == LB_RECOVERY_IMMEDIATE)
        lb_buf_adds(&b, "recovery_target = 'immediate'\n");
    if (t->kind == LB_RECOVERY_LSN) {
        lb_buf_adds(&b, "recovery_target_lsn = ");
        lb_buf_add_conf_string(&b, t->lsn);
        lb_buf_addc(&b, '\n');
    }
    if (t->kind == LB_RECOVERY_TIME)
        lb_buf_printf(&b, "recovery_target_time = '%s'\n", when);
    if (t->kind == LB_RECOVERY_TIME || t->kind == LB_RECOVERY_LSN)
        lb_buf_printf(&b, "recovery_target_inclusive = %s\n", t->inclusive ? "on" : "off");
    lb_buf_adds(&b, "recovery_target_timeline = ");
    lb_buf_add_conf_string(&b, t->timeline != NULL ? t->timeline : "latest");
    lb_buf_adds(&b, "\nrecovery_target_action = 'promote'\n");
    rc = lb_bk_conf_settings(&b, settings, err);
    if (rc != 0)
        goto out;
    *out = lb_buf_steal(&b);
out:
    lb_buf_free(&b);
    lb_buf_free(&cmd);
    lb_buf_free(&src);
    return rc;
}

/* ---- point-in-time recovery ------------------------------------------------- */

static const char *kind_name(enum lb_recovery_kind k)
{
    switch (k) {
    case LB_RECOVERY_TIME: return "time";
    case LB_RECOVERY_LSN: return "lsn";
    case LB_RECOVERY_IMMEDIATE: return "immediate";
    default: return "latest";
    }
}

/* Extract a tar archive into dir (as the calling user: the backup is ours). */
static int untar(const char *archive, const char *dir, int64_t deadline_ms,
                 struct lb_tool_run *run, struct lb_err *err)
{
    const char *argv[] = {"tar", "-xf", archive, "-C", dir, "--no-same-owner", NULL};
    struct lb_bk_exec x = {0};

    x.argv = argv;
    x.deadline_ms = deadline_ms;
    return lb_bk_exec(&x, run, err);
}

/* What a copied data directory must not keep. */
static void drop_leftovers(const char *dir)
{
    static const char *const names[] = {"postmaster.pid", "postmaster.opts", "standby.signal",
                                        "recovery.signal", NULL};
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        char *f = lb_path_join(dir, names[i]);
        unlink(f);
        free(f);
    }
}

/* When the base backup was taken and finished: its label, else its
 * provenance. -1 when unknown. */
static void backup_times(const char *base_backup, const struct lb_backup_label *label,
                         int64_t *started, int64_t *finished)
{
    struct lb_provenance *prov = NULL;
    struct lb_err e = {0};

    *started = label->start_ms;
    *finished = -1;
    if (lb_provenance_read(base_backup, &prov, &e) == 0) {
        if (*started <= 0 && prov->taken_at > 0)
            *started = prov->taken_at;
        if (prov->finished_at > 0)
            *finished = prov->finished_at;
    }
    lb_provenance_free(prov);
}

int lb_backup_pitr_prepare(const struct lb_pitr_opts *o, struct lb_tool_run *run,
                           struct lb_err *err)
{
    struct lb_backup_label label;
    struct lb_tool_run scratch = {0};
    struct lb_buf log = {0};
    char *conf = NULL, *tar = NULL, *wal_tar = NULL, *pg_wal = NULL;
    char *auto_conf = NULL, *signal = NULL, *plain = NULL;
    const char *user = lb_bk_run_as(o->run_as);
    int64_t t0 = lb_mono_ms(), started, finished, bytes = 0;
    int created = 0, touched = 0;
    struct stat st;
    char when[48];
    int rc;

    if (run == NULL)
        run = &scratch;
    if (o->base_backup == NULL || o->data_dir == NULL || o->wal_archive == NULL) {
        rc = lb_err_set(err, LB_EINVAL, "a point-in-time recovery needs a base backup, a WAL "
                                        "archive and a new data directory");
        goto out;
    }
    if (stat(o->base_backup, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = lb_err_set(err, LB_ENOTFOUND, "base backup %s does not exist", o->base_backup);
        goto out;
    }
    if (stat(o->wal_archive, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = lb_err_set(err, LB_ENOTFOUND, "WAL archive %s does not exist", o->wal_archive);
        goto out;
    }
    rc = lb_recovery_conf_text(o->wal_archive, &o->target, o->settings, &conf, err);
    if (rc != 0)
        goto out;
    rc = lb_backup_label_read(o->base_backup, o->deadline_ms, &label, err);
    if (rc != 0)
        goto out;
    backup_times(o->base_backup, &label, &started, &finished);
    if (o->target.kind == LB_RECOVERY_TIME && started <= 0) {
        rc = lb_err_set(err, LB_EINVAL,
                        "when the base backup %s was taken is unknown (no readable START TIME "
                        "in its backup_label, no provenance): a time target cannot be checked",
                        o->base_backup);
        goto out;
    }
    rc = lb_recovery_target_check(&o->target, "base backup", started, finished, err);
    if (rc != 0)
        goto out;

    rc = lb_bk_fresh_dir(o->data_dir, user, &created, err);
    if (rc != 0)
        goto out;
    touched = 1;
    plain = lb_path_join(o->base_backup, "backup_label");
    if (lb_file_exists(plain)) {
        rc = lb_bk_copy_tree(o->base_backup, o->data_dir, o->deadline_ms, &bytes, err);
        lb_buf_printf(&log, "copied %" PRId64 " bytes of base backup %s into %s\n", bytes,
                      o->base_backup, o->data_dir);
    } else {
        tar = find_tar(o->base_backup, "base");
        wal_tar = find_tar(o->base_backup, "pg_wal");
        rc = untar(tar, o->data_dir, o->deadline_ms, run, err);
        if (rc == 0 && wal_tar != NULL) {
            pg_wal = lb_path_join(o->data_dir, "pg_wal");
            if (mkdir(pg_wal, 0700) != 0 && errno != EEXIST)
                rc = lb_err_set(err, LB_EIO, "mkdir %s: %s", pg_wal, strerror(errno));
            if (rc == 0)
                rc = untar(wal_tar, pg_wal, o->deadline_ms, run, err);
        }
        if (run->output != NULL)
            lb_buf_adds(&log, run->output);
        lb_buf_printf(&log, "extracted base backup %s into %s\n", o->base_backup, o->data_dir);
    }
    if (rc != 0)
        goto out;
    drop_leftovers(o->data_dir);
    auto_conf = lb_path_join(o->data_dir, "postgresql.auto.conf");
    signal = lb_path_join(o->data_dir, "recovery.signal");
    rc = lb_bk_append(auto_conf, conf, NULL, err);
    if (rc == 0)
        rc = lb_bk_append(signal, "", NULL, err);
    if (rc == 0) {
        /* The server refuses a data directory open to others. */
        if (chmod(o->data_dir, 0700) != 0)
            rc = lb_err_set(err, LB_EIO, "chmod %s: %s", o->data_dir, strerror(errno));
    }
    if (rc == 0)
        rc = lb_bk_chown_tree(o->data_dir, user, err);
    if (rc != 0)
        goto out;
    lb_buf_printf(&log, "base backup label '%s', started at %s on timeline %d\n", label.label,
                  label.start_lsn, label.timeline);
    lb_buf_adds(&log, "appended to postgresql.auto.conf, and recovery.signal created:");
    lb_buf_adds(&log, conf);
out:
    if (rc != 0 && touched)
        lb_bk_discard(o->data_dir, created, user);
    if (rc != 0)
        lb_err_prefix(err, "point-in-time recovery");
    free(run->cmdline);
    when[0] = '\0';
    if (o->target.kind == LB_RECOVERY_TIME)
        lb_recovery_time_format(o->target.time_ms, when, sizeof(when));
    run->cmdline = lb_xasprintf("pitr-prepare --base-backup %s --wal-archive %s --target %s%s%s "
                                "--data-dir %s",
                                o->base_backup ? o->base_backup : "?",
                                o->wal_archive ? o->wal_archive : "?",
                                kind_name(o->target.kind), when[0] ? " " : "",
                                when[0] ? when : (o->target.kind == LB_RECOVERY_LSN && o->target.lsn
                                                      ? o->target.lsn : ""),
                                o->data_dir ? o->data_dir : "?");
    free(run->output);
    run->output = log.data != NULL ? lb_buf_steal(&log) : lb_xstrdup(rc != 0 ? err->msg : "");
    run->exit_status = rc == 0 ? 0 : 1;
    run->duration_ms = lb_mono_ms() - t0;
    lb_buf_free(&log);
    lb_tool_run_free(&scratch);
    free(conf);
    free(tar);
    free(wal_tar);
    free(pg_wal);
    free(auto_conf);
    free(signal);
    free(plain);
    return rc;
}

/* ---- taking a base backup ---------------------------------------------------- */

/* The end of the WAL range of a backup_manifest (highest timeline). */
static char *manifest_end_lsn(const char *dir)
{
    char *path = lb_path_join(dir, "backup_manifest");
    char *text = NULL, *lsn = NULL;
    struct lb_err e = {0};
    cJSON *root = NULL;
    const cJSON *ranges, *r;
    double best = -1;

    if (lb_file_read(path, &text, NULL, &e) != 0)
        goto out;
    root = cJSON_Parse(text);
    ranges = cJSON_GetObjectItemCaseSensitive(root, "WAL-Ranges");
    cJSON_ArrayForEach(r, ranges) {
        const cJSON *tli = cJSON_GetObjectItemCaseSensitive(r, "Timeline");
        const cJSON *end = cJSON_GetObjectItemCaseSensitive(r, "End-LSN");

        if (cJSON_IsNumber(tli) && cJSON_IsString(end) && tli->valuedouble > best) {
            best = tli->valuedouble;
            free(lsn);
            lsn = lb_xstrdup(end->valuestring);
        }
    }
out:
    cJSON_Delete(root);
    free(text);
    free(path);
    return lsn;
}

/* The WAL file holding the last byte before `lsn` on timeline tli. */
static char *wal_file_of(const char *lsn, int tli, int64_t segsize)
{
    unsigned long hi, lo;
    uint64_t pos, segno, per;

    if (lsn == NULL || tli <= 0 || segsize <= 0 || sscanf(lsn, "%lX/%lX", &hi, &lo) != 2)
        return NULL;
    pos = ((uint64_t)hi << 32) | (uint64_t)lo;
    if (pos == 0)
        return NULL;
    segno = (pos - 1) / (uint64_t)segsize;
    per = UINT64_C(0x100000000) / (uint64_t)segsize;
    return lb_xasprintf("%08X%08X%08X", (unsigned)tli, (unsigned)(segno / per),
                        (unsigned)(segno % per));
}

/* `tool --version`, last line, or NULL. */
static char *tool_version(const char *tool, int64_t deadline_ms)
{
    const char *argv[] = {tool, "--version", NULL};
    struct lb_bk_exec x = {0};
    struct lb_err e = {0};
    char *out = NULL, *v = NULL;

    x.argv = argv;
    x.deadline_ms = deadline_ms;
    if (lb_bk_exec_output(&x, NULL, &out, &e) == 0)
        v = lb_str_last_line(out);
    free(out);
    return v;
}

int lb_backup_basebackup(const struct lb_basebackup_opts *o, struct lb_tool_run *run,
                         struct lb_provenance **prov_out, struct lb_err *err)
{
    struct lb_provenance *prov = NULL;
    struct lb_backup_label label;
    struct lb_bk_argv a = {0};
    struct lb_bk_exec x = {0};
    struct lb_pg *c = NULL;
    struct lb_err ignored = {0};
    char *tool = lb_pg_tool("pg_basebackup");
    char *tmp = NULL, *old = NULL, *without = NULL, *password = NULL, *envpw = NULL;
    char *segsize_text = NULL;
    const char *env[2] = {NULL, NULL};
    int64_t segsize = DEFAULT_SEGMENT_SIZE;
    int rc;

    if (prov_out != NULL)
        *prov_out = NULL;
    if (o->conninfo == NULL || o->path == NULL)
        return lb_err_set(err, LB_EINVAL, "a base backup needs a source and a path");
    tmp = lb_xasprintf("%s.tmp", o->path);
    old = lb_xasprintf("%s.old", o->path);
    rc = lb_pg_conninfo_split_password(o->conninfo, &without, &password, err);
    if (rc != 0)
        goto out;
    if (password != NULL) {
        envpw = lb_xasprintf("PGPASSWORD=%s", password);
        env[0] = envpw;
    }
    prov = lb_xcalloc(1, sizeof(*prov));
    prov->kind = lb_xstrdup("basebackup");
    rc = lb_pg_connect(o->conninfo, o->deadline_ms, &c, err);
    if (rc == 0)
        rc = lb_provenance_from_conn(c, o->deadline_ms, prov, err);
    if (rc == 0 &&
        lb_pg_scalar(c, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'",
                     0, NULL, o->deadline_ms, &segsize_text, &ignored) == 0 &&
        segsize_text != NULL && lb_parse_int64(segsize_text, &segsize) != 0)
        segsize = DEFAULT_SEGMENT_SIZE;
    lb_pg_close(c);
    c = NULL;
    if (rc != 0) {
        lb_err_prefix(err, "base backup source");
        goto out;
    }
    rc = lb_rmtree(tmp, err);
    if (rc != 0)
        goto out;
    lb_bk_argv_add(&a, tool);
    lb_bk_argv_add(&a, "-D");
    lb_bk_argv_add(&a, tmp);
    lb_bk_argv_add(&a, "-d");
    lb_bk_argv_add(&a, without);
    lb_bk_argv_add(&a, "-F");
    lb_bk_argv_add(&a, o->tar ? "t" : "p");
    lb_bk_argv_add(&a, "-X");
    lb_bk_argv_add(&a, "stream");
    lb_bk_argv_add(&a, "-c");
    lb_bk_argv_add(&a, "fast");
    lb_bk_argv_add(&a, "-l");
    lb_bk_argv_add(&a, o->label != NULL ? o->label : DEFAULT_LABEL);
    x.argv = (const char *const *)a.v;
    x.env_add = env;
    x.deadline_ms = o->deadline_ms;
    rc = lb_bk_exec(&x, run, err);
    prov->finished_at = lb_wall_ms();
    if (rc != 0)
        goto out;
    rc = lb_backup_label_read(tmp, o->deadline_ms, &label, err);
    if (rc != 0)
        goto out;
    prov->taken_at = label.start_ms > 0 ? label.start_ms : 0;
    prov->backup_label = lb_xstrdup(label.label);
    prov->start_lsn = lb_xstrdup(label.start_lsn);
    prov->start_wal = label.start_wal[0] != '\0' ? lb_xstrdup(label.start_wal) : NULL;
    prov->timeline = label.timeline > 0 ? label.timeline : 0;
    prov->stop_lsn = manifest_end_lsn(tmp);
    prov->stop_wal = wal_file_of(prov->stop_lsn, label.timeline, segsize);
    prov->tool = tool_version(tool, o->deadline_ms);
    /* Replace the previous backup only now that this one is complete. */
    rc = lb_rmtree(old, err);
    if (rc == 0 && lb_file_exists(o->path) && rename(o->path, old) != 0)
        rc = lb_err_set(err, LB_EIO, "rename %s: %s", o->path, strerror(errno));
    if (rc == 0 && rename(tmp, o->path) != 0)
        rc = lb_err_set(err, LB_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = lb_provenance_write(o->path, prov, err);
    if (rc == 0)
        rc = lb_rmtree(old, err);
out:
    if (rc != 0) {
        lb_rmtree(tmp, &ignored);
        lb_err_prefix(err, "base backup to %s", o->path);
    }
    if (rc == 0 && prov_out != NULL) {
        *prov_out = prov;
        prov = NULL;
    }
    lb_provenance_free(prov);
    lb_pg_close(c);
    lb_bk_argv_free(&a);
    free(tool);
    free(tmp);
    free(old);
    free(without);
    free(password);
    free(envpw);
    free(segsize_text);
    return rc;
}
