// The C ABI (allezon/c.h) over the C++ API (allezon/allezon.hpp).
//
// Every entry point runs its body inside Guard() (noexcept), which turns any exception
// into an error message: nothing C++ ever reaches the C caller. Results are copied into
// malloc()ed memory so that one allezon_free() releases anything this file hands out.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/c.h"
#include "allezon/allezon.hpp"

struct allezon_db_t {
  std::unique_ptr<allezon::Database> rep;
};

struct allezon_options_t {
  allezon::Options rep;
};

namespace {

constexpr const char* kCodeNames[] = {
    "Ok",       "Cancelled",      "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};
constexpr int kNumCodes = static_cast<int>(sizeof(kCodeNames) / sizeof(kCodeNames[0]));

const char* CodeName(int code) {
  return code >= 0 && code < kNumCodes ? kCodeNames[code] : "Unknown";
}

// Stores "<Code>: <message>" in *errptr, freeing the previous message. Never throws (it runs
// inside catch handlers): plain malloc, no std::string.
void SaveError(char** errptr, int code, std::string_view message) noexcept {
  if (errptr == nullptr) return;
  const char* name = CodeName(code);
  const size_t name_len = std::strlen(name);
  const size_t len = name_len + (message.empty() ? 0 : 2 + message.size());
  char* text = static_cast<char*>(std::malloc(len + 1));
  std::free(*errptr);
  *errptr = text;  // NULL when out of memory: the caller then sees no message, nothing better
  if (text == nullptr) return;
  std::memcpy(text, name, name_len);
  if (!message.empty()) {
    std::memcpy(text + name_len, ": ", 2);
    std::memcpy(text + name_len + 2, message.data(), message.size());
  }
  text[len] = '\0';
}

// Returns true (and saves the message) when status is an error.
bool SaveError(char** errptr, const absl::Status& status) noexcept {
  if (status.ok()) return false;
  // absl::string_view is not std::string_view in Debian's Abseil build.
  SaveError(errptr, static_cast<int>(status.code()),
            std::string_view(status.message().data(), status.message().size()));
  return true;
}

void InvalidArgument(char** errptr, std::string_view message) noexcept {
  SaveError(errptr, ALLEZON_INVALID_ARGUMENT, message);
}

// Runs body(), turning any exception into an error; returns on_error in that case.
template <typename R, typename Body>
R Guard(char** errptr, R on_error, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::bad_alloc&) {
    SaveError(errptr, ALLEZON_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    SaveError(errptr, ALLEZON_INTERNAL, e.what() != nullptr ? e.what() : "exception");
  } catch (...) {
    SaveError(errptr, ALLEZON_INTERNAL, "unknown exception");
  }
  return on_error;
}

template <typename Body>
void GuardVoid(char** errptr, Body&& body) noexcept {
  Guard(errptr, 0, [&] {
    std::forward<Body>(body)();
    return 0;
  });
}

// A malloc()ed, NUL-terminated copy (NUL-terminated even when s holds NULs: C callers see a
// prefix). Throws std::bad_alloc so Guard reports it.
char* CopyString(std::string_view s) {
  char* result = static_cast<char*>(std::malloc(s.size() + 1));
  if (result == nullptr) throw std::bad_alloc();
  std::memcpy(result, s.data(), s.size());
  result[s.size()] = '\0';
  return result;
}

bool CheckDb(const allezon_db_t* db, char** errptr) {
  if (db == nullptr || db->rep == nullptr) {
    InvalidArgument(errptr, "db is NULL");
    return false;
  }
  return true;
}

// Converts a C tag; false (and an error) when a required string is NULL or an enum is out
// of range. The library validates the rest (ValidateUserTag) when the tag is added.
bool ToUserTag(const allezon_tag_t& in, size_t index, allezon::UserTag* out, char** errptr) {
  auto missing = [&](const char* field) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) + "]." + field + " is NULL");
    return false;
  };
  if (in.cookie == nullptr) return missing("cookie");
  if (in.country == nullptr) return missing("country");
  if (in.origin == nullptr) return missing("origin");
  if (in.brand_id == nullptr) return missing("brand_id");
  if (in.category_id == nullptr) return missing("category_id");
  if (in.action != ALLEZON_ACTION_VIEW && in.action != ALLEZON_ACTION_BUY) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) +
                                "].action: not ALLEZON_ACTION_VIEW or ALLEZON_ACTION_BUY");
    return false;
  }
  if (in.device < ALLEZON_DEVICE_PC || in.device > ALLEZON_DEVICE_TV) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) + "].device: not an ALLEZON_DEVICE_*");
    return false;
  }
  out->time = in.time_ms;
  out->cookie = in.cookie;
  out->country = in.country;
  out->device = static_cast<allezon::Device>(in.device);
  out->action = static_cast<allezon::Action>(in.action);
  out->origin = in.origin;
  if (in.product_id_str != nullptr) {
    out->product_id = std::string(in.product_id_str);
  } else {
    out->product_id = in.product_id;
  }
  out->brand_id = in.brand_id;
  out->category_id = in.category_id;
  out->price = in.price;
  return true;
}

