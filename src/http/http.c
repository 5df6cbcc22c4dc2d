/*
 * One HTTP request through a libcurl easy handle: deadline from the
 * caller's timeout and deadline, abort on a signal, response body kept up
 * to a limit, headers of the final response, AWS SigV4 through libcurl.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lifeboat/http.h"

#define MAX_REDIRECTS 5L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* libcurl's own process-wide setup; see http.h. */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int lb_aws_credentials_from_env(struct lb_aws_credentials *c, struct lb_err *err)
{
    const char *token;

    memset(c, 0, sizeof(*c));
    c->access_key_id = getenv("AWS_ACCESS_KEY_ID");
    c->secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    token = getenv("AWS_SESSION_TOKEN");
    c->session_token = token && *token ? token : NULL;
    if (!c->access_key_id || !*c->access_key_id)
        return lb_err_set(err, LB_EINVAL, "AWS signing needs AWS_ACCESS_KEY_ID in the "
                          "environment");
    if (!c->secret_access_key || !*c->secret_access_key)
        return lb_err_set(err, LB_EINVAL, "AWS signing needs AWS_SECRET_ACCESS_KEY in the "
                          "environment");
    return 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int ieq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
        if (a[i] == '\0')
            return 1;
    }
    return 1;
}

static int ieq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && ieq_n(a, b, la);
}

/* What the callbacks fill while the transfer runs. */
struct sink {
    struct lb_http_resp *resp;
    struct lb_buf body;
    size_t max_body;
    size_t headers_cap;
};

static void clear_headers(struct lb_http_resp *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->nheaders = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    size_t room = s->body.len < s->max_body ? s->max_body - s->body.len : 0;

    s->resp->body_total += len;
    lb_buf_add(&s->body, p, len < room ? len : room);
    return len;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One header line (with its CRLF) of any response of the exchange; a status
 * line starts a new response (100 Continue, a redirect), so the headers kept
 * are the final response's. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    struct lb_http_resp *r = s->resp;
    size_t len = size * n, end = len;
    const char *colon;

    while (end > 0 && is_space(p[end - 1]))
        end--;
    if (end == 0)
        return len;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        clear_headers(r);
        return len;
    }
    if ((p[0] == ' ' || p[0] == '\t') && r->nheaders > 0) {
        /* obsolete line folding: continue the previous value */
        size_t start = 0;
        struct lb_http_header *h = &r->headers[r->nheaders - 1];
        char *joined;
        while (start < end && is_space(p[start]))
            start++;
        joined = lb_xasprintf("%s %.*s", h->value, (int)(end - start), p + start);
        free(h->value);
        h->value = joined;
        return len;
    }
    colon = memchr(p, ':', end);
    if (colon == NULL)
        return len;
    if (r->nheaders == s->headers_cap) {
        s->headers_cap = s->headers_cap ? s->headers_cap * 2 : 16;
        r->headers = lb_xrealloc(r->headers, s->headers_cap * sizeof(*r->headers));
    }
    {
        struct lb_http_header *h = &r->headers[r->nheaders++];
        size_t nlen = (size_t)(colon - p), vstart = nlen + 1;
        h->name = lb_xstrndup(p, nlen);
        for (char *q = h->name; *q; q++)
            *q = (char)lower((unsigned char)*q);
        while (vstart < end && is_space(p[vstart]))
            vstart++;
        h->value = lb_xstrndup(p + vstart, end - vstart);
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return lb_interrupted() ? 1 : 0;
}

void lb_http_url_origin(const char *url, char *out, size_t outsz)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;

    pthread_once(&global_once, global_init);
    if (u == NULL || url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(out, outsz, "(bad url)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    snprintf(out, outsz, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

char *lb_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct lb_buf b = {0};

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            lb_buf_addc(&b, (char)*p);
        } else {
            lb_buf_addc(&b, '%');
            lb_buf_addc(&b, hex[*p >> 4]);
            lb_buf_addc(&b, hex[*p & 15]);
        }
    }
    return lb_buf_steal(&b);
}

