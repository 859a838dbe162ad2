// OwnerPositions decides when a tag may be answered 204: every live owner of its partition
// has applied it (at least one has), with a grace for a lagging owner and a deadline.
#include "owner_positions.h"

#include <doctest/doctest.h>

#include <optional>

namespace allezon::cluster {
namespace {

using Clock = OwnerPositions::Clock;
using namespace std::chrono_literals;

ClusterConfig ThreeNodes() {
  ClusterConfig config;
  config.partitions = 3;
  for (const char* id : {"n1", "n2", "n3"}) config.nodes.push_back({id, "127.0.0.1", 1});
  config.owners = {{0, 1}, {1, 2}, {2, 0}};
  return config;
}

struct Outcome {
  std::optional<absl::Status> status;
  std::function<void(absl::Status)> Callback() {
    return [this](absl::Status s) { status = std::move(s); };
  }
};

TEST_CASE("a tag waits for every live owner, not for a dead one") {
  const ClusterConfig config = ThreeNodes();
  OwnerPositions positions(config, /*self=*/0, {1500ms, /*grace=*/60s});
  positions.SetLocalReady(true);
  const Clock::time_point now = Clock::now();
  positions.PeerReport(1, true, {}, now);  // n2 is live: the secondary of partition 0

  Outcome outcome;
  positions.Wait(0, 10, now + 5s, outcome.Callback());
  CHECK_FALSE(outcome.status);
  positions.LocalApplied(0, 10);  // the primary (this node) has it, the live secondary not yet
  CHECK_FALSE(outcome.status);
  positions.PeerReport(1, true, {{0, 9}}, now);
  CHECK_FALSE(outcome.status);
  positions.PeerReport(1, true, {{0, 10}}, now);
  REQUIRE(outcome.status);
  CHECK(outcome.status->ok());

  // Once n2 falls silent it is no longer waited for.
  Outcome alone;
  positions.Wait(0, 11, now + 5s, alone.Callback());
  positions.LocalApplied(0, 11);
  CHECK_FALSE(alone.status);
  positions.Tick(now + 1600ms);
  REQUIRE(alone.status);
  CHECK(alone.status->ok());
}

TEST_CASE("nobody has it by the deadline: Unavailable; a lagging live owner: grace") {
  const ClusterConfig config = ThreeNodes();
  OwnerPositions positions(config, /*self=*/2, {1500ms, 1000ms});
  positions.SetLocalReady(true);
  const Clock::time_point now = Clock::now();
  positions.PeerReport(0, true, {}, now);
  Outcome late;
  positions.Wait(2, 5, now + 300ms, late.Callback());
  positions.Tick(now + 100ms);
  CHECK_FALSE(late.status);
  positions.Tick(now + 400ms);
  REQUIRE(late.status);
  CHECK(absl::IsUnavailable(*late.status));

  // Partition 2: this node (primary) has it, n1 (secondary) is live but stuck behind.
  Outcome lagging;
  positions.Wait(2, 6, now + 10s, lagging.Callback());
  positions.LocalApplied(2, 6);
  CHECK_FALSE(lagging.status);
  positions.PeerReport(0, true, {{2, 1}}, now + 500ms);
  positions.Tick(now + 600ms);
  CHECK_FALSE(lagging.status);
  positions.PeerReport(0, true, {{2, 1}}, Clock::now() + 1200ms);
  positions.Tick(Clock::now() + 1300ms);
  REQUIRE(lagging.status);
  CHECK(lagging.status->ok());
}

TEST_CASE("a tag this node does not own is answered once an owner applied it") {
  const ClusterConfig config = ThreeNodes();
  OwnerPositions positions(config, /*self=*/0, {1500ms, 1000ms});
  positions.SetLocalReady(true);
  const Clock::time_point now = Clock::now();
  Outcome outcome;
  positions.Wait(1, 3, now + 5s, outcome.Callback());  // partition 1: n2 primary, n3 secondary
  positions.LocalApplied(1, 100);  // not an owner: its position means nothing for partition 1
  CHECK_FALSE(outcome.status);
  // n3 (the secondary) was never heard from, so it is not live: n2 alone decides.
  positions.PeerReport(1, true, {{1, 3}}, now);
  REQUIRE(outcome.status);
  CHECK(outcome.status->ok());
  CHECK(positions.waiting() == 0);
}

}  // namespace
}  // namespace allezon::cluster
