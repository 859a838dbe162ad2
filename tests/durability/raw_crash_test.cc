// SPEC §10 under kill -9: raw tags are written in the transaction of the tags they copy, and a
// POST /user_tags/batch is stored all or none. Writers send single tags and batches while the
// server is killed at random moments; after each restart every acknowledged tag is in the
// export exactly once, every batch is wholly there or wholly absent, and the export holds
// exactly the tags the profiles hold.
#include <signal.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "stream.h"

namespace allezon_dur {
namespace {

struct Request {
  std::vector<std::string> keys;  // product ids of its tags
  bool acked = false;
};

// product_id "w<writer>-<i>": the tag's identity; cookies shared among writers.
Tag RawTag(int writer, int64_t i) {
  Tag t = MakeTag(kT0 + i * 20 + writer, "c" + std::to_string((writer * 7 + i) % 16),
                  i % 3 == 0 ? "BUY" : "VIEW");
  t.product_id = "w" + std::to_string(writer) + "-" + std::to_string(i);
  t.price = static_cast<int64_t>(i % 1000);
  return t;
}

std::string ProductOf(const std::string& line) {
  const size_t at = line.find("\"product_id\":\"");
  if (at == std::string::npos) return "";
  const size_t begin = at + 14;
  return line.substr(begin, line.find('"', begin) - begin);
}

TEST_SUITE("raw") {
  TEST_CASE("kill -9 under single tags and batches: raw tags and batches survive like tags") {
    const uint64_t seed = TestSeed();
    MESSAGE("seed " << seed << " (rerun with ALLEZON_DUR_SEED=" << seed << ")");
    std::mt19937_64 rng(seed);
    ServerOptions options;
    options.profile_cap = 100000;  // every tag stays in its profile
    options.extra_args = {"--raw-retention-hours", "24", "--profile-staging-tags", "64"};
    ServerProcess server(options);
    std::vector<std::vector<Request>> sent(4);  // per writer
    std::vector<int64_t> next(4, 0);
    for (int round = 0; round < 4; ++round) {
      std::atomic<bool> stop{false};
      std::vector<std::thread> writers;
      const int port = server.port();
      for (int w = 0; w < 4; ++w) {
        writers.emplace_back([&, w] {
          HttpClient http("127.0.0.1", port);
          const bool batches = w >= 2;
          while (!stop.load()) {
            Request request;
            std::string body;
            for (int k = 0; k < (batches ? 40 : 1); ++k) {
              Tag t = RawTag(w, next[w]++);
              request.keys.push_back(std::get<std::string>(t.product_id));
              body += t.ToJson() + "\n";
            }
            HttpResponse r = batches ? http.Post("/user_tags/batch", body) : http.PostTag(body);
            request.acked = r.status == 204;
            sent[w].push_back(std::move(request));
            if (r.status != 204) break;  // the server died
          }
        });
      }
      std::this_thread::sleep_for(
          Scaled(std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 450)(rng))));
      CHECK(server.Kill().term_signal == SIGKILL);
      stop = true;
      for (std::thread& t : writers) t.join();
      server.Start();

      // Verify after every restart.
      HttpClient http(server);
      HttpResponse exported =
          http.Get("/export?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00");
      REQUIRE_MESSAGE(exported.status == 200, exported.Describe());
      std::map<std::string, int> in_export;
      std::map<std::string, std::multiset<std::string>> by_cookie;
      for (size_t at = 0; at < exported.body.size();) {
        const size_t eol = exported.body.find('\n', at);
        const std::string line = exported.body.substr(at, eol - at);
        ++in_export[ProductOf(line)];
        const size_t c = line.find("\"cookie\":\"") + 10;
        by_cookie[line.substr(c, line.find('"', c) - c)].insert(ProductOf(line));
        at = eol + 1;
      }
      size_t acked = 0;
      for (const auto& requests : sent) {
        for (const Request& request : requests) {
          size_t present = 0;
          for (const std::string& key : request.keys) {
            const int n = in_export.count(key) ? in_export[key] : 0;
            CHECK_MESSAGE(n <= 1, key << " exported " << n << " times");
            present += n > 0;
          }
          if (request.acked) {
            ++acked;
            CHECK_MESSAGE(present == request.keys.size(), "an acknowledged request lost tags");
          } else {
            CHECK_MESSAGE((present == 0 || present == request.keys.size()),
                          "a batch half stored: " << present << " of " << request.keys.size());
          }
        }
      }
      CHECK(acked > 0);
      // The export holds exactly what the profiles hold.
      for (const auto& [cookie, products] : by_cookie) {
        HttpResponse p = http.Profile(cookie, "2022-03-01T00:00:00.000_2022-03-02T00:00:00.000",
                                      std::string("100000"));
        REQUIRE(p.status == 200);
        std::multiset<std::string> in_profile;
        for (size_t at = p.body.find("\"product_id\":\""); at != std::string::npos;
             at = p.body.find("\"product_id\":\"", at + 1)) {
          in_profile.insert(p.body.substr(at + 14, p.body.find('"', at + 14) - at - 14));
        }
        CHECK_MESSAGE(in_profile == products, cookie);
      }
    }
  }
}

}  // namespace
}  // namespace allezon_dur
