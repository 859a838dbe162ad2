/* Allezon C API: a stable C ABI over the allezon event store (library allezon_c).
 * #include "allezon/c.h" (the name leveldb gives its C header, leveldb/c.h);
 * "allezon/allezon.h" forwards here for one more release.
 *
 * For C programs and for other languages in-process (Python ctypes, Go cgo, Rust, JNI...).
 * The semantics are those of the C++ API and the HTTP contract (SPEC.md §1-§5, §9): tags are
 * stored durably before an add returns, profiles list each action's tags newest first,
 * aggregates give one row per minute of the range.
 *
 * Conventions
 *
 * (1) Only opaque handles and plain structs cross the boundary. Every handle has a
 *     create/destroy (open/close) pair; every destroy function accepts NULL and does nothing.
 *
 * (2) Every call that can fail says so by what it returns, and takes `char** errptr` as its
 *     last argument for the message. A function returning allezon_code_t returns ALLEZON_OK
 *     (0) on success and the error's code (nonzero) otherwise; a function returning a
 *     pointer returns NULL exactly when it fails. Two return a number for which 0 is also a
 *     valid answer, allezon_add_tags_jsonl (input without tags) and allezon_parse_time
 *     (1970-01-01T00:00:00Z): give them an errptr to tell. The option setters returning void
 *     cannot fail: the values are checked when the database is opened (InvalidArgument from
 *     allezon_open_with_options), and a NULL options is ignored.
 *     Messages are NUL-terminated strings. On entry *errptr must be NULL or a message from
 *     an earlier allezon call. On success *errptr is left unchanged; on failure the old
 *     message is freed and *errptr set to a new malloc()ed message, to be freed with
 *     allezon_free(). errptr itself may be NULL when the caller does not want the message
 *     (the return value still tells failure). A message always starts with a code word and
 *     a colon, e.g. "InvalidArgument: price: not an int32", the word of the code returned;
 *     allezon_error_code() turns a message into its allezon_code_t:
 *       InvalidArgument     bad input (an invalid tag, an unknown action...); nothing changed
 *       NotFound            an unknown property name (allezon_get_property)
 *       ResourceExhausted   the database is full; retry after raising the limit / freeing disk
 *       FailedPrecondition  the data directory is in use by another open database
 *       Unavailable         the database is closing
 *       Internal            a bug; please report it
 *
 * (3) Results returned as pointers (JSON strings, profiles, aggregate rows) are malloc()ed,
 *     owned by the caller and freed with allezon_free(). A function returning a pointer
 *     returns NULL exactly when it fails. JSON results are NUL-terminated UTF-8.
 *
 * (4) Strings passed in are NUL-terminated UTF-8 unless a length is given. The library copies
 *     what it keeps; no pointer passed in is retained after the call returns.
 *
 * (5) Times are int64_t milliseconds since the Unix epoch, UTC; ranges are half-open
 *     [begin_ms, end_ms). Booleans are unsigned char (0 = false, anything else = true).
 *
 * (6) No C++ exception ever leaves this library; an unexpected one becomes an "Internal"
 *     error (or "ResourceExhausted" when out of memory).
 *
 * Thread-safety: an allezon_db_t may be used by any number of threads at once, except that
 * allezon_close() must not race with any other call on the same handle. Writes from all
 * threads are group-committed (many tags per fsync), so adding from several threads is the
 * way to a high write rate. An allezon_options_t is a plain value: do not share one between
 * threads while it is being modified. One data directory may be opened by one allezon_db_t
 * at a time, in the whole machine.
 */
#ifndef ALLEZON_C_H_
#define ALLEZON_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(ALLEZON_C_COMPILE_LIBRARY) && defined(ALLEZON_C_SHARED_LIBRARY)
#define ALLEZON_C_EXPORT __declspec(dllexport)
#elif defined(ALLEZON_C_SHARED_LIBRARY)
#define ALLEZON_C_EXPORT __declspec(dllimport)
#else
#define ALLEZON_C_EXPORT
#endif
#else
#define ALLEZON_C_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Types ------------------------------------------------------------------------------ */