// Lays a Profile out as one malloc()ed block: the allezon_profile_t, then the tag arrays,
// then every string. One allezon_free() releases all of it.
class ProfileBlock {
 public:
  static allezon_profile_t* Build(const allezon::Profile& profile) {
    // Sizes first.
    size_t strings = profile.cookie.size() + 1;
    for (const auto* list : {&profile.views, &profile.buys}) {
      for (const allezon::UserTag& tag : *list) strings += StringBytes(tag);
    }
    const size_t n_tags = profile.views.size() + profile.buys.size();
    const size_t tags_offset = RoundUp(sizeof(allezon_profile_t), alignof(allezon_tag_t));
    const size_t strings_offset = tags_offset + n_tags * sizeof(allezon_tag_t);
    char* block = static_cast<char*>(std::malloc(strings_offset + strings));
    if (block == nullptr) throw std::bad_alloc();

    ProfileBlock writer(block + strings_offset);
    auto* result = new (block) allezon_profile_t{};
    auto* tags = reinterpret_cast<allezon_tag_t*>(block + tags_offset);
    result->cookie = writer.Add(profile.cookie);
    result->views = tags;
    result->n_views = profile.views.size();
    result->buys = tags + profile.views.size();
    result->n_buys = profile.buys.size();
    for (const auto* list : {&profile.views, &profile.buys}) {
      for (const allezon::UserTag& tag : *list) {
        allezon_tag_t* out = new (tags++) allezon_tag_t{};
        out->time_ms = tag.time;
        out->cookie = result->cookie;  // the profile's cookie: shared, not repeated
        out->country = writer.Add(tag.country);
        out->device = static_cast<int32_t>(tag.device);
        out->action = static_cast<int32_t>(tag.action);
        out->origin = writer.Add(tag.origin);
        if (const auto* id = std::get_if<std::string>(&tag.product_id)) {
          out->product_id_str = writer.Add(*id);
        } else {
          out->product_id = std::get<int64_t>(tag.product_id);
        }
        out->brand_id = writer.Add(tag.brand_id);
        out->category_id = writer.Add(tag.category_id);
        out->price = tag.price;
      }
    }
    return result;
  }

 private:
  explicit ProfileBlock(char* next) : next_(next) {}

  static size_t RoundUp(size_t n, size_t align) { return (n + align - 1) / align * align; }

  static size_t StringBytes(const allezon::UserTag& tag) {
    size_t n =
        tag.country.size() + tag.origin.size() + tag.brand_id.size() + tag.category_id.size() + 4;
    if (const auto* id = std::get_if<std::string>(&tag.product_id)) n += id->size() + 1;
    return n;
  }

  const char* Add(std::string_view s) {
    char* start = next_;
    std::memcpy(start, s.data(), s.size());
    start[s.size()] = '\0';
    next_ += s.size() + 1;
    return start;
  }

  char* next_;
};

// Parses a name given as C text ("VIEW", "origin", ...) with parse(std::string_view) ->
// std::optional<T>; false (and InvalidArgument naming `what`) when NULL or unknown.
template <typename T, typename Parse>
bool ParseName(const char* text, Parse parse, const char* what, T* out, char** errptr) {
  std::optional<T> parsed = text != nullptr ? parse(text) : std::nullopt;
  if (!parsed) {
    InvalidArgument(errptr, std::string(what) + ": unknown or NULL \"" +
                                std::string(text != nullptr ? text : "") + "\"");
    return false;
  }
  *out = *parsed;
  return true;
}

