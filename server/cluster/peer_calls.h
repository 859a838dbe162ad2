// The calls between cluster nodes (/cluster/aggregates, /cluster/profile, ...): their query
// strings, one GET to a peer, a partial aggregate's wire form, and the two helpers every
// /cluster/* route's handler uses. Thread-safe (no state).
#ifndef ALLEZON_SERVER_CLUSTER_PEER_CALLS_H_
#define ALLEZON_SERVER_CLUSTER_PEER_CALLS_H_

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "allezon/aggregate_index.h"
#include "cluster_config.h"
#include "http_message.h"

namespace allezon::cluster {

// Percent-encodes every byte but RFC 3986's unreserved ones.
std::string PercentEncode(std::string_view text);
// The query string of GET /cluster/aggregates for a group's partial answer.
std::string AggregateQueryString(std::string_view group, const AggregateQuery& query);
// One GET to a peer: the body of a 200, InvalidArgument for a 400 (the query's fault, the same
// on every node), Unavailable for anything else.
absl::StatusOr<std::string> PeerGet(const NodeSpec& node, const std::string& target,
                                    std::chrono::milliseconds connect_timeout,
                                    std::chrono::milliseconds timeout);
// A partial aggregate: {"rows":[[bucket_ms,count,sum_price],...]}.
std::string RowsJson(const AggregateResult& result);
absl::StatusOr<AggregateResult> ParseRows(std::string_view body);

// A /cluster/* route's error answer: the status's HTTP code and {"error": message}.
void SendJsonError(server::HttpResponse& response, const absl::Status& status);
// The integer query parameter `name`; InvalidArgument naming it when missing or not one.
absl::StatusOr<int64_t> IntParam(const server::HttpRequest& request, const char* name);

}  // namespace allezon::cluster

#endif  // ALLEZON_SERVER_CLUSTER_PEER_CALLS_H_