const char *lb_http_resp_header(const struct lb_http_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (ieq(resp->headers[i].name, name))
            return resp->headers[i].value;
    return NULL;
}

int lb_http_resp_is_json(const struct lb_http_resp *resp)
{
    const char *ct = lb_http_resp_header(resp, "content-type");
    size_t n;

    if (ct == NULL)
        return 0;
    n = strcspn(ct, "; \t");
    if ((n == 16 && ieq_n(ct, "application/json", 16)) || (n == 9 && ieq_n(ct, "text/json", 9)))
        return 1;
    return n > 5 && ieq_n(ct + n - 5, "+json", 5);
}

void lb_http_resp_free(struct lb_http_resp *resp)
{
    if (resp == NULL)
        return;
    clear_headers(resp);
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

/* A header line a caller passes must be "Name: value" on one line. */
static int valid_header(const char *h)
{
    const char *colon = strchr(h, ':');
    return colon != NULL && colon != h && strpbrk(h, "\r\n") == NULL;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (ieq_n(headers[i], name, n) && headers[i][n] == ':')
            return 1;
    return 0;
}

/* Milliseconds the request may take, or 0 when the deadline has passed. */
static int64_t time_budget(const struct lb_http_req *req)
{
    int64_t t = req->timeout_ms > 0 ? req->timeout_ms : -1;

    if (req->deadline_ms > 0 && req->deadline_ms != LB_NO_DEADLINE) {
        int64_t left = lb_deadline_left(req->deadline_ms);
        if (t < 0 || left < t)
            t = left;
    }
    return t < 0 ? LB_HTTP_DEFAULT_TIMEOUT_MS : t;
}

static int map_curl_error(CURLcode cc, const char *errbuf, const char *method,
                          const char *origin, int64_t budget, struct lb_err *err)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);

    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return lb_err_set(err, LB_ETIMEOUT, "%s %s: no complete answer within %lld ms",
                          method, origin, (long long)budget);
    case CURLE_ABORTED_BY_CALLBACK:
        return lb_err_set(err, LB_EINTR, "%s %s: interrupted", method, origin);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return lb_err_set(err, LB_EINVAL, "%s %s: %s", method, origin, why);
    default:
        return lb_err_set(err, LB_EIO, "%s %s: %s", method, origin, why);
    }
}

int lb_http_request(const struct lb_http_req *req, struct lb_http_resp *resp,
                    struct lb_err *err)
{
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    struct sink sink = {0};
    struct lb_aws_credentials envcreds;
    const struct lb_aws_credentials *creds = req->aws;
    char origin[300], errbuf[CURL_ERROR_SIZE] = "";
    char *sigv4 = NULL, *token_hdr = NULL;
    const char *method = req->method;
    size_t body_len = req->body ? (req->body_len ? req->body_len : strlen(req->body)) : 0;
    int64_t budget, start = lb_mono_ms();
    CURLcode cc;
    int rc = 0;

