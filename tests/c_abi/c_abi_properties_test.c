/* allezon_get_property and allezon_property_name from C (C11): every listed name answers,
 * values move as tags are added, an unknown name is NOT_FOUND.
 *
 * Usage: allezon_c_abi_properties_test [scratch_dir]
 */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allezon/c.h"
#include "c_check.h"

#define MIN_TIME INT64_C(-62135596800000) /* 0001-01-01T00:00:00.000Z: no tag yet */

static uint64_t Property(allezon_db_t* db, const char* name) {
  char* err = NULL;
  uint64_t value = 0;
  if (allezon_get_property(db, name, &value, &err) != ALLEZON_OK) {
    fprintf(stderr, "property %s: %s\n", name, err != NULL ? err : "(no message)");
    abort();
  }
  CHECK_NO_ERR(err);
  return value;
}

static void TestNames(allezon_db_t* db) {
  size_t n = 0;
  int saw_tags_written = 0, saw_newest_time = 0;
  for (const char* name; (name = allezon_property_name(n)) != NULL; ++n) {
    CHECK(strncmp(name, "allezon.", 8) == 0);
    for (size_t j = 0; j < n; ++j) CHECK(strcmp(allezon_property_name(j), name) != 0);
    (void)Property(db, name); /* every listed name answers */
    saw_tags_written |= strcmp(name, "allezon.tags-written") == 0;
    saw_newest_time |= strcmp(name, "allezon.newest-time") == 0;
  }
  CHECK(n == 10 + 16); /* the ten counters and the sixteen histogram buckets */
  CHECK(saw_tags_written && saw_newest_time);
  CHECK(allezon_property_name(n) == NULL);
  CHECK(allezon_property_name(SIZE_MAX) == NULL);
  CHECK(allezon_property_name(0) == allezon_property_name(0)); /* static storage */
}

static void TestValues(allezon_db_t* db) {
  CHECK(Property(db, "allezon.tags-written") == 0);
  CHECK(Property(db, "allezon.commits") == 0);
  CHECK((int64_t)Property(db, "allezon.newest-time") == MIN_TIME);
  const uint64_t map_size = Property(db, "allezon.map-size");
  CHECK(map_size >= (UINT64_C(1) << 20));
  CHECK(Property(db, "allezon.map-used") > 0 && Property(db, "allezon.map-used") <= map_size);

  allezon_tag_t tags[3];
  for (int i = 0; i < 3; ++i) {
    memset(&tags[i], 0, sizeof tags[i]);
    tags[i].time_ms = T0 + i * MINUTE;
    tags[i].cookie = i == 0 ? "a" : "b";
    tags[i].country = "PL";
    tags[i].action = ALLEZON_ACTION_VIEW;
    tags[i].origin = "O";
    tags[i].brand_id = "B";
    tags[i].category_id = "C";
    tags[i].price = 1;
  }
  char* err = NULL;
  CHECK(allezon_add_tags(db, tags, 3, &err) == ALLEZON_OK);
  CHECK(allezon_add_tag(db, &tags[0], &err) == ALLEZON_OK);
  CHECK_NO_ERR(err);

  CHECK(Property(db, "allezon.tags-written") == 4);
  CHECK(Property(db, "allezon.commits") >= 2);
  CHECK(Property(db, "allezon.largest-batch") == 3);
  CHECK(Property(db, "allezon.commits-by-batch-size-0") >= 1); /* the single tag */
  CHECK(Property(db, "allezon.commits-by-batch-size-2") == 1); /* 3..4 tags */
  CHECK((int64_t)Property(db, "allezon.newest-time") == T0 + 2 * MINUTE);
  CHECK(Property(db, "allezon.open-minutes") >= 1);
}

static void TestErrors(allezon_db_t* db) {
  char* err = NULL;
  uint64_t value = 12345;
  CHECK(allezon_get_property(db, "allezon.no-such-counter", &value, &err) == ALLEZON_NOT_FOUND);
  CHECK(err != NULL && allezon_error_code(err) == ALLEZON_NOT_FOUND);
  CHECK(strstr(err, "allezon.no-such-counter") != NULL);
  CHECK(value == 12345); /* unchanged on failure */
  allezon_free(err);
  err = NULL;
  CHECK(allezon_get_property(db, "", &value, NULL) == ALLEZON_NOT_FOUND);
  CHECK(allezon_get_property(db, "allezon.tags_written", &value, NULL) == ALLEZON_NOT_FOUND);

  CHECK(allezon_get_property(db, NULL, &value, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_error_code(err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_get_property(db, "allezon.commits", NULL, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_error_code(err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_get_property(NULL, "allezon.commits", &value, &err) == ALLEZON_INVALID_ARGUMENT);
  CHECK(allezon_error_code(err) == ALLEZON_INVALID_ARGUMENT && strstr(err, "db is NULL") != NULL);
  allezon_free(err);
  CHECK(value == 12345);
}

int main(int argc, char** argv) {
  char root[4096];
  int made_root = 0;
  if (argc > 1) {
    snprintf(root, sizeof root, "%s", argv[1]);
  } else {
    const char* tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/allezon_c_properties_XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(root) != NULL);
    made_root = 1;
  }
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/db", root);
  RemoveTree(dir);

  char* err = NULL;
  allezon_db_t* db = allezon_open(dir, &err);
  CHECK_NO_ERR(err);
  TestNames(db);
  TestValues(db);
  TestErrors(db);
  allezon_close(db);

  if (made_root) RemoveTree(root);
  printf("c_abi_properties: all passed\n");
  return 0;
}
