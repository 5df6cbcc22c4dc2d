/*
 * http.request{...}, http.get(url, opts), http.post(url, opts): HTTP from a
 * step, through the http module (libcurl). JSON both ways through cJSON,
 * TLS verified unless told otherwise, AWS SigV4 with the credentials AWS
 * tools read from the environment. Every call is bounded by the sooner of
 * its own timeout and the step's deadline, and recorded on the step
 * (method, redacted URL, status, duration, redacted body tail).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>

#include "l_internal.h"
#include "lifeboat/engine.h"
#include "lifeboat/http.h"

#define JSON_MAX_DEPTH 100
#define BODY_TAIL_RECORDED 1024
#define MAX_BODY_LIMIT ((lua_Integer)256 * 1024 * 1024)

/* A cJSON tree (and its printed text) owned by a userdata, so an error
 * raised halfway through building or reading it frees it. */
struct json_box {
    cJSON *tree;
    char *text;
};

static int json_box_gc(lua_State *L)
{
    struct json_box *b = lua_touserdata(L, 1);
    cJSON_Delete(b->tree);
    cJSON_free(b->text);
    b->tree = NULL;
    b->text = NULL;
    return 0;
}

static struct json_box *new_json_box(lua_State *L)
{
    struct json_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->tree = NULL;
    b->text = NULL;
    if (luaL_newmetatable(L, "lifeboat.jsonbox")) {
        lua_pushcfunction(L, json_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

static int resp_gc(lua_State *L)
{
    lb_http_resp_free(lua_touserdata(L, 1));
    return 0;
}

static struct lb_http_resp *new_resp_box(lua_State *L)
{
    struct lb_http_resp *r = lua_newuserdatauv(L, sizeof(*r), 0);
    memset(r, 0, sizeof(*r));
    if (luaL_newmetatable(L, "lifeboat.httpresp")) {
        lua_pushcfunction(L, resp_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return r;
}

/* ---- Lua -> JSON ----------------------------------------------------- */

/* A table whose keys are exactly 1..n (n > 0) is an array; n is returned
 * (0 for an object, including the empty table). */
static lua_Integer array_length(lua_State *L, int t)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;

    if (n == 0)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n ? n : 0;
}

/* Encode the value at idx and attach it at once (to parent, or as the
 * box's root) so that the box owns every node before anything can raise. */
static void json_encode(lua_State *L, int idx, int depth, struct json_box *box, cJSON *parent,
                        const char *key)
{
    cJSON *node = NULL;
    lua_Integer n = 0;
    int type = lua_type(L, idx);

    idx = lua_absindex(L, idx);
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "http: json nested deeper than %d (a cycle?)", JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "http: json nested too deeply");
    switch (type) {
    case LUA_TBOOLEAN:
        node = cJSON_CreateBool(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            node = cJSON_CreateNumber((double)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d))
                luaL_error(L, "http: json cannot hold %f", d);
            node = cJSON_CreateNumber(d);
        }
        break;
    case LUA_TSTRING:
        node = cJSON_CreateString(lua_tostring(L, idx));
        break;
    case LUA_TTABLE:
        n = array_length(L, idx);
        node = n > 0 ? cJSON_CreateArray() : cJSON_CreateObject();
        break;
    default:
        luaL_error(L, "http: json cannot encode a %s", lua_typename(L, type));
    }
    if (node == NULL)
        luaL_error(L, "http: out of memory encoding json");
    if (parent == NULL)
        box->tree = node;
    else if (key != NULL)
        cJSON_AddItemToObject(parent, key, node);
    else
        cJSON_AddItemToArray(parent, node);
    if (type != LUA_TTABLE)
        return;
    if (n > 0) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_encode(L, -1, depth + 1, box, node, NULL);
            lua_pop(L, 1);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        /* a number key (a sparse array) becomes its decimal string; a copy is
         * converted, never the key lua_next walks with */
        if (lua_type(L, -2) == LUA_TNUMBER) {
            lua_pushvalue(L, -2);
            lua_tostring(L, -1);
        } else if (lua_type(L, -2) == LUA_TSTRING) {
            lua_pushvalue(L, -2);
        } else {
            luaL_error(L, "http: json object keys must be strings or numbers (found a %s "
                       "key)", luaL_typename(L, -2));
        }
        json_encode(L, -2, depth + 1, box, node, lua_tostring(L, -1));
        lua_pop(L, 2);
    }
}

/* ---- JSON -> Lua ----------------------------------------------------- */

static void json_push(lua_State *L, const cJSON *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "http: response json nested deeper than %d", JSON_MAX_DEPTH);
    luaL_checkstack(L, 3, "http: response json nested too deeply");
    if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
            d == (double)(long long)d)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, (lua_Number)d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        lua_Integer i = 0;
        const cJSON *c;
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        cJSON_ArrayForEach(c, j) {
            json_push(L, c, depth + 1);
            lua_rawseti(L, -2, ++i);
        }
    } else if (cJSON_IsObject(j)) {
        const cJSON *c;
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        cJSON_ArrayForEach(c, j) {
            json_push(L, c, depth + 1);
            lua_setfield(L, -2, c->string ? c->string : "");
        }
    } else {
        lua_pushnil(L);   /* null: absent in Lua */
    }
}

