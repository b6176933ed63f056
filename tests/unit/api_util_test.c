/*
 * api_util_test.c - api/util.c: the stored file name, the extension rule,
 * query numbers, and the upload's format sniff, fed whole and byte by byte
 * (the post processor splits the file anywhere).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/api.h"

static void test_clean_utf8(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(api_util_clean_utf8("abc", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    /* control characters, DEL and C1 controls go; valid multibyte stays */
    const char in[] = "a\x01\nb\x7f\xc2\x85\xc3\xa9t\xe2\x82\xac";
    api_util_clean_utf8(in, sizeof(in) - 1, out, sizeof(out));
    assert_string_equal(out, "ab\xc3\xa9t\xe2\x82\xac");
    /* invalid sequences go: lone continuation, overlong, surrogate, truncated, past U+10FFFF */
    const char bad[] = "x\x80y\xc0\xafz\xed\xa0\x80w\xf4\x90\x80\x80v\xe2\x82";
    api_util_clean_utf8(bad, sizeof(bad) - 1, out, sizeof(out));
    assert_string_equal(out, "xyzwv");
    /* never more than outlen - 1 bytes, never half a character */
    char small[4];
    assert_int_equal(api_util_clean_utf8("ab\xe2\x82\xac", 5, small, sizeof(small)), 2);
    assert_string_equal(small, "ab");
}

static void test_file_name(void **state)
{
    (void)state;
    char out[API_FILE_NAME_MAX + 1];
    assert_int_equal(api_util_file_name("../../etc/passwd.jsonl", out), strlen("passwd.jsonl"));
    assert_string_equal(out, "passwd.jsonl");
    api_util_file_name("C:\\logs\\app.ndjson", out);
    assert_string_equal(out, "app.ndjson");
    api_util_file_name("a\tb\r\n.jsonl", out);
    assert_string_equal(out, "ab.jsonl");
    assert_int_equal(api_util_file_name("dir/", out), 0);
    assert_int_equal(api_util_file_name(NULL, out), 0);

    /* a long name keeps its start and its extension, within 255 bytes, on a character boundary */
    char longname[2000];
    size_t n = 0;
    for (int i = 0; i < 600; i++) {
        memcpy(longname + n, "\xc3\xa9", 2); /* é: two bytes */
        n += 2;
    }
    memcpy(longname + n, ".JSONL", 7);
    size_t len = api_util_file_name(longname, out);
    assert_true(len <= API_FILE_NAME_MAX);
    assert_int_equal(len, strlen(out));
    assert_string_equal(out + len - 6, ".JSONL");
    assert_int_equal((len - 6) % 2, 0); /* whole é characters only */
    assert_true(api_util_has_jsonl_ext(out));
}

static void test_extension(void **state)
{
    (void)state;
    assert_true(api_util_has_jsonl_ext("a.jsonl"));
    assert_true(api_util_has_jsonl_ext("a.JSONL"));
    assert_true(api_util_has_jsonl_ext("b.NdJson"));
    assert_true(api_util_has_jsonl_ext(".jsonl"));
    assert_false(api_util_has_jsonl_ext("a.json"));
    assert_false(api_util_has_jsonl_ext("a.jsonl.gz"));
    assert_false(api_util_has_jsonl_ext("jsonl"));
    assert_false(api_util_has_jsonl_ext(""));
}

static void test_parse_int(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(api_util_parse_int("100", 1, 1000, &v), EH_OK);
    assert_int_equal(v, 100);
    assert_int_equal(api_util_parse_int("0", 0, 5, &v), EH_OK);
    assert_int_equal(v, 0);
    const char *bad[] = {"", "0", "1001", "-1", "+1", "1e3", " 1", "1 ", "abc", "99999999999999999999", NULL};
    for (int i = 0; bad[i] != NULL; i++)
        assert_int_equal(api_util_parse_int(bad[i], 1, 1000, &v), EH_DECLINED);
    assert_int_equal(api_util_parse_int(NULL, 1, 1000, &v), EH_DECLINED);
}

