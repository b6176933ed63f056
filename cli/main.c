/*
 * eh - the command line of Event Horizon: parse, resolve the configuration,
 * run the command, exit with its code (cli.h).
 */
#include <curl/curl.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "http.h"
#include "output.h"

#define DEFAULT_RETRIES 5

static void on_signal(int sig)
{
    EH_UNUSED(sig);
    cli_interrupted = 1;
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return EH_ERR;
    signal(SIGPIPE, SIG_IGN);
    return EH_OK;
}

int main(int argc, char **argv)
{
    cli_args_t a;
    char err[512];
    if (cli_args_parse(argc, argv, &a, err, sizeof(err)) != EH_OK) {
        fprintf(stderr, "eh: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (a.help) {
        fputs(cli_args_help(a.cmd), stdout);
        return CLI_EXIT_OK;
    }
    if (a.version) {
        printf("eh %s (libcurl %s, libwebsockets %s)\n", CLI_VERSION, curl_version_info(CURLVERSION_NOW)->version,
               lws_get_library_version());
        return CLI_EXIT_OK;
    }
    char path[1024];
    const char *config_path = a.config;
    if (config_path == NULL && cli_config_default_path(getenv("XDG_CONFIG_HOME"), getenv("HOME"), path, sizeof(path)))
        config_path = path;
    cli_config_t cfg;
    if (cli_config_resolve(a.url, a.key, getenv("EH_URL"), getenv("EH_API_KEY"), config_path, &cfg, err, sizeof(err)) !=
        EH_OK) {
        fprintf(stderr, "eh: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (install_signals() != EH_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "eh: cannot start\n");
        return CLI_EXIT_UNAVAILABLE;
    }
    lws_set_log_level(0, NULL);
    int code = CLI_EXIT_UNAVAILABLE;
    cli_http_t *h = cli_http_create(&cfg, a.retries >= 0 ? (int)a.retries : DEFAULT_RETRIES);
    explicit_bzero(&cfg, sizeof(cfg));
    if (h == NULL) {
        fprintf(stderr, "eh: out of memory\n");
    } else {
        cli_out_t out;
        cli_out_init(&out, a.json);
        code = cli_cmd_run(&a, h, &out);
        cli_out_end_bar(&out);
        cli_http_destroy(h);
    }
    curl_global_cleanup();
    return code;
}