/* ---- the request ----------------------------------------------------- */

static const char *const request_keys[] = {
    "method", "url", "headers", "body", "json", "timeout", "aws", "verify_tls", "ca_file",
    "max_body", "follow_redirects", NULL};

static int has_header_named(const char *const *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(h[i], name, len) == 0 && h[i][len] == ':')
            return 1;
    }
    return 0;
}

/*
 * Headers from opts.headers ({ Name = "value" }) as "Name: value" lines in a
 * NULL-ended array boxed on the stack; the strings are anchored in a table
 * pushed just before it. Room for `extra` more lines is left.
 */
static const char **collect_headers(lua_State *L, int opts, const char *what, size_t extra,
                                    size_t *count)
{
    size_t n = 0, i = 0;
    const char **arr;
    int anchor, ht;

    *count = 0;
    lua_createtable(L, 8, 0);
    anchor = lua_gettop(L);
    ht = 0;
    if (lua_getfield(L, opts, "headers") == LUA_TTABLE) {
        ht = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, ht)) {
            n++;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: headers must be a table of name = value", what);
    }
    arr = lua_newuserdatauv(L, (n + extra + 1) * sizeof(char *), 0);
    if (ht) {
        lua_pushnil(L);
        while (lua_next(L, ht)) {
            const char *name, *value;
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
                luaL_error(L, "%s: headers must map names to strings", what);
            name = lua_tostring(L, -2);
            value = lua_tostring(L, -1);
            if (!*name || strpbrk(name, ":\r\n \t") || strpbrk(value, "\r\n"))
                luaL_error(L, "%s: header '%s' must be one line with a plain name", what,
                           name);
            lua_pushfstring(L, "%s: %s", name, value);
            arr[i++] = lua_tostring(L, -1);
            lua_rawseti(L, anchor, (lua_Integer)i);
            lua_pop(L, 1);
        }
    }
    arr[i] = NULL;
    *count = i;
    /* stack: anchor, headers value, box. Keep the anchor and the box. */
    lua_remove(L, -2);
    return arr;
}

