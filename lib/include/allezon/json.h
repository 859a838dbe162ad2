// The JSON answers of SPEC §4 and §5, shared by the HTTP server and the C ABI so both write
// the same bytes. Pure functions; thread-safe.
#ifndef ALLEZON_JSON_H_
#define ALLEZON_JSON_H_

#include <string>

#include "allezon/aggregate_index.h"
#include "allezon/export.h"
#include "allezon/user_tag_store.h"

namespace allezon {

// {"cookie": "...", "views": [...], "buys": [...]}
ALLEZON_EXPORT std::string ProfileToJson(const Profile& profile);

// {"columns": ["1m_bucket", "action", ...filters, ...aggregates], "rows": [[...strings]]}
ALLEZON_EXPORT std::string AggregatesToJson(const AggregateQuery& query,
                                            const AggregateResult& result);

}  // namespace allezon

#endif  // ALLEZON_JSON_H_
