// The process contract: graceful exit on SIGTERM/SIGINT, and SPEC §3 "a tag answered with 204
// must never be lost, including when the process is killed right after" (kill -9, restart on the
// same data directory).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

void ExpectAll(HttpClient& http, const Model& m, const std::vector<std::string>& cookies) {
  for (const auto& c : cookies) ExpectModelProfile(http, m, c, kAllBegin, kAllEnd, 1000);
  for (const char* action : {"VIEW", "BUY"}) {
    AggregateQuery q;
    q.begin_ms = kT0;
    q.end_ms = kT0 + 5 * kMinute;
    q.action = action;
    q.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(http, m, q);
  }
}

TEST_SUITE("process") {
  TEST_CASE("SIGTERM and SIGINT end the server gracefully with exit code 0") {
    for (int sig : {SIGTERM, SIGINT}) {
      CAPTURE(sig);
      Server s;
      AddTag(s.http, MakeTag(kT0, "bye"));
      ExitInfo info = s.process.SignalAndWait(sig, std::chrono::seconds(5));
      CHECK_MESSAGE(info.exited, "ended by signal " << info.term_signal << "; log:\n"
                                                    << s.process.Log());
      CHECK(info.exit_code == 0);
      CHECK_FALSE(info.needed_sigkill);
    }
  }

  TEST_CASE("a graceful restart keeps every tag, profile and aggregate") {
    Server s;
    Model m;
    for (int i = 0; i < 30; ++i) {
      AddTag(s.http, MakeTag(kT0 + i * 9000, "r" + std::to_string(i % 3), i % 4 ? "VIEW" : "BUY"),
             &m);
    }
    s.process.Restart();
    HttpClient http(s.process);
    ExpectAll(http, m, {"r0", "r1", "r2"});
    // And it keeps accepting.
    AddTag(http, MakeTag(kT0 + 1, "r0"), &m);
    ExpectAll(http, m, {"r0"});
  }

  TEST_CASE("kill -9 right after the 204s loses nothing") {
    Server s;
    Model m;
    for (int round = 0; round < 3; ++round) {
      HttpClient http(s.process);
      for (int i = 0; i < 40; ++i) {
        Tag t = MakeTag(kT0 + round * kMinute + i * 100, "k" + std::to_string(i % 4),
                        i % 5 ? "VIEW" : "BUY");
        t.price = 1000 + i;
        AddTag(http, t, &m);
      }
      ExitInfo info = s.process.Kill();  // immediately after the last 204
      CHECK(info.term_signal == SIGKILL);
      s.process.Start();
      HttpClient after(s.process);
      ExpectAll(after, m, {"k0", "k1", "k2", "k3"});
    }
  }

  TEST_CASE("kill -9 while other clients keep writing: every 204 survives") {
    Server s;
    Model m;
    std::vector<std::thread> writers;
    std::mutex mu;
    std::atomic<bool> stop{false};
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&, w] {
        HttpClient http(s.process);
        for (int i = 0; i < 2000 && !stop.load(); ++i) {
          Tag t = MakeTag(kT0 + i, "w" + std::to_string(w));
          if (http.PostTag(t.ToJson()).status == 204) {
            std::lock_guard<std::mutex> lock(mu);
            m.Add(t);
          } else {
            break;  // the server is gone
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    s.process.Kill();
    stop = true;
    for (auto& t : writers) t.join();
    s.process.Start();
    HttpClient http(s.process);
    // Every tag answered 204 is there (a tag in flight at the kill may or may not be).
    for (int w = 0; w < 3; ++w) {
      const std::string cookie = "w" + std::to_string(w);
      ProfileAnswer acked = m.Profile(cookie, kAllBegin, kAllEnd, 100000);
      HttpResponse r = http.Profile(cookie, ProfileRange(kAllBegin, kAllEnd), "100000");
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      rapidjson::Document d = ParseJson(r.body);
      REQUIRE((d.IsObject() && d.HasMember("views") && d["views"].IsArray()));
      const auto& views = d["views"];
      // The profile keeps the 200 newest: the newest acknowledged ones must all be present.
      size_t expect = std::min<size_t>(acked.views.size(), 200);
      CHECK_MESSAGE(views.Size() >= expect, cookie << ": " << views.Size() << " views after the "
                                                   << "restart, " << acked.views.size()
                                                   << " acknowledged");
      if (views.Size() >= expect && expect > 0) {
        // Newest acknowledged is at or below the newest stored (one unacknowledged may lead).
        std::string newest_acked = FormatTagTime(acked.views.front().ms);
        bool found = false;
        for (const auto& v : views.GetArray()) {
          if (v.IsObject() && v.HasMember("time") && v["time"].IsString() &&
              newest_acked == v["time"].GetString()) {
            found = true;
          }
        }
        CHECK_MESSAGE(
            found, cookie << ": newest acknowledged tag " << newest_acked << " lost in the kill");
      }
    }
  }
}

}  // namespace
}  // namespace allezon_it
