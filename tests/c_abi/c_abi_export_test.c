/* Raw tag export through the C ABI (SPEC §10), compiled as C11: NDJSON and CSV bytes, a
 * callback that stops, a range before what is kept, retention off, and bad arguments.
 *
 * Usage: allezon_c_abi_export_test [scratch_dir]
 */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allezon/c.h"
#include "c_check.h"

struct Sink {
  char text[4096];
  size_t len;
  int calls;
  int stop;
};

static int Collect(void* arg, const char* data, size_t len) {
  struct Sink* sink = arg;
  ++sink->calls;
  CHECK(sink->len + len < sizeof sink->text);
  memcpy(sink->text + sink->len, data, len);
  sink->len += len;
  sink->text[sink->len] = '\0';
  return sink->stop;
}

int main(int argc, char** argv) {
  char root[4096];
  if (argc > 1) {
    snprintf(root, sizeof root, "%s/export", argv[1]);
  } else {
    snprintf(root, sizeof root, "/tmp/allezon_c_abi_export_XXXXXX");
    CHECK(mkdtemp(root) != NULL);
  }
  RemoveTree(root);
  char* err = NULL;
  allezon_options_t* options = allezon_options_create();
  CHECK(allezon_options_set_raw_retention_ms(options, -1, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(err != NULL);
  allezon_free(err);
  err = NULL;
  CHECK(allezon_options_set_raw_retention_ms(options, INT64_C(3600000), &err) == ALLEZON_OK);
  allezon_db_t* db = allezon_open_with_options(root, options, &err);
  CHECK(err == NULL && db != NULL);
  int64_t earliest = 0;
  CHECK(allezon_earliest_raw_time(db, &earliest, &err) == ALLEZON_OK);
  CHECK(earliest == INT64_C(-62135596800000));

  const char* lines =
      "{\"time\":\"2022-03-01T00:00:01Z\",\"cookie\":\"b\",\"country\":\"PL\",\"device\":\"PC\","
      "\"action\":\"BUY\",\"origin\":\"O,1\",\"product_info\":{\"product_id\":\"x\\\"y\","
      "\"brand_id\":\"B\",\"category_id\":\"C\",\"price\":5}}\n"
      "{\"time\":\"2022-03-01T00:00:00.500Z\",\"cookie\":\"a\",\"country\":\"PL\",\"device\":"
      "\"TV\",\"action\":\"VIEW\",\"origin\":\"O\",\"product_info\":{\"product_id\":7,"
      "\"brand_id\":\"B\",\"category_id\":\"C\",\"price\":-3}}\n";
  CHECK(allezon_add_tags_jsonl(db, lines, strlen(lines), &err) == 2);
  CHECK(err == NULL);

  struct Sink sink = {{0}, 0, 0, 0};
  uint64_t n = 0;
  CHECK(allezon_export_tags(db, T0, T0 + 60000, ALLEZON_EXPORT_NDJSON, Collect, &sink, &n, &err) ==
        ALLEZON_OK);
  CHECK(err == NULL && n == 2);
  CHECK(strcmp(sink.text,
               "{\"time\":\"2022-03-01T00:00:00.500Z\",\"cookie\":\"a\",\"country\":\"PL\","
               "\"device\":\"TV\",\"action\":\"VIEW\",\"origin\":\"O\",\"product_info\":{"
               "\"product_id\":7,\"brand_id\":\"B\",\"category_id\":\"C\",\"price\":-3}}\n"
               "{\"time\":\"2022-03-01T00:00:01.000Z\",\"cookie\":\"b\",\"country\":\"PL\","
               "\"device\":\"PC\",\"action\":\"BUY\",\"origin\":\"O,1\",\"product_info\":{"
               "\"product_id\":\"x\\\"y\",\"brand_id\":\"B\",\"category_id\":\"C\",\"price\":5}}"
               "\n") == 0);

  struct Sink csv = {{0}, 0, 0, 0};
  CHECK(allezon_export_tags(db, T0, T0 + 60000, ALLEZON_EXPORT_CSV, Collect, &csv, NULL, &err) ==
        ALLEZON_OK);
  CHECK(strcmp(csv.text,
               "time,cookie,country,device,action,origin,product_id,brand_id,category_id,price\r\n"
               "2022-03-01T00:00:00.500Z,a,PL,TV,VIEW,O,7,B,C,-3\r\n"
               "2022-03-01T00:00:01.000Z,b,PL,PC,BUY,\"O,1\",\"x\"\"y\",B,C,5\r\n") == 0);
  /* An empty range still has its CSV header. */
  struct Sink empty = {{0}, 0, 0, 0};
  CHECK(allezon_export_tags(db, T0 + 60000, T0 + 60000, ALLEZON_EXPORT_CSV, Collect, &empty, &n,
                            &err) == ALLEZON_OK);
  CHECK(n == 0 && strncmp(empty.text, "time,cookie", 11) == 0);

  struct Sink stop = {{0}, 0, 0, 1};
  CHECK(allezon_export_tags(db, T0, T0 + 60000, ALLEZON_EXPORT_NDJSON, Collect, &stop, &n, &err) ==
        ALLEZON_CANCELLED);
  CHECK(err != NULL && allezon_error_code(err) == ALLEZON_CANCELLED && stop.calls == 1 && n == 0);
  allezon_free(err);
  err = NULL;

  CHECK(allezon_export_tags(db, T0, T0 + 1, 7, Collect, &sink, &n, &err) ==
        ALLEZON_INVALID_ARGUMENT);
  allezon_free(err);
  err = NULL;
  CHECK(allezon_export_tags(db, T0, T0 + 1, ALLEZON_EXPORT_CSV, NULL, NULL, &n, &err) ==
        ALLEZON_INVALID_ARGUMENT);
  allezon_free(err);
  err = NULL;
  CHECK(allezon_export_tags(NULL, T0, T0 + 1, ALLEZON_EXPORT_CSV, Collect, &sink, &n, &err) ==
        ALLEZON_INVALID_ARGUMENT);
  allezon_free(err);
  err = NULL;

  /* Trimmed: a tag two hours later moves the window; the old range names the earliest time. */
  const char* later =
      "{\"time\":\"2022-03-01T02:00:30Z\",\"cookie\":\"c\",\"country\":\"PL\",\"device\":\"PC\","
      "\"action\":\"VIEW\",\"origin\":\"O\",\"product_info\":{\"product_id\":1,\"brand_id\":\"B\","
      "\"category_id\":\"C\",\"price\":1}}";
  /* The writer trims in its maintenance, about once a second: wait up to 10 s. */
  CHECK(allezon_add_tag_json(db, later, strlen(later), &err) == ALLEZON_OK);
  CHECK(err == NULL);
  for (int i = 0; i < 200 && earliest != T0 + INT64_C(3600000); ++i) {
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(allezon_earliest_raw_time(db, &earliest, &err) == ALLEZON_OK);
  }
  CHECK(earliest == T0 + INT64_C(3600000));
  CHECK(allezon_export_tags(db, T0, T0 + 60000, ALLEZON_EXPORT_CSV, Collect, &sink, &n, &err) ==
        ALLEZON_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(err, "2022-03-01T01:00:00.000Z") != NULL);
  allezon_free(err);
  err = NULL;
  allezon_close(db);

  /* Retention off: a clear error. */
  db = allezon_open(root, &err);
  CHECK(err == NULL);
  CHECK(allezon_export_tags(db, T0, T0 + 1, ALLEZON_EXPORT_CSV, Collect, &sink, &n, &err) ==
        ALLEZON_FAILED_PRECONDITION);
  CHECK(strstr(err, "raw retention is off") != NULL);
  allezon_free(err);
  err = NULL;
  CHECK(allezon_earliest_raw_time(db, &earliest, &err) == ALLEZON_FAILED_PRECONDITION);
  allezon_free(err);
  allezon_close(db);
  allezon_options_destroy(options);
  if (argc <= 1) RemoveTree(root);
  printf("c_abi export: OK\n");
  return 0;
}
