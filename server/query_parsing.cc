#include "query_parsing.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/strings/str_cat.h"
#include "allezon/user_tag.h"

namespace allezon::server {
namespace {

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

// The single value of a parameter that may appear at most once.
absl::Status OptionalParam(const QueryParams& params, const char* name,
                           std::optional<std::string>* out) {
  const auto [begin, end] = params.equal_range(name);
  if (begin == end) return absl::OkStatus();
  if (std::next(begin) != end) {
    return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " is repeated"));
  }
  *out = begin->second;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredParam(const QueryParams& params, const char* name) {
  std::optional<std::string> value;
  if (absl::Status s = OptionalParam(params, name, &value); !s.ok()) return s;
  if (!value) return absl::InvalidArgumentError(absl::StrCat("parameter ", name, " is required"));
  return *std::move(value);
}

absl::StatusOr<TimeRange> RequiredRange(const QueryParams& params) {
  absl::StatusOr<std::string> text = RequiredParam(params, "time_range");
  if (!text.ok()) return text.status();
  return ParseTimeRange(*text);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c != '%') {
      out->push_back(c);
    } else {
      const int high = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = high >= 0 ? HexValue(text[i + 2]) : -1;
      if (low < 0) return false;
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return true;
}

}  // namespace

std::string_view QueryOfTarget(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return {};
  std::string_view query = target.substr(question + 1);
  return query.substr(0, query.find('#'));
}

absl::StatusOr<QueryParams> ParseQueryString(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    std::string key, value;
    if (!PercentDecode(piece.substr(0, eq), &key) ||
        (eq != std::string_view::npos && !PercentDecode(piece.substr(eq + 1), &value))) {
      return absl::InvalidArgumentError(
          "malformed query string: '%' must be followed by two hex digits");
    }
    params.emplace(std::move(key), std::move(value));
  }
  return params;
}

absl::StatusOr<int32_t> ParseLimit(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("limit must be a non-negative integer");
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError("limit must be a non-negative integer");
    }
    value = std::min<int64_t>(value * 10 + (c - '0'), INT32_MAX);
  }
  return static_cast<int32_t>(value);
}

absl::StatusOr<ProfileQuery> ParseProfileQuery(const QueryParams& params) {
  ProfileQuery query;
  absl::StatusOr<TimeRange> range = RequiredRange(params);
  if (!range.ok()) return range.status();
  query.range = *range;
  std::optional<std::string> limit_text;
  if (absl::Status s = OptionalParam(params, "limit", &limit_text); !s.ok()) return s;
  if (limit_text) {
    absl::StatusOr<int32_t> limit = ParseLimit(*limit_text);
    if (!limit.ok()) return limit.status();
    query.limit = *limit;
  }
  return query;
}

absl::StatusOr<AggregateQuery> ParseAggregateQuery(const QueryParams& params) {
  AggregateQuery query;
  absl::StatusOr<TimeRange> range = RequiredRange(params);
  if (!range.ok()) return range.status();
  query.range = *range;
  absl::StatusOr<std::string> action_text = RequiredParam(params, "action");
  if (!action_text.ok()) return action_text.status();
  std::optional<Action> action = ParseAction(*action_text);
  if (!action) return absl::InvalidArgumentError("action must be VIEW or BUY");
  query.action = *action;
  const auto [begin, end] = params.equal_range("aggregates");
  if (begin == end) {
    return absl::InvalidArgumentError("parameter aggregates is required (COUNT and/or SUM_PRICE)");
  }
  for (auto it = begin; it != end; ++it) {
    if (it->second == "COUNT") {
      query.aggregates.push_back(AggregateFunction::kCount);
    } else if (it->second == "SUM_PRICE") {
      query.aggregates.push_back(AggregateFunction::kSumPrice);
    } else {
      // Quoted through the JSON error body; cut so an echo cannot be made arbitrarily long.
      return absl::InvalidArgumentError(absl::StrCat("unknown aggregate \"",
                                                     Sv(std::string_view(it->second).substr(0, 64)),
                                                     "\" (expected COUNT or SUM_PRICE)"));
    }
  }
  for (auto [name, field] :
       {std::pair{"origin", &query.origin}, std::pair{"brand_id", &query.brand_id},
        std::pair{"category_id", &query.category_id}}) {
    if (absl::Status s = OptionalParam(params, name, field); !s.ok()) return s;
  }
  std::optional<std::string> bucket;
  if (absl::Status s = OptionalParam(params, "bucket", &bucket); !s.ok()) return s;
  if (bucket.has_value()) {
    std::optional<BucketSize> size = ParseBucketSize(*bucket);
    if (!size.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown bucket \"", Sv(std::string_view(*bucket).substr(0, 64)),
                       "\" (expected 1m, 15m, 1h or 1d)"));
    }
    query.bucket = *size;
  }
  return query;
}

