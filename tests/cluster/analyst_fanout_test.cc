// The analyst fan-out (analyst_fanout.h) without a cluster: the peer answers' wire forms keep
// every byte of a value, and ClusterAnalytics over databases holding disjoint tags answers
// exactly what one database holding all of them answers (the catalogue's filters applied
// after the merge); a group without an owner is Unavailable, naming it.
#include "analyst_fanout.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/json.h"
#include "allezon_test/server_process.h"

namespace allezon::cluster {
namespace {

constexpr EpochMillis kStart = 1646092800000;  // 2022-03-01T00:00:00Z
constexpr EpochMillis kMinute = kMillisPerMinute;

using allezon_test::TempDir;

std::unique_ptr<Database> Open(const std::string& dir) {
  Options options;
  options.data_dir = dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(options);
  REQUIRE_MESSAGE(db.ok(), std::string(db.status().message()));
  return *std::move(db);
}

UserTag Tag(EpochMillis time, std::string cookie, Action action, std::string origin,
            int32_t price) {
  UserTag tag;
  tag.time = time;
  tag.cookie = std::move(cookie);
  tag.country = "PL";
  tag.device = Device::kMobile;
  tag.action = action;
  tag.origin = std::move(origin);
  tag.product_id = int64_t{7};
  tag.brand_id = "BRAND";
  tag.category_id = "CATEGORY";
  tag.price = price;
  return tag;
}

// The value of an answer that must be there (a failed REQUIRE otherwise).
template <typename T>
T Ok(absl::StatusOr<T> answer) {
  REQUIRE_MESSAGE(answer.ok(), std::string(answer.status().message()));
  return *std::move(answer);
}

const std::vector<std::string> kOddValues = {
    "plain", "quote\"d", "back\\slash", std::string("nul\0byte", 8), "caf\xC3\xA9", ""};

TEST_CASE("the wire forms keep every value's bytes and every number") {
  std::vector<TopRow> rows;
  for (size_t i = 0; i < kOddValues.size(); ++i) {
    rows.push_back(
        {kOddValues[i], static_cast<int64_t>(i) * 1000000000000, -static_cast<int64_t>(i)});
  }
  absl::StatusOr<std::vector<TopRow>> top = ParseTopTotals(TopTotalsJson(rows));
  REQUIRE(top.ok());
  REQUIRE(top->size() == rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    CHECK((*top)[i].value == rows[i].value);
    CHECK((*top)[i].count == rows[i].count);
    CHECK((*top)[i].sum_price == rows[i].sum_price);
  }

  std::vector<CatalogueEntry> entries;
  for (const std::string& value : kOddValues) entries.push_back({value, kMinTime, kMaxTime, 3});
  absl::StatusOr<std::vector<CatalogueEntry>> catalogue =
      ParseCatalogueEntries(CatalogueEntriesJson(entries));
  REQUIRE(catalogue.ok());
  REQUIRE(catalogue->size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    CHECK((*catalogue)[i].value == entries[i].value);
    CHECK((*catalogue)[i].first_seen == kMinTime);
    CHECK((*catalogue)[i].last_seen == kMaxTime);
    CHECK((*catalogue)[i].tags == 3);
  }

  AnomalyCounts counts;
  counts.newest_time = kStart + 90 * kMinute + 1234;
  counts.first_minute = kStart;
  counts.retained_from = kMinTime;
  counts.series.push_back({kOddValues[3], Action::kBuy, {{kStart + 5 * kMinute, 9}}});
  counts.series.push_back(
      {kOddValues[4], Action::kView, {{kStart - 30 * kMinute, 1}, {kStart + 59 * kMinute, 77}}});
  counts.series.push_back({"empty", Action::kView, {}});
  absl::StatusOr<AnomalyCounts> parsed = ParseAnomalyCounts(AnomalyCountsJson(counts));
  REQUIRE(parsed.ok());
  CHECK(parsed->newest_time == counts.newest_time);
  CHECK(parsed->first_minute == counts.first_minute);
  CHECK(parsed->retained_from == counts.retained_from);
  REQUIRE(parsed->series.size() == counts.series.size());
  for (size_t i = 0; i < counts.series.size(); ++i) {
    CHECK(parsed->series[i].value == counts.series[i].value);
    CHECK(parsed->series[i].action == counts.series[i].action);
    CHECK(parsed->series[i].minutes == counts.series[i].minutes);
  }
  absl::StatusOr<AnomalyCounts> none = ParseAnomalyCounts(AnomalyCountsJson(AnomalyCounts{}));
  REQUIRE(none.ok());
  CHECK(none->newest_time == kMinTime);
  CHECK(none->first_minute == kMaxTime);

  const std::vector<Session> sessions = {{kStart, kStart + 5, 2, 1, -300},
                                         {kMinTime, kMaxTime, 0, 0, 0}};
  absl::StatusOr<std::vector<Session>> back = ParseSessionList(SessionListJson(sessions));
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].end == kStart + 5);
  CHECK((*back)[0].revenue == -300);
  CHECK((*back)[1].start == kMinTime);

