/* Tests of the C ABI (allezon/c.h), compiled as C11: what a C program sees, including
 * the error paths, NULL handling, ownership of results and use from several threads.
 *
 * Usage: allezon_c_abi_test [scratch_dir]   (default: a new directory under $TMPDIR or /tmp)
 */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allezon/c.h"
#include "c_check.h"

/* An error with this code expected; frees it and resets err to NULL. */
#define CHECK_ERR(err, code)                                                                       \
  do {                                                                                             \
    if ((err) == NULL || allezon_error_code(err) != (code)) {                                      \
      fprintf(stderr, "%s:%d: expected %s, got %s\n", __FILE__, __LINE__, allezon_code_name(code), \
              (err) != NULL ? (err) : "no error");                                                 \
      abort();                                                                                     \
    }                                                                                              \
    allezon_free(err);                                                                             \
    (err) = NULL;                                                                                  \
  } while (0)

static char g_root[4096];
static int g_tests;

/* A fresh directory path under the scratch root (not created: open creates it). */
static const char* NewDir(const char* name) {
  static char path[8][4200];
  static int next;
  char* p = path[next++ % 8];
  snprintf(p, sizeof(path[0]), "%s/%s", g_root, name);
  RemoveTree(p);
  return p;
}

static allezon_tag_t MakeTag(const char* cookie, int64_t time_ms, int32_t action, int32_t price) {
  allezon_tag_t tag;
  memset(&tag, 0, sizeof tag);
  tag.time_ms = time_ms;
  tag.cookie = cookie;
  tag.country = "PL";
  tag.device = ALLEZON_DEVICE_PC;
  tag.action = action;
  tag.origin = "NIKE_WOMEN_SHOES_CAMPAIGN";
  tag.product_id = 519264;
  tag.brand_id = "Nike";
  tag.category_id = "WOMEN_SHOES";
  tag.price = price;
  return tag;
}

static void TestLibraryFunctions(void) {
  const char* version = allezon_version();
  CHECK(version != NULL && strlen(version) >= 5);
  CHECK(strchr(version, '.') != NULL);

  CHECK(allezon_error_code(NULL) == ALLEZON_OK);
  CHECK(allezon_error_code("InvalidArgument: price: not an int32") == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_error_code("ResourceExhausted: map full") == ALLEZON_RESOURCE_EXHAUSTED);
  CHECK(allezon_error_code("FailedPrecondition") == ALLEZON_FAILED_PRECONDITION);
  CHECK(allezon_error_code("Invalid: x") == ALLEZON_UNKNOWN);
  CHECK(allezon_error_code("no code here") == ALLEZON_UNKNOWN);
  for (int code = 0; code <= ALLEZON_UNAUTHENTICATED; ++code) {
    CHECK((int)allezon_error_code(allezon_code_name((allezon_code_t)code)) == code);
  }
  CHECK(strcmp(allezon_code_name((allezon_code_t)99), "Unknown") == 0);

  /* NULL is fine for every destroy function. */
  allezon_free(NULL);
  allezon_close(NULL);
  allezon_options_destroy(NULL);

  char* err = NULL;
  int64_t t = allezon_parse_time("2022-03-01T00:00:01Z", &err);
  CHECK_NO_ERR(err);
  CHECK(t == T0 + 1000);
  CHECK(allezon_parse_time("2022-03-01T00:00:01.5Z", &err) == T0 + 1500);
  CHECK(allezon_parse_time("2022-03-01T00:05:00", &err) == T0 + 5 * MINUTE);
  CHECK_NO_ERR(err);
  CHECK(allezon_parse_time("2022-02-30T00:00:00Z", &err) == 0);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_parse_time(NULL, &err) == 0);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);

  char buf[ALLEZON_TIME_BUFSIZE];
  CHECK(allezon_format_time(T0 + 1, buf, sizeof buf) == buf);
  CHECK(strcmp(buf, "2022-03-01T00:00:00.001Z") == 0);
  CHECK(allezon_format_time(T0, buf, sizeof buf - 1) == NULL);
  CHECK(allezon_format_time(INT64_MAX, buf, sizeof buf) == NULL);
}

