/*
 * api_web.h -- the pages the binary serves itself: the console (GET / and
 * /console), the API reference (GET /docs), the OpenAPI document
 * (GET /openapi.json) and their scripts and styles (GET /assets/NAME).
 * They are the files of web/, built into the binary (cmake/embed.cmake),
 * so a node needs nothing beside it and the pages work offline.
 */
#ifndef URSA_API_WEB_H
#define URSA_API_WEB_H

#include "api.h"

typedef struct api_web_asset {
    const char *name; /* its file name in web/ */
    const unsigned char *data;
    size_t len;
} api_web_asset_t;

/* The files of web/ (made by cmake/embed.cmake). */
extern const api_web_asset_t api_web_assets[];
extern const size_t api_web_nassets;

/* The asset a URL path names ("/" and "/console": console.html, "/docs":
 * docs.html, "/openapi.json", "/assets/NAME"), or NULL. */
const api_web_asset_t *api_web_find(const char *url);

/* GET of an asset: q->name holds its file name (http_server.c's routing). */
enum MHD_Result api_web_get(api_ctx_t *a, struct MHD_Connection *c, api_req_t *q);

#endif
