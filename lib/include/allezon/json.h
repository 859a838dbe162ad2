// The JSON answers of SPEC §4, §5 and §9, shared by the HTTP server and the C ABI so both
// write the same bytes. Thread-safe; AppendProfileJson reads the store, the others are pure.
#ifndef ALLEZON_JSON_H_
#define ALLEZON_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "allezon/aggregate_index.h"
#include "allezon/analytics.h"
#include "allezon/export.h"
#include "allezon/time.h"
#include "allezon/user_tag_store.h"

namespace allezon {

// {"cookie": "...", "views": [...], "buys": [...]}
ALLEZON_EXPORT std::string ProfileToJson(const Profile& profile);

// Appends to *out the bytes ProfileToJson(*store.GetProfile(cookie, range, limit)) returns,
// written straight from the stored tags through store.VisitProfile: no Profile, no string
// copied but into *out (a caller that reuses `out` reuses its capacity too). GetProfile's
// errors; on an error *out is left as it was. A free function over the public VisitProfile
// rather than a UserTagStore member: JSON stays out of the store's interface, it works over
// any UserTagStore, and what it gives up, one virtual call per tag, is ~2% of the time a tag
// takes (bench/RESULTS.md, "Zero-copy profile reads").
ALLEZON_EXPORT absl::Status AppendProfileJson(const UserTagStore& store, std::string_view cookie,
                                              TimeRange range, int32_t limit, std::string* out);

// {"columns": ["1m_bucket", "action", ...filters, ...aggregates], "rows": [[...strings]]}
ALLEZON_EXPORT std::string AggregatesToJson(const AggregateQuery& query,
                                            const AggregateResult& result);

// SPEC §9. Times of tags (first_seen, last_seen, start, end) as tag times are written,
// "YYYY-MM-DDTHH:MM:SS.mmmZ"; an anomaly's minute as an aggregates bucket,
// "YYYY-MM-DDTHH:MM:SS". Counts are strings in /top (as in aggregates), numbers elsewhere.

// {"columns": ["<dimension>", "count", "sum_price"], "rows": [["<value>", "12", "3400"], ...]}
ALLEZON_EXPORT std::string TopToJson(const TopQuery& query, const TopResult& result);

// {"dimension": "origin", "values": [{"value", "first_seen", "last_seen", "tags"}, ...]}
ALLEZON_EXPORT std::string CatalogueToJson(Dimension dimension,
                                           const std::vector<CatalogueEntry>& entries);

// {"anomalies": [{"minute", "dimension", "value", "action", "observed", "expected",
// "kind"}, ...]} with observed an integer and expected a float (e.g. 40.0).
ALLEZON_EXPORT std::string AnomaliesToJson(Dimension dimension,
                                           const std::vector<Anomaly>& anomalies);

// {"cookie": "...", "sessions": [{"start", "end", "views", "buys", "revenue"}, ...]}
ALLEZON_EXPORT std::string SessionsToJson(std::string_view cookie,
                                          const std::vector<Session>& sessions);

}  // namespace allezon

#endif  // ALLEZON_JSON_H_
