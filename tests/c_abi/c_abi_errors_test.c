/* The C ABI's writes and allezon_set_max_map_size return an allezon_code_t (compiled as C11):
 * each failure is told by the return value alone, errptr NULL included, with a message whose
 * code word is the code returned; success returns ALLEZON_OK and leaves *errptr alone.
 *
 * Usage: allezon_c_abi_errors_test [scratch_dir]
 */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allezon/c.h"
#include "c_check.h"

/* `call` returns `code`, and the message left in err has the same code word (and mentions
 * `needle` when not NULL); err is freed and reset. */
#define CHECK_FAILS(call, code, needle)                                                          \
  do {                                                                                           \
    const allezon_code_t got_ = (call);                                                          \
    const char* needle_ = (needle);                                                              \
    if (got_ != (code) || err == NULL || allezon_error_code(err) != (code) ||                    \
        (needle_ != NULL && strstr(err, needle_) == NULL)) {                                     \
      fprintf(stderr, "%s:%d: %s: expected %s, got %s, message %s\n", __FILE__, __LINE__, #call, \
              allezon_code_name(code), allezon_code_name(got_), err != NULL ? err : "(none)");   \
      abort();                                                                                   \
    }                                                                                            \
    allezon_free(err);                                                                           \
    err = NULL;                                                                                  \
  } while (0)

static allezon_tag_t MakeTag(const char* cookie, int64_t time_ms) {
  allezon_tag_t tag;
  memset(&tag, 0, sizeof tag);
  tag.time_ms = time_ms;
  tag.cookie = cookie;
  tag.country = "PL";
  tag.device = ALLEZON_DEVICE_PC;
  tag.action = ALLEZON_ACTION_VIEW;
  tag.origin = "ORIGIN";
  tag.product_id = 1;
  tag.brand_id = "BRAND";
  tag.category_id = "CATEGORY";
  tag.price = 100;
  return tag;
}

static const char kTagJson[] =
    "{\"time\": \"2022-03-01T00:00:01Z\", \"cookie\": \"c\", \"country\": \"PL\","
    " \"device\": \"PC\", \"action\": \"VIEW\", \"origin\": \"O\", \"product_info\":"
    " {\"product_id\": 1, \"brand_id\": \"B\", \"category_id\": \"C\", \"price\": 1}}";

/* A NULL db: InvalidArgument from every call, also without an errptr. */
static void TestNullDb(void) {
  char* err = NULL;
  const allezon_tag_t tag = MakeTag("c", T0);
  CHECK_FAILS(allezon_set_max_map_size(NULL, 0, &err), ALLEZON_INVALID_ARGUMENT, "db is NULL");
  CHECK_FAILS(allezon_add_tag_json(NULL, kTagJson, strlen(kTagJson), &err),
              ALLEZON_INVALID_ARGUMENT, "db is NULL");
  CHECK_FAILS(allezon_add_tag(NULL, &tag, &err), ALLEZON_INVALID_ARGUMENT, "db is NULL");
  CHECK_FAILS(allezon_add_tags(NULL, &tag, 1, &err), ALLEZON_INVALID_ARGUMENT, "db is NULL");
  CHECK_FAILS(allezon_add_tags(NULL, NULL, 0, &err), ALLEZON_INVALID_ARGUMENT, "db is NULL");

  CHECK(allezon_set_max_map_size(NULL, 0, NULL) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag_json(NULL, kTagJson, strlen(kTagJson), NULL) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tag(NULL, &tag, NULL) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_add_tags(NULL, &tag, 1, NULL) == ALLEZON_INVALID_ARGUMENT);
}

/* Bad input on an open database: InvalidArgument naming the problem; nothing stored. */
static void TestInvalidInput(allezon_db_t* db) {
  char* err = NULL;
  CHECK_FAILS(allezon_add_tag_json(db, "{\"cookie\": 42}", 14, &err), ALLEZON_INVALID_ARGUMENT,
              NULL);
  CHECK_FAILS(allezon_add_tag_json(db, "not json", 8, &err), ALLEZON_INVALID_ARGUMENT, NULL);
  CHECK_FAILS(allezon_add_tag_json(db, NULL, 3, &err), ALLEZON_INVALID_ARGUMENT, "json is NULL");
  CHECK(allezon_add_tag_json(db, "not json", 8, NULL) == ALLEZON_INVALID_ARGUMENT);

  allezon_tag_t bad = MakeTag("c", T0);
  bad.origin = NULL;
  CHECK_FAILS(allezon_add_tag(db, &bad, &err), ALLEZON_INVALID_ARGUMENT, "origin is NULL");
  bad = MakeTag("c", T0);
  bad.action = 2;
  CHECK_FAILS(allezon_add_tag(db, &bad, &err), ALLEZON_INVALID_ARGUMENT, "action");
  CHECK(allezon_add_tag(db, &bad, NULL) == ALLEZON_INVALID_ARGUMENT);
  CHECK_FAILS(allezon_add_tag(db, NULL, &err), ALLEZON_INVALID_ARGUMENT, "tag is NULL");

  /* The library's own validation (an empty cookie) in the second tag of a batch. */
  allezon_tag_t batch[2] = {MakeTag("c", T0), MakeTag("", T0)};
  CHECK_FAILS(allezon_add_tags(db, batch, 2, &err), ALLEZON_INVALID_ARGUMENT, NULL);
  batch[1].device = 9;
  CHECK_FAILS(allezon_add_tags(db, batch, 2, &err), ALLEZON_INVALID_ARGUMENT, "tags[1].device");
  CHECK(allezon_add_tags(db, batch, 2, NULL) == ALLEZON_INVALID_ARGUMENT);
  CHECK_FAILS(allezon_add_tags(db, NULL, 1, &err), ALLEZON_INVALID_ARGUMENT, "tags is NULL");

  allezon_profile_t* p = allezon_get_profile(db, "c", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p != NULL && p->n_views == 0 && p->n_buys == 0);
  allezon_free(p);
}

