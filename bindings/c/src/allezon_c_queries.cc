// The C ABI (allezon/c.h) over the C++ API: queries (profiles, aggregates, the analyst
// queries), the time helpers and the raw tag export.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/allezon.hpp"
#include "allezon/c.h"
#include "c_common.h"

using allezon::c_abi::CheckDb;
using allezon::c_abi::CopyString;
using allezon::c_abi::Guard;
using allezon::c_abi::GuardCode;
using allezon::c_abi::InvalidArgument;
using allezon::c_abi::SaveError;
using allezon::c_abi::SaveStatus;

namespace {

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
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (fn == nullptr) return InvalidArgument(errptr, "fn is NULL");
    if (format != ALLEZON_EXPORT_NDJSON && format != ALLEZON_EXPORT_CSV) {
      return InvalidArgument(errptr, "format must be ALLEZON_EXPORT_NDJSON or ALLEZON_EXPORT_CSV");
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
      return SaveStatus(errptr, absl::CancelledError("the export callback stopped the export"));
    }
    return SaveStatus(errptr, status);
  });
}

allezon_code_t allezon_earliest_raw_time(allezon_db_t* db, int64_t* time_ms, char** errptr) {
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (time_ms == nullptr) return InvalidArgument(errptr, "time_ms is NULL");
    absl::StatusOr<allezon::EpochMillis> earliest = db->rep->EarliestRawTime();
    if (!earliest.ok()) return SaveStatus(errptr, earliest.status());
    *time_ms = *earliest;
    return ALLEZON_OK;
  });
}
