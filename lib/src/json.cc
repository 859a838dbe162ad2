#include "allezon/json.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "allezon/user_tag_view.h"
#include "json_writer.h"

namespace allezon {
namespace {

using internal::JsonWriter;
using internal::WriteString;

// Writes one profile answer, {"cookie":…,"views":[…],"buys":[…]} as RapidJSON's Writer wrote
// it, from tags given one by one, VIEWs first then BUYs, each list newest first. The single
// writer behind ProfileToJson and AppendProfileJson, so that both give the same bytes.
class ProfileJsonWriter final : public UserTagVisitor {
 public:
  ProfileJsonWriter(std::string_view cookie, std::string* out) : sink_(out), start_(out->size()) {
    char* p = sink_.Room(32 + internal::JsonStringBound(cookie.size()));
    p = internal::PutLiteral(p, "{\"cookie\":");
    cookie_offset_ = static_cast<size_t>(p - sink_.data());
    p = internal::WriteJsonString(cookie, p);
    cookie_size_ = static_cast<size_t>(p - sink_.data()) - cookie_offset_;
    p = internal::PutLiteral(p, ",\"views\":[");
    sink_.Advance(p);
  }

  // Adds `tag` to the list of `list` (its action, but for a hand-built Profile).
  void Add(const UserTagView& tag, Action list) {
    char* p = sink_.Room(16 + cookie_size_ + internal::TagJsonBound(tag));
    if (list == Action::kBuy && !in_buys_) {
      p = internal::PutLiteral(p, "],\"buys\":[");
      in_buys_ = true;
      first_ = true;
    }
    if (!first_) *p++ = ',';
    first_ = false;
    // Every tag repeats the profile's cookie: copied from the escaped one in the header.
    const char* cookie = sink_.data() + cookie_offset_;
    sink_.Advance(internal::WriteTagJson(tag, time_, p, [&](char* q) {
      std::memcpy(q, cookie, cookie_size_);
      return q + cookie_size_;
    }));
  }

  // A tag of UserTagStore::VisitProfile: in its action's list.
  void OnTag(const UserTagView& tag) override { Add(tag, tag.action); }

  void Finish() {
    char* p = sink_.Room(16);
    p = in_buys_ ? internal::PutLiteral(p, "]}") : internal::PutLiteral(p, "],\"buys\":[]}");
    sink_.Advance(p);
  }

  // Takes back everything written (the caller's string keeps what it held before).
  void Abandon() { sink_.Truncate(start_); }

 private:
  internal::StringSink sink_;
  internal::TagTimeWriter time_;
  size_t start_;
  size_t cookie_offset_ = 0;
  size_t cookie_size_ = 0;
  bool in_buys_ = false;
  bool first_ = true;
};

}  // namespace

std::string ProfileToJson(const Profile& profile) {
  std::string out;
  out.reserve(64 + 260 * (profile.views.size() + profile.buys.size()));
  {  // The writer trims `out` to what it wrote when it goes: before `out` is returned.
    ProfileJsonWriter writer(profile.cookie, &out);
    for (const auto* list : {&profile.views, &profile.buys}) {
      for (const UserTag& tag : *list) {
        writer.Add(ViewOf(tag), list == &profile.views ? Action::kView : Action::kBuy);
      }
    }
    writer.Finish();
  }
  return out;
}

absl::Status AppendProfileJson(const UserTagStore& store, std::string_view cookie, TimeRange range,
                               int32_t limit, std::string* out) {
  ProfileJsonWriter writer(cookie, out);
  absl::Status visited = store.VisitProfile(cookie, range, limit, writer);
  if (!visited.ok()) {
    writer.Abandon();
    return visited;
  }
  writer.Finish();
  return absl::OkStatus();
}

std::string AggregatesToJson(const AggregateQuery& query, const AggregateResult& result) {
  std::string out;
  out.reserve(128 + result.rows.size() * 64);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("columns", 7);
  writer.StartArray();
  const std::string bucket_column = absl::StrCat(internal::Sv(BucketName(query.bucket)), "_bucket");
  writer.String(bucket_column.data(), static_cast<rapidjson::SizeType>(bucket_column.size()));
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

std::string TopToJson(const TopQuery& query, const TopResult& result) {
  std::string out;
  out.reserve(64 + result.rows.size() * 64);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("columns", 7);
  writer.StartArray();
  WriteString(writer, DimensionName(query.dimension));
  writer.String("count", 5);
  writer.String("sum_price", 9);
  writer.EndArray();
  writer.Key("rows", 4);
  writer.StartArray();
  for (const TopRow& row : result.rows) {
    writer.StartArray();
    WriteString(writer, row.value);
    WriteString(writer, absl::StrCat(row.count));
    WriteString(writer, absl::StrCat(row.sum_price));
    writer.EndArray();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

std::string CatalogueToJson(Dimension dimension, const std::vector<CatalogueEntry>& entries) {
  std::string out;
  out.reserve(64 + entries.size() * 128);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("dimension", 9);
  WriteString(writer, DimensionName(dimension));
  writer.Key("values", 6);
  writer.StartArray();
  for (const CatalogueEntry& entry : entries) {
    writer.StartObject();
    writer.Key("value", 5);
    WriteString(writer, entry.value);
    writer.Key("first_seen", 10);
    WriteString(writer, FormatTagTime(entry.first_seen));
    writer.Key("last_seen", 9);
    WriteString(writer, FormatTagTime(entry.last_seen));
    writer.Key("tags", 4);
    writer.Int64(entry.tags);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

std::string AnomaliesToJson(Dimension dimension, const std::vector<Anomaly>& anomalies) {
  std::string out;
  out.reserve(32 + anomalies.size() * 160);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("anomalies", 9);
  writer.StartArray();
  for (const Anomaly& anomaly : anomalies) {
    writer.StartObject();
    writer.Key("minute", 6);
    WriteString(writer, FormatBucketTime(anomaly.minute));
    writer.Key("dimension", 9);
    WriteString(writer, DimensionName(dimension));
    writer.Key("value", 5);
    WriteString(writer, anomaly.value);
    writer.Key("action", 6);
    WriteString(writer, ActionName(anomaly.action));
    writer.Key("observed", 8);
    writer.Int64(anomaly.observed);
    writer.Key("expected", 8);
    writer.Double(anomaly.expected);  // RapidJSON keeps the ".0" of whole numbers: a float
    writer.Key("kind", 4);
    WriteString(writer, AnomalyKindName(anomaly.kind));
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

std::string SessionsToJson(std::string_view cookie, const std::vector<Session>& sessions) {
  std::string out;
  out.reserve(64 + sessions.size() * 128);
  internal::StringAppendStream stream(&out);
  JsonWriter writer(stream);
  writer.StartObject();
  writer.Key("cookie", 6);
  WriteString(writer, cookie);
  writer.Key("sessions", 8);
  writer.StartArray();
  for (const Session& session : sessions) {
    writer.StartObject();
    writer.Key("start", 5);
    WriteString(writer, FormatTagTime(session.start));
    writer.Key("end", 3);
    WriteString(writer, FormatTagTime(session.end));
    writer.Key("views", 5);
    writer.Int64(session.views);
    writer.Key("buys", 4);
    writer.Int64(session.buys);
    writer.Key("revenue", 7);
    writer.Int64(session.revenue);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return out;
}

}  // namespace allezon