/* Success: ALLEZON_OK (0), and a message already in *errptr is left as it was. */
static void TestSuccess(allezon_db_t* db) {
  char* err = malloc(8);
  CHECK(err != NULL);
  strcpy(err, "earlier");
  const allezon_tag_t tag = MakeTag("ok", T0 + 1);
  CHECK(allezon_add_tag_json(db, kTagJson, strlen(kTagJson), &err) == ALLEZON_OK);
  CHECK(allezon_add_tag(db, &tag, &err) == ALLEZON_OK);
  CHECK(allezon_add_tags(db, &tag, 1, &err) == ALLEZON_OK);
  CHECK(allezon_add_tags(db, NULL, 0, &err) == ALLEZON_OK);
  CHECK(allezon_set_max_map_size(db, UINT64_C(1) << 30, &err) == ALLEZON_OK);
  CHECK(allezon_set_max_map_size(db, 0, NULL) == 0);
  CHECK(allezon_add_tag(db, &tag, NULL) == 0);
  CHECK(strcmp(err, "earlier") == 0);
  allezon_free(err);

  err = NULL;
  allezon_profile_t* p = allezon_get_profile(db, "ok", T0, T0 + MINUTE, 10, &err);
  CHECK_NO_ERR(err);
  CHECK(p->n_views == 3);
  allezon_free(p);
}

/* A full database: ResourceExhausted from the write itself, until allezon_set_max_map_size
 * makes room. */
static void TestFull(const char* dir) {
  char* err = NULL;
  allezon_options_t* options = allezon_options_create();
  allezon_options_set_initial_map_size(options, UINT64_C(1) << 20);
  allezon_options_set_max_map_size(options, UINT64_C(1) << 20);
  allezon_options_set_sync(options, 0); /* durability is not what is tested here */
  allezon_db_t* db = allezon_open_with_options(dir, options, &err);
  allezon_options_destroy(options);
  CHECK_NO_ERR(err);

  enum { kBatch = 500 };
  static char cookies[kBatch][32];
  allezon_tag_t batch[kBatch];
  allezon_code_t code = ALLEZON_OK;
  int round = 0;
  for (; round < 1000 && code == ALLEZON_OK; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      snprintf(cookies[i], sizeof cookies[i], "cookie-%d-%d", round, i);
      batch[i] = MakeTag(cookies[i], T0 + round * kBatch + i);
    }
    code = allezon_add_tags(db, batch, kBatch, NULL); /* the code alone tells */
  }
  CHECK(round > 1); /* some batches fitted */
  CHECK(code == ALLEZON_RESOURCE_EXHAUSTED);
  CHECK_FAILS(allezon_add_tags(db, batch, kBatch, &err), ALLEZON_RESOURCE_EXHAUSTED, "full");

  CHECK(allezon_set_max_map_size(db, UINT64_C(64) << 20, &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);
  CHECK(allezon_add_tags(db, batch, kBatch, &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);
  allezon_close(db);
}

int main(int argc, char** argv) {
  char root[4096];
  int made_root = 0;
  if (argc > 1) {
    snprintf(root, sizeof root, "%s", argv[1]);
  } else {
    const char* tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/allezon_c_errors_XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(root) != NULL);
    made_root = 1;
  }
  char dir[4200];

  TestNullDb();
  snprintf(dir, sizeof dir, "%s/main", root);
  RemoveTree(dir);
  char* err = NULL;
  allezon_db_t* db = allezon_open(dir, &err);
  CHECK_NO_ERR(err);
  TestInvalidInput(db);
  TestSuccess(db);
  allezon_close(db);

  snprintf(dir, sizeof dir, "%s/full", root);
  RemoveTree(dir);
  TestFull(dir);

  if (made_root) RemoveTree(root);
  printf("c_abi_errors: all passed\n");
  return 0;
}
