// Analytics (SPEC §9): Top and Anomalies against brute-force models of the stored tags, the
// anomaly rules at each boundary, and sessions cut at exactly the gap.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "allezon/database.h"
#include "allezon/json.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr EpochMillis kMinute = kMillisPerMinute;

// Options that fold minutes into blocks at once, so that queries read blocks, open minutes
// and minutes that are both (tags that arrived after their minute was folded).
Options EagerOptions(const std::string& dir) {
  Options options = TestOptions(dir);
  options.tuning.aggregate_fold_delay_ms = 0;
  options.tuning.aggregate_fold_interval_ms = 0;
  return options;
}

std::string FieldOf(const UserTag& tag, Dimension dimension) {
  switch (dimension) {
    case Dimension::kOrigin:
      return tag.origin;
    case Dimension::kBrandId:
      return tag.brand_id;
    case Dimension::kCategoryId:
      return tag.category_id;
    case Dimension::kCountry:
      return tag.country;
    case Dimension::kDevice:
      return std::string(DeviceName(tag.device));
  }
  return "";
}

std::vector<TopRow> ModelTop(const std::vector<UserTag>& tags, const TopQuery& q) {
  std::map<std::string, TopRow> by_value;
  for (const UserTag& tag : tags) {
    if (tag.action != q.action || tag.time < q.range.begin || tag.time >= q.range.end) continue;
    TopRow& row = by_value[FieldOf(tag, q.dimension)];
    row.value = FieldOf(tag, q.dimension);
    row.count += 1;
    row.sum_price += tag.price;
  }
  std::vector<TopRow> rows;
  for (auto& [value, row] : by_value) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    const int64_t ma = q.metric == TopMetric::kCount ? a.count : a.sum_price;
    const int64_t mb = q.metric == TopMetric::kCount ? b.count : b.sum_price;
    return ma > mb;  // stable: the map's value order breaks ties
  });
  if (rows.size() > static_cast<size_t>(q.limit)) rows.resize(static_cast<size_t>(q.limit));
  return rows;
}

std::string Describe(const std::vector<TopRow>& rows) {
  std::string out;
  for (const TopRow& r : rows) absl::StrAppend(&out, r.value, ":", r.count, "/", r.sum_price, " ");
  return out;
}

TEST_CASE("top equals a brute-force model over blocks, open minutes and late tags") {
  TempDir dir;
  auto db = OpenOrDie(EagerOptions(dir.path()));
  std::mt19937 random(7);
  std::vector<UserTag> all;
  // Minutes in shuffled order, so that many receive tags after they were folded.
  std::vector<int> minutes;
  for (int round = 0; round < 3; ++round) {
    for (int m = 0; m < 12; ++m) minutes.push_back(m);
  }
  std::shuffle(minutes.begin(), minutes.end(), random);
  for (int m : minutes) {
    std::vector<UserTag> batch;
    const int n = static_cast<int>(random() % 40);
    for (int i = 0; i < n; ++i) {
      // Few values with skewed weights: many ties in counts and sums.
      const auto pick = [&](const char* prefix, int values) {
        return absl::StrCat(prefix, std::min(random() % values, random() % values));
      };
      batch.push_back(MakeTag(kStreamStart + m * kMinute + static_cast<int>(random() % 60000),
                              absl::StrCat("c", random() % 5),
                              random() % 3 == 0 ? Action::kBuy : Action::kView,
                              static_cast<int32_t>(random() % 7) * 100 - 100, pick("o", 8),
                              pick("b", 5), pick("c", 3)));
    }
    REQUIRE(db->AddTags(batch).ok());
    all.insert(all.end(), batch.begin(), batch.end());
  }
  const std::vector<TimeRange> ranges = {{kStreamStart, kStreamStart + 12 * kMinute},
                                         {kStreamStart + 3 * kMinute, kStreamStart + 4 * kMinute},
                                         {kStreamStart + 2 * kMinute, kStreamStart + 9 * kMinute},
                                         {kStreamStart - 60 * kMinute, kStreamStart + 90 * kMinute},
                                         {kStreamStart + 5 * kMinute, kStreamStart + 5 * kMinute}};
  for (const TimeRange& range : ranges) {
    for (Dimension dimension : {Dimension::kOrigin, Dimension::kBrandId, Dimension::kCategoryId}) {
      for (Action action : {Action::kView, Action::kBuy}) {
        for (TopMetric metric : {TopMetric::kCount, TopMetric::kSumPrice}) {
          for (int32_t limit : {0, 1, 3, 10, 1000}) {
            TopQuery q{range, action, dimension, metric, limit};
            CAPTURE(range.begin);
            CAPTURE(range.end);
            CAPTURE(DimensionName(dimension));
            CAPTURE(ActionName(action));
            CAPTURE(TopMetricName(metric));
            CAPTURE(limit);
            absl::StatusOr<TopResult> got = db->analytics().Top(q);
            REQUIRE(got.ok());
            CHECK(Describe(got->rows) == Describe(ModelTop(all, q)));
          }
        }
      }
    }
  }
}