absl::StatusOr<allezon::Profile> GetProfile(allezon_db_t* db, const char* cookie, int64_t begin_ms,
                                            int64_t end_ms, int32_t limit) {
  if (cookie == nullptr) return absl::InvalidArgumentError("cookie is NULL");
  return db->rep->user_tags().GetProfile(cookie, allezon::TimeRange{begin_ms, end_ms}, limit);
}

}  // namespace

extern "C" {

const char* allezon_version(void) {
  return Guard(nullptr, static_cast<const char*>("unknown"), [] { return allezon::Version(); });
}

void allezon_free(void* p) { std::free(p); }

allezon_code_t allezon_error_code(const char* errmsg) {
  if (errmsg == nullptr) return ALLEZON_OK;
  const char* colon = std::strchr(errmsg, ':');
  const size_t len = colon != nullptr ? static_cast<size_t>(colon - errmsg) : std::strlen(errmsg);
  for (int code = 0; code < kNumCodes; ++code) {
    if (std::strlen(kCodeNames[code]) == len && std::strncmp(errmsg, kCodeNames[code], len) == 0) {
      return static_cast<allezon_code_t>(code);
    }
  }
  return ALLEZON_UNKNOWN;
}

const char* allezon_code_name(allezon_code_t code) { return CodeName(static_cast<int>(code)); }

// ---- Options --------------------------------------------------------------------------------

allezon_options_t* allezon_options_create(void) {
  return Guard(nullptr, static_cast<allezon_options_t*>(nullptr),
               [] { return new allezon_options_t; });
}

void allezon_options_destroy(allezon_options_t* options) { delete options; }

void allezon_options_set_create_if_missing(allezon_options_t* options, unsigned char value) {
  if (options != nullptr) options->rep.create_if_missing = value != 0;
}

void allezon_options_set_profile_cap(allezon_options_t* options, int32_t cap) {
  if (options != nullptr) options->rep.profile_cap = cap;
}

void allezon_options_set_retention_ms(allezon_options_t* options, int64_t retention_ms) {
  if (options != nullptr) options->rep.retention_ms = retention_ms;
}

void allezon_options_set_initial_map_size(allezon_options_t* options, uint64_t bytes) {
  if (options != nullptr) options->rep.initial_map_size = bytes;
}

void allezon_options_set_max_map_size(allezon_options_t* options, uint64_t bytes) {
  if (options != nullptr) options->rep.max_map_size = bytes;
}

void allezon_options_set_sync(allezon_options_t* options, unsigned char value) {
  if (options != nullptr) options->rep.sync = value != 0;
}

void allezon_options_set_max_batch_tags(allezon_options_t* options, size_t max_tags) {
  if (options != nullptr) options->rep.max_batch_tags = max_tags;
}

void allezon_options_set_profile_staging_tags(allezon_options_t* options, uint64_t tags) {
  if (options != nullptr) options->rep.profile_staging_tags = tags;
}

void allezon_options_set_max_readers(allezon_options_t* options, uint32_t max_readers) {
  if (options != nullptr) options->rep.max_readers = max_readers;
}

allezon_code_t allezon_options_set_raw_retention_ms(allezon_options_t* options,
                                                    int64_t retention_ms, char** errptr) {
  if (options == nullptr || retention_ms < 0) {
    InvalidArgument(errptr, options == nullptr ? "options is NULL" : "raw retention must be >= 0");
    return ALLEZON_INVALID_ARGUMENT;
  }
  options->rep.raw_retention_ms = retention_ms;
  return ALLEZON_OK;
}

// ---- Database -------------------------------------------------------------------------------

allezon_db_t* allezon_open(const char* data_dir, char** errptr) {
  return allezon_open_with_options(data_dir, nullptr, errptr);
}

allezon_db_t* allezon_open_with_options(const char* data_dir, const allezon_options_t* options,
                                        char** errptr) {
  return Guard(errptr, static_cast<allezon_db_t*>(nullptr), [&]() -> allezon_db_t* {
    if (data_dir == nullptr) {
      InvalidArgument(errptr, "data_dir is NULL");
      return nullptr;
    }
    allezon::Options opts = options != nullptr ? options->rep : allezon::Options();
    opts.data_dir = data_dir;
    absl::StatusOr<std::unique_ptr<allezon::Database>> db = allezon::Database::Open(opts);
    if (SaveError(errptr, db.status())) return nullptr;
    auto handle = std::make_unique<allezon_db_t>();
    handle->rep = *std::move(db);
    return handle.release();
  });
}

void allezon_close(allezon_db_t* db) {
  GuardVoid(nullptr, [&] { delete db; });
}

void allezon_set_max_map_size(allezon_db_t* db, uint64_t bytes, char** errptr) {
  GuardVoid(errptr, [&] {
    if (CheckDb(db, errptr)) SaveError(errptr, db->rep->SetMaxMapSize(bytes));
  });
}

// ---- Writes ---------------------------------------------------------------------------------

void allezon_add_tag_json(allezon_db_t* db, const char* json, size_t json_len, char** errptr) {
  GuardVoid(errptr, [&] {
    if (!CheckDb(db, errptr)) return;
    if (json == nullptr && json_len != 0) return InvalidArgument(errptr, "json is NULL");
    absl::StatusOr<allezon::UserTag> tag =
        allezon::ParseUserTagJson(std::string_view(json != nullptr ? json : "", json_len));
    if (SaveError(errptr, tag.status())) return;
    SaveError(errptr, db->rep->AddTag(*tag));
  });
}

size_t allezon_add_tags_jsonl(allezon_db_t* db, const char* data, size_t len, char** errptr) {
  return Guard(errptr, size_t{0}, [&]() -> size_t {
    if (!CheckDb(db, errptr)) return 0;
    if (data == nullptr && len != 0) {
      InvalidArgument(errptr, "data is NULL");
      return 0;
    }
    std::vector<allezon::UserTag> tags;
    if (SaveError(errptr,
                  allezon::ParseUserTagLines(std::string_view(data != nullptr ? data : "", len),
                                             SIZE_MAX, &tags))) {
      return 0;
    }
    if (tags.empty()) return 0;
    if (SaveError(errptr, db->rep->AddTags(tags))) return 0;
    return tags.size();
  });
}

void allezon_add_tag(allezon_db_t* db, const allezon_tag_t* tag, char** errptr) {
  if (tag == nullptr) {
    if (CheckDb(db, errptr)) InvalidArgument(errptr, "tag is NULL");
    return;
  }
  allezon_add_tags(db, tag, 1, errptr);
}

void allezon_add_tags(allezon_db_t* db, const allezon_tag_t* tags, size_t n_tags, char** errptr) {
  GuardVoid(errptr, [&] {
    if (!CheckDb(db, errptr) || n_tags == 0) return;
    if (tags == nullptr) return InvalidArgument(errptr, "tags is NULL");
    std::vector<allezon::UserTag> converted(n_tags);
    for (size_t i = 0; i < n_tags; ++i) {
      if (!ToUserTag(tags[i], i, &converted[i], errptr)) return;
    }
    SaveError(errptr, db->rep->AddTags(converted));
  });
}

// ---- Queries --------------------------------------------------------------------------------

char* allezon_profile_json(allezon_db_t* db, const char* cookie, int64_t begin_ms, int64_t end_ms,
                           int32_t limit, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    if (cookie == nullptr) {
      InvalidArgument(errptr, "cookie is NULL");
      return nullptr;
    }
    // Straight from the stored tags, as the server writes it: no Profile in between.
    std::string json;
    if (SaveError(errptr, allezon::AppendProfileJson(db->rep->user_tags(), cookie,
                                                     allezon::TimeRange{begin_ms, end_ms},
                                                     limit, &json))) {
      return nullptr;
    }
    return CopyString(json);
  });
}

