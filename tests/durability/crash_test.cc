// SPEC §3 "a tag answered with 204 must never be lost, including when the process is killed
// right after", under load: kill -9 at random moments while 8 connections stream, restart on the
// same data directory, and check every 204 is stored (profile and aggregates, once) and every
// unanswered tag is either wholly stored or wholly absent. And graceful stops (SIGTERM/SIGINT)
// under load: exit 0 within a few seconds, nothing acknowledged lost.
#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "stream.h"

namespace allezon_dur {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kCap = 5000;

ServerOptions CrashOptions() {
  ServerOptions o;
  o.profile_cap = kCap;  // every tag sent stays in its profile, so each is checkable
  return o;
}

TEST_SUITE("crash") {
  TEST_CASE("kill -9 at random moments under load: every 204 survives, nothing is half stored") {
    const uint64_t seed = TestSeed();
    MESSAGE("seed " << seed << " (rerun with ALLEZON_DUR_SEED=" << seed << ")");
    std::mt19937_64 rng(seed);
    ServerOptions options = CrashOptions();
    // A small staging budget: staged profile tags are folded into their lists at nearly every
    // commit and the profile log is trimmed often, so the kills land mid-fold and mid-trim and
    // each restart rebuilds a staged set that is part folded, part not.
    options.extra_args = {"--profile-staging-tags", "64"};
    ServerProcess server(options);
    Endpoint endpoint;
    StreamShape shape;
    shape.writers = 8;
    shape.cookies_per_writer = 8;
    // 1 s of event time per writer tag: the stream crosses several minutes, so crashes hit
    // while minutes are being folded from the log into blocks (fold delay 60 s of event time).
    shape.step_ms = 1000;
    shape.max_tags_per_writer = 6000;
    Stream stream(shape, &endpoint);
    endpoint.Publish(server.port());
    stream.Start();

    constexpr int kKills = 6;
    int kills = 0;
    for (; kills < kKills && !stream.Finished(); ++kills) {
      // Random moments: mostly while the stream is in full flow, sometimes right after start
      // (log replay, writers reconnecting).
      const int64_t wait_ms = std::uniform_int_distribution<int64_t>(0, 4)(rng) == 0
                                  ? std::uniform_int_distribution<int64_t>(0, 30)(rng)
                                  : std::uniform_int_distribution<int64_t>(100, 500)(rng);
      const int64_t before = stream.Acked();
      // Scaled (TimeScale(), e.g. under TSan) so that about as many requests flow between kills
      // as in a normal build.
      const auto wait = Scaled(std::chrono::milliseconds(wait_ms));
      std::this_thread::sleep_for(wait);
      ExitInfo info = server.Kill();
      REQUIRE_MESSAGE(info.term_signal == SIGKILL, "the server was not running; log:\n"
                                                       << server.Log());
      MESSAGE("kill " << kills + 1 << " after " << wait.count() << " ms, "
                      << stream.Acked() - before << " acks since the previous start");
      server.Start();
      endpoint.Publish(server.port());
    }
    CHECK(kills == kKills);
    std::this_thread::sleep_for(Scaled(std::chrono::milliseconds(200)));
    stream.Stop();
    // One more crash with nothing in flight, so the final state is the replayed one.
    server.KillAndRestart();

    const std::vector<Sent> sent = stream.Results();
    const Tally count = Count(sent);
    CHECK_MESSAGE(count.errors == 0, count.errors << " requests got an answer other than 204");
    CHECK(count.acked > 1000);  // the test streamed for real
    CHECK(count.unknown >= 1);  // and the kills hit requests in flight
    HttpClient http(server);
    Tally t = VerifyAcked(http, sent, kCap);
    MESSAGE(Describe(t));
  }

  TEST_CASE("SIGTERM and SIGINT under load: exit 0 within seconds, every 204 kept") {
    ServerProcess server(CrashOptions());
    Endpoint endpoint;
    StreamShape shape;
    shape.writers = 8;
    shape.step_ms = 20;
    shape.max_tags_per_writer = 6000;
    Stream stream(shape, &endpoint);
    endpoint.Publish(server.port());
    stream.Start();
    for (int sig : {SIGTERM, SIGINT}) {
      CAPTURE(sig);
      const int64_t before = stream.Acked();
      stream.WaitAcked(before + 500);
      REQUIRE_MESSAGE(stream.Acked() >= before + 500, "the stream does not flow");
      const auto t0 = Clock::now();
      const auto limit = Scaled(std::chrono::seconds(5));
      ExitInfo info = server.SignalAndWait(sig, limit);
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
      MESSAGE("signal " << sig << ": exited after " << ms << " ms");
      CHECK_MESSAGE(info.exited, "ended by signal " << info.term_signal << "; log:\n"
                                                    << server.Log());
      CHECK(info.exit_code == 0);
      CHECK_FALSE(info.needed_sigkill);
      CHECK(ms < limit.count());
      server.Start();
      endpoint.Publish(server.port());
    }
    stream.WaitAcked(stream.Acked() + 200);
    stream.Stop();
    ExitInfo info = server.Stop();
    CHECK((info.exited && info.exit_code == 0));
    server.Start();
    const std::vector<Sent> sent = stream.Results();
    const Tally count = Count(sent);
    CHECK_MESSAGE(count.errors == 0, count.errors << " requests got an answer other than 204/503");
    HttpClient http(server);
    Tally t = VerifyAcked(http, sent, kCap);
    MESSAGE(Describe(t));
  }
}

}  // namespace
}  // namespace allezon_dur
