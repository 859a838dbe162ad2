// Raw tags (SPEC §10): encoding, order of export, trimming, bad input.
#include "raw_tags.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "allezon/database.h"
#include "allezon/tag_lines.h"
#include "allezon/user_tag_view.h"
#include "test_util.h"

namespace allezon {
namespace {

using testing::kStreamStart;
using testing::MakeTag;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

constexpr int64_t kHour = 60 * kMillisPerMinute;

std::vector<UserTag> ExportAll(const Database& db, TimeRange range, absl::Status* status) {
  std::vector<UserTag> out;
  *status = db.ExportTags(range, [&](std::span<const UserTagView> tags) {
    for (const UserTagView& tag : tags) out.push_back(ToUserTag(tag));
    return absl::OkStatus();
  });
  return out;
}

Options RawOptions(const std::string& dir) {
  Options options = TestOptions(dir);
  options.raw_retention_ms = 2 * kHour;
  options.tuning.aggregate_fold_interval_ms = 0;  // maintain every round
  return options;
}

TEST_CASE("cookie packing round-trips and falls back to bytes") {
  for (const std::string& cookie :
       std::vector<std::string>{"8CyGkmkQTWDWNarATGMd", "a", "Zz09", std::string(63, 'z'),
                                "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}) {
    std::string packed, unpacked;
    REQUIRE(internal::PackCookie(cookie, &packed));
    CHECK(packed.size() == (cookie.size() * 6 + 7) / 8);
    internal::UnpackCookie(packed, cookie.size(), &unpacked);
    CHECK(unpacked == cookie);
  }
  std::string packed;
  CHECK_FALSE(internal::PackCookie("with space", &packed));
  CHECK_FALSE(internal::PackCookie("ż", &packed));
  CHECK_FALSE(internal::PackCookie("a-b", &packed));
  CHECK_FALSE(internal::PackCookie(std::string_view("a\0b", 3), &packed));
  CHECK(packed.empty());  // nothing appended when refused
}

TEST_CASE("raw retention off: export is a clear error, and validated") {
  TempDir dir;
  auto db = OpenOrDie(TestOptions(dir.path()));
  REQUIRE(db->AddTag(MakeTag(kStreamStart, "c1")).ok());
  absl::Status status;
  ExportAll(*db, {kStreamStart, kStreamStart + 1}, &status);
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(std::string(status.message()).find("raw retention is off") != std::string::npos);
  Options bad = RawOptions(dir.Sub("bad"));
  bad.raw_retention_ms = -1;
  CHECK(absl::IsInvalidArgument(Database::Open(bad).status()));
}

TEST_CASE("export: every tag whole, by time then acceptance, across minutes and batches") {
  TempDir dir;
  auto db = OpenOrDie(RawOptions(dir.path()));
  std::vector<UserTag> accepted;
  // Out of order, equal times, odd cookies and string product ids, over three minutes, in
  // many commits so that a minute holds many blocks.
  for (int i = 0; i < 30'000; ++i) {
    const EpochMillis time = kStreamStart + (i * 7919) % (3 * kMillisPerMinute);
    UserTag tag = MakeTag(
        time, i % 3 == 0 ? "cookie " + std::to_string(i % 500) : "C" + std::to_string(i % 1000),
        i % 5 == 0 ? Action::kBuy : Action::kView, i - 15'000, "O" + std::to_string(i % 7));
    tag.device = static_cast<Device>(i % 3);
    if (i % 11 == 0) tag.product_id = std::string("P-") + std::to_string(i);
    accepted.push_back(tag);
  }
  for (size_t i = 0; i < accepted.size(); i += 700) {
    const size_t n = std::min<size_t>(700, accepted.size() - i);
    REQUIRE(db->AddTags(std::span<const UserTag>(accepted.data() + i, n)).ok());
  }
  // Equal times keep acceptance order: a stable sort of what was accepted.
  std::vector<UserTag> expected = accepted;
  std::stable_sort(expected.begin(), expected.end(),
                   [](const UserTag& a, const UserTag& b) { return a.time < b.time; });
  absl::Status status;
  CHECK(ExportAll(*db, {kStreamStart, kStreamStart + kHour}, &status) == expected);
  CHECK(status.ok());

  // A sub-range within minutes.
  const TimeRange range{kStreamStart + 30'000, kStreamStart + 150'001};
  std::vector<UserTag> part;
  for (const UserTag& tag : expected) {
    if (tag.time >= range.begin && tag.time < range.end) part.push_back(tag);
  }
  CHECK(ExportAll(*db, range, &status) == part);

  // The same after the writer merged the small blocks, and after a reopen.
  db.reset();
  db = OpenOrDie(RawOptions(dir.path()));
  REQUIRE(db->AddTag(accepted.back()).ok());  // a round of maintenance
  expected.insert(
      std::upper_bound(expected.begin(), expected.end(), accepted.back(),
                       [](const UserTag& a, const UserTag& b) { return a.time < b.time; }),
      accepted.back());
  CHECK(ExportAll(*db, {kStreamStart, kStreamStart + kHour}, &status) == expected);
  CHECK(status.ok());

  // A sink's error stops the export and is returned.
  int calls = 0;
  status = db->ExportTags({kStreamStart, kStreamStart + kHour}, [&](std::span<const UserTagView>) {
    ++calls;
    return absl::CancelledError("client went away");
  });
  CHECK(absl::IsCancelled(status));
  CHECK(calls == 1);
  CHECK(ExportAll(*db, {kStreamStart + 1, kStreamStart}, &status).empty());
  CHECK(absl::IsInvalidArgument(status));
}

TEST_CASE("trimmed by event time; a range before what is kept names the earliest time") {
  TempDir dir;
  auto db = OpenOrDie(RawOptions(dir.path()));
  absl::StatusOr<EpochMillis> earliest = db->EarliestRawTime();
  REQUIRE(earliest.ok());
  CHECK(*earliest == kMinTime);
  for (int minute = 0; minute < 5 * 60; minute += 10) {
    REQUIRE(db->AddTag(MakeTag(kStreamStart + minute * kMillisPerMinute, "c")).ok());
  }
  // Newest 04:50; kept from the minute of 02:50 on. Maintenance runs after the commit.
  const EpochMillis newest = kStreamStart + 290 * kMillisPerMinute;
  for (int i = 0; i < 100 && db->EarliestRawTime().value_or(0) != newest - 2 * kHour; ++i) {
    REQUIRE(db->AddTag(MakeTag(newest, "d")).ok());
  }
  CHECK(db->EarliestRawTime().value_or(0) == newest - 2 * kHour);
  absl::Status status;
  ExportAll(*db, {newest - 2 * kHour - 1, newest}, &status);
  CHECK(absl::IsInvalidArgument(status));
  CHECK(std::string(status.message()).find("2022-03-01T02:50:00.000Z") != std::string::npos);
  std::vector<UserTag> kept = ExportAll(*db, {newest - 2 * kHour, newest + 1}, &status);
  REQUIRE(status.ok());
  CHECK(kept.front().time == newest - 2 * kHour);
  CHECK(std::count_if(kept.begin(), kept.end(), [](const UserTag& t) { return t.cookie == "c"; }) ==
        13);
  // A late tag older than what is kept is accepted (profiles, aggregates) but not kept raw.
  REQUIRE(db->AddTag(MakeTag(kStreamStart, "late")).ok());
  std::vector<UserTag> after = ExportAll(*db, {newest - 2 * kHour, newest + 1}, &status);
  CHECK(after.size() == kept.size());
}

TEST_CASE("turning raw retention on keeps tags from then on; off drops them") {
  TempDir dir;
  {
    auto db = OpenOrDie(TestOptions(dir.path()));
    REQUIRE(db->AddTag(MakeTag(kStreamStart + 1000, "before")).ok());
  }
  {
    auto db = OpenOrDie(RawOptions(dir.path()));
    CHECK(db->EarliestRawTime().value_or(0) == kStreamStart + 1001);
    REQUIRE(db->AddTag(MakeTag(kStreamStart + 2000, "after")).ok());
    absl::Status status;
    std::vector<UserTag> tags = ExportAll(*db, {kStreamStart + 1001, kStreamStart + 5000}, &status);
    REQUIRE(tags.size() == 1);
    CHECK(tags[0].cookie == "after");
    ExportAll(*db, {kStreamStart, kStreamStart + 5000}, &status);
    CHECK(absl::IsInvalidArgument(status));
  }
  { auto db = OpenOrDie(TestOptions(dir.path())); }
  auto db = OpenOrDie(RawOptions(dir.path()));
  CHECK(db->EarliestRawTime().value_or(0) == kStreamStart + 2001);
}

TEST_CASE("raw bytes per tag of a stream-like minute stay under 40") {
  // Realistic strings: 20-character cookies, ids of a few hundred values.
  std::vector<UserTag> tags;
  for (int i = 0; i < 6000; ++i) {
    UserTag tag = MakeTag(kStreamStart + i, "", Action::kView, 100 + i % 5000);
    for (int c = 0; c < 20; ++c)
      tag.cookie.push_back("abcdefghijKLMNOPQRST0123456789"[(i * 7 + c * 13) % 30]);
    tag.product_id = int64_t{100000 + i % 90000};
    tags.push_back(tag);
  }
  std::string tails;
  std::vector<size_t> ends;
  internal::TagIds ids{3, 700, 200, 60};
  for (const UserTag& tag : tags) {
    internal::AppendRawTail(tag, ids, &tails);
    ends.push_back(tails.size());
  }
  std::vector<internal::RawEntry> entries;
  for (size_t i = 0, at = 0; i < tags.size(); at = ends[i], ++i) {
    entries.push_back({tags[i].time, i + 1, std::string_view(tails).substr(at, ends[i] - at)});
  }
  std::string block;
  internal::EncodeRawBlock(kStreamStart, 1, entries, &block);
  CHECK(block.size() / tags.size() < 40);
  std::vector<internal::RawEntry> decoded;
  REQUIRE(internal::DecodeRawBlock(kStreamStart, 1, block, &decoded).ok());
  REQUIRE(decoded.size() == entries.size());
  CHECK(decoded.back().sequence == entries.back().sequence);
  CHECK(decoded.back().tail == entries.back().tail);
  // Damage is reported, never read past.
  CHECK(absl::IsDataLoss(
      internal::DecodeRawBlock(kStreamStart, 1, block.substr(0, block.size() / 2), &decoded)));
}

}  // namespace
}  // namespace allezon

namespace allezon {
namespace {

TEST_CASE("NDJSON batches: all tags or the first bad line; a limit on their number") {
  const std::string good =
      R"({"time":"2022-03-01T00:00:01Z","cookie":"a","country":"PL","device":"PC","action":"VIEW","origin":"O","product_info":{"product_id":1,"brand_id":"B","category_id":"C","price":5}})";
  std::vector<UserTag> tags{testing::MakeTag(1, "kept")};
  CHECK(ParseUserTagLines(good + "\n\r\n" + good + "\r\n", 10, &tags).ok());
  CHECK(tags.size() == 3);
  absl::Status status = ParseUserTagLines(good + "\n\n" + "{\"time\":1}\n" + good, 10, &tags);
  CHECK(absl::IsInvalidArgument(status));
  CHECK(std::string(status.message()).rfind("line 3: ", 0) == 0);
  CHECK(tags.size() == 3);  // unchanged
  status = ParseUserTagLines(good + "\n" + good + "\n" + good, 2, &tags);
  CHECK(absl::IsOutOfRange(status));
  CHECK(std::string(status.message()) == "more than 2 tags");
  CHECK(tags.size() == 3);
  CHECK(ParseUserTagLines("", 0, &tags).ok());
}

TEST_CASE("CSV rows quote what RFC 4180 needs") {
  UserTag tag = testing::MakeTag(testing::kStreamStart + 5, "a\"b", Action::kBuy, -7, "O,1");
  tag.product_id = std::string("x\ny");
  std::string row;
  AppendUserTagCsv(ViewOf(tag), &row);
  CHECK(row ==
        "2022-03-01T00:00:00.005Z,\"a\"\"b\",PL,PC,BUY,\"O,1\",\"x\ny\",BRAND,CATEGORY,-7\r\n");
  row.clear();
  AppendUserTagLine(ViewOf(tag), &row);
  CHECK(row == UserTagToJson(tag) + "\n");
}

}  // namespace
}  // namespace allezon

namespace allezon {
namespace {

TEST_CASE("raw tags: the file stays flat once the retention window is full") {
  testing::TempDir dir;
  Options options = testing::TestOptions(dir.path());
  options.raw_retention_ms = 10 * kMillisPerMinute;
  options.retention_ms = 10 * kMillisPerMinute;
  options.tuning.aggregate_fold_interval_ms = 0;
  options.sync = false;
  auto db = testing::OpenOrDie(options);
  std::vector<UserTag> batch;
  uint64_t used_at_50 = 0;  // the window is full (and LMDB's free list settled)
  for (int minute = 0; minute < 90; ++minute) {
    for (int part = 0; part < 6; ++part) {
      batch.clear();
      for (int i = 0; i < 500; ++i) {
        batch.push_back(testing::MakeTag(
            testing::kStreamStart + minute * kMillisPerMinute + part * 10'000 + i * 20,
            "cookie" + std::to_string(i % 50)));
      }
      REQUIRE(db->AddTags(batch).ok());
    }
    if (minute == 50) used_at_50 = db->Stats().map_used;
  }
  const uint64_t used_at_90 = db->Stats().map_used;
  INFO("map used at 50 minutes " << used_at_50 << ", at 90 " << used_at_90);
  CHECK(used_at_90 <= used_at_50 * 21 / 20);  // measured: equal
  CHECK(db->EarliestRawTime().value_or(0) >= testing::kStreamStart + 79 * kMillisPerMinute);
}

}  // namespace
}  // namespace allezon
