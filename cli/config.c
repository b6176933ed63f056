/*
 * Where `eh` finds the API and its key: --url/--key, then EH_URL/EH_API_KEY,
 * then the config file `make run` writes ($XDG_CONFIG_HOME/eh/config, lines
 * url=... and key=...), then the local default URL.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool cli_config_default_path(const char *xdg, const char *home, char *out, size_t outlen)
{
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, outlen, "%s/eh/config", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, outlen, "%s/.config/eh/config", home);
    else
        return false;
    return n > 0 && (size_t)n < outlen;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int copy_value(char *dst, size_t dstlen, const char *value, const char *what, char *err, size_t errlen)
{
    size_t n = strlen(value);
    if (n >= dstlen) {
        snprintf(err, errlen, "%s is too long (at most %zu characters)", what, dstlen - 1);
        return EH_DECLINED;
    }
    memcpy(dst, value, n + 1);
    return EH_OK;
}

/* Reads url= and key= from path into the fields still empty. A missing file is no error. */
static int read_file(const char *path, cli_config_t *out, bool want_url, bool want_key, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return EH_OK;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return EH_DECLINED;
    }
    char line[2048];
    int lineno = 0, rc = EH_OK;
    while (rc == EH_OK && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = EH_DECLINED;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected url=... or key=...", path, lineno);
            rc = EH_DECLINED;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        if (strcmp(name, "url") == 0) {
            if (want_url)
                rc = copy_value(out->url, sizeof(out->url), value, "url", err, errlen);
        } else if (strcmp(name, "key") == 0) {
            if (want_key)
                rc = copy_value(out->key, sizeof(out->key), value, "key", err, errlen);
        } else {
            snprintf(err, errlen, "%s:%d: unknown setting \"%s\" (url and key are known)", path, lineno, name);
            rc = EH_DECLINED;
        }
    }
    if (rc == EH_OK && ferror(f)) {
        snprintf(err, errlen, "cannot read %s", path);
        rc = EH_DECLINED;
    }
    fclose(f);
    return rc;
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int cli_config_resolve(const char *flag_url, const char *flag_key, const char *env_url, const char *env_key,
                       const char *config_path, cli_config_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *url = set(flag_url) ? flag_url : set(env_url) ? env_url : NULL;
    const char *key = set(flag_key) ? flag_key : set(env_key) ? env_key : NULL;
    if (url != NULL && copy_value(out->url, sizeof(out->url), url, "the URL", err, errlen) != EH_OK)
        return EH_DECLINED;
    if (key != NULL && copy_value(out->key, sizeof(out->key), key, "the key", err, errlen) != EH_OK)
        return EH_DECLINED;
    if ((url == NULL || key == NULL) && config_path != NULL &&
        read_file(config_path, out, url == NULL, key == NULL, err, errlen) != EH_OK)
        return EH_DECLINED;
    if (out->url[0] == '\0')
        snprintf(out->url, sizeof(out->url), "%s", CLI_DEFAULT_URL);
    size_t n = strlen(out->url);
    while (n > 0 && out->url[n - 1] == '/')
        out->url[--n] = '\0';
    if (strncmp(out->url, "http://", 7) != 0 && strncmp(out->url, "https://", 8) != 0) {
        snprintf(err, errlen, "the URL must start with http:// or https://, not \"%s\"", out->url);
        return EH_DECLINED;
    }
    for (const char *k = out->key; *k != '\0'; k++) {
        if (*k < 0x21 || *k > 0x7e) {
            snprintf(err, errlen, "the API key holds a character that cannot go in a header");
            return EH_DECLINED;
        }
    }
    return EH_OK;
}

int cli_config_endpoint(const char *url, cli_endpoint_t *ep)
{
    memset(ep, 0, sizeof(*ep));
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        ep->port = 80;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        ep->tls = true;
        ep->port = 443;
    } else {
        return EH_DECLINED;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return EH_DECLINED;
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(ep->host))
        return EH_DECLINED;
    memcpy(ep->host, host, hlen);
    if (*p == ':') {
        char *end = NULL;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/'))
            return EH_DECLINED;
        ep->port = (int)port;
        p = end;
    }
    if (*p != '\0' && *p != '/')
        return EH_DECLINED;
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(ep->prefix))
        return EH_DECLINED;
    memcpy(ep->prefix, p, plen);
    return EH_OK;
}
