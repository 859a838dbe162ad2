// Query-string handling of the HTTP API (SPEC §2, §4, §5, §9), apart from cpp-httplib so that it
// can be unit-tested and fuzzed on its own: the server hands over the raw query string of the
// request target, and gets back a validated query or InvalidArgument with a message fit for
// the {"error": ...} body.
//
// Why not cpp-httplib's Request::params: it drops a key=value pair identical to an earlier
// one (so `aggregates=COUNT&aggregates=COUNT` would lose a column, and a repeated
// `time_range` would go unnoticed) and passes malformed escapes such as `%zz` through.
//
// Rules: unknown parameters are ignored; a parameter that may appear once is a 400 when
// repeated; `aggregates` repeats and keeps its order. All functions are pure and thread-safe.
#ifndef ALLEZON_SERVER_QUERY_PARSING_H_
#define ALLEZON_SERVER_QUERY_PARSING_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "allezon/time.h"

namespace allezon::server {

// Parameters in order of appearance per key (std::multimap keeps insertion order among
// equal keys). The same type as httplib::Params.
using QueryParams = std::multimap<std::string, std::string>;

// Splits `query` (the part of the target after '?', without it) at '&' into key=value pairs
// and percent-decodes both ('+' is a space). Empty pieces are skipped; a piece without '='
// has an empty value. InvalidArgument for a '%' not followed by two hex digits.
absl::StatusOr<QueryParams> ParseQueryString(std::string_view query);

// The query string of a request target ("/path?query#fragment" -> "query"), or "".
std::string_view QueryOfTarget(std::string_view target);

inline constexpr int32_t kDefaultProfileLimit = 200;

struct ProfileQuery {
  TimeRange range;
  int32_t limit = kDefaultProfileLimit;
};

// time_range (required) and limit (optional, default 200).
absl::StatusOr<ProfileQuery> ParseProfileQuery(const QueryParams& params);

// time_range, action, aggregates (each required), origin, brand_id, category_id, bucket
// (1m, 15m, 1h or 1d; default 1m) (optional). Whole-bucket and maximum-length checks of the
// range are the library's (AggregateIndex).
absl::StatusOr<AggregateQuery> ParseAggregateQuery(const QueryParams& params);

// The analyst queries (SPEC §9). Names are case-sensitive, as in the JSON answers. Whole-
// minute and maximum-length checks of ranges are the library's (Analytics).

// GET /top: time_range, action, dimension (origin, brand_id, category_id), metric (count,
// sum_price), each required; limit optional, default 10, at most 1,000.
absl::StatusOr<TopQuery> ParseTopQuery(const QueryParams& params);

// GET /catalogue: dimension (origin, brand_id, category_id, country, device) required;
// new_since and silent_since optional, each a time in the form of a range bound.
absl::StatusOr<CatalogueQuery> ParseCatalogueQuery(const QueryParams& params);

// GET /anomalies: time_range and dimension (origin, brand_id, category_id) required, action
// optional.
absl::StatusOr<AnomalyQuery> ParseAnomalyQuery(const QueryParams& params);

// GET /user_sessions/{cookie}: time_range required, limit optional (default 20); the gap
// between sessions is the server's (--session-gap-minutes).
absl::StatusOr<SessionQuery> ParseSessionQuery(const QueryParams& params, int64_t gap_ms);

// A non-negative decimal integer of any length; values beyond int32 mean "no limit" and are
// clamped to INT32_MAX (the profile cap applies anyway). No sign, no spaces.
absl::StatusOr<int32_t> ParseLimit(std::string_view text);

// True when `text` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view text);

// The deepest nesting of JSON arrays and objects in `text` (brackets inside strings do not
// count), stopping early once `stop_at` is reached. Not a validator: used to refuse bodies a
// recursive JSON parser could not handle before handing them to one.
int JsonNestingDepth(std::string_view text, int stop_at);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_QUERY_PARSING_H_
