// The staged map's sorted entries (lib/src/profile_staging.h) come in plain byte order
// although the sort compares an 8-byte integer prefix first: the folding pass walks keys in
// the profiles table's order, so its page writes stay local.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "profile_staging.h"

using namespace std::string_literals;  // NOLINT: test code

namespace allezon::internal {
namespace {

TEST_CASE("the prefix-first order is byte order, for short keys, zero bytes and high bytes") {
  std::mt19937 random(7);
  std::vector<std::string> keys = {"",
                                   "a",
                                   "a\0"s,
                                   "a\0\0b"s,
                                   "ab",
                                   "abcdefgh",
                                   "abcdefgh\0"s,
                                   "abcdefghi",
                                   "abcdefgg\xff",
                                   "\xff",
                                   "\x80\x01",
                                   "b"};
  const std::string alphabet(
      "\0\x01"
      "abAB09\x7f\x80\xfe\xff",
      12);
  for (int i = 0; i < 5000; ++i) {
    std::string key(random() % 12, ' ');
    for (char& c : key) c = alphabet[random() % alphabet.size()];
    keys.push_back(key);
  }
  StagedMap map;
  for (const std::string& key : keys) map.GetOrAdd(key);
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  // Every key was added since the map began: TakeAdded holds them all, once each.
  std::vector<StagedMap::Entry*> added = map.TakeAdded();
  CHECK(added.size() == map.size());
  CHECK(map.TakeAdded().empty());
  const std::vector<StagedMap::OrderedEntry> sorted = StagedMap::Sorted(std::move(added));
  std::vector<std::string> ordered;
  for (const StagedMap::OrderedEntry& entry : sorted) ordered.push_back(entry.entry->first);
  CHECK(ordered == expected);
  // The entries are the map's own: a value written through one is what Find returns.
  for (const StagedMap::OrderedEntry& entry : sorted) entry.entry->second = entry.entry->first;
  for (const std::string& key : expected) CHECK(*map.Find(key) == key);
  for (const std::string& key : keys) map.Erase(key);
  CHECK(map.empty());
}

}  // namespace
}  // namespace allezon::internal