allezon_profile_t* allezon_get_profile(allezon_db_t* db, const char* cookie, int64_t begin_ms,
                                       int64_t end_ms, int32_t limit, char** errptr) {
  return Guard(errptr, static_cast<allezon_profile_t*>(nullptr), [&]() -> allezon_profile_t* {
    if (!CheckDb(db, errptr)) return nullptr;
    absl::StatusOr<allezon::Profile> profile = GetProfile(db, cookie, begin_ms, end_ms, limit);
    if (SaveError(errptr, profile.status())) return nullptr;
    return ProfileBlock::Build(*profile);
  });
}

char* allezon_aggregates_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                              const char* action, const char* origin, const char* brand_id,
                              const char* category_id, const char* const* aggregates,
                              size_t n_aggregates, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    allezon::AggregateQuery query;
    query.range = allezon::TimeRange{begin_ms, end_ms};
    std::optional<allezon::Action> parsed_action =
        action != nullptr ? allezon::ParseAction(action) : std::nullopt;
    if (!parsed_action) {
      InvalidArgument(errptr, "action: must be \"VIEW\" or \"BUY\"");
      return nullptr;
    }
    query.action = *parsed_action;
    if (origin != nullptr) query.origin = origin;
    if (brand_id != nullptr) query.brand_id = brand_id;
    if (category_id != nullptr) query.category_id = category_id;
    if (aggregates == nullptr && n_aggregates != 0) {
      InvalidArgument(errptr, "aggregates is NULL");
      return nullptr;
    }
    for (size_t i = 0; i < n_aggregates; ++i) {
      const std::string_view name = aggregates[i] != nullptr ? aggregates[i] : "";
      if (name == "COUNT") {
        query.aggregates.push_back(allezon::AggregateFunction::kCount);
      } else if (name == "SUM_PRICE") {
        query.aggregates.push_back(allezon::AggregateFunction::kSumPrice);
      } else {
        InvalidArgument(
            errptr, "aggregates[" + std::to_string(i) + "]: must be \"COUNT\" or \"SUM_PRICE\"");
        return nullptr;
      }
    }
    if (query.aggregates.empty()) {
      InvalidArgument(errptr, "aggregates: at least one of \"COUNT\", \"SUM_PRICE\" is needed");
      return nullptr;
    }
    absl::StatusOr<allezon::AggregateResult> result = db->rep->aggregates().Query(query);
    if (SaveError(errptr, result.status())) return nullptr;
    return CopyString(allezon::AggregatesToJson(query, *result));
  });
}