/* Sniffs data fed whole, then byte by byte; both must agree. */
static int sniff(const char *data, size_t len)
{
    int verdicts[2];
    for (int mode = 0; mode < 2; mode++) {
        api_sniff_t s;
        api_sniff_init(&s, 1024);
        int v = 0;
        if (mode == 0)
            v = api_sniff_feed(&s, data, len);
        else
            for (size_t i = 0; i < len && v >= 0; i++)
                v = api_sniff_feed(&s, data + i, 1);
        if (v == 0)
            v = api_sniff_finish(&s);
        if (v < 0)
            assert_non_null(s.reason);
        api_sniff_free(&s);
        verdicts[mode] = v;
    }
    assert_int_equal(verdicts[0], verdicts[1]);
    return verdicts[0];
}

#define SNIFF(lit) sniff(lit, sizeof(lit) - 1)

static void test_sniff_accepts(void **state)
{
    (void)state;
    assert_int_equal(SNIFF("{\"a\":1}\n"), 1);
    assert_int_equal(SNIFF("{\"a\":1}"), 1);               /* no final newline */
    assert_int_equal(SNIFF("{\"a\":1}\r\nnot json\n"), 1); /* only the first line is judged */
    assert_int_equal(SNIFF("\n \t\r\n{\"a\":1}\n"), 1);    /* blank lines first */
    assert_int_equal(SNIFF("\xef\xbb\xbf{\"a\":1}\n"), 1); /* BOM */
    assert_int_equal(SNIFF("  {\"a\": {\"b\": [1, 2]}}  \n"), 1);
}

static void test_sniff_refuses(void **state)
{
    (void)state;
    assert_int_equal(SNIFF("[1,2]\n"), -1);
    assert_int_equal(SNIFF("hello\n"), -1);
    assert_int_equal(SNIFF("{\"a\":1} {\"b\":2}\n"), -1);
    assert_int_equal(SNIFF("{\"a\":\n1}\n"), -1);       /* an object split over lines is not a JSON line */
    assert_int_equal(SNIFF("\n\n  \n"), -1);            /* nothing but blanks */
    assert_int_equal(SNIFF("\xef\xbb{\"a\":1}\n"), -1); /* half a BOM */
    assert_int_equal(SNIFF("{\"a\":1}\n\x00\n"), -1);   /* NUL after a good first line */
    assert_int_equal(SNIFF("{\"a\":\"\x00\"}\n"), -1);

    /* a first line longer than the limit (1024 here) */
    char longline[2100];
    memset(longline, ' ', sizeof(longline));
    longline[0] = '{';
    memcpy(longline + sizeof(longline) - 2, "}\n", 2);
    assert_int_equal(sniff(longline, sizeof(longline)), -1);
}

static void test_sniff_nul_window(void **state)
{
    (void)state;
    /* A NUL at 64 KiB - 1 is refused; one at 64 KiB is past the window. */
    size_t len = API_SNIFF_NUL_WINDOW + 16;
    char *data = malloc(len);
    assert_non_null(data);
    memset(data, 'x', len);
    memcpy(data, "{\"a\":1}\n", 8);
    data[API_SNIFF_NUL_WINDOW - 1] = '\0';
    assert_int_equal(sniff(data, len), -1);
    data[API_SNIFF_NUL_WINDOW - 1] = 'x';
    data[API_SNIFF_NUL_WINDOW] = '\0';
    api_sniff_t s;
    api_sniff_init(&s, 1024);
    assert_int_equal(api_sniff_feed(&s, data, API_SNIFF_NUL_WINDOW), 1); /* decided at the window's end */
    assert_int_equal(api_sniff_feed(&s, data + API_SNIFF_NUL_WINDOW, 16), 1);
    api_sniff_free(&s);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_utf8),       cmocka_unit_test(test_file_name),
        cmocka_unit_test(test_extension),        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_sniff_accepts),    cmocka_unit_test(test_sniff_refuses),
        cmocka_unit_test(test_sniff_nul_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
