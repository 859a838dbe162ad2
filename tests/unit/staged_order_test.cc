// The staged map's ordered index (lib/src/profile_staging.h) keeps keys in plain byte order
// although it compares an 8-byte integer prefix first: the folding pass's cursor and slice
// bounds are compared as std::string elsewhere, so the two orders must agree exactly.
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
  std::vector<std::string> ordered;
  for (const StagedMap::OrderedKey& entry : map.order()) ordered.emplace_back(entry.key);
  CHECK(ordered == expected);
  // lower_bound agrees with byte order for probes that are not keys.
  for (int i = 0; i < 500; ++i) {
    std::string probe(random() % 12, ' ');
    for (char& c : probe) c = alphabet[random() % alphabet.size()];
    auto it = map.order().lower_bound(StagedMap::Ordered(probe));
    auto want = std::lower_bound(expected.begin(), expected.end(), probe);
    REQUIRE((it == map.order().end()) == (want == expected.end()));
    if (want != expected.end()) CHECK(std::string(it->key) == *want);
  }
  for (const std::string& key : keys) map.Erase(key);
  CHECK(map.order().empty());
}

}  // namespace
}  // namespace allezon::internal