namespace {

allezon_aggregate_row_t* AggregateRows(allezon_db_t* db, const allezon_aggregate_query_t* query,
                                       const char* bucket, size_t* n_rows, char** errptr) {
  if (n_rows != nullptr) *n_rows = 0;
  return Guard(
      errptr, static_cast<allezon_aggregate_row_t*>(nullptr), [&]() -> allezon_aggregate_row_t* {
        if (!CheckDb(db, errptr)) return nullptr;
        if (query == nullptr || n_rows == nullptr) {
          InvalidArgument(errptr, "query or n_rows is NULL");
          return nullptr;
        }
        if (query->action != ALLEZON_ACTION_VIEW && query->action != ALLEZON_ACTION_BUY) {
          InvalidArgument(errptr, "action: not ALLEZON_ACTION_VIEW or ALLEZON_ACTION_BUY");
          return nullptr;
        }
        allezon::AggregateQuery q;
        if (bucket != nullptr) {
          std::optional<allezon::BucketSize> size = allezon::ParseBucketSize(bucket);
          if (!size.has_value()) {
            InvalidArgument(errptr, "bucket: not \"1m\", \"15m\", \"1h\" or \"1d\"");
            return nullptr;
          }
          q.bucket = *size;
        }
        q.range = allezon::TimeRange{query->begin_ms, query->end_ms};
        q.action = static_cast<allezon::Action>(query->action);
        if (query->origin != nullptr) q.origin = query->origin;
        if (query->brand_id != nullptr) q.brand_id = query->brand_id;
        if (query->category_id != nullptr) q.category_id = query->category_id;
        q.aggregates = {allezon::AggregateFunction::kCount, allezon::AggregateFunction::kSumPrice};
        absl::StatusOr<allezon::AggregateResult> result = db->rep->aggregates().Query(q);
        if (SaveError(errptr, result.status())) return nullptr;
        const size_t n = result->rows.size();
        auto* rows = static_cast<allezon_aggregate_row_t*>(
            std::malloc((n > 0 ? n : 1) * sizeof(allezon_aggregate_row_t)));
        if (rows == nullptr) throw std::bad_alloc();
        for (size_t i = 0; i < n; ++i) {
          rows[i] = allezon_aggregate_row_t{result->rows[i].bucket_start, result->rows[i].count,
                                            result->rows[i].sum_price};
        }
        *n_rows = n;
        return rows;
      });
}

}  // namespace