typedef struct allezon_db_t allezon_db_t;
typedef struct allezon_options_t allezon_options_t;

/* Error codes; the values are those of absl::StatusCode (google.rpc.Code). */
typedef enum allezon_code_t {
  ALLEZON_OK = 0,
  ALLEZON_CANCELLED = 1,
  ALLEZON_UNKNOWN = 2,
  ALLEZON_INVALID_ARGUMENT = 3,
  ALLEZON_DEADLINE_EXCEEDED = 4,
  ALLEZON_NOT_FOUND = 5,
  ALLEZON_ALREADY_EXISTS = 6,
  ALLEZON_PERMISSION_DENIED = 7,
  ALLEZON_RESOURCE_EXHAUSTED = 8,
  ALLEZON_FAILED_PRECONDITION = 9,
  ALLEZON_ABORTED = 10,
  ALLEZON_OUT_OF_RANGE = 11,
  ALLEZON_UNIMPLEMENTED = 12,
  ALLEZON_INTERNAL = 13,
  ALLEZON_UNAVAILABLE = 14,
  ALLEZON_DATA_LOSS = 15,
  ALLEZON_UNAUTHENTICATED = 16
} allezon_code_t;

/* Values of allezon_tag_t::action and ::device (int32_t fields, so the layout is fixed). */
enum { ALLEZON_ACTION_VIEW = 0, ALLEZON_ACTION_BUY = 1 };
enum { ALLEZON_DEVICE_PC = 0, ALLEZON_DEVICE_MOBILE = 1, ALLEZON_DEVICE_TV = 2 };

/* One user tag (SPEC §1) without JSON. As input, the strings are borrowed for the call only.
 * In a profile result they point into that result and live until it is freed.
 * product_id keeps the JSON type it arrived in: when product_id_str is non-NULL the id is
 * that string, otherwise it is the integer product_id. */
typedef struct allezon_tag_t {
  int64_t time_ms;
  const char* cookie;
  const char* country;
  int32_t device; /* ALLEZON_DEVICE_* */
  int32_t action; /* ALLEZON_ACTION_* */
  const char* origin;
  const char* product_id_str; /* NULL: the id is the integer below */
  int64_t product_id;
  const char* brand_id;
  const char* category_id;
  int32_t price;
} allezon_tag_t;

/* A profile (SPEC §4): each list newest first. One malloc()ed block holding the lists and
 * their strings: free it, once, with allezon_free(). */
typedef struct allezon_profile_t {
  const char* cookie;
  const allezon_tag_t* views;
  size_t n_views;
  const allezon_tag_t* buys;
  size_t n_buys;
} allezon_profile_t;

/* An aggregate query (SPEC §5) without strings for the answer: both count and sum_price are
 * always returned. begin_ms and end_ms must be whole minutes. A NULL filter = not filtered. */
typedef struct allezon_aggregate_query_t {
  int64_t begin_ms;
  int64_t end_ms;
  int32_t action; /* ALLEZON_ACTION_* */
  const char* origin;
  const char* brand_id;
  const char* category_id;
} allezon_aggregate_query_t;

/* One row per minute of the range, in time order; a minute without tags gives zeros. */
typedef struct allezon_aggregate_row_t {
  int64_t bucket_start_ms;
  int64_t count;
  int64_t sum_price;
} allezon_aggregate_row_t;

/* ---- Library ---------------------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of the library linked. Static storage: do not free. */
ALLEZON_C_EXPORT const char* allezon_version(void);

/* Frees anything this API returned as malloc()ed (results and error messages). NULL is ok. */
ALLEZON_C_EXPORT void allezon_free(void* p);

/* The code at the start of an error message; ALLEZON_OK for NULL, ALLEZON_UNKNOWN for text
 * that does not start with a code word. */
ALLEZON_C_EXPORT allezon_code_t allezon_error_code(const char* errmsg);