/* Record a call on the current step: one line, redacted, plus metrics. */
static void record_call(lua_State *L, const char *method, const char *url,
                        const struct lb_http_resp *resp, int rc, const struct lb_err *e)
{
    struct lb_script *s = l_script(L);
    struct lb_secrets *sec = lb_run_secrets(s->run);
    struct lb_buf b = {0};
    struct lb_err ignore = {0};
    char *clean;

    if (rc == 0)
        lb_buf_printf(&b, "http %s %s -> %ld (%lld ms, %zu bytes%s)", method, url,
                      resp->status, (long long)resp->duration_ms, resp->body_total,
                      resp->truncated ? ", truncated" : "");
    else
        lb_buf_printf(&b, "http %s %s -> failed after %lld ms: %s", method, url,
                      (long long)resp->duration_ms, e->msg);
    if (rc == 0 && resp->body_len > 0) {
        size_t from = resp->body_len > BODY_TAIL_RECORDED ? resp->body_len - BODY_TAIL_RECORDED
                                                          : 0;
        lb_buf_printf(&b, "\n%s", from ? "..." : "");
        for (size_t i = from; i < resp->body_len; i++)
            lb_buf_addc(&b, resp->body[i] ? resp->body[i] : ' ');
    }
    clean = lb_redact_text(sec, b.data);
    lb_run_step_output(s->run, clean);
    free(clean);
    lb_buf_free(&b);
    lb_run_metric(s->run, "http.duration", (double)resp->duration_ms, "ms", &ignore);
    if (rc == 0)
        lb_run_metric(s->run, "http.status", (double)resp->status, NULL, &ignore);
}

/*
 * The request described by the options table at `opts`, with method and URL
 * forced when given (get/post). Pushes the result table.
 */
