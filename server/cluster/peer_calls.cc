#include "peer_calls.h"

#include <httplib.h>

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "http_api.h"
#include "rapidjson/document.h"

namespace allezon::cluster {
namespace {

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string AggregateQueryString(std::string_view group, const AggregateQuery& query) {
  std::string out = absl::StrCat("group=", PercentEncode(group), "&begin=", query.range.begin,
                                 "&end=", query.range.end, "&action=", Sv(ActionName(query.action)),
                                 "&bucket=", Sv(BucketName(query.bucket)));
  for (auto [name, value] :
       {std::pair{"origin", &query.origin}, std::pair{"brand_id", &query.brand_id},
        std::pair{"category_id", &query.category_id}}) {
    if (value->has_value()) absl::StrAppend(&out, "&", name, "=", PercentEncode(**value));
  }
  return out;
}

absl::StatusOr<std::string> PeerGet(const NodeSpec& node, const std::string& target,
                                    std::chrono::milliseconds connect_timeout,
                                    std::chrono::milliseconds timeout) {
  httplib::Client client(node.host, node.port);
  client.set_connection_timeout(connect_timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  httplib::Result result = client.Get(target.c_str());
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat(node.id, " did not answer: ", httplib::to_string(result.error())));
  }
  if (result->status == 200) return std::move(result->body);
  std::string message = result->body;
  rapidjson::Document error;
  if (!error.Parse(result->body.data(), result->body.size()).HasParseError() && error.IsObject() &&
      error.HasMember("error") && error["error"].IsString()) {
    message = error["error"].GetString();
  }
  if (result->status == 400) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(absl::StrCat(node.id, " answered ", result->status, ": ", message));
}

absl::StatusOr<AggregateResult> ParseRows(std::string_view body) {
  rapidjson::Document doc;
  if (doc.Parse(body.data(), body.size()).HasParseError() || !doc.IsObject() ||
      !doc.HasMember("rows") || !doc["rows"].IsArray()) {
    return absl::UnavailableError("a peer's partial aggregate is not valid JSON");
  }
  AggregateResult result;
  for (const auto& row : doc["rows"].GetArray()) {
    if (!row.IsArray() || row.Size() != 3 || !row[0].IsInt64() || !row[1].IsInt64() ||
        !row[2].IsInt64()) {
      return absl::UnavailableError("a peer's partial aggregate has a malformed row");
    }
    result.rows.push_back({row[0].GetInt64(), row[1].GetInt64(), row[2].GetInt64()});
  }
  return result;
}

std::string RowsJson(const AggregateResult& result) {
  std::string out = R"({"rows":[)";
  for (size_t i = 0; i < result.rows.size(); ++i) {
    const AggregateRow& row = result.rows[i];
    absl::StrAppend(&out, i == 0 ? "[" : ",[", row.bucket_start, ",", row.count, ",", row.sum_price,
                    "]");
  }
  out += "]}";
  return out;
}

void SendJsonError(server::HttpResponse& response, const absl::Status& status) {
  response.status = server::HttpStatusFor(status);
  response.set_content(server::ErrorJson(std::string(status.message())), "application/json");
}

absl::StatusOr<int64_t> IntParam(const server::HttpRequest& request, const char* name) {
  int64_t value = 0;
  if (!request.has_param(name) || !absl::SimpleAtoi(request.param(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": an integer is required"));
  }
  return value;
}

}  // namespace allezon::cluster