/* "InvalidArgument" etc. for a code ("Unknown" for values out of range). Static storage. */
ALLEZON_C_EXPORT const char* allezon_code_name(allezon_code_t code);

/* ---- Options ---------------------------------------------------------------------------- */

/* Options with every field at its default (see allezon/options.h for the full story). */
ALLEZON_C_EXPORT allezon_options_t* allezon_options_create(void);
ALLEZON_C_EXPORT void allezon_options_destroy(allezon_options_t* options);

/* Create the data directory when missing. Default 1. */
ALLEZON_C_EXPORT void allezon_options_set_create_if_missing(allezon_options_t* options,
                                                            unsigned char value);
/* Most recent tags kept per cookie and action. Default 200; must be >= 1. */
ALLEZON_C_EXPORT void allezon_options_set_profile_cap(allezon_options_t* options, int32_t cap);
/* Aggregate minutes older than this before the newest event time are dropped.
 * Default 86400000 (24 h); must be >= 60000. */
ALLEZON_C_EXPORT void allezon_options_set_retention_ms(allezon_options_t* options,
                                                       int64_t retention_ms);
/* The retention of the buckets of `bucket` ("1m" is the same as allezon_options_set_retention_ms;
 * defaults "15m" 30 days, "1h" 122 days, "1d" 1,096 days; each at least one bucket, checked at
 * open). Returns 0, or -1 when options or bucket is NULL or bucket is not a bucket size. */
ALLEZON_C_EXPORT int allezon_options_set_bucket_retention_ms(allezon_options_t* options,
                                                             const char* bucket,
                                                             int64_t retention_ms);
/* Initial size of the memory map, bytes. Default 256 MiB; it doubles as needed. */
ALLEZON_C_EXPORT void allezon_options_set_initial_map_size(allezon_options_t* options,
                                                           uint64_t bytes);
/* Largest the map may grow to, bytes; 0 (default) = no limit but the disk. Adds fail with
 * ResourceExhausted when it is reached. */
ALLEZON_C_EXPORT void allezon_options_set_max_map_size(allezon_options_t* options, uint64_t bytes);
/* fsync every commit before an add returns. Default 1. 0 survives a process crash but may
 * lose the last commits on an OS crash. */
ALLEZON_C_EXPORT void allezon_options_set_sync(allezon_options_t* options, unsigned char value);
/* Most tags in one group commit. Default 20000; must be >= 1. */
ALLEZON_C_EXPORT void allezon_options_set_max_batch_tags(allezon_options_t* options,
                                                         size_t max_tags);
/* New tags held in memory (and a durable log) before being merged into their cookie's stored
 * list: more means fewer disk writes per tag and about 80 bytes of memory per staged tag;
 * 0 merges at the next commit. Default 1000000. Never changes answers. */
ALLEZON_C_EXPORT void allezon_options_set_profile_staging_tags(allezon_options_t* options,
                                                               uint64_t tags);
/* Most threads querying at once. Default 512. */
ALLEZON_C_EXPORT void allezon_options_set_max_readers(allezon_options_t* options,
                                                      uint32_t max_readers);

/* Raw tags (SPEC §10) kept this long behind the newest event time, for allezon_export_tags.
 * Default 0: none kept (opening with 0 deletes raw tags kept before). Must be >= 0.
 * Returns ALLEZON_OK, or ALLEZON_INVALID_ARGUMENT (and *errptr) for NULL or a negative value. */
ALLEZON_C_EXPORT allezon_code_t allezon_options_set_raw_retention_ms(allezon_options_t* options,
                                                                     int64_t retention_ms,
                                                                     char** errptr);

/* ---- Database --------------------------------------------------------------------------- */

/* Opens (creating when missing) the database in data_dir with default options. NULL on
 * failure. Close it with allezon_close(). */
ALLEZON_C_EXPORT allezon_db_t* allezon_open(const char* data_dir, char** errptr);