TEST_CASE("top: JSON as SPEC §9 and the argument checks") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  REQUIRE(db->AddTag(MakeTag(kStreamStart, "c", Action::kBuy, 1999, "NIKE \"x\"")).ok());
  TopQuery q{{kStreamStart, kStreamStart + kMinute},
             Action::kBuy,
             Dimension::kOrigin,
             TopMetric::kSumPrice,
             10};
  absl::StatusOr<TopResult> got = db->analytics().Top(q);
  REQUIRE(got.ok());
  CHECK(TopToJson(q, *got) ==
        R"({"columns":["origin","count","sum_price"],"rows":[["NIKE \"x\"","1","1999"]]})");
  const auto invalid = [&](TopQuery bad) {
    return absl::IsInvalidArgument(db->analytics().Top(bad).status());
  };
  TopQuery bad = q;
  bad.dimension = Dimension::kCountry;
  CHECK(invalid(bad));
  bad = q;
  bad.limit = kMaxTopLimit + 1;
  CHECK(invalid(bad));
  bad.limit = -1;
  CHECK(invalid(bad));
  bad = q;
  bad.range.end += 1;
  CHECK(invalid(bad));
  bad = q;
  bad.range = {q.range.end, q.range.begin};
  CHECK(invalid(bad));
  bad = q;
  bad.range.end = bad.range.begin + (Options().max_query_buckets + 1) * kMinute;
  CHECK(invalid(bad));
  bad = q;
  bad.limit = kMaxTopLimit;
  CHECK(db->analytics().Top(bad).ok());
}

// ---- Anomalies ---------------------------------------------------------------------------

// Adds `count` tags of (origin, action) in minute `m` (minute index from kStreamStart).
void AddCount(std::vector<UserTag>* tags, int m, const std::string& origin, Action action,
              int count) {
  for (int i = 0; i < count; ++i) {
    tags->push_back(MakeTag(kStreamStart + m * kMinute + i, "c", action, 1, origin));
  }
}

std::string Describe(const std::vector<Anomaly>& anomalies) {
  std::string out;
  for (const Anomaly& a : anomalies) {
    absl::StrAppend(&out, (a.minute - kStreamStart) / kMinute, " ", a.value, " ",
                    std::string(ActionName(a.action)), " ", a.observed, " ", a.expected, " ",
                    std::string(AnomalyKindName(a.kind)), "\n");
  }
  return out;
}

std::vector<Anomaly> RunAnomalies(const Database& db, int from_minute, int to_minute,
                                  std::optional<Action> action = std::nullopt) {
  AnomalyQuery q;
  q.range = {kStreamStart + from_minute * kMinute, kStreamStart + to_minute * kMinute};
  q.dimension = Dimension::kOrigin;
  q.action = action;
  absl::StatusOr<std::vector<Anomaly>> got = db.analytics().Anomalies(q);
  REQUIRE_MESSAGE(got.ok(), std::string(got.status().message()));
  return *got;
}

