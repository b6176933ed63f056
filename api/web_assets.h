/*
 * web_assets.h - the web page's files, compiled into eh-api (the table is
 * generated from api/web/ by scripts/embed-web.sh at build time).
 */
#ifndef EH_API_WEB_ASSETS_H
#define EH_API_WEB_ASSETS_H

#include <stddef.h>

typedef struct api_web_asset {
    const char *name;         /* "index.html", "app.js" */
    const char *content_type; /* with charset for text */
    const char *etag;         /* quoted strong ETag of the content */
    const unsigned char *data;
    size_t len;
} api_web_asset_t;

extern const api_web_asset_t api_web_assets[];
extern const size_t api_web_assets_count;

#endif
