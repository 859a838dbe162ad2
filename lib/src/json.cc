#include "allezon/json.h"

#include "absl/strings/str_cat.h"
#include "json_writer.h"

namespace allezon {
namespace {

using internal::JsonWriter;
using internal::WriteString;

void AppendTagList(const std::vector<UserTag>& tags, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendUserTagJson(tags[i], out);
  }
  out->push_back(']');
}

}  // namespace

std::string ProfileToJson(const Profile& profile) {
  // By hand, as RapidJSON's Writer wrote it: {"cookie":…,"views":[…],"buys":[…]}.
  std::string out;
  out.reserve(64 + 260 * (profile.views.size() + profile.buys.size()));
  out.append("{\"cookie\":");
  internal::AppendJsonString(profile.cookie, &out);
  out.append(",\"views\":");
  AppendTagList(profile.views, &out);
  out.append(",\"buys\":");
  AppendTagList(profile.buys, &out);
  out.push_back('}');
  return out;
}

std::string AggregatesToJson(const AggregateQuery& query, const AggregateResult& result) {
  std::string out;
  out.reserve(128 + result.rows.size() * 64);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("columns", 7);
  writer.StartArray();
  writer.String("1m_bucket", 9);
  writer.String("action", 6);
  if (query.origin) writer.String("origin", 6);
  if (query.brand_id) writer.String("brand_id", 8);
  if (query.category_id) writer.String("category_id", 11);
  for (AggregateFunction function : query.aggregates) {
    if (function == AggregateFunction::kCount) {
      writer.String("count", 5);
    } else {
      writer.String("sum_price", 9);
    }
  }
  writer.EndArray();
  writer.Key("rows", 4);
  writer.StartArray();
  const std::string_view action = ActionName(query.action);
  for (const AggregateRow& row : result.rows) {
    writer.StartArray();
    WriteString(writer, FormatBucketTime(row.bucket_start));
    WriteString(writer, action);
    if (query.origin) WriteString(writer, *query.origin);
    if (query.brand_id) WriteString(writer, *query.brand_id);
    if (query.category_id) WriteString(writer, *query.category_id);
    for (AggregateFunction function : query.aggregates) {
      WriteString(writer, absl::StrCat(function == AggregateFunction::kCount ? row.count
                                                                              : row.sum_price));
    }
    writer.EndArray();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

}  // namespace allezon