    memset(resp, 0, sizeof(*resp));
    pthread_once(&global_once, global_init);
    if (method == NULL || !*method)
        method = req->body ? "POST" : "GET";
    lb_http_url_origin(req->url, origin, sizeof(origin));
    if (global_rc != CURLE_OK) {
        rc = lb_err_set(err, LB_EIO, "cannot initialise libcurl: %s",
                        curl_easy_strerror(global_rc));
        goto out;
    }
    if (req->url == NULL || !(lb_str_starts(req->url, "http://") ||
                              lb_str_starts(req->url, "https://"))) {
        rc = lb_err_set(err, LB_EINVAL, "%s %s: only http:// and https:// URLs are allowed",
                        method, origin);
        goto out;
    }
    for (const char *m = method; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || *m == '-' || *m == '_')) {
            rc = lb_err_set(err, LB_EINVAL, "bad HTTP method '%.32s' (upper case: GET, POST, "
                            "PUT, ...)", method);
            goto out;
        }
    budget = time_budget(req);
    if (budget <= 0) {
        rc = lb_err_set(err, LB_ETIMEOUT, "%s %s: the deadline passed before the request "
                        "was sent", method, origin);
        goto out;
    }

    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        if (!valid_header(req->headers[i])) {
            rc = lb_err_set(err, LB_EINVAL, "%s %s: header %zu is not one 'Name: value' "
                            "line", method, origin, i + 1);
            goto out;
        }
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    }
    if (req->aws_region || req->aws_service) {
        if (!req->aws_region || !req->aws_service || !*req->aws_region ||
            !*req->aws_service || strchr(req->aws_region, ':') ||
            strchr(req->aws_service, ':')) {
            rc = lb_err_set(err, LB_EINVAL, "%s %s: AWS signing needs both a region and a "
                            "service (no ':' in either)", method, origin);
            goto out;
        }
        if (creds == NULL) {
            if ((rc = lb_aws_credentials_from_env(&envcreds, err)) < 0)
                goto out;
            creds = &envcreds;
        }
        if (!creds->access_key_id || !creds->secret_access_key) {
            rc = lb_err_set(err, LB_EINVAL, "%s %s: AWS signing needs an access key id and "
                            "a secret access key", method, origin);
            goto out;
        }
        sigv4 = lb_xasprintf("aws:amz:%s:%s", req->aws_region, req->aws_service);
        if (creds->session_token && *creds->session_token) {
            if (strpbrk(creds->session_token, "\r\n")) {
                rc = lb_err_set(err, LB_EINVAL, "AWS_SESSION_TOKEN spans lines");
                goto out;
            }
            token_hdr = lb_xasprintf("X-Amz-Security-Token: %s", creds->session_token);
            hdrs = curl_slist_append(hdrs, token_hdr);
        }
    }
    /* No "Expect: 100-continue" round trip. Not when signing: libcurl 7.88
     * signs the empty "Expect:" it never sends, and AWS would refuse the
     * signature (AWS's get-vanilla vector in test_http catches this). */
    if (!sigv4 && !has_header(req->headers, "Expect"))
        hdrs = curl_slist_append(hdrs, "Expect:");
    for (size_t i = 0; req->connect_to && req->connect_to[i]; i++)
        connect_to = curl_slist_append(connect_to, req->connect_to[i]);

    h = curl_easy_init();
    if (h == NULL) {
        rc = lb_err_set(err, LB_EIO, "cannot create a libcurl handle");
        goto out;
    }
    sink.resp = resp;
    sink.max_body = req->max_body ? req->max_body : LB_HTTP_DEFAULT_MAX_BODY;
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)budget);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)budget);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lifeboat/" LIFEBOAT_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
    if (req->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
    if (req->follow_redirects) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    }
    if (connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    if (sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, creds->access_key_id);
        curl_easy_setopt(h, CURLOPT_PASSWORD, creds->secret_access_key);
    }
    if (req->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
               strcmp(method, "PATCH") == 0) {
        /* an empty body, said so (Content-Length: 0): some servers answer 411 otherwise */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    cc = curl_easy_perform(h);
    if (cc == CURLE_OK || cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_ABORTED_BY_CALLBACK) {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
    }
    if (cc != CURLE_OK) {
        rc = map_curl_error(cc, errbuf, method, origin, budget, err);
        goto out;
    }

out:
    resp->duration_ms = lb_mono_ms() - start;
    resp->body_len = sink.body.len;
    resp->body = lb_buf_steal(&sink.body);
    resp->truncated = resp->body_total > resp->body_len;
    lb_buf_free(&sink.body);
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    free(sigv4);
    if (token_hdr) {
        memset(token_hdr, 0, strlen(token_hdr));
        free(token_hdr);
    }
    return rc;
}