/* Same with options (NULL = defaults); the options are copied and may be destroyed after. */
ALLEZON_C_EXPORT allezon_db_t* allezon_open_with_options(const char* data_dir,
                                                         const allezon_options_t* options,
                                                         char** errptr);

/* Finishes queued writes and closes. NULL is ok. No call on db may race with this one. */
ALLEZON_C_EXPORT void allezon_close(allezon_db_t* db);

/* Raises (or lowers, not below the current size) the map size limit; 0 = no limit. Returns
 * ALLEZON_OK, or the error's code (and *errptr): INVALID_ARGUMENT for a NULL db. */
ALLEZON_C_EXPORT allezon_code_t allezon_set_max_map_size(allezon_db_t* db, uint64_t bytes,
                                                         char** errptr);

/* ---- Properties ------------------------------------------------------------------------- */
/* The database's counters by name, as leveldb's properties (and allezon::Database::GetProperty
 * in C++): new counters are added as new names, never as new functions or struct fields.
 *   allezon.tags-written          tags accepted since open
 *   allezon.commits               write transactions since open
 *   allezon.largest-batch         most tags in one commit since open
 *   allezon.commits-by-batch-size-<i>, i = 0..15: commits since open of 1 tag (i = 0), of
 *                                 2^(i-1)+1 .. 2^i tags, or (i = 15) more
 *   allezon.staged-profile-tags   tags logged but not yet merged into their lists
 *   allezon.profile-log-tags      tags in the profile log
 *   allezon.map-size              current LMDB map size, bytes
 *   allezon.map-used              bytes of the map in use
 *   allezon.profile-records       (cookie, action) lists merged into records
 *   allezon.open-minutes          aggregate minutes held in memory
 *   allezon.newest-time           newest event time accepted, epoch ms: an int64_t in the
 *                                 uint64_t, (int64_t)value gives it back; -62135596800000
 *                                 (year 1) when no tag was accepted yet */

/* Stores the property's value in *value. Returns ALLEZON_OK, or the error's code (and
 * *errptr) with *value unchanged: NOT_FOUND for a name not listed, INVALID_ARGUMENT for a
 * NULL argument. */
ALLEZON_C_EXPORT allezon_code_t allezon_get_property(allezon_db_t* db, const char* name,
                                                     uint64_t* value, char** errptr);

/* The index-th property name (from 0), NULL past the last: every name allezon_get_property
 * answers. Static storage: do not free. */
ALLEZON_C_EXPORT const char* allezon_property_name(size_t index);

/* ---- Writes: each returns once the tags are durable and visible to queries -------------- */
/* allezon_add_tag_json, allezon_add_tag and allezon_add_tags return ALLEZON_OK, or the error's
 * code (and *errptr) with nothing stored: INVALID_ARGUMENT for an invalid tag or a NULL
 * argument, RESOURCE_EXHAUSTED when the database is full (allezon_set_max_map_size, then
 * retry), UNAVAILABLE once it is closing. (They used to return void: a caller that ignores
 * the result compiles and links unchanged.) */

/* One user tag as SPEC §1 JSON (json need not be NUL-terminated). */
ALLEZON_C_EXPORT allezon_code_t allezon_add_tag_json(allezon_db_t* db, const char* json,
                                                     size_t json_len, char** errptr);

/* Many tags as JSON Lines: one JSON object per line, blank lines skipped. All or none: an
 * invalid line stores nothing and the message names the line ("InvalidArgument: line 3:
 * ..."). Returns the number of tags stored: 0 on failure, but also for input without tags,
 * so pass an errptr to tell them apart. */
ALLEZON_C_EXPORT size_t allezon_add_tags_jsonl(allezon_db_t* db, const char* data, size_t len,
                                               char** errptr);

/* One tag, no JSON. */
ALLEZON_C_EXPORT allezon_code_t allezon_add_tag(allezon_db_t* db, const allezon_tag_t* tag,
                                                char** errptr);