TEST_CASE("anomalies: each SPEC condition at its boundary") {
  TempDir dir;
  auto db = OpenOrDie(EagerOptions(dir.path()));
  std::vector<UserTag> tags;
  // Minutes 0..29 are the window of minute 30, the minute judged.
  for (int m = 0; m < 30; ++m) {
    AddCount(&tags, m, "factor_at", Action::kView, 10);  // median 10: a spike needs 50
    AddCount(&tags, m, "factor_below", Action::kView, 10);
    AddCount(&tags, m, "margin_at", Action::kView, 2);  // median 2: a spike needs 22
    AddCount(&tags, m, "margin_below", Action::kView, 2);
    AddCount(&tags, m, "drop_at", Action::kBuy, 20);                   // median 20
    AddCount(&tags, m, "drop_below", Action::kBuy, m < 15 ? 19 : 20);  // median 19.5
    AddCount(&tags, m, "drop_both", Action::kView, 20);
    AddCount(&tags, m, "drop_both", Action::kBuy, 20);
  }
  AddCount(&tags, 30, "factor_at", Action::kView, 50);
  AddCount(&tags, 30, "factor_below", Action::kView, 49);
  AddCount(&tags, 30, "margin_at", Action::kView, 22);
  AddCount(&tags, 30, "margin_below", Action::kView, 21);
  AddCount(&tags, 30, "new_at", Action::kBuy, 20);  // never seen: median 0, a spike needs 20
  AddCount(&tags, 30, "new_below", Action::kBuy, 19);
  REQUIRE(db->AddTags(tags).ok());

  // Minute 30 has not ended: its spikes count already, its missing tags do not yet.
  CHECK(Describe(RunAnomalies(*db, 0, 60)) ==
        "30 factor_at VIEW 50 10 spike\n"
        "30 margin_at VIEW 22 2 spike\n"
        "30 new_at BUY 20 0 spike\n");
  // A tag at the minute's end closes it: the drops appear.
  REQUIRE(db->AddTag(MakeTag(kStreamStart + 31 * kMinute, "late", Action::kView, 1, "other")).ok());
  CHECK(Describe(RunAnomalies(*db, 30, 31)) ==
        "30 drop_at BUY 0 20 drop\n"
        "30 drop_both VIEW 0 20 drop\n"
        "30 drop_both BUY 0 20 drop\n"
        "30 factor_at VIEW 50 10 spike\n"
        "30 margin_at VIEW 22 2 spike\n"
        "30 new_at BUY 20 0 spike\n");
  const std::vector<Anomaly> buys = RunAnomalies(*db, 30, 31, Action::kBuy);
  CHECK(Describe(buys) ==
        "30 drop_at BUY 0 20 drop\n"
        "30 drop_both BUY 0 20 drop\n"
        "30 new_at BUY 20 0 spike\n");
  // Minutes 0..29 have no full window of data before them: never judged.
  CHECK(RunAnomalies(*db, 0, 30).empty());
  // JSON: observed an integer, expected a float, the minute as an aggregates bucket.
  CHECK(AnomaliesToJson(Dimension::kOrigin, {buys[0]}) ==
        R"({"anomalies":[{"minute":"2022-03-01T00:30:00","dimension":"origin","value":"drop_at",)"
        R"("action":"BUY","observed":0,"expected":20.0,"kind":"drop"}]})");
  CHECK(AnomaliesToJson(Dimension::kOrigin, {buys[2]}).find(R"("observed":20,"expected":0.0,)") !=
        std::string::npos);
}

