// RetryIds: a failed tag's retry reuses its Msg-Id, and only while it should.
#include "retry_ids.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace allezon::cluster {
namespace {

using std::chrono::milliseconds;
using Clock = RetryIds::Clock;

TEST_CASE("a remembered line answers its id until it expires") {
  RetryIds ids({milliseconds(1000), 100});
  const Clock::time_point t0 = Clock::now();
  CHECK_FALSE(ids.Find("a\n", t0).has_value());
  ids.Remember("a\n", "node1-x-7", t0);
  REQUIRE(ids.Find("a\n", t0 + milliseconds(999)).has_value());
  CHECK(*ids.Find("a\n", t0 + milliseconds(999)) == "node1-x-7");
  CHECK_FALSE(ids.Find("a \n", t0).has_value());  // whole lines, byte for byte
  CHECK_FALSE(ids.Find("a\n", t0 + milliseconds(1000)).has_value());
  CHECK(ids.size() == 0);
}

TEST_CASE("a forgotten line is a new tag; remembering again renews the id") {
  RetryIds ids({milliseconds(1000), 100});
  const Clock::time_point t0 = Clock::now();
  ids.Remember("a\n", "id-1", t0);
  ids.Forget("a\n");
  CHECK_FALSE(ids.Find("a\n", t0).has_value());
  ids.Remember("a\n", "id-2", t0);
  ids.Remember("a\n", "id-3", t0 + milliseconds(500));
  // The first record's expiry must not take the renewed entry with it.
  REQUIRE(ids.Find("a\n", t0 + milliseconds(1200)).has_value());
  CHECK(*ids.Find("a\n", t0 + milliseconds(1200)) == "id-3");
  CHECK_FALSE(ids.Find("a\n", t0 + milliseconds(1500)).has_value());
}

TEST_CASE("memory is bounded: the oldest entries go first") {
  RetryIds ids({milliseconds(100'000), 3});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 5; ++i) {
    ids.Remember(std::to_string(i), "id-" + std::to_string(i), t0 + milliseconds(i));
  }
  CHECK(ids.size() == 3);
  CHECK_FALSE(ids.Find("0", t0 + milliseconds(10)).has_value());
  CHECK_FALSE(ids.Find("1", t0 + milliseconds(10)).has_value());
  CHECK(ids.Find("4", t0 + milliseconds(10)).value_or("") == "id-4");
  // Churn of forgotten entries: the first one evicted "2" to make room, then none.
  for (int i = 0; i < 10'000; ++i) {
    ids.Remember("x", "id", t0 + milliseconds(20));
    ids.Forget("x");
  }
  CHECK(ids.size() == 2);
  CHECK(ids.Find("3", t0 + milliseconds(30)).value_or("") == "id-3");
  CHECK(ids.Find("4", t0 + milliseconds(30)).value_or("") == "id-4");
}

TEST_CASE("memory is bounded in bytes too: a batch's entries hold many lines") {
  RetryIds ids({milliseconds(100'000), 1000, 10'000});
  const Clock::time_point t0 = Clock::now();
  const std::string big(4'000, 'x');
  for (int i = 0; i < 4; ++i) {
    ids.Remember(std::to_string(i) + big, "id-" + std::to_string(i), t0 + milliseconds(i));
  }
  CHECK(ids.size() == 2);  // 2 x 4,001 bytes fit in 10,000; the oldest two went
  CHECK_FALSE(ids.Find("0" + big, t0 + milliseconds(10)).has_value());
  CHECK_FALSE(ids.Find("1" + big, t0 + milliseconds(10)).has_value());
  CHECK(ids.Find("3" + big, t0 + milliseconds(10)).value_or("") == "id-3");
  // Remembering a line again does not count its bytes twice; forgetting returns them.
  ids.Remember("3" + big, "id-3b", t0 + milliseconds(11));
  CHECK(ids.size() == 2);
  CHECK(ids.Find("2" + big, t0 + milliseconds(12)).value_or("") == "id-2");
  ids.Forget("2" + big);
  ids.Remember("5" + big, "id-5", t0 + milliseconds(13));
  CHECK(ids.size() == 2);
  CHECK(ids.Find("3" + big, t0 + milliseconds(14)).value_or("") == "id-3b");
}

}  // namespace
}  // namespace allezon::cluster
