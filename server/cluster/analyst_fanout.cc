#include "analyst_fanout.h"

#include <future>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "http_api.h"
#include "http_message.h"
#include "peer_calls.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::cluster {
namespace {

constexpr char kJson[] = "application/json";

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string Done(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

void WriteValue(Writer& w, const std::string& value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

absl::Status Malformed(const char* what) {
  return absl::UnavailableError(absl::StrCat("a peer's ", what, " answer is malformed"));
}

// The body as a JSON object with an array member `name`, or null.
const rapidjson::Value* ArrayMember(rapidjson::Document& doc, std::string_view body,
                                    const char* name) {
  if (doc.Parse(body.data(), body.size()).HasParseError() || !doc.IsObject()) return nullptr;
  auto it = doc.FindMember(name);
  return it != doc.MemberEnd() && it->value.IsArray() ? &it->value : nullptr;
}

// A row [string, int64...] of exactly `ints` integers after the string.
bool IsRow(const rapidjson::Value& row, rapidjson::SizeType ints) {
  if (!row.IsArray() || row.Size() != ints + 1 || !row[0].IsString()) return false;
  for (rapidjson::SizeType i = 1; i <= ints; ++i) {
    if (!row[i].IsInt64()) return false;
  }
  return true;
}

std::string StringOf(const rapidjson::Value& value) {
  return std::string(value.GetString(), value.GetStringLength());
}

std::string TimeParams(TimeRange range) {
  return absl::StrCat("&begin=", range.begin, "&end=", range.end);
}

// ---- Asking the owners ------------------------------------------------------------------

template <typename T>
using LocalAnswer = std::function<absl::StatusOr<T>(const Analytics&)>;
template <typename T>
using ParseAnswer = absl::StatusOr<T> (*)(std::string_view);

// One source's answer: its local data, else its peers in turn (an invalid query is the same
// everywhere: not asked again). `what` names the source in the error ("partitions group G").
template <typename T>
absl::StatusOr<T> Ask(const FanoutOptions& options, const AnswerSource& source,
                      const std::string& what, const LocalAnswer<T>& local,
                      const std::string& target, ParseAnswer<T> parse) {
  if (source.local != nullptr) return local(*source.local);
  absl::Status last = absl::UnavailableError("this node is catching up and has no other owner");
  for (const NodeSpec* peer : source.peers) {
    absl::StatusOr<std::string> body =
        PeerGet(*peer, target, options.connect_timeout, options.timeout);
    if (body.ok()) {
      absl::StatusOr<T> parsed = parse(*body);
      if (parsed.ok()) return parsed;
      last = parsed.status();
    } else if (absl::IsInvalidArgument(body.status())) {
      return body.status();
    } else {
      last = body.status();
    }
  }
  return absl::UnavailableError(
      absl::StrCat("no owner of ", what, " can answer: ", last.message()));
}

// One answer per partition group, the remote ones asked in parallel. An invalid query wins
// over an unavailable group (it would be refused anyway).
template <typename T>
absl::StatusOr<std::vector<T>> FanOut(const FanoutOptions& options, const LocalAnswer<T>& local,
                                      const std::string& path, const std::string& params,
                                      ParseAnswer<T> parse) {
  const std::vector<AnswerSource> sources = options.groups();
  std::vector<std::future<absl::StatusOr<T>>> remote;
  const auto ask = [&](const AnswerSource& source) {
    return Ask<T>(options, source, "partitions group " + source.key, local,
                  absl::StrCat(path, "?group=", PercentEncode(source.key), params), parse);
  };
  for (const AnswerSource& source : sources) {
    if (source.local == nullptr) {
      remote.push_back(std::async(std::launch::async, [&ask, &source] { return ask(source); }));
    }
  }
  std::vector<absl::StatusOr<T>> answers;
  for (const AnswerSource& source : sources) {
    if (source.local != nullptr) answers.push_back(ask(source));
  }
  for (auto& future : remote) answers.push_back(future.get());
  std::vector<T> out;
  absl::Status failed;
  for (absl::StatusOr<T>& answer : answers) {
    if (answer.ok()) {
      out.push_back(*std::move(answer));
    } else if (failed.ok() ||
               (absl::IsInvalidArgument(answer.status()) && !absl::IsInvalidArgument(failed))) {
      failed = answer.status();
    }
  }
  if (!failed.ok()) return failed;
  return out;
}

// ---- Serving the peers --------------------------------------------------------------------

absl::StatusOr<TimeRange> RangeParams(const server::HttpRequest& request) {
  absl::StatusOr<int64_t> begin = IntParam(request, "begin"), end = IntParam(request, "end");
  if (!begin.ok()) return begin.status();
  if (!end.ok()) return end.status();
  return TimeRange{*begin, *end};
}

absl::StatusOr<Dimension> DimensionParam(const server::HttpRequest& request) {
  std::optional<Dimension> dimension = ParseDimension(request.param("dimension"));
  if (!dimension) return absl::InvalidArgumentError("dimension: unknown");
  return *dimension;
}

absl::StatusOr<Action> ActionParam(const server::HttpRequest& request) {
  std::optional<Action> action = ParseAction(request.param("action"));
  if (!action) return absl::InvalidArgumentError("action: VIEW or BUY");
  return *action;
}

}  // namespace

// ---- Wire forms ---------------------------------------------------------------------------

std::string TopTotalsJson(const std::vector<TopRow>& rows) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("rows");
  w.StartArray();
  for (const TopRow& row : rows) {
    w.StartArray();
    WriteValue(w, row.value);
    w.Int64(row.count);
    w.Int64(row.sum_price);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

absl::StatusOr<std::vector<TopRow>> ParseTopTotals(std::string_view body) {
  rapidjson::Document doc;
  const rapidjson::Value* rows = ArrayMember(doc, body, "rows");
  if (rows == nullptr) return Malformed("top");
  std::vector<TopRow> out;
  out.reserve(rows->Size());
  for (const auto& row : rows->GetArray()) {
    if (!IsRow(row, 2)) return Malformed("top");
    out.push_back({StringOf(row[0]), row[1].GetInt64(), row[2].GetInt64()});
  }
  return out;
}

std::string CatalogueEntriesJson(const std::vector<CatalogueEntry>& entries) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("values");
  w.StartArray();
  for (const CatalogueEntry& entry : entries) {
    w.StartArray();
    WriteValue(w, entry.value);
    w.Int64(entry.first_seen);
    w.Int64(entry.last_seen);
    w.Int64(entry.tags);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

absl::StatusOr<std::vector<CatalogueEntry>> ParseCatalogueEntries(std::string_view body) {
  rapidjson::Document doc;
  const rapidjson::Value* values = ArrayMember(doc, body, "values");
  if (values == nullptr) return Malformed("catalogue");
  std::vector<CatalogueEntry> out;
  out.reserve(values->Size());
  for (const auto& row : values->GetArray()) {
    if (!IsRow(row, 3)) return Malformed("catalogue");
    out.push_back({StringOf(row[0]), row[1].GetInt64(), row[2].GetInt64(), row[3].GetInt64()});
  }
  return out;
}

std::string AnomalyCountsJson(const AnomalyCounts& counts) {
  // Minutes as offsets from the earliest one: a few digits each instead of thirteen.
  EpochMillis base = kMaxTime;
  for (const ValueMinuteCounts& series : counts.series) {
    if (!series.minutes.empty()) base = std::min(base, series.minutes.front().first);
  }
  if (base == kMaxTime) base = 0;
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("newest");
  w.Int64(counts.newest_time);
  w.Key("first_minute");
  w.Int64(counts.first_minute);
  w.Key("retained_from");
  w.Int64(counts.retained_from);
  w.Key("base");
  w.Int64(base);
  w.Key("series");
  w.StartArray();
  for (const ValueMinuteCounts& series : counts.series) {
    w.StartArray();
    WriteValue(w, series.value);
    w.Int(static_cast<int>(series.action));
    w.StartArray();
    for (const auto& [minute, count] : series.minutes) {
      w.Int64((minute - base) / kMillisPerMinute);
      w.Int64(count);
    }
    w.EndArray();
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

absl::StatusOr<AnomalyCounts> ParseAnomalyCounts(std::string_view body) {
  rapidjson::Document doc;
  const rapidjson::Value* series = ArrayMember(doc, body, "series");
  if (series == nullptr) return Malformed("anomaly counts");
  AnomalyCounts out;
  EpochMillis base = 0;
  for (auto [name, field] :
       {std::pair{"newest", &out.newest_time}, std::pair{"first_minute", &out.first_minute},
        std::pair{"retained_from", &out.retained_from}, std::pair{"base", &base}}) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsInt64()) return Malformed("anomaly counts");
    *field = it->value.GetInt64();
  }
  out.series.reserve(series->Size());
  for (const auto& row : series->GetArray()) {
    if (!row.IsArray() || row.Size() != 3 || !row[0].IsString() || !row[1].IsInt() ||
        (row[1].GetInt() != 0 && row[1].GetInt() != 1) || !row[2].IsArray() ||
        row[2].Size() % 2 != 0) {
      return Malformed("anomaly counts");
    }
    ValueMinuteCounts& counts = out.series.emplace_back();
    counts.value = StringOf(row[0]);
    counts.action = static_cast<Action>(row[1].GetInt());
    const auto& pairs = row[2].GetArray();
    counts.minutes.reserve(pairs.Size() / 2);
    for (rapidjson::SizeType i = 0; i < pairs.Size(); i += 2) {
      if (!pairs[i].IsInt64() || !pairs[i + 1].IsInt64()) return Malformed("anomaly counts");
      counts.minutes.emplace_back(base + pairs[i].GetInt64() * kMillisPerMinute,
                                  pairs[i + 1].GetInt64());
    }
  }
  return out;
}

std::string SessionListJson(const std::vector<Session>& sessions) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("sessions");
  w.StartArray();
  for (const Session& session : sessions) {
    w.StartArray();
    for (int64_t field :
         {session.start, session.end, session.views, session.buys, session.revenue}) {
      w.Int64(field);
    }
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

absl::StatusOr<std::vector<Session>> ParseSessionList(std::string_view body) {
  rapidjson::Document doc;
  const rapidjson::Value* sessions = ArrayMember(doc, body, "sessions");
  if (sessions == nullptr) return Malformed("sessions");
  std::vector<Session> out;
  out.reserve(sessions->Size());
  for (const auto& row : sessions->GetArray()) {
    if (!row.IsArray() || row.Size() != 5) return Malformed("sessions");
    for (const auto& field : row.GetArray()) {
      if (!field.IsInt64()) return Malformed("sessions");
    }
    out.push_back({row[0].GetInt64(), row[1].GetInt64(), row[2].GetInt64(), row[3].GetInt64(),
                   row[4].GetInt64()});
  }
  return out;
}

// ---- ClusterAnalytics -----------------------------------------------------------------------

absl::StatusOr<TopResult> ClusterAnalytics::Top(const TopQuery& query) const {
  // The owners are asked for totals only; the ranking (and its argument checks) is here.
  return TopFromTotals(*this, query);
}

absl::StatusOr<std::vector<TopRow>> ClusterAnalytics::TopTotals(const TopQuery& query) const {
  absl::StatusOr<std::vector<std::vector<TopRow>>> parts = FanOut<std::vector<TopRow>>(
      options_, [&query](const Analytics& local) { return local.TopTotals(query); }, "/cluster/top",
      absl::StrCat(TimeParams(query.range), "&action=", std::string(ActionName(query.action)),
                   "&dimension=", std::string(DimensionName(query.dimension))),
      &ParseTopTotals);
  if (!parts.ok()) return parts.status();
  std::map<std::string, TopRow> sums;  // by value, bytewise: the order TopTotals promises
  for (std::vector<TopRow>& part : *parts) {
    for (TopRow& row : part) {
      auto [it, inserted] = sums.try_emplace(row.value);
      if (inserted) {
        it->second = std::move(row);
      } else {
        it->second.count += row.count;
        it->second.sum_price += row.sum_price;
      }
    }
  }
  std::vector<TopRow> out;
  out.reserve(sums.size());
  for (auto& [value, row] : sums) out.push_back(std::move(row));
  return out;
}

absl::StatusOr<std::vector<CatalogueEntry>> ClusterAnalytics::Catalogue(
    const CatalogueQuery& query) const {
  // Filtered after the merge: a value new in one group may have been seen earlier in another.
  const CatalogueQuery whole{query.dimension, std::nullopt, std::nullopt};
  absl::StatusOr<std::vector<std::vector<CatalogueEntry>>> parts =
      FanOut<std::vector<CatalogueEntry>>(
          options_, [&whole](const Analytics& local) { return local.Catalogue(whole); },
          "/cluster/catalogue",
          absl::StrCat("&dimension=", std::string(DimensionName(query.dimension))),
          &ParseCatalogueEntries);
  if (!parts.ok()) return parts.status();
  std::map<std::string, CatalogueEntry> merged;  // sorted by value, as the library's
  for (std::vector<CatalogueEntry>& part : *parts) {
    for (CatalogueEntry& entry : part) {
      auto [it, inserted] = merged.try_emplace(entry.value);
      CatalogueEntry& into = it->second;
      if (inserted) {
        into = std::move(entry);
      } else {
        into.first_seen = std::min(into.first_seen, entry.first_seen);
        into.last_seen = std::max(into.last_seen, entry.last_seen);
        into.tags += entry.tags;
      }
    }
  }
  std::vector<CatalogueEntry> out;
  for (auto& [value, entry] : merged) {
    if (query.new_since && entry.first_seen < *query.new_since) continue;
    if (query.silent_since && entry.last_seen >= *query.silent_since) continue;
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<std::vector<Anomaly>> ClusterAnalytics::Anomalies(const AnomalyQuery& query) const {
  absl::StatusOr<AnomalyCounts> counts = AnomalyMinuteCounts(query);
  if (!counts.ok()) return counts.status();
  return DetectAnomalies(query, *counts);
}

absl::StatusOr<AnomalyCounts> ClusterAnalytics::AnomalyMinuteCounts(
    const AnomalyQuery& query) const {
  std::string params = absl::StrCat(TimeParams(query.range),
                                    "&dimension=", std::string(DimensionName(query.dimension)));
  if (query.action) absl::StrAppend(&params, "&action=", std::string(ActionName(*query.action)));
  absl::StatusOr<std::vector<AnomalyCounts>> parts = FanOut<AnomalyCounts>(
      options_, [&query](const Analytics& local) { return local.AnomalyMinuteCounts(query); },
      "/cluster/anomaly_counts", params, &ParseAnomalyCounts);
  if (!parts.ok()) return parts.status();
  AnomalyCounts sum;  // the merge's identity: no tag, no first minute, no retention
  for (AnomalyCounts& part : *parts) MergeAnomalyCounts(std::move(part), &sum);
  return sum;
}

absl::StatusOr<std::vector<Session>> ClusterAnalytics::UserSessions(
    std::string_view cookie, const SessionQuery& query) const {
  const AnswerSource source = options_.cookie_owners(cookie);
  return Ask<std::vector<Session>>(
      options_, source, "partition " + source.key,
      [cookie, &query](const Analytics& local) { return local.UserSessions(cookie, query); },
      absl::StrCat("/cluster/sessions?cookie=", PercentEncode(cookie), TimeParams(query.range),
                   "&limit=", query.limit, "&gap=", query.gap_ms),
      &ParseSessionList);
}

// ---- Peer routes ----------------------------------------------------------------------------

void RegisterAnalystPeerRoutes(
    server::HttpRouter& router,
    std::function<absl::StatusOr<const Analytics*>(std::string_view group)> group,
    std::function<absl::StatusOr<const Analytics*>(std::string_view cookie)> cookie_owner) {
  using Req = const server::HttpRequest&;
  using Res = server::HttpResponse&;
  // Each answers with the wire form of `answer`, or the first error on the way.
  router.Get("/cluster/top", [group](Req q, Res r) {
    absl::StatusOr<const Analytics*> source = group(q.param("group"));
    if (!source.ok()) return SendJsonError(r, source.status());
    absl::StatusOr<TimeRange> range = RangeParams(q);
    if (!range.ok()) return SendJsonError(r, range.status());
    absl::StatusOr<Action> action = ActionParam(q);
    if (!action.ok()) return SendJsonError(r, action.status());
    absl::StatusOr<Dimension> dimension = DimensionParam(q);
    if (!dimension.ok()) return SendJsonError(r, dimension.status());
    TopQuery query;
    query.range = *range;
    query.action = *action;
    query.dimension = *dimension;
    absl::StatusOr<std::vector<TopRow>> totals = (*source)->TopTotals(query);
    if (!totals.ok()) return SendJsonError(r, totals.status());
    r.set_content(TopTotalsJson(*totals), kJson);
  });
  router.Get("/cluster/catalogue", [group](Req q, Res r) {
    absl::StatusOr<const Analytics*> source = group(q.param("group"));
    if (!source.ok()) return SendJsonError(r, source.status());
    absl::StatusOr<Dimension> dimension = DimensionParam(q);
    if (!dimension.ok()) return SendJsonError(r, dimension.status());
    absl::StatusOr<std::vector<CatalogueEntry>> entries =
        (*source)->Catalogue(CatalogueQuery{*dimension, std::nullopt, std::nullopt});
    if (!entries.ok()) return SendJsonError(r, entries.status());
    r.set_content(CatalogueEntriesJson(*entries), kJson);
  });
  router.Get("/cluster/anomaly_counts", [group](Req q, Res r) {
    absl::StatusOr<const Analytics*> source = group(q.param("group"));
    if (!source.ok()) return SendJsonError(r, source.status());
    absl::StatusOr<TimeRange> range = RangeParams(q);
    if (!range.ok()) return SendJsonError(r, range.status());
    absl::StatusOr<Dimension> dimension = DimensionParam(q);
    if (!dimension.ok()) return SendJsonError(r, dimension.status());
    AnomalyQuery query;
    query.range = *range;
    query.dimension = *dimension;
    if (q.has_param("action")) {
      absl::StatusOr<Action> action = ActionParam(q);
      if (!action.ok()) return SendJsonError(r, action.status());
      query.action = *action;
    }
    absl::StatusOr<AnomalyCounts> counts = (*source)->AnomalyMinuteCounts(query);
    if (!counts.ok()) return SendJsonError(r, counts.status());
    r.set_content(AnomalyCountsJson(*counts), kJson);
  });
  router.Get("/cluster/sessions", [cookie_owner](Req q, Res r) {
    const std::string cookie = q.param("cookie");
    absl::StatusOr<const Analytics*> source = cookie_owner(cookie);
    if (!source.ok()) return SendJsonError(r, source.status());
    absl::StatusOr<TimeRange> range = RangeParams(q);
    if (!range.ok()) return SendJsonError(r, range.status());
    absl::StatusOr<int64_t> limit = IntParam(q, "limit"), gap = IntParam(q, "gap");
    if (!limit.ok()) return SendJsonError(r, limit.status());
    if (!gap.ok()) return SendJsonError(r, gap.status());
    if (*limit < 0 || *limit > INT32_MAX) {
      return SendJsonError(r, absl::InvalidArgumentError("limit: 0..2147483647"));
    }
    SessionQuery query;
    query.range = *range;
    query.limit = static_cast<int32_t>(*limit);
    query.gap_ms = *gap;
    absl::StatusOr<std::vector<Session>> sessions = (*source)->UserSessions(cookie, query);
    if (!sessions.ok()) return SendJsonError(r, sessions.status());
    r.set_content(SessionListJson(*sessions), kJson);
  });
}

}  // namespace allezon::cluster