// The SPEC rule, by brute force over the tags.
std::vector<Anomaly> ModelAnomalies(const std::vector<UserTag>& tags, TimeRange range,
                                    std::optional<Action> action) {
  std::map<std::tuple<std::string, int, int64_t>, int64_t> counts;  // (value, action, minute)
  std::set<std::pair<std::string, int>> series;
  EpochMillis first = kMaxTime, newest = kMinTime;
  for (const UserTag& tag : tags) {
    first = std::min(first, MinuteStart(tag.time));
    newest = std::max(newest, tag.time);
    if (action && tag.action != *action) continue;
    ++counts[{tag.origin, static_cast<int>(tag.action), MinuteStart(tag.time)}];
    series.insert({tag.origin, static_cast<int>(tag.action)});
  }
  std::vector<Anomaly> out;
  for (EpochMillis m = range.begin; m < range.end; m += kMinute) {
    if (m - 30 * kMinute < first || m > newest) continue;
    for (const auto& [value, a] : series) {
      std::vector<int64_t> window;
      for (int k = 1; k <= 30; ++k) {
        auto it = counts.find({value, a, m - k * kMinute});
        window.push_back(it == counts.end() ? 0 : it->second);
      }
      std::sort(window.begin(), window.end());
      const double median = (window[14] + window[15]) / 2.0;
      auto it = counts.find({value, a, m});
      const int64_t c = it == counts.end() ? 0 : it->second;
      std::optional<AnomalyKind> kind;
      if (c >= 5 * median && c >= median + 20) kind = AnomalyKind::kSpike;
      if (c == 0 && median >= 20 && m + kMinute <= newest) kind = AnomalyKind::kDrop;
      if (kind) out.push_back({m, value, static_cast<Action>(a), c, median, *kind});
    }
  }
  return out;  // minute, then value, then action: the loops' order
}

TEST_CASE("anomalies equal the rule applied by brute force to a bursty stream") {
  TempDir dir;
  auto db = OpenOrDie(EagerOptions(dir.path()));
  std::mt19937 random(11);
  std::vector<UserTag> all;
  const int kMinutes = 100;
  for (int m = 0; m < kMinutes; ++m) {
    std::vector<UserTag> batch;
    for (int v = 0; v < 6; ++v) {
      for (Action action : {Action::kView, Action::kBuy}) {
        const int base = 5 + v * 7 + (action == Action::kBuy ? 0 : 3);
        int count = base + static_cast<int>(random() % 7) - 3;
        const int event = static_cast<int>(random() % 20);
        if (event == 0) count *= 6;             // a burst
        if (event == 1) count = 0;              // an outage
        if (event == 2) count = base * 5 + 20;  // near the spike line
        AddCount(&batch, m, absl::StrCat("v", v), action, count);
      }
    }
    std::shuffle(batch.begin(), batch.end(), random);
    REQUIRE(db->AddTags(batch).ok());
    all.insert(all.end(), batch.begin(), batch.end());
  }
  for (std::optional<Action> action :
       {std::optional<Action>(), std::optional<Action>(Action::kView),
        std::optional<Action>(Action::kBuy)}) {
    for (auto [from, to] : {std::pair{0, kMinutes + 10}, std::pair{45, 46}, std::pair{31, 77}}) {
      const TimeRange range{kStreamStart + from * kMinute, kStreamStart + to * kMinute};
      CAPTURE(from);
      CAPTURE(to);
      const std::string want = Describe(ModelAnomalies(all, range, action));
      CHECK(Describe(RunAnomalies(*db, from, to, action)) == want);
      // The same detector over the counts a cluster's owner would send.
      AnomalyQuery q;
      q.range = range;
      q.action = action;
      absl::StatusOr<AnomalyCounts> counts = db->analytics().AnomalyMinuteCounts(q);
      REQUIRE(counts.ok());
      CHECK(Describe(DetectAnomalies(q, *counts)) == want);
      if (to - from > 1) CHECK(!want.empty());  // the stream's bursts and outages are found
    }
  }
}