namespace {

constexpr char kCellDimensions[] = "dimension must be origin, brand_id or category_id";

absl::StatusOr<Dimension> RequiredCellDimension(const QueryParams& params) {
  absl::StatusOr<std::string> text = RequiredParam(params, "dimension");
  if (!text.ok()) return text.status();
  std::optional<Dimension> dimension = ParseDimension(*text);
  if (!dimension || *dimension == Dimension::kCountry || *dimension == Dimension::kDevice) {
    return absl::InvalidArgumentError(kCellDimensions);
  }
  return *dimension;
}

absl::StatusOr<Action> ParseActionParam(const std::string& text) {
  std::optional<Action> action = ParseAction(text);
  if (!action) return absl::InvalidArgumentError("action must be VIEW or BUY");
  return *action;
}

// An optional limit: `fallback` when absent.
absl::StatusOr<int32_t> OptionalLimit(const QueryParams& params, int32_t fallback) {
  std::optional<std::string> text;
  if (absl::Status s = OptionalParam(params, "limit", &text); !s.ok()) return s;
  if (!text) return fallback;
  return ParseLimit(*text);
}

}  // namespace

absl::StatusOr<TopQuery> ParseTopQuery(const QueryParams& params) {
  TopQuery query;
  absl::StatusOr<TimeRange> range = RequiredRange(params);
  if (!range.ok()) return range.status();
  query.range = *range;
  absl::StatusOr<std::string> action_text = RequiredParam(params, "action");
  if (!action_text.ok()) return action_text.status();
  absl::StatusOr<Action> action = ParseActionParam(*action_text);
  if (!action.ok()) return action.status();
  query.action = *action;
  absl::StatusOr<Dimension> dimension = RequiredCellDimension(params);
  if (!dimension.ok()) return dimension.status();
  query.dimension = *dimension;
  absl::StatusOr<std::string> metric_text = RequiredParam(params, "metric");
  if (!metric_text.ok()) return metric_text.status();
  std::optional<TopMetric> metric = ParseTopMetric(*metric_text);
  if (!metric) return absl::InvalidArgumentError("metric must be count or sum_price");
  query.metric = *metric;
  absl::StatusOr<int32_t> limit = OptionalLimit(params, kDefaultTopLimit);
  if (!limit.ok()) return limit.status();
  if (*limit > kMaxTopLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be at most ", kMaxTopLimit));
  }
  query.limit = *limit;
  return query;
}

absl::StatusOr<CatalogueQuery> ParseCatalogueQuery(const QueryParams& params) {
  CatalogueQuery query;
  absl::StatusOr<std::string> text = RequiredParam(params, "dimension");
  if (!text.ok()) return text.status();
  std::optional<Dimension> dimension = ParseDimension(*text);
  if (!dimension) {
    return absl::InvalidArgumentError(
        "dimension must be origin, brand_id, category_id, country or device");
  }
  query.dimension = *dimension;
  for (auto [name, field] :
       {std::pair{"new_since", &query.new_since}, std::pair{"silent_since", &query.silent_since}}) {
    std::optional<std::string> value;
    if (absl::Status s = OptionalParam(params, name, &value); !s.ok()) return s;
    if (!value) continue;
    absl::StatusOr<EpochMillis> time = ParseRangeTime(*value);
    if (!time.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be a time, YYYY-MM-DDTHH:MM:SS[.mmm] (UTC)"));
    }
    *field = *time;
  }
  return query;
}

absl::StatusOr<AnomalyQuery> ParseAnomalyQuery(const QueryParams& params) {
  AnomalyQuery query;
  absl::StatusOr<TimeRange> range = RequiredRange(params);
  if (!range.ok()) return range.status();
  query.range = *range;
  absl::StatusOr<Dimension> dimension = RequiredCellDimension(params);
  if (!dimension.ok()) return dimension.status();
  query.dimension = *dimension;
  std::optional<std::string> action_text;
  if (absl::Status s = OptionalParam(params, "action", &action_text); !s.ok()) return s;
  if (action_text) {
    absl::StatusOr<Action> action = ParseActionParam(*action_text);
    if (!action.ok()) return action.status();
    query.action = *action;
  }
  return query;
}

absl::StatusOr<SessionQuery> ParseSessionQuery(const QueryParams& params, int64_t gap_ms) {
  SessionQuery query;
  absl::StatusOr<TimeRange> range = RequiredRange(params);
  if (!range.ok()) return range.status();
  query.range = *range;
  absl::StatusOr<int32_t> limit = OptionalLimit(params, kDefaultSessionLimit);
  if (!limit.ok()) return limit.status();
  query.limit = *limit;
  query.gap_ms = gap_ms;
  return query;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t n = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      code = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      code = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3f);
    }
    if ((n == 2 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
        (n == 3 && (code < 0x10000 || code > 0x10ffff))) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

int JsonNestingDepth(std::string_view text, int stop_at) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size() && deepest < stop_at; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace allezon::server
