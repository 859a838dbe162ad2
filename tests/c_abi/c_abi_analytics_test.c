/* Tests of the analyst queries of the C ABI (SPEC §9), compiled as C11: top, catalogue,
 * anomalies and sessions as JSON, optional filters as NULL pointers, and the error paths.
 *
 * Usage: allezon_c_abi_analytics_test [scratch_dir]   (default: a new directory under /tmp)
 */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The old name on purpose: this test keeps the forwarding header allezon/allezon.h, kept one
 * release for existing programs, compiling. Everything else includes allezon/c.h. */
#include "allezon/allezon.h"
#include "c_check.h"

/* An InvalidArgument error expected from `call` (which returns NULL); frees it. */
#define CHECK_INVALID(call)                                                                    \
  do {                                                                                         \
    char* r_ = (call);                                                                         \
    if (r_ != NULL || err == NULL || allezon_error_code(err) != ALLEZON_INVALID_ARGUMENT) {    \
      fprintf(stderr, "%s:%d: expected InvalidArgument from %s, got %s\n", __FILE__, __LINE__, \
              #call, err != NULL ? err : "no error");                                          \
      abort();                                                                                 \
    }                                                                                          \
    allezon_free(err);                                                                         \
    err = NULL;                                                                                \
  } while (0)

/* The result must equal `want` exactly; frees it. */
#define CHECK_JSON(result, want)                                                              \
  do {                                                                                        \
    char* j_ = (result);                                                                      \
    CHECK_NO_ERR(err);                                                                        \
    if (j_ == NULL || strcmp(j_, (want)) != 0) {                                              \
      fprintf(stderr, "%s:%d:\n got  %s\n want %s\n", __FILE__, __LINE__, j_ ? j_ : "(null)", \
              (want));                                                                        \
      abort();                                                                                \
    }                                                                                         \
    allezon_free(j_);                                                                         \
  } while (0)

static allezon_tag_t MakeTag(const char* cookie, int64_t time_ms, int32_t action,
                             const char* origin, int32_t price) {
  allezon_tag_t tag;
  memset(&tag, 0, sizeof tag);
  tag.time_ms = time_ms;
  tag.cookie = cookie;
  tag.country = "PL";
  tag.device = ALLEZON_DEVICE_MOBILE;
  tag.action = action;
  tag.origin = origin;
  tag.product_id = 1;
  tag.brand_id = "Nike";
  tag.category_id = "SHOES";
  tag.price = price;
  return tag;
}

int main(int argc, char** argv) {
  char root[4096];
  int made_root = 0;
  if (argc > 1) {
    snprintf(root, sizeof root, "%s/analytics", argv[1]);
  } else {
    snprintf(root, sizeof root, "/tmp/allezon_c_abi_analytics_XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    made_root = 1;
  }
  RemoveTree(root); /* a fresh database every run */
  char* err = NULL;
  allezon_db_t* db = allezon_open(root, &err);
  CHECK_NO_ERR(err);

  /* Minutes 0..29: 10 VIEWs of "steady" a minute; minute 30: 60 of them (a spike), one BUY of
   * "rare", and a shopper's two visits. */
  allezon_tag_t* tags = calloc(400, sizeof *tags);
  CHECK(tags != NULL);
  size_t n = 0;
  for (int m = 0; m <= 30; ++m) {
    for (int i = 0; i < (m < 30 ? 10 : 60); ++i) {
      tags[n++] = MakeTag("crowd", T0 + m * MINUTE + i, ALLEZON_ACTION_VIEW, "steady", 10);
    }
  }
  tags[n++] = MakeTag("s", T0 + 30 * MINUTE + 100, ALLEZON_ACTION_BUY, "rare", 1999);
  tags[n++] = MakeTag("s", T0, ALLEZON_ACTION_VIEW, "steady", 5);
  CHECK(allezon_add_tags(db, tags, n, &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);
  free(tags);

  CHECK_JSON(allezon_top_json(db, T0, T0 + 31 * MINUTE, "VIEW", "origin", "count", 10, &err),
             "{\"columns\":[\"origin\",\"count\",\"sum_price\"],"
             "\"rows\":[[\"steady\",\"361\",\"3605\"]]}");
  CHECK_JSON(allezon_top_json(db, T0, T0 + 31 * MINUTE, "BUY", "brand_id", "sum_price", 0, &err),
             "{\"columns\":[\"brand_id\",\"count\",\"sum_price\"],\"rows\":[]}");

  const int64_t since = T0 + 30 * MINUTE;
  CHECK_JSON(allezon_catalogue_json(db, "origin", &since, NULL, &err),
             "{\"dimension\":\"origin\",\"values\":[{\"value\":\"rare\","
             "\"first_seen\":\"2022-03-01T00:30:00.100Z\",\"last_seen\":"
             "\"2022-03-01T00:30:00.100Z\",\"tags\":1}]}");
  CHECK_JSON(allezon_catalogue_json(db, "device", NULL, &since, &err),
             "{\"dimension\":\"device\",\"values\":[]}");
  CHECK_JSON(allezon_catalogue_json(db, "country", NULL, NULL, &err),
             "{\"dimension\":\"country\",\"values\":[{\"value\":\"PL\","
             "\"first_seen\":\"2022-03-01T00:00:00.000Z\",\"last_seen\":"
             "\"2022-03-01T00:30:00.100Z\",\"tags\":362}]}");

  CHECK_JSON(allezon_anomalies_json(db, T0, T0 + 60 * MINUTE, "origin", NULL, &err),
             "{\"anomalies\":[{\"minute\":\"2022-03-01T00:30:00\",\"dimension\":\"origin\","
             "\"value\":\"steady\",\"action\":\"VIEW\",\"observed\":60,\"expected\":10.0,"
             "\"kind\":\"spike\"}]}");
  CHECK_JSON(allezon_anomalies_json(db, T0, T0 + 60 * MINUTE, "origin", "BUY", &err),
             "{\"anomalies\":[]}");

  CHECK_JSON(allezon_user_sessions_json(db, "s", T0, T0 + 60 * MINUTE, 20,
                                        ALLEZON_DEFAULT_SESSION_GAP_MS, &err),
             "{\"cookie\":\"s\",\"sessions\":["
             "{\"start\":\"2022-03-01T00:30:00.100Z\",\"end\":\"2022-03-01T00:30:00.100Z\","
             "\"views\":0,\"buys\":1,\"revenue\":1999},"
             "{\"start\":\"2022-03-01T00:00:00.000Z\",\"end\":\"2022-03-01T00:00:00.000Z\","
             "\"views\":1,\"buys\":0,\"revenue\":0}]}");
  CHECK_JSON(allezon_user_sessions_json(db, "s", T0, T0 + 60 * MINUTE, 20, 31 * MINUTE, &err),
             "{\"cookie\":\"s\",\"sessions\":["
             "{\"start\":\"2022-03-01T00:00:00.000Z\",\"end\":\"2022-03-01T00:30:00.100Z\","
             "\"views\":1,\"buys\":1,\"revenue\":1999}]}");

  CHECK_INVALID(allezon_top_json(db, T0, T0 + MINUTE, "VIEW", "country", "count", 10, &err));
  CHECK_INVALID(allezon_top_json(db, T0, T0 + MINUTE, "VIEW", "origin", "count", 1001, &err));
  CHECK_INVALID(allezon_top_json(db, T0, T0 + MINUTE, "VIEW", "origin", "COUNT", 10, &err));
  CHECK_INVALID(allezon_top_json(db, T0, T0 + MINUTE + 1, "VIEW", "origin", "count", 10, &err));
  CHECK_INVALID(allezon_top_json(db, T0, T0 + MINUTE, NULL, "origin", "count", 10, &err));
  CHECK_INVALID(allezon_catalogue_json(db, "city", NULL, NULL, &err));
  CHECK_INVALID(allezon_catalogue_json(db, NULL, NULL, NULL, &err));
  CHECK_INVALID(allezon_anomalies_json(db, T0, T0 + MINUTE, "device", NULL, &err));
  CHECK_INVALID(allezon_anomalies_json(db, T0, T0 + MINUTE, "origin", "CLICK", &err));
  CHECK_INVALID(allezon_user_sessions_json(db, NULL, T0, T0 + 1, 20, MINUTE, &err));
  CHECK_INVALID(allezon_user_sessions_json(db, "s", T0, T0 + 1, -1, MINUTE, &err));
  CHECK_INVALID(allezon_user_sessions_json(db, "s", T0, T0 + 1, 20, 0, &err));
  CHECK_INVALID(allezon_user_sessions_json(db, "s", T0 + 1, T0, 20, MINUTE, &err));
  CHECK_INVALID(allezon_top_json(NULL, T0, T0 + MINUTE, "VIEW", "origin", "count", 10, &err));

  allezon_close(db);
  if (made_root) RemoveTree(root);
  printf("analytics: passed\n");
  return 0;
}