// A cluster (SPEC §8) holds disjoint tags in several databases: the merged counts and totals
// must answer what one database holding every tag answers, including findings no part sees
// alone (a spike spread over the parts, a median that is no part's).
TEST_CASE("anomalies and top of disjoint databases merge to the whole's answers") {
  TempDir dir_whole, dir_a, dir_b, dir_c;
  auto whole = OpenOrDie(EagerOptions(dir_whole.path()));
  std::vector<std::unique_ptr<Database>> parts;
  for (TempDir* d : {&dir_a, &dir_b, &dir_c}) parts.push_back(OpenOrDie(EagerOptions(d->path())));
  std::mt19937 random(5);
  const int kMinutes = 70;
  for (int m = 0; m < kMinutes; ++m) {
    std::vector<UserTag> batch;
    for (int v = 0; v < 4; ++v) {
      for (Action action : {Action::kView, Action::kBuy}) {
        int count = 3 + v * 6 + static_cast<int>(random() % 5);
        if (m == 40 + v) count *= 10;       // each part sees a third of the spike
        if (m == 50 && v == 3) count = 0;  // a drop only the sum's median (21..25) allows
        AddCount(&batch, m, absl::StrCat("v", v), action, count);
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].cookie = absl::StrCat("c", i);  // spread over the parts
      batch[i].price = static_cast<int32_t>(random() % 50);
    }
    REQUIRE(whole->AddTags(batch).ok());
    std::vector<UserTag> split[3];
    for (size_t i = 0; i < batch.size(); ++i) split[i % 3].push_back(batch[i]);
    if (m < 10) {  // the first part starts 10 minutes late: its first minute is not the whole's
      split[1].insert(split[1].end(), split[0].begin(), split[0].end());
      split[0].clear();
    }
    for (int p = 0; p < 3; ++p) {
      if (!split[p].empty()) REQUIRE(parts[static_cast<size_t>(p)]->AddTags(split[p]).ok());
    }
  }
  // The end of the last minute, in one part only: its newest time is the whole's.
  const UserTag closing = MakeTag(kStreamStart + kMinutes * kMinute, "z", Action::kView, 1, "v0");
  REQUIRE(whole->AddTag(closing).ok());
  REQUIRE(parts[2]->AddTag(closing).ok());
  for (std::optional<Action> action :
       {std::optional<Action>(), std::optional<Action>(Action::kBuy)}) {
    for (auto [from, to] : {std::pair{0, kMinutes + 5}, std::pair{41, 42}, std::pair{35, 60}}) {
      CAPTURE(from);
      CAPTURE(to);
      AnomalyQuery q;
      q.range = {kStreamStart + from * kMinute, kStreamStart + to * kMinute};
      q.action = action;
      AnomalyCounts sum;
      for (const auto& part : parts) {
        absl::StatusOr<AnomalyCounts> counts = part->analytics().AnomalyMinuteCounts(q);
        REQUIRE(counts.ok());
        MergeAnomalyCounts(*std::move(counts), &sum);
      }
      const std::string want = Describe(RunAnomalies(*whole, from, to, action));
      CHECK(Describe(DetectAnomalies(q, sum)) == want);
      if (to - from > 1) CHECK(want.find("spike") != std::string::npos);
      if (to - from > 1) CHECK(want.find("drop") != std::string::npos);
    }
  }
  for (TopMetric metric : {TopMetric::kCount, TopMetric::kSumPrice}) {
    TopQuery q{{kStreamStart + 5 * kMinute, kStreamStart + 45 * kMinute},
               Action::kView, Dimension::kOrigin, metric, 3};
    std::map<std::string, TopRow> sums;
    for (const auto& part : parts) {
      absl::StatusOr<std::vector<TopRow>> totals = part->analytics().TopTotals(q);
      REQUIRE(totals.ok());
      CHECK(std::is_sorted(totals->begin(), totals->end(),
                           [](const TopRow& a, const TopRow& b) { return a.value < b.value; }));
      for (const TopRow& row : *totals) {
        TopRow& into = sums[row.value];
        into.value = row.value;
        into.count += row.count;
        into.sum_price += row.sum_price;
      }
    }
    std::vector<TopRow> merged;
    for (auto& [value, row] : sums) merged.push_back(row);
    absl::StatusOr<TopResult> want = whole->analytics().Top(q);
    REQUIRE(want.ok());
    CHECK(Describe(RankTop(merged, metric, q.limit).rows) == Describe(want->rows));
  }
}

TEST_CASE("anomalies: argument checks and an empty database") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  CHECK(RunAnomalies(*db, 0, 60).empty());
  AnomalyQuery q;
  q.range = {kStreamStart, kStreamStart + kMinute};
  q.dimension = Dimension::kDevice;
  CHECK(absl::IsInvalidArgument(db->analytics().Anomalies(q).status()));
  q.dimension = Dimension::kBrandId;
  q.range.end -= 1;
  CHECK(absl::IsInvalidArgument(db->analytics().Anomalies(q).status()));
}

// ---- Sessions ----------------------------------------------------------------------------