static int do_request(lua_State *L, int opts, const char *what, const char *method,
                      const char *url)
{
    struct lb_script *s = l_need_exec(L, what);
    struct lb_http_req req = {0};
    struct lb_aws_credentials creds;
    struct lb_http_resp *resp;
    struct lb_err e = {0};
    struct json_box *jb = NULL;
    const char **headers;
    size_t nheaders;
    lua_Integer max_body;
    int64_t timeout;
    int rc;

    luaL_checkstack(L, 24, what);
    l_check_options(L, opts, what, request_keys);
    if (!method) {
        method = l_opt_string_field(L, opts, "method", NULL);
    } else if (lua_getfield(L, opts, "method") != LUA_TNIL) {
        return luaL_error(L, "%s: the method is the function's (use http.request for another)",
                          what);
    } else {
        lua_pop(L, 1);
    }
    if (!url) {
        url = l_opt_string_field(L, opts, "url", NULL);
        if (!url)
            return luaL_error(L, "%s: url is required", what);
    } else if (lua_getfield(L, opts, "url") != LUA_TNIL) {
        return luaL_error(L, "%s: give the URL as the first argument only", what);
    } else {
        lua_pop(L, 1);
    }
    req.url = url;
    req.body = l_opt_string_field(L, opts, "body", NULL);
    if (req.body) {
        lua_getfield(L, opts, "body");
        req.body_len = lua_rawlen(L, -1);
        lua_pop(L, 1);
    }
    timeout = l_opt_duration_field(L, opts, "timeout");
    req.timeout_ms = timeout > 0 ? timeout : 0;
    req.deadline_ms = l_deadline(L);
    req.insecure = !l_opt_bool_field(L, opts, "verify_tls", 1);
    req.ca_file = l_opt_string_field(L, opts, "ca_file", NULL);
    req.follow_redirects = l_opt_bool_field(L, opts, "follow_redirects", 0);
    max_body = l_opt_int_field(L, opts, "max_body", (lua_Integer)LB_HTTP_DEFAULT_MAX_BODY);
    if (max_body <= 0 || max_body > MAX_BODY_LIMIT)
        return luaL_error(L, "%s: max_body must be between 1 and %lld bytes", what,
                          (long long)MAX_BODY_LIMIT);
    req.max_body = (size_t)max_body;

    if (lua_getfield(L, opts, "aws") == LUA_TTABLE) {
        static const char *const aws_keys[] = {"region", "service", NULL};
        int at = lua_gettop(L);
        l_check_options(L, at, "http: aws", aws_keys);
        req.aws_region = l_opt_string_field(L, at, "region", NULL);
        req.aws_service = l_opt_string_field(L, at, "service", NULL);
        if (!req.aws_region || !req.aws_service)
            return luaL_error(L, "%s: aws needs region and service", what);
    } else if (!lua_isnil(L, -1)) {
        return luaL_error(L, "%s: aws must be a table { region, service }", what);
    }
    lua_pop(L, 1);   /* the strings stay referenced by opts */

    headers = collect_headers(L, opts, what, 1, &nheaders);
    if (lua_getfield(L, opts, "json") != LUA_TNIL) {
        if (req.body)
            return luaL_error(L, "%s: give body or json, not both", what);
        int jv = lua_gettop(L);
        jb = new_json_box(L);
        json_encode(L, jv, 0, jb, NULL, NULL);
        jb->text = cJSON_PrintUnformatted(jb->tree);
        if (!jb->text)
            return luaL_error(L, "http: out of memory encoding json");
        req.body = jb->text;
        req.body_len = strlen(jb->text);
        if (!has_header_named(headers, nheaders, "Content-Type")) {
            headers[nheaders++] = "Content-Type: application/json";
            headers[nheaders] = NULL;
        }
    }
    req.headers = headers;
    if (!method)
        method = req.body ? "POST" : "GET";
    req.method = method;

    if (req.aws_region) {
        if (lb_aws_credentials_from_env(&creds, &e) < 0)
            return lb_lua_raise(L, &e);
        /* what AWS answers or a tool echoes must not carry them into the store */
        lb_secrets_add(lb_run_secrets(s->run), creds.secret_access_key);
        if (creds.session_token)
            lb_secrets_add(lb_run_secrets(s->run), creds.session_token);
        req.aws = &creds;
    }

    resp = new_resp_box(L);
    rc = lb_http_request(&req, resp, &e);
    record_call(L, method, url, resp, rc, &e);
    if (rc < 0)
        return lb_lua_raise(L, &e);

    lua_createtable(L, 0, 6);
    int result = lua_gettop(L);
    lua_pushinteger(L, (lua_Integer)resp->status);
    lua_setfield(L, result, "status");
    lua_pushlstring(L, resp->body, resp->body_len);
    lua_setfield(L, result, "body");
    lua_pushnumber(L, (lua_Number)resp->duration_ms / 1000.0);
    lua_setfield(L, result, "duration");
    lua_pushboolean(L, resp->truncated);
    lua_setfield(L, result, "truncated");
    lua_createtable(L, 0, (int)resp->nheaders);
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct lb_http_header *h = &resp->headers[i];
        if (lua_getfield(L, -1, h->name) == LUA_TSTRING) {
            lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), h->value);
            lua_setfield(L, -3, h->name);
            lua_pop(L, 1);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, h->value);
            lua_setfield(L, -2, h->name);
        }
    }
    lua_setfield(L, result, "headers");
    if (lb_http_resp_is_json(resp) && !resp->truncated) {
        struct json_box *rb = new_json_box(L);
        rb->tree = cJSON_ParseWithLength(resp->body, resp->body_len);
        if (rb->tree) {
            json_push(L, rb->tree, 0);
            lua_setfield(L, result, "json");
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, result);
    return 1;
}

/* http.request{ method, url, headers, body | json, timeout, aws = { region, service },
 *               verify_tls, ca_file, max_body, follow_redirects }
 *   -> { status, headers, body, json, duration, truncated } */
static int l_http_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    return do_request(L, 1, "http.request", NULL, NULL);
}

/* Options at index 2 (or a fresh empty table when absent). */
static int opts_at_2(lua_State *L, const char *what)
{
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    } else if (!lua_istable(L, 2)) {
        return luaL_error(L, "%s: options must be a table", what);
    }
    lua_settop(L, 2);
    return 2;
}

/* http.get(url, [opts]) -> response */
static int l_http_get(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    return do_request(L, opts_at_2(L, "http.get"), "http.get", "GET", url);
}

/* http.post(url, [opts]) -> response */
static int l_http_post(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    return do_request(L, opts_at_2(L, "http.post"), "http.post", "POST", url);
}

int luaopen_lifeboat_http(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"request", l_http_request},
        {"get", l_http_get},
        {"post", l_http_post},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_setglobal(L, "http");
    return 0;
}
