// Fuzzes the server's query-string handling (server/query_parsing.h): splitting and
// percent-decoding, then the profile and aggregates parameter rules, ParseLimit and the JSON
// nesting guard. Properties: no crash; accepted queries are valid (begin <= end, limit >= 0,
// at least one aggregate, the filters given once); ParseLimit agrees with a reference.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "query_parsing.h"

namespace {

[[noreturn]] void Fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "%s: \"%.*s\"\n", what, static_cast<int>(input.size()), input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace allezon::server;  // NOLINT: fuzz target
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::string_view query = QueryOfTarget(input);
  if (query.size() > input.size()) Fail("query longer than the target", input);
  absl::StatusOr<QueryParams> params = ParseQueryString(input);
  if (params.ok()) {
    size_t decoded = 0;
    for (const auto& [key, value] : *params) decoded += key.size() + value.size();
    if (decoded > input.size()) Fail("decoding made the query longer", input);
    if (absl::StatusOr<ProfileQuery> p = ParseProfileQuery(*params); p.ok()) {
      if (p->range.begin > p->range.end || p->limit < 0) Fail("invalid profile query", input);
      if (params->count("time_range") != 1 || params->count("limit") > 1) {
        Fail("profile query with a repeated parameter", input);
      }
    }
    if (absl::StatusOr<allezon::AggregateQuery> a = ParseAggregateQuery(*params); a.ok()) {
      if (a->range.begin > a->range.end || a->aggregates.empty() ||
          a->aggregates.size() != params->count("aggregates")) {
        Fail("invalid aggregate query", input);
      }
      for (const char* name : {"time_range", "action", "origin", "brand_id", "category_id"}) {
        if (params->count(name) > 1) Fail("aggregate query with a repeated parameter", input);
      }
    }
  }

  absl::StatusOr<int32_t> limit = ParseLimit(input);
  bool digits = !input.empty();
  for (char c : input) digits = digits && c >= '0' && c <= '9';
  if (limit.ok() != digits) Fail("ParseLimit accepts exactly the digit strings", input);
  if (limit.ok() && input.size() < 10 && *limit != std::stoll(std::string(input))) {
    Fail("ParseLimit value", input);
  }

  const int depth = JsonNestingDepth(input, 100);
  if (depth < 0 || depth > 100) Fail("JsonNestingDepth out of bounds", input);
  return 0;
}
