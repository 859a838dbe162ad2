// The JSON answers of SPEC §4 and §5, shared by the HTTP server and the C ABI so both write
// the same bytes. Thread-safe; AppendProfileJson reads the store, the others are pure.
#ifndef ALLEZON_JSON_H_
#define ALLEZON_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "allezon/aggregate_index.h"
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

}  // namespace allezon

#endif  // ALLEZON_JSON_H_