/* n_tags tags in one commit, all or none (n_tags == 0 is a no-op: ALLEZON_OK). */
ALLEZON_C_EXPORT allezon_code_t allezon_add_tags(allezon_db_t* db, const allezon_tag_t* tags,
                                                 size_t n_tags, char** errptr);

/* ---- Queries ---------------------------------------------------------------------------- */

/* SPEC §4 answer, {"cookie": ..., "views": [...], "buys": [...]}. limit >= 0 caps each list
 * (the HTTP default is 200). An unknown cookie gives empty lists. */
ALLEZON_C_EXPORT char* allezon_profile_json(allezon_db_t* db, const char* cookie, int64_t begin_ms,
                                            int64_t end_ms, int32_t limit, char** errptr);

/* The same as structs; free the result with allezon_free(). */
ALLEZON_C_EXPORT allezon_profile_t* allezon_get_profile(allezon_db_t* db, const char* cookie,
                                                        int64_t begin_ms, int64_t end_ms,
                                                        int32_t limit, char** errptr);

/* SPEC §5 answer, {"columns": [...], "rows": [[...]]}. action "VIEW" or "BUY"; a NULL
 * origin/brand_id/category_id is not filtered; aggregates: "COUNT" / "SUM_PRICE", in the
 * order wanted (at least one). begin_ms and end_ms must be whole minutes. */
ALLEZON_C_EXPORT char* allezon_aggregates_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                                               const char* action, const char* origin,
                                               const char* brand_id, const char* category_id,
                                               const char* const* aggregates, size_t n_aggregates,
                                               char** errptr);

/* The same as rows: a malloc()ed array of *n_rows rows (non-NULL even when *n_rows is 0),
 * freed with allezon_free(). */
ALLEZON_C_EXPORT allezon_aggregate_row_t* allezon_aggregates(allezon_db_t* db,
                                                             const allezon_aggregate_query_t* query,
                                                             size_t* n_rows, char** errptr);

/* The same in buckets of `bucket`: "1m", "15m", "1h" or "1d" (SPEC §10). begin_ms and end_ms
 * must be whole buckets (UTC); each row is one bucket, exactly the sums of its minutes; a
 * bucket past its size's retention gives zeros. */
ALLEZON_C_EXPORT allezon_aggregate_row_t* allezon_aggregates_bucketed(
    allezon_db_t* db, const allezon_aggregate_query_t* query, const char* bucket, size_t* n_rows,
    char** errptr);

/* ---- Analyst queries (SPEC §9) ---------------------------------------------------------- */
/* Each returns the JSON the HTTP endpoint of the same name answers, byte for byte. Names are
 * the JSON ones: dimension "origin", "brand_id", "category_id" (and for the catalogue also
 * "country", "device"), action "VIEW" / "BUY", metric "count" / "sum_price". Bad names and
 * out-of-range numbers are InvalidArgument. */

/* GET /top: the values of `dimension` among the tags of `action` in [begin_ms, end_ms) (whole
 * minutes), by `metric` descending, ties by value ascending, at most `limit` (0..1000; the
 * HTTP default is 10). {"columns": [...], "rows": [["value", "count", "sum_price"], ...]} */
ALLEZON_C_EXPORT char* allezon_top_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                                        const char* action, const char* dimension,
                                        const char* metric, int32_t limit, char** errptr);

/* GET /catalogue: every value `dimension` ever had, with its first and last event time and
 * tag count, sorted by value. new_since_ms keeps values first seen at or after it,
 * silent_since_ms those last seen before it; NULL = no such filter. */
ALLEZON_C_EXPORT char* allezon_catalogue_json(allezon_db_t* db, const char* dimension,
                                              const int64_t* new_since_ms,
                                              const int64_t* silent_since_ms, char** errptr);

/* GET /anomalies: the spikes and drops of [begin_ms, end_ms) (whole minutes) for `dimension`
 * (origin, brand_id or category_id); action NULL = both. The detector: allezon/analytics.h. */
ALLEZON_C_EXPORT char* allezon_anomalies_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                                              const char* dimension, const char* action,
                                              char** errptr);