std::string Describe(const std::vector<Session>& sessions) {
  std::string out;
  for (const Session& s : sessions) {
    absl::StrAppend(&out, s.start - kStreamStart, "-", s.end - kStreamStart, " ", s.views, "v ",
                    s.buys, "b ", s.revenue, "\n");
  }
  return out;
}

TEST_CASE("sessions are cut at exactly the gap, newest first") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  const int64_t gap = kDefaultSessionGapMs;
  const EpochMillis t = kStreamStart;
  std::vector<UserTag> tags = {
      MakeTag(t, "s"),
      MakeTag(t + 1000, "s", Action::kBuy, 1999),
      MakeTag(t + 1000 + gap - 1, "s"),  // one ms short of the gap: same visit
      MakeTag(t + 1000 + gap - 1 + gap, "s", Action::kBuy, 5),   // exactly the gap: a new one
      MakeTag(t + 1000 + gap - 1 + gap, "s", Action::kBuy, -2),  // equal time, same visit
      MakeTag(t + 10 * gap, "s"),
      MakeTag(t + 500, "other", Action::kBuy, 7),
  };
  // Out of order on purpose: sessions follow event time, not arrival.
  std::reverse(tags.begin(), tags.end());
  REQUIRE(db->AddTags(tags).ok());
  const auto sessions = [&](TimeRange range, int32_t limit, int64_t gap_ms = kDefaultSessionGapMs,
                            std::string cookie = "s") {
    absl::StatusOr<std::vector<Session>> got =
        db->analytics().UserSessions(cookie, SessionQuery{range, limit, gap_ms});
    REQUIRE_MESSAGE(got.ok(), std::string(got.status().message()));
    return Describe(*got);
  };
  const TimeRange all{t - gap, t + 20 * gap};
  CHECK(sessions(all, 20) == absl::StrCat(10 * gap, "-", 10 * gap, " 1v 0b 0\n",  //
                                          1000 + 2 * gap - 1, "-", 1000 + 2 * gap - 1,
                                          " 0v 2b 3\n",  //
                                          "0-", 1000 + gap - 1, " 2v 1b 1999\n"));
  CHECK(sessions(all, 1) == absl::StrCat(10 * gap, "-", 10 * gap, " 1v 0b 0\n"));
  CHECK(sessions(all, 0).empty());
  // The range is half-open and cuts sessions at its ends.
  CHECK(sessions({t + 1000, t + 10 * gap}, 20) ==
        absl::StrCat(1000 + 2 * gap - 1, "-", 1000 + 2 * gap - 1, " 0v 2b 3\n", "1000-",
                     1000 + gap - 1, " 1v 1b 1999\n"));
  // A longer gap joins the first two.
  CHECK(sessions(all, 20, gap + 1) == absl::StrCat(10 * gap, "-", 10 * gap, " 1v 0b 0\n", "0-",
                                                   1000 + 2 * gap - 1, " 2v 3b 2002\n"));
  CHECK(sessions(all, 20, kDefaultSessionGapMs, "nobody").empty());
  CHECK(sessions(all, 20, kDefaultSessionGapMs, "").empty());
  absl::StatusOr<std::vector<Session>> got =
      db->analytics().UserSessions("s", SessionQuery{all, 20, kDefaultSessionGapMs});
  REQUIRE(got.ok());
  CHECK(SessionsToJson("s", {got->back()}) ==
        R"({"cookie":"s","sessions":[{"start":"2022-03-01T00:00:00.000Z",)"
        R"("end":"2022-03-01T00:30:00.999Z","views":2,"buys":1,"revenue":1999}]})");
  const auto invalid = [&](SessionQuery q) {
    return absl::IsInvalidArgument(db->analytics().UserSessions("s", q).status());
  };
  CHECK(invalid(SessionQuery{{t + 1, t}, 20, gap}));
  CHECK(invalid(SessionQuery{all, -1, gap}));
  CHECK(invalid(SessionQuery{all, 20, 0}));
  CHECK(absl::IsInvalidArgument(
      db->analytics()
          .UserSessions(std::string(kMaxCookieBytes + 1, 'x'), {all, 20, gap})
          .status()));
}

}  // namespace
}  // namespace allezon
