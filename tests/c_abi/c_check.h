/* What the C ABI tests share (compiled as C11): checks that stay on in release builds, the
 * stream's start time, and removing a scratch directory. Include after defining
 * _XOPEN_SOURCE 700 (for nftw). */
#ifndef ALLEZON_TESTS_C_ABI_C_CHECK_H_
#define ALLEZON_TESTS_C_ABI_C_CHECK_H_

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* No error expected: err must still be NULL. */
#define CHECK_NO_ERR(err)                                                          \
  do {                                                                             \
    if ((err) != NULL) {                                                           \
      fprintf(stderr, "%s:%d: unexpected error: %s\n", __FILE__, __LINE__, (err)); \
      abort();                                                                     \
    }                                                                              \
  } while (0)

#define T0 INT64_C(1646092800000) /* 2022-03-01T00:00:00.000Z */
#define MINUTE INT64_C(60000)

static int RemoveEntry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes `path` and everything under it (missing: nothing to do). */
static inline void RemoveTree(const char* path) {
  nftw(path, RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* ALLEZON_TESTS_C_ABI_C_CHECK_H_ */