static void TestOpenErrors(void) {
  char* err = NULL;
  CHECK(allezon_open(NULL, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);

  /* Bad options are InvalidArgument. */
  allezon_options_t* options = allezon_options_create();
  CHECK(options != NULL);
  allezon_options_set_profile_cap(options, 0);
  CHECK(allezon_open_with_options(NewDir("bad_options"), options, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  allezon_options_destroy(options);

  /* create_if_missing = 0 on a missing directory fails. */
  options = allezon_options_create();
  allezon_options_set_create_if_missing(options, 0);
  CHECK(allezon_open_with_options(NewDir("missing"), options, &err) == NULL);
  CHECK(err != NULL);
  allezon_free(err);
  err = NULL;
  allezon_options_destroy(options);

  /* One open database per directory. */
  const char* dir = NewDir("twice");
  allezon_db_t* db = allezon_open(dir, &err);
  CHECK_NO_ERR(err);
  CHECK(db != NULL);
  CHECK(allezon_open(dir, &err) == NULL);
  CHECK_ERR(err, ALLEZON_FAILED_PRECONDITION);
  allezon_close(db);

  /* A NULL errptr is allowed: the return value still tells. */
  CHECK(allezon_open(NULL, NULL) == NULL);

  /* Every call with a NULL db fails cleanly. */
  CHECK(allezon_add_tag_json(NULL, "{}", 2, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_profile_json(NULL, "c", 0, 1, 1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_get_profile(NULL, "c", 0, 1, 1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  const char* count = "COUNT";
  CHECK(allezon_aggregates_json(NULL, 0, MINUTE, "VIEW", NULL, NULL, NULL, &count, 1, &err) ==
        NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag(NULL, NULL, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
}

static const char kTagJson[] =
    "{\"time\": \"2022-03-01T00:00:01Z\", \"cookie\": \"json_cookie\", \"country\": \"PL\","
    " \"device\": \"MOBILE\", \"action\": \"VIEW\", \"origin\": \"CAMPAIGN_A\","
    " \"product_info\": {\"product_id\": \"P-17\", \"brand_id\": \"Nike\","
    " \"category_id\": \"SHOES\", \"price\": 1999}, \"extra\": [1, 2]}";

static void TestJsonRoundTrip(allezon_db_t* db) {
  char* err = NULL;
  CHECK(allezon_add_tag_json(db, kTagJson, strlen(kTagJson), &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);

  char* json = allezon_profile_json(db, "json_cookie", T0, T0 + MINUTE, 200, &err);
  CHECK_NO_ERR(err);
  CHECK(json != NULL);
  CHECK(strstr(json, "json_cookie") != NULL);
  CHECK(strstr(json, "\"2022-03-01T00:00:01.000Z\"") != NULL); /* normalized time */
  CHECK(strstr(json, "\"P-17\"") != NULL);                     /* string id stays a string */
  CHECK(strstr(json, "\"buys\"") != NULL);
  CHECK(strstr(json, "extra") == NULL); /* unknown fields are not kept */
  allezon_free(json);

  /* Outside the range: empty lists, and an unknown cookie is not an error. */
  json = allezon_profile_json(db, "json_cookie", T0 + 1001, T0 + MINUTE, 200, &err);
  CHECK_NO_ERR(err);
  CHECK(strstr(json, "2022-03-01T00:00:01.000Z") == NULL);
  allezon_free(json);
  allezon_profile_t* profile = allezon_get_profile(db, "nobody", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(profile != NULL && profile->n_views == 0 && profile->n_buys == 0);
  CHECK(strcmp(profile->cookie, "nobody") == 0);
  allezon_free(profile);

  /* Struct view of the same tag. */
  profile = allezon_get_profile(db, "json_cookie", T0, T0 + MINUTE, 200, &err);
  CHECK_NO_ERR(err);
  CHECK(profile->n_views == 1 && profile->n_buys == 0);
  const allezon_tag_t* v = &profile->views[0];
  CHECK(v->time_ms == T0 + 1000);
  CHECK(strcmp(v->cookie, "json_cookie") == 0);
  CHECK(v->device == ALLEZON_DEVICE_MOBILE && v->action == ALLEZON_ACTION_VIEW);
  CHECK(v->product_id_str != NULL && strcmp(v->product_id_str, "P-17") == 0);
  CHECK(strcmp(v->origin, "CAMPAIGN_A") == 0 && strcmp(v->category_id, "SHOES") == 0);
  CHECK(v->price == 1999);
  allezon_free(profile);

  /* Invalid input: InvalidArgument, nothing stored, and a previous message is replaced. */
  err = malloc(8);
  strcpy(err, "earlier");
  const char* bad = "{\"time\": \"2022-03-01T00:00:02Z\", \"cookie\": \"json_cookie\"}";
  CHECK(allezon_add_tag_json(db, bad, strlen(bad), &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag_json(db, "not json", 8, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag_json(db, NULL, 0, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  /* The length is honoured: a truncated tag is invalid. */
  CHECK(allezon_add_tag_json(db, kTagJson, 40, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  profile = allezon_get_profile(db, "json_cookie", T0, T0 + MINUTE, 200, &err);
  CHECK_NO_ERR(err);
  CHECK(profile->n_views == 1);
  allezon_free(profile);

  CHECK(allezon_profile_json(db, NULL, T0, T0 + 1, 1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_profile_json(db, "json_cookie", T0, T0 + 1, -1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_profile_json(db, "json_cookie", T0 + 1, T0, 1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
}

static void TestStructsAndCap(allezon_db_t* db) {
  /* The database was opened with profile_cap 3. */
  char* err = NULL;
  allezon_tag_t tags[6];
  for (int i = 0; i < 5; ++i) tags[i] = MakeTag("capped", T0 + i * 1000, ALLEZON_ACTION_VIEW, i);
  tags[5] = MakeTag("capped", T0 + 2500, ALLEZON_ACTION_BUY, 77);
  tags[5].product_id = -5;
  CHECK(allezon_add_tags(db, tags, 6, &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);

  allezon_profile_t* p = allezon_get_profile(db, "capped", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 3); /* the cap */
  CHECK(p->views[0].time_ms == T0 + 4000 && p->views[1].time_ms == T0 + 3000 &&
        p->views[2].time_ms == T0 + 2000); /* newest first */
  CHECK(p->views[0].product_id_str == NULL && p->views[0].product_id == 519264);
  CHECK(p->n_buys == 1 && p->buys[0].price == 77 && p->buys[0].product_id == -5);
  CHECK(p->buys[0].action == ALLEZON_ACTION_BUY);
  allezon_free(p);

  /* limit caps each list separately; limit 0 gives empty lists. */
  p = allezon_get_profile(db, "capped", T0, T0 + MINUTE, 1, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 1 && p->views[0].time_ms == T0 + 4000 && p->n_buys == 1);
  allezon_free(p);
  p = allezon_get_profile(db, "capped", T0, T0 + MINUTE, 0, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 0 && p->n_buys == 0);
  allezon_free(p);

  /* Struct errors: NULL fields, enums out of range, library validation; all or none. */
  allezon_tag_t bad = MakeTag("capped", T0 + 9000, ALLEZON_ACTION_VIEW, 1);
  bad.country = NULL;
  CHECK(allezon_add_tag(db, &bad, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  bad = MakeTag("capped", T0 + 9000, 7, 1);
  CHECK(allezon_add_tag(db, &bad, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  bad = MakeTag("capped", T0 + 9000, ALLEZON_ACTION_VIEW, 1);
  bad.device = -1;
  CHECK(allezon_add_tag(db, &bad, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  allezon_tag_t batch[2] = {MakeTag("capped", T0 + 9000, ALLEZON_ACTION_VIEW, 1),
                            MakeTag("", T0 + 9000, ALLEZON_ACTION_VIEW, 1)};
  CHECK(allezon_add_tags(db, batch, 2, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tags(db, NULL, 0, &err) == ALLEZON_OK); /* a no-op */
  CHECK_NO_ERR(err);
  CHECK(allezon_add_tags(db, NULL, 1, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag(db, NULL, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  p = allezon_get_profile(db, "capped", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->views[0].time_ms == T0 + 4000); /* nothing of the failed calls was stored */
  allezon_free(p);
}

static void TestJsonLines(allezon_db_t* db) {
  char* err = NULL;
  char data[2048];
  snprintf(data, sizeof data, "%s\n\n  \r\n%s\r\n", kTagJson, kTagJson);
  /* Two tags with cookie json_cookie (added again, same time). */
  CHECK(allezon_add_tags_jsonl(db, data, strlen(data), &err) == 2);
  CHECK_NO_ERR(err);
  allezon_profile_t* p = allezon_get_profile(db, "json_cookie", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 3);
  allezon_free(p);

  /* A bad line stores nothing, not even the good lines before it. */
  static const char kOther[] =
      "{\"time\": 1646092800000, \"cookie\": \"jsonl_cookie\", \"country\": \"DE\","
      " \"device\": \"PC\", \"action\": \"BUY\", \"origin\": \"O\", \"product_info\":"
      " {\"product_id\": 5, \"brand_id\": \"B\", \"category_id\": \"C\", \"price\": 1}}";
  snprintf(data, sizeof data, "%s\n{\"cookie\": 1}\n%s", kOther, kOther);
  CHECK(allezon_add_tags_jsonl(db, data, strlen(data), &err) == 0);
  CHECK(err != NULL && strstr(err, "line 2") != NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  p = allezon_get_profile(db, "jsonl_cookie", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 0 && p->n_buys == 0);
  allezon_free(p);
  /* The same line alone is fine (integer epoch-millisecond time). */
  CHECK(allezon_add_tags_jsonl(db, kOther, strlen(kOther), &err) == 1);
  CHECK_NO_ERR(err);
  p = allezon_get_profile(db, "jsonl_cookie", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_buys == 1 && p->buys[0].time_ms == T0 && p->buys[0].product_id == 5);
  allezon_free(p);
  CHECK(allezon_add_tags_jsonl(db, "", 0, &err) == 0);
  CHECK_NO_ERR(err);
}

static void TestAggregates(const char* dir) {
  char* err = NULL;
  allezon_db_t* db = allezon_open(dir, &err);
  CHECK_NO_ERR(err);
  /* Minute 0: 3 VIEWs (Nike 10+20, Adidas 30); minute 2: 1 BUY Nike 1000000000 x2. */
  allezon_tag_t tags[5] = {MakeTag("a", T0 + 1, ALLEZON_ACTION_VIEW, 10),
                           MakeTag("b", T0 + 2, ALLEZON_ACTION_VIEW, 20),
                           MakeTag("c", T0 + 59999, ALLEZON_ACTION_VIEW, 30),
                           MakeTag("a", T0 + 2 * MINUTE, ALLEZON_ACTION_BUY, 2000000000),
                           MakeTag("b", T0 + 2 * MINUTE + 5, ALLEZON_ACTION_BUY, 2000000000)};
  tags[2].brand_id = "Adidas";
  CHECK(allezon_add_tags(db, tags, 5, &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);

  allezon_aggregate_query_t q;
  memset(&q, 0, sizeof q);
  q.begin_ms = T0;
  q.end_ms = T0 + 3 * MINUTE;
  q.action = ALLEZON_ACTION_VIEW;
  size_t n = 99;
  allezon_aggregate_row_t* rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(n == 3);
  CHECK(rows[0].bucket_start_ms == T0 && rows[0].count == 3 && rows[0].sum_price == 60);
  CHECK(rows[1].bucket_start_ms == T0 + MINUTE && rows[1].count == 0 && rows[1].sum_price == 0);
  CHECK(rows[2].count == 0);
  allezon_free(rows);

  q.brand_id = "Nike";
  rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(n == 3 && rows[0].count == 2 && rows[0].sum_price == 30);
  allezon_free(rows);

  q.action = ALLEZON_ACTION_BUY;
  q.brand_id = NULL;
  rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(rows[2].count == 2 && rows[2].sum_price == INT64_C(4000000000)); /* 64-bit sums */
  allezon_free(rows);

  q.end_ms = q.begin_ms; /* empty range: no rows, still a freeable pointer */
  rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(rows != NULL && n == 0);
  allezon_free(rows);

  q.end_ms = T0 + 30000; /* not whole minutes */
  CHECK(allezon_aggregates(db, &q, &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  q.end_ms = T0 + MINUTE;
  q.action = 2;
  CHECK(allezon_aggregates(db, &q, &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_aggregates(db, NULL, &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);

  /* Coarse buckets (SPEC §10): the hour holding minutes 0..2 sums them. */
  q.action = ALLEZON_ACTION_VIEW;
  q.begin_ms = T0 - T0 % (60 * MINUTE);
  q.end_ms = q.begin_ms + 60 * MINUTE;
  rows = allezon_aggregates_bucketed(db, &q, "1h", &n, &err);
  CHECK_NO_ERR(err);
  CHECK(rows != NULL && n == 1 && rows[0].count == 3 && rows[0].sum_price == 60);
  allezon_free(rows);
  CHECK(allezon_aggregates_bucketed(db, &q, "2h", &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_aggregates_bucketed(db, &q, NULL, &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  q.begin_ms += MINUTE; /* not a whole hour */
  CHECK(allezon_aggregates_bucketed(db, &q, "1h", &n, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);

  /* JSON: columns in SPEC order, one row per minute, every value a string. */
  const char* aggs[] = {"SUM_PRICE", "COUNT"};
  char* json =
      allezon_aggregates_json(db, T0, T0 + 2 * MINUTE, "VIEW", NULL, "Nike", NULL, aggs, 2, &err);
  CHECK_NO_ERR(err);
  const char* c_bucket = strstr(json, "\"1m_bucket\"");
  const char* c_action = strstr(json, "\"action\"");
  const char* c_brand = strstr(json, "\"brand_id\"");
  const char* c_sum = strstr(json, "\"sum_price\"");
  const char* c_count = strstr(json, "\"count\"");
  CHECK(c_bucket && c_action && c_brand && c_sum && c_count);
  CHECK(c_bucket < c_action && c_action < c_brand && c_brand < c_sum && c_sum < c_count);
  CHECK(strstr(json, "\"origin\"") == NULL);
  CHECK(strstr(json, "\"2022-03-01T00:00:00\"") != NULL);
  CHECK(strstr(json, "\"2022-03-01T00:01:00\"") != NULL);
  CHECK(strstr(json, "\"30\"") != NULL && strstr(json, "\"2\"") != NULL);
  CHECK(strstr(json, "\"0\"") != NULL);
  allezon_free(json);

  CHECK(allezon_aggregates_json(db, T0, T0 + MINUTE, "SELL", NULL, NULL, NULL, aggs, 2, &err) ==
        NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_aggregates_json(db, T0, T0 + MINUTE, NULL, NULL, NULL, NULL, aggs, 2, &err) ==
        NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  const char* bad_aggs[] = {"COUNT", "AVG"};
  CHECK(allezon_aggregates_json(db, T0, T0 + MINUTE, "BUY", NULL, NULL, NULL, bad_aggs, 2, &err) ==
        NULL);
  CHECK(err != NULL && strstr(err, "aggregates[1]") != NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_aggregates_json(db, T0, T0 + MINUTE, "BUY", NULL, NULL, NULL, NULL, 0, &err) ==
        NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_aggregates_json(db, T0, T0 + 1, "BUY", NULL, NULL, NULL, aggs, 1, &err) == NULL);
  CHECK_ERR(err, ALLEZON_INVALID_ARGUMENT);
  allezon_close(db);

  /* Durable: a reopened database answers the same. */
  db = allezon_open(dir, &err);
  CHECK_NO_ERR(err);
  q.begin_ms = T0;
  q.end_ms = T0 + MINUTE;
  q.action = ALLEZON_ACTION_VIEW;
  rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(n == 1 && rows[0].count == 3 && rows[0].sum_price == 60);
  allezon_free(rows);
  allezon_profile_t* p = allezon_get_profile(db, "a", T0, T0 + 3 * MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 1 && p->n_buys == 1);
  allezon_free(p);
  allezon_close(db);
}

/* ---- Several threads: writers (struct and JSON paths) and readers on one handle ---------- */

enum { kWriters = 4, kReaders = 2, kTagsPerWriter = 150 };

typedef struct {
  allezon_db_t* db;
  int id;
  atomic_int* writers_done;
  int failures;
} ThreadArg;

static void* Writer(void* p) {
  ThreadArg* arg = (ThreadArg*)p;
  char cookie[32];
  snprintf(cookie, sizeof cookie, "writer_%d", arg->id);
  for (int i = 0; i < kTagsPerWriter; ++i) {
    char* err = NULL;
    const int64_t t = T0 + (int64_t)i * 10 + arg->id;
    allezon_code_t code;
    if (i % 2 == 0) {
      allezon_tag_t tag = MakeTag(cookie, t, ALLEZON_ACTION_VIEW, 1);
      code = allezon_add_tag(arg->db, &tag, &err);
    } else {
      char json[512];
      char time_text[ALLEZON_TIME_BUFSIZE];
      allezon_format_time(t, time_text, sizeof time_text);
      int len = snprintf(json, sizeof json,
                         "{\"time\":\"%s\",\"cookie\":\"%s\",\"country\":\"PL\","
                         "\"device\":\"TV\",\"action\":\"VIEW\",\"origin\":\"O\","
                         "\"product_info\":{\"product_id\":1,\"brand_id\":\"B\","
                         "\"category_id\":\"C\",\"price\":1}}",
                         time_text, cookie);
      code = allezon_add_tag_json(arg->db, json, (size_t)len, &err);
    }
    if (code != ALLEZON_OK || err != NULL) {
      fprintf(stderr, "writer %d: %s: %s\n", arg->id, allezon_code_name(code),
              err != NULL ? err : "(no message)");
      allezon_free(err);
      arg->failures++;
    }
  }
  return NULL;
}

static void* Reader(void* p) {
  ThreadArg* arg = (ThreadArg*)p;
  const char* count = "COUNT";
  size_t last_views = 0;
  while (!atomic_load(arg->writers_done)) {
    char* err = NULL;
    allezon_profile_t* profile =
        allezon_get_profile(arg->db, "writer_0", T0, T0 + MINUTE, 1000, &err);
    char* json = allezon_aggregates_json(arg->db, T0, T0 + MINUTE, "VIEW", NULL, NULL, NULL, &count,
                                         1, &err);
    if (err != NULL || profile == NULL || json == NULL) {
      fprintf(stderr, "reader: %s\n", err != NULL ? err : "NULL result");
      allezon_free(err);
      arg->failures++;
    } else if (profile->n_views < last_views) {
      arg->failures++; /* a committed tag disappeared */
    } else {
      last_views = profile->n_views;
    }
    allezon_free(profile);
    allezon_free(json);
  }
  return NULL;
}

static void TestThreads(const char* dir) {
  char* err = NULL;
  allezon_options_t* options = allezon_options_create();
  allezon_options_set_sync(options, 0); /* fast: durability is not what is tested here */
  allezon_db_t* db = allezon_open_with_options(dir, options, &err);
  allezon_options_destroy(options);
  CHECK_NO_ERR(err);

  atomic_int writers_done = 0;
  pthread_t threads[kWriters + kReaders];
  ThreadArg args[kWriters + kReaders];
  for (int i = 0; i < kWriters + kReaders; ++i) {
    args[i].db = db;
    args[i].id = i;
    args[i].writers_done = &writers_done;
    args[i].failures = 0;
    CHECK(pthread_create(&threads[i], NULL, i < kWriters ? Writer : Reader, &args[i]) == 0);
  }
  for (int i = 0; i < kWriters; ++i) CHECK(pthread_join(threads[i], NULL) == 0);
  atomic_store(&writers_done, 1);
  for (int i = kWriters; i < kWriters + kReaders; ++i) CHECK(pthread_join(threads[i], NULL) == 0);
  for (int i = 0; i < kWriters + kReaders; ++i) CHECK(args[i].failures == 0);

  for (int w = 0; w < kWriters; ++w) {
    char cookie[32];
    snprintf(cookie, sizeof cookie, "writer_%d", w);
    allezon_profile_t* p = allezon_get_profile(db, cookie, T0, T0 + MINUTE, 1000, &err);
    CHECK_NO_ERR(err);
    CHECK(p->n_views == kTagsPerWriter); /* default cap 200 > 150 */
    for (size_t i = 1; i < p->n_views; ++i) CHECK(p->views[i - 1].time_ms > p->views[i].time_ms);
    allezon_free(p);
  }
  allezon_aggregate_query_t q = {T0, T0 + MINUTE, ALLEZON_ACTION_VIEW, NULL, NULL, NULL};
  size_t n = 0;
  allezon_aggregate_row_t* rows = allezon_aggregates(db, &q, &n, &err);
  CHECK_NO_ERR(err);
  CHECK(n == 1 && rows[0].count == kWriters * kTagsPerWriter);
  CHECK(rows[0].sum_price == kWriters * kTagsPerWriter);
  allezon_free(rows);
  allezon_close(db);
}

#define RUN(test_call)                 \
  do {                                 \
    test_call;                         \
    ++g_tests;                         \
    printf("[ OK ] %s\n", #test_call); \
    fflush(stdout);                    \
  } while (0)

int main(int argc, char** argv) {
  int made_root = 0;
  if (argc > 1) {
    snprintf(g_root, sizeof g_root, "%s", argv[1]);
  } else {
    const char* tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/allezon_c_abi_XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(g_root) != NULL);
    made_root = 1;
  }

  RUN(TestLibraryFunctions());
  RUN(TestOpenErrors());
  {
    char* err = NULL;
    allezon_options_t* options = allezon_options_create();
    allezon_options_set_profile_cap(options, 3);
    allezon_options_set_retention_ms(options, INT64_C(24) * 3600 * 1000);
    allezon_options_set_initial_map_size(options, UINT64_C(16) << 20);
    allezon_options_set_max_map_size(options, UINT64_C(1) << 30);
    allezon_options_set_max_batch_tags(options, 1000);
    allezon_options_set_max_readers(options, 64);
    allezon_options_set_profile_staging_tags(options, 100);
    allezon_options_set_sync(options, 1);
    allezon_db_t* db = allezon_open_with_options(NewDir("main"), options, &err);
    allezon_options_destroy(options);
    CHECK_NO_ERR(err);
    RUN(TestJsonRoundTrip(db));
    RUN(TestStructsAndCap(db));
    RUN(TestJsonLines(db));
    CHECK(allezon_set_max_map_size(db, UINT64_C(2) << 30, &err) == ALLEZON_OK);
    CHECK_NO_ERR(err);
    allezon_close(db);
  }
  RUN(TestAggregates(NewDir("aggregates")));
  RUN(TestThreads(NewDir("threads")));

  if (made_root) RemoveTree(g_root);
  printf("%d passed, 0 failed\n", g_tests);
  return 0;
}
