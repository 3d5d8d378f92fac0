/*
 * api_web.c -- serves the files of web/ from the binary (api_web.h).
 *
 * Every page and script comes from this node, never from elsewhere: the
 * Content-Security-Policy allows scripts, styles, images and connections
 * (fetch and the live WebSocket) from the page's own origin only. An ETag
 * (a hash of the bytes) lets a browser revalidate a page instead of
 * fetching it again; Cache-Control: no-cache makes it ask each time, so a
 * new binary's pages show at once.
 */
#include "api_web.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *url, *file;
} pages[] = {
    {"/", "console.html"},
    {"/console", "console.html"},
    {"/docs", "docs.html"},
    {"/openapi.json", "openapi.json"},
};

static const api_web_asset_t *by_name(const char *name)
{
    for (size_t i = 0; i < api_web_nassets; i++)
        if (strcmp(api_web_assets[i].name, name) == 0) return &api_web_assets[i];
    return NULL;
}

const api_web_asset_t *api_web_find(const char *url)
{
    for (size_t i = 0; i < URSA_ARRAY_LEN(pages); i++)
        if (strcmp(url, pages[i].url) == 0) return by_name(pages[i].file);
    if (strncmp(url, "/assets/", 8) == 0 && !strchr(url + 8, '/')) return by_name(url + 8);
    return NULL;
}

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < URSA_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

enum MHD_Result api_web_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q)
{
    const api_web_asset_t *f = by_name(q->name);
    if (!f) return api_send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
    uint64_t h = 1469598103934665603ull; /* FNV-1a: the ETag only has to change with the bytes */
    for (size_t i = 0; i < f->len; i++) h = (h ^ f->data[i]) * 1099511628211ull;
    char etag[24];
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)h);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = inm && (strstr(inm, etag) || strcmp(inm, "*") == 0); /* "*": any version (RFC 9110 13.1.2) */
    /* (not MHD_create_response_from_buffer: http_server.c swaps its
     * persistent "<html>" bodies for JSON) */
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(
        fresh ? 0 : f->len, (void *)(uintptr_t)f->data, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(f->name));
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(
        r, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
    enum MHD_Result ret = api_queue(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