allezon_aggregate_row_t* allezon_aggregates(allezon_db_t* db,
                                            const allezon_aggregate_query_t* query, size_t* n_rows,
                                            char** errptr) {
  return AggregateRows(db, query, nullptr, n_rows, errptr);
}

allezon_aggregate_row_t* allezon_aggregates_bucketed(allezon_db_t* db,
                                                     const allezon_aggregate_query_t* query,
                                                     const char* bucket, size_t* n_rows,
                                                     char** errptr) {
  if (bucket == nullptr) {
    if (n_rows != nullptr) *n_rows = 0;
    InvalidArgument(errptr, "bucket is NULL");
    return nullptr;
  }
  return AggregateRows(db, query, bucket, n_rows, errptr);
}

int allezon_options_set_bucket_retention_ms(allezon_options_t* options, const char* bucket,
                                            int64_t retention_ms) {
  if (options == nullptr || bucket == nullptr) return -1;
  std::optional<allezon::BucketSize> size = allezon::ParseBucketSize(bucket);
  if (!size.has_value()) return -1;
  switch (*size) {
    case allezon::BucketSize::k1m: options->rep.retention_ms = retention_ms; break;
    case allezon::BucketSize::k15m: options->rep.retention_15m_ms = retention_ms; break;
    case allezon::BucketSize::k1h: options->rep.retention_1h_ms = retention_ms; break;
    case allezon::BucketSize::k1d: options->rep.retention_1d_ms = retention_ms; break;
  }
  return 0;
}

// ---- Analyst queries ------------------------------------------------------------------------

char* allezon_top_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms, const char* action,
                       const char* dimension, const char* metric, int32_t limit, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    allezon::TopQuery query;
    query.range = allezon::TimeRange{begin_ms, end_ms};
    query.limit = limit;
    if (!ParseName(action, allezon::ParseAction, "action", &query.action, errptr) ||
        !ParseName(dimension, allezon::ParseDimension, "dimension", &query.dimension, errptr) ||
        !ParseName(metric, allezon::ParseTopMetric, "metric", &query.metric, errptr)) {
      return nullptr;
    }
    absl::StatusOr<allezon::TopResult> result = db->rep->analytics().Top(query);
    if (SaveError(errptr, result.status())) return nullptr;
    return CopyString(allezon::TopToJson(query, *result));
  });
}

char* allezon_catalogue_json(allezon_db_t* db, const char* dimension, const int64_t* new_since_ms,
                             const int64_t* silent_since_ms, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    allezon::CatalogueQuery query;
    if (!ParseName(dimension, allezon::ParseDimension, "dimension", &query.dimension, errptr)) {
      return nullptr;
    }
    if (new_since_ms != nullptr) query.new_since = *new_since_ms;
    if (silent_since_ms != nullptr) query.silent_since = *silent_since_ms;
    absl::StatusOr<std::vector<allezon::CatalogueEntry>> result =
        db->rep->analytics().Catalogue(query);
    if (SaveError(errptr, result.status())) return nullptr;
    return CopyString(allezon::CatalogueToJson(query.dimension, *result));
  });
}

char* allezon_anomalies_json(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                             const char* dimension, const char* action, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    allezon::AnomalyQuery query;
    query.range = allezon::TimeRange{begin_ms, end_ms};
    if (!ParseName(dimension, allezon::ParseDimension, "dimension", &query.dimension, errptr)) {
      return nullptr;
    }
    if (action != nullptr) {
      allezon::Action parsed;
      if (!ParseName(action, allezon::ParseAction, "action", &parsed, errptr)) return nullptr;
      query.action = parsed;
    }
    absl::StatusOr<std::vector<allezon::Anomaly>> result = db->rep->analytics().Anomalies(query);
    if (SaveError(errptr, result.status())) return nullptr;
    return CopyString(allezon::AnomaliesToJson(query.dimension, *result));
  });
}

char* allezon_user_sessions_json(allezon_db_t* db, const char* cookie, int64_t begin_ms,
                                 int64_t end_ms, int32_t limit, int64_t gap_ms, char** errptr) {
  return Guard(errptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!CheckDb(db, errptr)) return nullptr;
    if (cookie == nullptr) {
      InvalidArgument(errptr, "cookie is NULL");
      return nullptr;
    }
    const allezon::SessionQuery query{allezon::TimeRange{begin_ms, end_ms}, limit, gap_ms};
    absl::StatusOr<std::vector<allezon::Session>> result =
        db->rep->analytics().UserSessions(cookie, query);
    if (SaveError(errptr, result.status())) return nullptr;
    return CopyString(allezon::SessionsToJson(cookie, *result));
  });
}