/* GET /user_sessions/{cookie}: the cookie's stored tags in [begin_ms, end_ms) cut into visits
 * where two tags are gap_ms (>= 1) or more apart, newest first, at most limit (>= 0; the HTTP
 * default is 20). */
#define ALLEZON_DEFAULT_SESSION_GAP_MS INT64_C(1800000) /* 30 minutes */
ALLEZON_C_EXPORT char* allezon_user_sessions_json(allezon_db_t* db, const char* cookie,
                                                  int64_t begin_ms, int64_t end_ms, int32_t limit,
                                                  int64_t gap_ms, char** errptr);

/* ---- Time helpers ----------------------------------------------------------------------- */

/* Parses "2022-03-01T00:05:00.000Z", "2022-03-01T00:05:00Z" or a query's range end
 * "2022-03-01T00:05:00" (UTC) into epoch milliseconds. Returns 0 and sets *errptr on error (0
 * is also 1970-01-01T00:00:00Z: pass an errptr to tell). */
ALLEZON_C_EXPORT int64_t allezon_parse_time(const char* text, char** errptr);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL into buf, which must hold at least 25 bytes
 * (ALLEZON_TIME_BUFSIZE). Returns buf, or NULL (buf untouched) when too small or the time is
 * outside years 1-9999. */
#define ALLEZON_TIME_BUFSIZE 25
ALLEZON_C_EXPORT char* allezon_format_time(int64_t time_ms, char* buf, size_t buf_size);

/* ---- Raw tags: export (SPEC §10) ------------------------------------------------------- */

/* Formats of allezon_export_tags: NDJSON (one SPEC §1 tag JSON per line, "\n") or CSV (a
 * header line, then time,cookie,country,device,action,origin,product_id,brand_id,category_id,
 * price rows, RFC 4180 quoting, "\r\n"). */
typedef enum allezon_export_format_t {
  ALLEZON_EXPORT_NDJSON = 0,
  ALLEZON_EXPORT_CSV = 1
} allezon_export_format_t;

/* Receives the export's text in chunks of whole lines (data is not NUL-terminated and valid
 * only during the call; chunks are at most a few MB). Return 0 to go on; anything else stops
 * the export, which then returns ALLEZON_CANCELLED. Runs on the calling thread; it must not
 * call allezon_close on the same handle. */
typedef int (*allezon_export_fn)(void* arg, const char* data, size_t len);

/* Streams every raw tag kept with time in [begin_ms, end_ms), ordered by time then by
 * acceptance, as of the moment the call begins, to fn(arg, ...). Memory stays flat whatever
 * the range. *n_tags (when n_tags is not NULL) receives the number of tags written, also on
 * failure (what fn received). Returns ALLEZON_OK or the error's code with *errptr:
 * INVALID_ARGUMENT for a begin before the earliest time kept (the message names it), a
 * reversed range, a bad format or a NULL fn; FAILED_PRECONDITION when raw retention is off;
 * CANCELLED when fn stopped it; ABORTED when retention trimmed the range meanwhile. */
/* `format` is an int holding an allezon_export_format_t, so that any other value is a clean
 * INVALID_ARGUMENT rather than an out-of-range enum in the library (undefined in C++). */
ALLEZON_C_EXPORT allezon_code_t allezon_export_tags(allezon_db_t* db, int64_t begin_ms,
                                                    int64_t end_ms, int format,
                                                    allezon_export_fn fn, void* arg,
                                                    uint64_t* n_tags, char** errptr);

/* The earliest event time from which every accepted tag is kept, into *time_ms (INT64 min of
 * a four-digit year, -62135596800000, when nothing was trimmed yet). FAILED_PRECONDITION when
 * raw retention is off. */
ALLEZON_C_EXPORT allezon_code_t allezon_earliest_raw_time(allezon_db_t* db, int64_t* time_ms,
                                                          char** errptr);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ALLEZON_C_H_ */
