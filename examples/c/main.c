/* A C program using the allezon C API: open a store, add a few tags (JSON and structs), ask
 * for a shopper's profile and a campaign's per-minute stats, print them.
 *
 * Usage: allezon_example_c [data_dir]   (default: a new directory under /tmp, removed after)
 * Build: link allezon::allezon_c (CMake), or: cc main.c -lallezon_c
 */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allezon/c.h"

static int RemoveEntry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Prints the error, frees it and returns 1 when there is one. */
static int Failed(const char* what, char* err) {
  if (err == NULL) return 0;
  fprintf(stderr, "%s failed (%s): %s\n", what, allezon_code_name(allezon_error_code(err)), err);
  allezon_free(err);
  return 1;
}

int main(int argc, char** argv) {
  char dir[256] = "/tmp/allezon_example_c_XXXXXX";
  const int temporary = argc < 2;
  if (temporary) {
    if (mkdtemp(dir) == NULL) return 1;
  } else {
    snprintf(dir, sizeof dir, "%s", argv[1]);
  }
  printf("allezon %s, data in %s\n", allezon_version(), dir);

  char* err = NULL;
  allezon_options_t* options = allezon_options_create();
  allezon_options_set_profile_cap(options, 200);
  allezon_db_t* db = allezon_open_with_options(dir, options, &err);
  allezon_options_destroy(options);
  if (Failed("open", err)) return 1;

  /* A tag exactly as the shop sends it... */
  const char* json =
      "{\"time\": \"2022-03-01T00:00:01Z\", \"cookie\": \"8CyGkmkQTWDWNarATGMd\","
      " \"country\": \"PL\", \"device\": \"PC\", \"action\": \"VIEW\","
      " \"origin\": \"NIKE_WOMEN_SHOES_CAMPAIGN\", \"product_info\": {\"product_id\": 519264,"
      " \"brand_id\": \"Nike\", \"category_id\": \"WOMEN_SHOES\", \"price\": 1999}}";
  /* Writes return ALLEZON_OK (0) or the error's code; err holds the message. */
  if (allezon_add_tag_json(db, json, strlen(json), &err) != ALLEZON_OK) {
    Failed("add_tag_json", err);
    return 1;
  }

  /* ...and a batch built in C, stored in one commit. */
  const int64_t t0 = allezon_parse_time("2022-03-01T00:00:00.000Z", &err);
  if (Failed("parse_time", err)) return 1;
  allezon_tag_t tags[3];
  for (int i = 0; i < 3; ++i) {
    allezon_tag_t tag = {0};
    tag.time_ms = t0 + 30000 * (i + 1); /* 00:00:30, 00:01:00, 00:01:30 */
    tag.cookie = "8CyGkmkQTWDWNarATGMd";
    tag.country = "PL";
    tag.device = ALLEZON_DEVICE_MOBILE;
    tag.action = i == 2 ? ALLEZON_ACTION_BUY : ALLEZON_ACTION_VIEW;
    tag.origin = "NIKE_WOMEN_SHOES_CAMPAIGN";
    tag.product_id = 519264 + i;
    tag.brand_id = "Nike";
    tag.category_id = "WOMEN_SHOES";
    tag.price = 1999 + i;
    tags[i] = tag;
  }
  if (allezon_add_tags(db, tags, 3, &err) != ALLEZON_OK) {
    Failed("add_tags", err);
    return 1;
  }

  /* The shopper's profile, newest first, as the HTTP API would answer it. */
  char* profile = allezon_profile_json(db, "8CyGkmkQTWDWNarATGMd", t0, t0 + 3600 * 1000, 200, &err);
  if (Failed("profile_json", err)) return 1;
  printf("profile: %s\n", profile);
  allezon_free(profile);

  /* The same as structs. */
  allezon_profile_t* p =
      allezon_get_profile(db, "8CyGkmkQTWDWNarATGMd", t0, t0 + 3600 * 1000, 200, &err);
  if (Failed("get_profile", err)) return 1;
  char when[ALLEZON_TIME_BUFSIZE];
  for (size_t i = 0; i < p->n_views; ++i) {
    printf("  view %s product %lld price %d\n",
           allezon_format_time(p->views[i].time_ms, when, sizeof when),
           (long long)p->views[i].product_id, p->views[i].price);
  }
  printf("  %zu buy(s)\n", p->n_buys);
  allezon_free(p);

  /* Per-minute VIEW stats of the Nike brand over two minutes. */
  const char* aggregates[] = {"COUNT", "SUM_PRICE"};
  char* stats = allezon_aggregates_json(db, t0, t0 + 2 * 60000, "VIEW", NULL, "Nike", NULL,
                                        aggregates, 2, &err);
  if (Failed("aggregates_json", err)) return 1;
  printf("aggregates: %s\n", stats);
  allezon_free(stats);

  /* A failing call returns its code, and the message starts with the same code word. */
  const allezon_code_t code = allezon_add_tag_json(db, "{\"cookie\": 42}", 14, &err);
  printf("invalid tag -> %s (%s)\n", allezon_code_name(code), err);
  if (allezon_error_code(err) != code) return 1;
  allezon_free(err);
  err = NULL;

  allezon_close(db);
  if (temporary) nftw(dir, RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  return code == ALLEZON_INVALID_ARGUMENT ? 0 : 1;
}
