/* file: checked integer parsing, string tests, files and paths. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifeboat/util.h"

int lb_parse_int64(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t' || *s == '\n')
        return LB_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return LB_EINVAL;
    *out = (int64_t)v;
    return 0;
}

char *lb_str_last_line(const char *text)
{
    const char *end, *start;

    if (text == NULL)
        return lb_xstrdup("");
    end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    start = end;
    while (start > text && start[-1] != '\n')
        start--;
    return lb_xstrndup(start, (size_t)(end - start));
}

int lb_str_starts(const char *s, const char *prefix)
{
    return s != NULL && prefix != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

int lb_str_ends(const char *s, const char *suffix)
{
    size_t n, m;

    if (s == NULL || suffix == NULL)
        return 0;
    n = strlen(s);
    m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int lb_file_read(const char *path, char **out, size_t *len, struct lb_err *err)
{
    struct lb_buf b = {0};
    char chunk[65536];
    int fd = -1;
    int rc = 0;

    *out = NULL;
    if (len != NULL)
        *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = lb_err_set(err, errno == ENOENT ? LB_ENOTFOUND : LB_EIO, "%s: %s", path,
                        strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        lb_buf_add(&b, chunk, (size_t)got);
    }
    if (len != NULL)
        *len = b.len;
    *out = lb_buf_steal(&b);
out:
    lb_buf_free(&b);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* write(2) all of it, retrying on EINTR and short writes. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lb_file_write(const char *path, const void *data, size_t len, struct lb_err *err)
{
    char *dir = NULL;
    char *tmp = NULL;
    struct stat st;
    mode_t mode = 0644;
    int fd = -1;
    int dfd = -1;
    int rc = 0;

    if (stat(path, &st) == 0)
        mode = st.st_mode & 07777;
    dir = lb_path_dir(path);
    tmp = lb_xasprintf("%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = lb_err_set(err, LB_EIO, "%s: cannot create a temporary file: %s", path,
                        strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = lb_err_set(err, LB_EIO, "%s: rename: %s", path, strerror(errno));
        goto out;
    }
    /* Make the rename itself durable. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp != NULL)
        unlink(tmp);
    if (dfd >= 0)
        close(dfd);
    free(tmp);
    free(dir);
    return rc;
}

int lb_file_exists(const char *path)
{
    struct stat st;

    return path != NULL && stat(path, &st) == 0;
}

int lb_mkdirs(const char *path, unsigned mode, struct lb_err *err)
{
    char *copy = NULL;
    char *p;
    struct stat st;
    int rc = 0;

    if (path == NULL || *path == '\0')
        return lb_err_set(err, LB_EINVAL, "mkdir: empty path");
    copy = lb_xstrdup(path);
    for (p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
                rc = lb_err_set(err, LB_EIO, "mkdir %s: %s", copy, strerror(errno));
                goto out;
            }
            *p = saved;
        }
        if (*p == '\0')
            break;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = lb_err_set(err, LB_EIO, "mkdir %s: exists and is not a directory", path);
        goto out;
    }
out:
    free(copy);
    return rc;
}

char *lb_path_abs(const char *path)
{
    struct lb_buf out = {0};
    char *full = NULL;
    char cwd[PATH_MAX];
    const char *p;

    if (path == NULL)
        return NULL;
    if (path[0] == '/') {
        full = lb_xstrdup(path);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return NULL;
        full = lb_path_join(cwd, path);
    }
    /* Normalise: drop "." and empty parts, let ".." remove the previous part. */
    p = full;
    while (*p != '\0') {
        const char *start;
        size_t n;

        while (*p == '/')
            p++;
        start = p;
        while (*p != '\0' && *p != '/')
            p++;
        n = (size_t)(p - start);
        if (n == 0 || (n == 1 && start[0] == '.'))
            continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            while (out.len > 0 && out.data[out.len - 1] != '/')
                out.len--;
            if (out.len > 0)
                out.len--;
            if (out.data != NULL)
                out.data[out.len] = '\0';
            continue;
        }
        lb_buf_addc(&out, '/');
        lb_buf_add(&out, start, n);
    }
    if (out.len == 0)
        lb_buf_addc(&out, '/');
    free(full);
    return lb_buf_steal(&out);
}

char *lb_path_join(const char *a, const char *b)
{
    size_t alen;

    if (a == NULL || *a == '\0')
        return lb_xstrdup(b != NULL ? b : "");
    if (b == NULL || *b == '\0')
        return lb_xstrdup(a);
    alen = strlen(a);
    while (alen > 1 && a[alen - 1] == '/')
        alen--;
    while (*b == '/')
        b++;
    if (alen == 1 && a[0] == '/')
        return lb_xasprintf("/%s", b);
    return lb_xasprintf("%.*s/%s", (int)alen, a, b);
}

char *lb_path_dir(const char *path)
{
    size_t n;

    if (path == NULL)
        return lb_xstrdup(".");
    n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    if (n == 0)
        return lb_xstrdup(".");
    while (n > 1 && path[n - 1] == '/')
        n--;
    return lb_xstrndup(path, n);
}

int lb_rmtree(const char *path, struct lb_err *err)
{
    struct stat st;
    DIR *d = NULL;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return lb_err_set(err, LB_EIO, "rm %s: %s", path, strerror(errno));
        return 0;
    }
    /* A fenced data directory (mode 000). */
    if ((st.st_mode & 0700) != 0700)
        (void)chmod(path, (st.st_mode & 07777) | 0700);
    d = opendir(path);
    if (d == NULL)
        return lb_err_set(err, LB_EIO, "%s: %s", path, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *child;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        child = lb_path_join(path, e->d_name);
        rc = lb_rmtree(child, err);
        free(child);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0 && errno != ENOENT)
        rc = lb_err_set(err, LB_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}

void lb_file_read_small(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t got = 0;

    if (f != NULL) {
        got = fread(out, 1, n - 1, f);
        fclose(f);
    }
    out[got] = '\0';
}