// ---- Time helpers ---------------------------------------------------------------------------

int64_t allezon_parse_time(const char* text, char** errptr) {
  return Guard(errptr, int64_t{0}, [&]() -> int64_t {
    if (text == nullptr) {
      InvalidArgument(errptr, "time is NULL");
      return 0;
    }
    if (absl::StatusOr<int64_t> t = allezon::ParseTagTime(text); t.ok()) return *t;
    absl::StatusOr<int64_t> t = allezon::ParseRangeTime(text);
    if (!t.ok()) {
      InvalidArgument(errptr, "cannot parse time \"" + std::string(text) + "\"");
      return 0;
    }
    return *t;
  });
}

char* allezon_format_time(int64_t time_ms, char* buf, size_t buf_size) {
  return Guard(nullptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (buf == nullptr || buf_size < ALLEZON_TIME_BUFSIZE || time_ms < allezon::kMinTime ||
        time_ms > allezon::kMaxTime) {
      return nullptr;
    }
    const std::string text = allezon::FormatTagTime(time_ms);
    if (text.size() + 1 > buf_size) return nullptr;
    std::memcpy(buf, text.c_str(), text.size() + 1);
    return buf;
  });
}

}  // extern "C"

// ---- Raw tags -------------------------------------------------------------------------------

allezon_code_t allezon_export_tags(allezon_db_t* db, int64_t begin_ms, int64_t end_ms,
                                   int format, allezon_export_fn fn,
                                   void* arg, uint64_t* n_tags, char** errptr) {
  if (n_tags != nullptr) *n_tags = 0;
  return Guard(errptr, ALLEZON_INTERNAL, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (fn == nullptr) {
      InvalidArgument(errptr, "fn is NULL");
      return ALLEZON_INVALID_ARGUMENT;
    }
    if (format != ALLEZON_EXPORT_NDJSON && format != ALLEZON_EXPORT_CSV) {
      InvalidArgument(errptr, "format must be ALLEZON_EXPORT_NDJSON or ALLEZON_EXPORT_CSV");
      return ALLEZON_INVALID_ARGUMENT;
    }
    std::string chunk;
    bool header = format == ALLEZON_EXPORT_CSV;
    uint64_t written = 0;
    const absl::Status status = db->rep->ExportTags(
        {begin_ms, end_ms}, [&](std::span<const allezon::UserTagView> tags) -> absl::Status {
          chunk.clear();
          if (header) chunk.append(allezon::kUserTagCsvHeader);
          header = false;
          for (const allezon::UserTagView& tag : tags) {
            if (format == ALLEZON_EXPORT_CSV) {
              allezon::AppendUserTagCsv(tag, &chunk);
            } else {
              allezon::AppendUserTagLine(tag, &chunk);
            }
          }
          if (fn(arg, chunk.data(), chunk.size()) != 0) {
            return absl::CancelledError("the export callback stopped the export");
          }
          written += tags.size();
          if (n_tags != nullptr) *n_tags = written;
          return absl::OkStatus();
        });
    if (status.ok() && header && fn(arg, allezon::kUserTagCsvHeader.data(),
                                    allezon::kUserTagCsvHeader.size()) != 0) {
      SaveError(errptr, absl::CancelledError("the export callback stopped the export"));
      return ALLEZON_CANCELLED;
    }
    SaveError(errptr, status);
    return static_cast<allezon_code_t>(status.code());
  });
}

allezon_code_t allezon_earliest_raw_time(allezon_db_t* db, int64_t* time_ms, char** errptr) {
  return Guard(errptr, ALLEZON_INTERNAL, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (time_ms == nullptr) {
      InvalidArgument(errptr, "time_ms is NULL");
      return ALLEZON_INVALID_ARGUMENT;
    }
    absl::StatusOr<allezon::EpochMillis> earliest = db->rep->EarliestRawTime();
    if (SaveError(errptr, earliest.status())) {
      return static_cast<allezon_code_t>(earliest.status().code());
    }
    *time_ms = *earliest;
    return ALLEZON_OK;
  });
}
