// The stored list encoding (lib/src/profile_record.h): what the fold writes, the query walk
// reads back field for field, and a record cut short is reported as damaged.
#include "profile_record.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace allezon::internal {
namespace {

struct Entry {
  int64_t time;
  UserTag tag;
  TagIds ids;
  std::string body;
};

std::vector<Entry> SampleEntries() {
  std::mt19937_64 random(5);
  std::vector<Entry> entries;
  int64_t time = 1'700'000'000'000;
  for (int i = 0; i < 300; ++i) {
    Entry e;
    // Newest first: equal times, small and very large gaps.
    time -= (i % 7 == 0) ? 0 : static_cast<int64_t>(random() % (i % 3 == 0 ? 100 : 10'000'000'000));
    e.time = time;
    e.tag.device = static_cast<Device>(i % 3);
    if (i % 11 == 0) {
      e.tag.product_id = std::string(static_cast<size_t>(i % 40), 'p');
    } else {
      const auto number = static_cast<int64_t>(random() >> (random() % 64));
      e.tag.product_id = i % 2 ? number : ~number;
    }
    e.tag.price = static_cast<int32_t>(random()) >> (random() % 31);
    e.ids = {static_cast<uint32_t>(random() % 200), static_cast<uint32_t>(random() % 100'000),
             static_cast<uint32_t>(random() % 300), static_cast<uint32_t>(random() >> 40)};
    AppendBody(e.tag, e.ids, &e.body);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string Encode(const std::vector<Entry>& entries) {
  std::vector<RecordEntry> added;
  for (const Entry& e : entries) added.push_back({e.time, e.body});
  return EncodeMergedRecord(/*merged_seq=*/42, {}, added, entries.size());
}

TEST_CASE("a walk gives back every entry's time, fields and encoded body") {
  const std::vector<Entry> entries = SampleEntries();
  const std::string record = Encode(entries);
  size_t i = 0;
  absl::Status walked = WalkRecord(record, [&](int64_t time, ByteReader& reader) {
    const char* start = reader.position();
    const DecodedBody body = ReadBody(reader);
    const std::string_view encoded(start, static_cast<size_t>(reader.position() - start));
    const Entry& e = entries[i++];
    CHECK(time == e.time);
    CHECK(encoded == e.body);
    CHECK(body.device() == e.tag.device);
    CHECK(body.ids.country == e.ids.country);
    CHECK(body.ids.origin == e.ids.origin);
    CHECK(body.ids.brand == e.ids.brand);
    CHECK(body.ids.category == e.ids.category);
    CHECK(body.price == e.tag.price);
    if (const auto* text = std::get_if<std::string>(&e.tag.product_id)) {
      CHECK(body.product_is_text());
      CHECK(body.product_text == *text);
    } else {
      CHECK_FALSE(body.product_is_text());
      CHECK(body.product_number == std::get<int64_t>(e.tag.product_id));
    }
    return true;
  });
  CHECK(walked.ok());
  CHECK(i == entries.size());
}

TEST_CASE("a record cut anywhere is DataLoss, and the entries before the cut are intact") {
  const std::vector<Entry> entries = SampleEntries();
  const std::string record = Encode(entries);
  for (size_t length = 0; length < record.size(); ++length) {
    // A copy of exactly `length` bytes, so reading past it is caught by ASan.
    const std::string cut = record.substr(0, length);
    std::vector<std::pair<int64_t, std::string>> visited;
    absl::Status walked = WalkRecord(cut, [&](int64_t time, ByteReader& reader) {
      visited.emplace_back(time, std::string(SkipBody(reader)));
      return true;
    });
    REQUIRE(absl::IsDataLoss(walked));
    REQUIRE(visited.size() <= entries.size());
    // The entry the cut falls in may have been visited half read; every one before it is
    // whole.
    for (size_t i = 0; i + 1 < visited.size(); ++i) {
      REQUIRE(visited[i].first == entries[i].time);
      REQUIRE(visited[i].second == entries[i].body);
    }
  }
}

}  // namespace
}  // namespace allezon::internal
