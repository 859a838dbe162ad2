// HTTP behaviour the testing platform relies on: keep-alive without a request limit, query
// bodies (debug-mode expected answers) read so the connection stays usable, answer headers,
// concurrent clients, visibility right after the 204.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

std::string ProfileTarget(const std::string& cookie, int64_t b, int64_t e) {
  return "/user_profiles/" + UrlEncode(cookie) + "?time_range=" + ProfileRange(b, e);
}

TEST_SUITE("http") {
  TEST_CASE("60 mixed requests on one keep-alive connection all succeed") {
    Server s;
    Model m;
    RawConnection c(s.process);
    for (int i = 0; i < 20; ++i) {
      Tag t = MakeTag(kT0 + i * 1000, "ka", i % 4 == 3 ? "BUY" : "VIEW");
      m.Add(t);
      HttpResponse r = c.RoundTrip("POST", "/user_tags", t.ToJson());
      INFO("request " << 3 * i << ": POST /user_tags " << t.ToJson());
      REQUIRE_MESSAGE(r.status == 204, r.Describe());
      CHECK(r.Header("connection") != "close");

      HttpResponse p = c.RoundTrip("POST", ProfileTarget("ka", kAllBegin, kAllEnd));
      INFO("request " << 3 * i + 1 << ": profile");
      REQUIRE_MESSAGE(p.status == 200, p.Describe());
      std::string diff = DiffProfile(p.body, "ka", m.Profile("ka", kAllBegin, kAllEnd));
      CHECK_MESSAGE(diff.empty(), diff);
      CHECK(p.Header("connection") != "close");

      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + kMinute;
      q.aggregates = {"COUNT", "SUM_PRICE"};
      HttpResponse a = c.RoundTrip("POST", "/aggregates?" + q.ToQuery());
      INFO("request " << 3 * i + 2 << ": POST /aggregates?" << q.ToQuery());
      REQUIRE_MESSAGE(a.status == 200, a.Describe());
      diff = DiffAggregate(a.body, m.Aggregate(q));
      CHECK_MESSAGE(diff.empty(), diff);
      CHECK(a.Header("connection") != "close");
    }
    CHECK_FALSE(c.PeerClosed());
  }

  TEST_CASE("query bodies (debug-mode expected answers) are read; the connection stays usable") {
    Server s;
    Model m;
    RawConnection c(s.process);
    for (int round = 0; round < 6; ++round) {
      Tag t = MakeTag(kT0 + round, "dbg", round % 2 ? "BUY" : "VIEW");
      m.Add(t);
      HttpResponse r = c.RoundTrip("POST", "/user_tags", t.ToJson());
      INFO("round " << round);
      REQUIRE_MESSAGE(r.status == 204, r.Describe());

      // The body is the answer the platform expects: right in even rounds, wrong in odd ones
      // (the server answers with its own result either way).
      ProfileAnswer want = m.Profile("dbg", kAllBegin, kAllEnd);
      std::string body = round % 2 ? ProfileJson("dbg", {}) : ProfileJson("dbg", want);
      HttpResponse p = c.RoundTrip("POST", ProfileTarget("dbg", kAllBegin, kAllEnd), body);
      INFO("profile query with body " << body);
      REQUIRE_MESSAGE(p.status == 200, p.Describe());
      std::string diff = DiffProfile(p.body, "dbg", want);
      CHECK_MESSAGE(diff.empty(), diff);

      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + 10 * kMinute;
      q.aggregates = {"SUM_PRICE", "COUNT"};
      AggregateAnswer want_a = m.Aggregate(q);
      std::string abody = round % 2 ? "{\"columns\":[],\"rows\":[]}" : want_a.ToJson();
      HttpResponse a = c.RoundTrip("POST", "/aggregates?" + q.ToQuery(), abody);
      INFO("aggregates query with body " << abody);
      REQUIRE_MESSAGE(a.status == 200, a.Describe());
      diff = DiffAggregate(a.body, want_a);
      CHECK_MESSAGE(diff.empty(), diff);
    }
    CHECK_FALSE(c.PeerClosed());
  }

  TEST_CASE("a full profile's debug body (~150 KB: 200 views + 200 buys) is accepted") {
    // The testing platform sends the expected answer as the body of every profile query; for a
    // cookie with 200 VIEWs and 200 BUYs of realistic size that is far over 64 KiB.
    Server s;
    Model m;
    for (int i = 0; i < 200; ++i) {
      for (const char* action : {"VIEW", "BUY"}) {
        Tag t = MakeTag(kT0 + i, "Q2w3E4r5T6y7U8i9O0pA", action);
        t.origin = "CAMPAIGN_" + std::to_string(i % 37) + "_SPRING_PROMO_WOMEN_SHOES";
        t.brand_id = "Brand_" + std::to_string(i % 11);
        t.category_id = "CATEGORY_" + std::to_string(i % 5);
        t.product_id = int64_t{100000 + i};
        t.price = 1999 + i;
        AddTag(s.http, t, &m);
      }
    }
    ProfileAnswer want = m.Profile("Q2w3E4r5T6y7U8i9O0pA", kAllBegin, kAllEnd);
    std::string body = ProfileJson("Q2w3E4r5T6y7U8i9O0pA", want);
    // Pretty-printed, as some platforms send it: grows it further.
    std::string padded;
    for (char ch : body) {
      padded += ch;
      if (ch == ',') padded += "\n    ";
    }
    CHECK(padded.size() > 100 * 1024);
    RawConnection c(s.process);
    HttpResponse p =
        c.RoundTrip("POST", ProfileTarget("Q2w3E4r5T6y7U8i9O0pA", kAllBegin, kAllEnd), padded);
    INFO("profile query with a " << padded.size() << "-byte debug body");
    REQUIRE_MESSAGE(p.status == 200, p.Describe());
    std::string diff = DiffProfile(p.body, "Q2w3E4r5T6y7U8i9O0pA", want);
    CHECK_MESSAGE(diff.empty(), diff);
    HttpResponse again = c.RoundTrip("POST", "/user_tags", MakeTag(kT0, "after").ToJson());
    CHECK_MESSAGE(again.status == 204, again.Describe());
  }

  TEST_CASE("answer headers: 204 without body, JSON with Content-Type application/json") {
    Server s;
    RawConnection c(s.process);
    HttpResponse r = c.RoundTrip("POST", "/user_tags", MakeTag(kT0, "hdr").ToJson());
    REQUIRE_MESSAGE(r.status == 204, r.Describe());
    CHECK(r.body.empty());
    CHECK((r.Header("content-length").empty() || r.Header("content-length") == "0"));
    HttpResponse p = c.RoundTrip("POST", ProfileTarget("hdr", kAllBegin, kAllEnd));
    REQUIRE_MESSAGE(p.status == 200, p.Describe());
    CHECK(p.MediaType() == "application/json");
    HttpResponse a =
        c.RoundTrip("POST", "/aggregates?time_range=" + SecondsRange(kT0, kT0 + kMinute) +
                                "&action=VIEW&aggregates=COUNT");
    REQUIRE_MESSAGE(a.status == 200, a.Describe());
    CHECK(a.MediaType() == "application/json");
    HttpResponse e = c.RoundTrip("POST", "/user_tags", "{}");
    CHECK(e.status == 400);
    CHECK(e.MediaType() == "application/json");
    // A 4xx does not cost the connection.
    HttpResponse after = c.RoundTrip("POST", "/user_tags", MakeTag(kT0 + 1, "hdr").ToJson());
    CHECK_MESSAGE(after.status == 204, after.Describe());
  }

  TEST_CASE("a tag is visible to profiles and aggregates as soon as its 204 arrives") {
    Server s;
    Model m;
    HttpClient reader(s.process);  // a second connection
    for (int i = 0; i < 40; ++i) {
      Tag t = MakeTag(kT0 + (i * 7919) % 120000, "now", i % 3 ? "VIEW" : "BUY");
      AddTag(s.http, t, &m);
      ExpectModelProfile(reader, m, "now", kAllBegin, kAllEnd);
      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + 2 * kMinute;
      q.action = t.action;
      q.aggregates = {"COUNT", "SUM_PRICE"};
      ExpectAggregate(reader, m, q);
    }
  }

  TEST_CASE("concurrent clients: every 204'd tag is stored exactly once") {
    Server s;
    constexpr int kThreads = 6;
    constexpr int kPerThread = 40;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < kThreads; ++th) {
      threads.emplace_back([&, th] {
        HttpClient http(s.process);
        for (int i = 0; i < kPerThread; ++i) {
          Tag t = MakeTag(kT0 + th * 1000 + i, "conc-" + std::to_string(th), "VIEW");
          t.price = th + 1;
          if (http.PostTag(t.ToJson()).status != 204) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    REQUIRE(failures.load() == 0);
    Model m;
    for (int th = 0; th < kThreads; ++th) {
      for (int i = 0; i < kPerThread; ++i) {
        Tag t = MakeTag(kT0 + th * 1000 + i, "conc-" + std::to_string(th), "VIEW");
        t.price = th + 1;
        m.Add(t);
      }
    }
    for (int th = 0; th < kThreads; ++th) {
      ExpectModelProfile(s.http, m, "conc-" + std::to_string(th), kAllBegin, kAllEnd);
    }
    AggregateQuery q;
    q.begin_ms = kT0;
    q.end_ms = kT0 + kMinute;
    q.aggregates = {"COUNT", "SUM_PRICE"};
    ExpectAggregate(s.http, m, q);
  }

  TEST_CASE("many connections at once are all served") {
    Server s;
    AddTag(s.http, MakeTag(kT0, "many-conn"));
    // More connections than a small thread pool: all open and idle-then-used.
    std::vector<std::unique_ptr<RawConnection>> conns;
    for (int i = 0; i < 24; ++i) conns.push_back(std::make_unique<RawConnection>(s.process));
    int ok = 0;
    for (size_t i = 0; i < conns.size(); ++i) {
      REQUIRE(
          conns[i]->SendAll(BuildRequest("POST", ProfileTarget("many-conn", kAllBegin, kAllEnd))));
      HttpResponse r = conns[i]->ReadResponse(std::chrono::seconds(3));
      if (r.status != 200) {
        FAIL_CHECK("connection " << i << " of " << conns.size()
                                 << " (all open at once) was not served: " << r.Describe());
        break;
      }
      ++ok;
    }
    CHECK(ok == 24);
  }

  TEST_CASE("pipelined requests are all answered, in order") {
    Server s;
    Model m;
    RawConnection c(s.process);
    std::string burst;
    for (int i = 0; i < 10; ++i) {
      Tag t = MakeTag(kT0 + i, "pipe");
      m.Add(t);
      burst += BuildRequest("POST", "/user_tags", t.ToJson());
    }
    burst += BuildRequest("POST", ProfileTarget("pipe", kAllBegin, kAllEnd), "{\"debug\":1}");
    burst += BuildRequest("POST", "/user_tags", "{}");
    burst += BuildRequest("POST", ProfileTarget("pipe", kAllBegin, kAllEnd));
    REQUIRE(c.SendAll(burst));
    for (int i = 0; i < 10; ++i) {
      HttpResponse r = c.ReadResponse(std::chrono::seconds(5));
      REQUIRE_MESSAGE(r.status == 204, "pipelined tag " << i << ": " << r.Describe());
    }
    for (int k = 0; k < 3; ++k) {
      HttpResponse r = c.ReadResponse(std::chrono::seconds(5));
      if (k == 1) {
        CHECK_MESSAGE(r.status == 400, r.Describe());
        continue;
      }
      REQUIRE_MESSAGE(r.status == 200, "pipelined profile query: " << r.Describe());
      std::string diff = DiffProfile(r.body, "pipe", m.Profile("pipe", kAllBegin, kAllEnd));
      CHECK_MESSAGE(diff.empty(), diff);
    }
  }

  TEST_CASE("a tag sent with chunked transfer encoding or a charset parameter is accepted") {
    Server s;
    Model m;
    RawConnection c(s.process);
    Tag t = MakeTag(kT0, "chunky");
    m.Add(t);
    const std::string json = t.ToJson();
    std::string req =
        "POST /user_tags HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (size_t pos = 0; pos < json.size(); pos += 50) {
      std::string part = json.substr(pos, 50);
      char size[16];
      std::snprintf(size, sizeof(size), "%zx", part.size());
      req += std::string(size) + "\r\n" + part + "\r\n";
    }
    req += "0\r\n\r\n";
    REQUIRE(c.SendAll(req));
    HttpResponse r = c.ReadResponse();
    CHECK_MESSAGE(r.status == 204, "chunked tag: " << r.Describe());
    Tag u = MakeTag(kT0 + 1, "chunky");
    m.Add(u);
    HttpResponse r2 = s.http.Post("/user_tags", u.ToJson(), "application/json; charset=utf-8");
    CHECK_MESSAGE(r2.status == 204, "charset tag: " << r2.Describe());
    ExpectModelProfile(s.http, m, "chunky", kAllBegin, kAllEnd);
  }

  TEST_CASE("a query body is never read as parameters, whatever its Content-Type") {
    // Clients that do not set a Content-Type often send application/x-www-form-urlencoded
    // (curl -d, Java's HttpURLConnection): the body is still only a debug-mode answer.
    Server s;
    Model m;
    for (int i = 0; i < 5; ++i) AddTag(s.http, MakeTag(kT0 + i, "form", "VIEW"), &m);
    const std::string range = ProfileRange(kAllBegin, kAllEnd);
    const ProfileAnswer all = m.Profile("form", kAllBegin, kAllEnd);
    const std::string form = "application/x-www-form-urlencoded";
    {
      HttpResponse r = s.http.Post("/user_profiles/form?time_range=" + range, "limit=1", form);
      INFO("request: POST /user_profiles/form?time_range=" << range << " with form body limit=1");
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      std::string diff = DiffProfile(r.body, "form", all);
      CHECK_MESSAGE(diff.empty(), diff);
    }
    {
      AggregateQuery q;
      q.begin_ms = kT0;
      q.end_ms = kT0 + kMinute;
      const std::string body = "aggregates=SUM_PRICE&origin=zz&action=BUY";
      HttpResponse r = s.http.Aggregates(q.ToQuery(), body);  // as JSON: fine
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      r = s.http.Post("/aggregates?" + q.ToQuery(), body, form);
      INFO("request: POST /aggregates?" << q.ToQuery() << " with form body " << body);
      CHECK_MESSAGE(r.status == 200, r.Describe());
      if (r.status == 200) {
        std::string diff = DiffAggregate(r.body, m.Aggregate(q));
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
    // A large debug body (100 KB) under other content types is read and ignored, not a 413.
    const std::string big = ProfileJson("form", all) + std::string(100000, ' ');
    for (const std::string content_type :
         {"application/json", "text/plain", "application/octet-stream",
          "application/x-www-form-urlencoded"}) {
      HttpResponse r = s.http.Post("/user_profiles/form?time_range=" + range, big, content_type);
      INFO("request: POST /user_profiles/form?time_range="
           << range << " with a " << big.size() << "-byte body, Content-Type " << content_type);
      CHECK_MESSAGE(r.status == 200, r.Describe());
      if (r.status == 200) {
        std::string diff = DiffProfile(r.body, "form", all);
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
  }
}

}  // namespace
}  // namespace allezon_it