  for (const char* malformed : {"", "[]", "{\"rows\":{}}", "{\"rows\":[[1,2,3]]}",
                                "{\"rows\":[[\"a\",1]]}", "{\"rows\":[[\"a\",1,2.5]]}"}) {
    CAPTURE(malformed);
    CHECK(absl::IsUnavailable(ParseTopTotals(malformed).status()));
  }
  CHECK(absl::IsUnavailable(ParseAnomalyCounts(R"({"series":[]})").status()));
  CHECK(absl::IsUnavailable(
      ParseAnomalyCounts(
          R"({"newest":1,"first_minute":0,"retained_from":0,"base":0,"series":[["v",2,[]]]})")
          .status()));
  CHECK(absl::IsUnavailable(ParseSessionList(R"({"sessions":[[1,2,3,4]]})").status()));
}

TEST_CASE("ClusterAnalytics over disjoint databases answers what one database of all answers") {
  TempDir dir_whole, dir_a, dir_b;
  std::unique_ptr<Database> whole = Open(dir_whole.path().string());
  std::unique_ptr<Database> a = Open(dir_a.path().string()), b = Open(dir_b.path().string());
  // Cookies "a..." live in group A, "b..." in group B. "EARLY_IN_A" is first seen in A before
  // minute 40 and again in B after it; "LATE_IN_B" is last seen in A before minute 60 and in B
  // after it: a group's own catalogue would misfile both.
  std::vector<UserTag> tags;
  for (int m = 0; m < 70; ++m) {
    for (int k = 0; k < 6; ++k) {
      const bool in_a = k % 2 == 0;
      std::string origin = "STEADY";
      if (m == 50) origin = k < 3 ? "STEADY" : "SPIKE";
      tags.push_back(Tag(kStart + m * kMinute + k * 1000, absl::StrCat(in_a ? "a" : "b", k),
                         k % 3 == 0 ? Action::kBuy : Action::kView, origin, 100 + k));
    }
    if (m == 45) {
      for (int k = 0; k < 40; ++k) {
        tags.push_back(Tag(kStart + m * kMinute + 30000 + k, k % 2 == 0 ? "ax" : "bx",
                           Action::kView, "BURST", 5));
      }
    }
  }
  tags.push_back(Tag(kStart + 10 * kMinute, "a1", Action::kView, "EARLY_IN_A", 1));
  tags.push_back(Tag(kStart + 41 * kMinute, "b1", Action::kView, "EARLY_IN_A", 1));
  tags.push_back(Tag(kStart + 20 * kMinute, "a1", Action::kBuy, "LATE_IN_B", 1));
  tags.push_back(Tag(kStart + 65 * kMinute, "b3", Action::kBuy, "LATE_IN_B", 1));
  std::vector<UserTag> in_a, in_b;
  for (const UserTag& tag : tags) (tag.cookie[0] == 'a' ? in_a : in_b).push_back(tag);
  REQUIRE(whole->AddTags(tags).ok());
  REQUIRE(a->AddTags(in_a).ok());
  REQUIRE(b->AddTags(in_b).ok());

  FanoutOptions options;
  options.groups = [&] {
    return std::vector<AnswerSource>{{"A", &a->analytics(), {}}, {"B", &b->analytics(), {}}};
  };
  options.cookie_owners = [&](std::string_view cookie) {
    return AnswerSource{
        cookie[0] == 'a' ? "0" : "1", cookie[0] == 'a' ? &a->analytics() : &b->analytics(), {}};
  };
  const ClusterAnalytics cluster(options);
  const Analytics& one = whole->analytics();

  const TimeRange hour{kStart, kStart + 70 * kMinute};
  for (TopMetric metric : {TopMetric::kCount, TopMetric::kSumPrice}) {
    for (int32_t limit : {0, 1, 2, 1000}) {
      for (Action action : {Action::kView, Action::kBuy}) {
        const TopQuery q{hour, action, Dimension::kOrigin, metric, limit};
        CHECK(TopToJson(q, Ok(cluster.Top(q))) == TopToJson(q, Ok(one.Top(q))));
      }
    }
  }
  for (Dimension dimension : {Dimension::kOrigin, Dimension::kCountry, Dimension::kDevice}) {
    for (std::optional<EpochMillis> new_since :
         {std::optional<EpochMillis>(), std::optional<EpochMillis>(kStart + 40 * kMinute)}) {
      for (std::optional<EpochMillis> silent_since :
           {std::optional<EpochMillis>(), std::optional<EpochMillis>(kStart + 60 * kMinute)}) {
        const CatalogueQuery q{dimension, new_since, silent_since};
        CHECK(CatalogueToJson(dimension, Ok(cluster.Catalogue(q))) ==
              CatalogueToJson(dimension, Ok(one.Catalogue(q))));
      }
    }
  }
  // Filtered after the merge: EARLY_IN_A is not new at minute 40 (A saw it first), LATE_IN_B
  // not silent since minute 60 (B saw it last).
  const auto values = [&](const CatalogueQuery& q) {
    absl::StatusOr<std::vector<CatalogueEntry>> entries = cluster.Catalogue(q);
    REQUIRE(entries.ok());
    std::string out;
    for (const CatalogueEntry& entry : *entries) out.append(entry.value).append(" ");
    return out;
  };

  CHECK(values({Dimension::kOrigin, kStart + 40 * kMinute, std::nullopt}) == "BURST SPIKE ");
  CHECK(values({Dimension::kOrigin, std::nullopt, kStart + 60 * kMinute}) ==
        "BURST EARLY_IN_A SPIKE ");
  for (std::optional<Action> action :
       {std::optional<Action>(), std::optional<Action>(Action::kView)}) {
    AnomalyQuery q;
    q.range = hour;
    q.action = action;
    const std::string want = AnomaliesToJson(q.dimension, Ok(one.Anomalies(q)));
    CHECK(AnomaliesToJson(q.dimension, Ok(cluster.Anomalies(q))) == want);
    CHECK(want.find("\"BURST\"") != std::string::npos);  // 20 per group: a spike only summed
  }
  for (const char* cookie : {"a0", "b1", "nobody"}) {
    const SessionQuery q{hour, 5, 10 * kMinute};
    CHECK(SessionsToJson(cookie, Ok(cluster.UserSessions(cookie, q))) ==
          SessionsToJson(cookie, Ok(one.UserSessions(cookie, q))));
  }

  // An invalid query is the owners' 400, even beside a group that cannot answer.
  NodeSpec gone{"gone", "127.0.0.1", 1};
  options.groups = [&] {
    return std::vector<AnswerSource>{{"A", &a->analytics(), {}}, {"B-C", nullptr, {&gone}}};
  };
  const ClusterAnalytics degraded(options);
  TopQuery top{{kStart, kStart + 1}, Action::kView, Dimension::kOrigin, TopMetric::kCount, 10};
  CHECK(absl::IsInvalidArgument(degraded.Top(top).status()));
  top.range = hour;
  const absl::Status unavailable = degraded.Top(top).status();
  CHECK(absl::IsUnavailable(unavailable));
  CHECK(std::string(unavailable.message()).find("no owner of partitions group B-C") !=
        std::string::npos);
  CHECK(absl::IsUnavailable(degraded.Catalogue({Dimension::kOrigin, {}, {}}).status()));
  AnomalyQuery anomalies;
  anomalies.range = hour;
  CHECK(absl::IsUnavailable(degraded.Anomalies(anomalies).status()));
}

}  // namespace
}  // namespace allezon::cluster
