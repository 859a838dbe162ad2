// SPEC §8 through the front door of a real local cluster (3 nats-server, 3 nodes, HAProxy):
// the single-node conformance checks on a stream of tags, read-your-writes of profiles,
// aggregates exact over all partitions, escaped cookies that HAProxy cannot route, the
// analyst queries (SPEC §9) equal to a single-node server's and a 503 when a partition group
// has no owner left; and, under
// load, kill -9 of a node and of a NATS server and a node restarted wiped, after which every
// tag answered 204 is in its profile exactly once and the aggregates equal what the profiles
// hold.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "allezon_test/http.h"
#include "allezon_test/tags.h"
#include "cluster_harness.h"

namespace allezon_cluster_test {
namespace {

using allezon_test::AggregateQuery;
using allezon_test::HttpClient;
using allezon_test::HttpResponse;
using allezon_test::kStreamStart;
using allezon_test::MakeTag;
using allezon_test::Model;
using allezon_test::Tag;

constexpr int64_t kMinute = 60'000;

// The body of a tag, with every "é" of it written as the escape \u00e9, which HAProxy's JSON
// reader decodes wrongly (SCALE-OUT.md): such a tag reaches a node that may not own it.
std::string EscapedBody(const Tag& tag) {
  std::string body = tag.ToJson();
  for (size_t at; (at = body.find("\xC3\xA9")) != std::string::npos;) body.replace(at, 2, "\\u00e9");
  return body;
}

std::vector<std::string> Cookies(int count) {
  std::vector<std::string> cookies = {"a/b \xC3\xA9", "x+y", " ", "quote\"d", "%41",
                                      "semi;colon?q=1", "caf\xC3\xA9-escaped"};
  for (int i = 0; static_cast<int>(cookies.size()) < count; ++i) {
    cookies.push_back("Cookie" + std::to_string(i * 7919 % 100000) + "abcdefghij");
  }
  return cookies;
}

void CheckAggregates(HttpClient& client, const Model& model, int64_t begin, int64_t end) {
  for (const char* action : {"VIEW", "BUY"}) {
    for (int filter = 0; filter < 8; ++filter) {
      AggregateQuery q;
      q.begin_ms = begin;
      q.end_ms = end;
      q.action = action;
      q.aggregates = {"COUNT", "SUM_PRICE"};
      if (filter & 1) q.origin = "ORIGIN_1";
      if (filter & 2) q.brand_id = "BRAND_2";
      if (filter & 4) q.category_id = "CATEGORY_0";
      HttpResponse r = client.Aggregates(q.ToQuery());
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      CHECK_MESSAGE(allezon_test::DiffAggregate(r.body, model.Aggregate(q)) == "", q.ToQuery());
    }
  }
}

Tag StreamTag(int i, const std::string& cookie) {
  Tag t = MakeTag(kStreamStart + i * 97, cookie, i % 4 == 0 ? "BUY" : "VIEW");
  t.origin = "ORIGIN_" + std::to_string(i % 3);
  t.brand_id = "BRAND_" + std::to_string(i % 5);
  t.category_id = "CATEGORY_" + std::to_string(i % 2);
  t.price = 1000 + i;
  if (i % 2 == 0) {
    t.product_id = int64_t{i};
  } else {
    t.product_id = "P" + std::to_string(i);
  }
  return t;
}

// Tags for the analyst queries of SPEC §9, over 43 minutes and the given cookies: an origin
// steady at 3 VIEWs a minute that spikes to 45 in minute 40, one at 20 BUYs a minute in minutes
// 22..37 that then goes silent (drops), and a last tag in minute 42 so that minute 41 has
// ended. Spread over cookies, so every partition group holds about a third: no group alone
// sees the spike or the drop (a third of 45 is not 20 above the median; a third of 20 is no
// drop's median), only their sums do.
std::vector<Tag> AnalystTags(const std::vector<std::string>& cookies) {
  std::vector<Tag> tags;
  const auto add = [&](int minute, int second, const char* origin, const char* action) {
    const int n = static_cast<int>(tags.size());
    Tag t = MakeTag(kStreamStart + minute * kMinute + second * 1000 + 17,
                    cookies[static_cast<size_t>((n * 13 + 5) % static_cast<int>(cookies.size()))],
                    action);
    t.origin = origin;
    t.brand_id = "BRAND_" + std::to_string(n % 4);
    t.category_id = "CATEGORY_" + std::to_string(n % 3);
    t.price = 500 + n % 97;
    t.product_id = "A" + std::to_string(n);
    tags.push_back(t);
  };
  for (int m = 0; m < 40; ++m) {
    for (int k = 0; k < 3; ++k) add(m, k, "STEADY_THEN_SPIKE", "VIEW");
  }
  for (int k = 0; k < 45; ++k) add(40, k, "STEADY_THEN_SPIKE", "VIEW");
  for (int m = 22; m < 38; ++m) {
    for (int k = 0; k < 20; ++k) add(m, k, "BUSY_THEN_SILENT", "BUY");
  }
  add(42, 0, "CLOSER", "VIEW");
  return tags;
}

// Every analyst query worth comparing on those tags: each dimension, action and metric.
std::vector<std::string> AnalystTargets(const std::vector<std::string>& cookies) {
  const std::string hour = "2022-03-01T00:00:00_2022-03-01T01:00:00";
  std::vector<std::string> targets;
  for (const char* dimension : {"origin", "brand_id", "category_id"}) {
    for (const char* action : {"VIEW", "BUY"}) {
      for (const char* metric : {"count", "sum_price"}) {
        targets.push_back(std::string("/top?time_range=") + hour + "&action=" + action +
                          "&dimension=" + dimension + "&metric=" + metric);
      }
    }
    targets.push_back(std::string("/anomalies?time_range=") + hour + "&dimension=" + dimension);
  }
  targets.push_back("/top?time_range=2022-03-01T00:02:00_2022-03-01T00:39:00&action=VIEW"
                    "&dimension=origin&metric=count&limit=1");
  targets.push_back("/top?time_range=" + hour + "&action=BUY&dimension=brand_id&metric=count"
                    "&limit=1000");
  for (const char* action : {"VIEW", "BUY"}) {
    targets.push_back("/anomalies?time_range=" + hour + "&dimension=origin&action=" + action);
  }
  targets.push_back(
      "/anomalies?time_range=2022-03-01T00:38:00_2022-03-01T00:41:00&dimension=origin");
  for (const char* dimension : {"origin", "brand_id", "category_id", "country", "device"}) {
    targets.push_back(std::string("/catalogue?dimension=") + dimension);
  }
  targets.push_back("/catalogue?dimension=origin&new_since=2022-03-01T00:22:00");
  targets.push_back("/catalogue?dimension=origin&silent_since=2022-03-01T00:40:00");
  for (size_t c = 0; c < cookies.size(); c += 3) {
    targets.push_back("/user_sessions/" + allezon_test::UrlEncode(cookies[c]) + "?time_range=" +
                      hour + (c % 2 == 0 ? "" : "&limit=1"));
  }
  return targets;
}

// SPEC §8 "the same API": every analyst answer equals the single-node server's, byte for byte.
void CheckAnalystAnswers(HttpClient& cluster, HttpClient& single,
                         const std::vector<std::string>& targets, const std::string& via) {
  for (const std::string& target : targets) {
    HttpResponse want = single.Get(target);
    REQUIRE_MESSAGE(want.status == 200, target, " ", want.Describe());
    HttpResponse got = cluster.Get(target);
    REQUIRE_MESSAGE(got.status == 200, via, " ", target, " ", got.Describe());
    CHECK_MESSAGE(got.body == want.body, via, " ", target, "\n cluster: ", got.body,
                  "\n single:  ", want.body);
  }
}

TEST_SUITE_BEGIN("front_door");

TEST_CASE("through the front door: stream conformance, read-your-writes, exact aggregates") {
  // Pages of one tag: every export cursor, also past tags of one time, is exercised.
  LocalCluster cluster(3, "--raw-retention-hours 24 --export-page-tags 1");
  HttpClient client("127.0.0.1", cluster.port());
  const std::vector<std::string> cookies = Cookies(60);
  Model model;
  std::vector<Tag> sent;  // for the single-node server the analyst answers are compared with
  constexpr int kTags = 2400;
  for (int i = 0; i < kTags; ++i) {
    const std::string& cookie = cookies[static_cast<size_t>(i * 31 % cookies.size())];
    Tag tag = StreamTag(i, cookie);
    HttpResponse r = client.PostTag(EscapedBody(tag));
    REQUIRE_MESSAGE(r.status == 204, "tag ", i, ": ", r.Describe());
    model.Add(tag);
    sent.push_back(tag);
    if (i % 10 == 0) {  // read-your-writes, also right after an escaped (misrouted) tag
      HttpResponse p = client.Profile(cookie, allezon_test::ProfileRange(kStreamStart, kStreamStart + 3600'000));
      REQUIRE_MESSAGE(p.status == 200, p.Describe());
      CHECK_MESSAGE(allezon_test::DiffProfile(p.body, cookie,
                                              model.Profile(cookie, kStreamStart,
                                                            kStreamStart + 3600'000)) == "",
                    "cookie ", cookie, " after tag ", i);
    }
  }
  for (const std::string& cookie : cookies) {
    HttpResponse p = client.Profile(cookie, allezon_test::ProfileRange(kStreamStart, kStreamStart + 3600'000), "50");
    REQUIRE(p.status == 200);
    CHECK_MESSAGE(allezon_test::DiffProfile(
                      p.body, cookie, model.Profile(cookie, kStreamStart, kStreamStart + 3600'000, 50)) == "",
                  cookie);
  }
  CheckAggregates(client, model, kStreamStart, kStreamStart + 5 * kMinute);

  // Every node answers every cookie and the aggregates, owner or not (a node that does not own
  // a partition forwards the profile query to an owner and sums the other groups' answers).
  std::ifstream file(cluster.dir() + "/cluster.json");
  const std::string cluster_json((std::istreambuf_iterator<char>(file)),
                                 std::istreambuf_iterator<char>());
  rapidjson::Document config = allezon_test::ParseJson(cluster_json);
  REQUIRE(!config.HasParseError());
  for (const auto& node : config["nodes"].GetArray()) {
    const std::string address = node["address"].GetString();
    HttpClient direct(address.substr(0, address.rfind(':')),
                      std::stoi(address.substr(address.rfind(':') + 1)));
    for (size_t c = 0; c < cookies.size(); c += 5) {
      HttpResponse p = direct.Profile(cookies[c], allezon_test::ProfileRange(kStreamStart, kStreamStart + 3600'000), "20");
      REQUIRE_MESSAGE(p.status == 200, address, " ", p.Describe());
      CHECK_MESSAGE(allezon_test::DiffProfile(
                        p.body, cookies[c],
                        model.Profile(cookies[c], kStreamStart, kStreamStart + 3600'000, 20)) == "",
                    address, " ", cookies[c]);
    }
    CheckAggregates(direct, model, kStreamStart, kStreamStart + 5 * kMinute);
  }

  // SPEC §9 through the front door and on every node: the answers of one server holding every
  // tag (the cluster merges its groups' counts, so spikes and drops no group sees alone show).
  {
    const std::vector<Tag> analyst = AnalystTags(cookies);
    // A batch with a bad line stores nothing, not even its good lines (they are analyst tags:
    // stored, they would be counted twice below).
    HttpResponse refused = client.Post(
        "/user_tags/batch", analyst[0].ToJson() + "\n" + analyst[1].ToJson() + "\n{\"time\":1}\n",
        "application/x-ndjson");
    CHECK_MESSAGE(refused.status == 400, refused.Describe());
    CHECK(allezon_test::CheckErrorBody(refused.body) == "");
    CHECK_MESSAGE(refused.body.find("line 3") != std::string::npos, refused.body);
    // The first half in batches of 40 through the front door (any node takes a batch and
    // answers once every tag's owners committed it), the rest one by one.
    const size_t half = analyst.size() / 2;
    for (size_t begin = 0; begin < half; begin += 40) {
      std::string body;
      for (size_t i = begin; i < std::min(half, begin + 40); ++i) body += analyst[i].ToJson() + "\n";
      HttpResponse r = client.Post("/user_tags/batch", body, "application/x-ndjson");
      REQUIRE_MESSAGE(r.status == 204, "analyst batch at ", begin, ": ", r.Describe());
      // Read-your-writes holds for batches too.
      const Tag& last = analyst[std::min(half, begin + 40) - 1];
      HttpResponse p = client.Profile(last.cookie,
                                      "2022-03-01T00:00:00.000_2022-03-01T01:00:00.000", "200");
      REQUIRE(p.status == 200);
      // Analyst tags' product ids ("A<n>") are unique.
      const std::string product = "\"" + std::get<std::string>(last.product_id) + "\"";
      CHECK_MESSAGE(p.body.find(product) != std::string::npos,
                    "batch tag not in its profile: ", last.ToJson(), " ", p.body.substr(0, 300));
    }
    std::atomic<size_t> next{half};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&] {
        HttpClient writer("127.0.0.1", cluster.port());
        for (size_t i; (i = next.fetch_add(1)) < analyst.size();) {
          HttpResponse r = writer.PostTag(analyst[i].ToJson());
          CHECK_MESSAGE(r.status == 204, "analyst tag ", i, ": ", r.Describe());
        }
      });
    }
    for (std::thread& t : writers) t.join();
    sent.insert(sent.end(), analyst.begin(), analyst.end());

    allezon_test::ServerOptions single_options;
    single_options.extra_args = {"--raw-retention-hours", "24"};
    allezon_test::ServerProcess single(single_options);
    HttpClient reference(single);
    std::string batch;
    for (const Tag& tag : sent) batch += tag.ToJson() + "\n";
    HttpResponse stored = reference.Post("/user_tags/batch", batch, "application/x-ndjson");
    REQUIRE_MESSAGE(stored.status == 204, stored.Describe());

    const std::vector<std::string> targets = AnalystTargets(cookies);
    HttpResponse anomalies = reference.Get(
        "/anomalies?time_range=2022-03-01T00:00:00_2022-03-01T01:00:00&dimension=origin");
    REQUIRE(anomalies.status == 200);
    // The comparison is worth something: the spike and the drop are there.
    for (const char* finding :
         {R"("value":"STEADY_THEN_SPIKE","action":"VIEW","observed":45,"expected":3.0,)"
          R"("kind":"spike")",
          R"("value":"BUSY_THEN_SILENT","action":"BUY","observed":0,"expected":20.0,)"
          R"("kind":"drop")"}) {
      CHECK_MESSAGE(anomalies.body.find(finding) != std::string::npos, anomalies.body);
    }
    CheckAnalystAnswers(client, reference, targets, "front door");
    // SPEC §10's export: every group's raw tags merged by time. Tags of one time may come in
    // another order than one server's (it orders them by arrival), so lines are compared
    // sorted; the times must come in order.
    for (const std::string format : {"ndjson", "csv"}) {
      const std::string target =
          "/export?time_range=2022-03-01T00:00:00_2022-03-01T01:00:00&format=" + format;
      HttpResponse merged = client.Get(target), one = reference.Get(target);
      REQUIRE_MESSAGE(merged.status == 200, merged.Describe());
      REQUIRE(one.status == 200);
      const auto lines = [](const std::string& body) {
        std::vector<std::string> out;
        for (size_t at = 0; at < body.size();) {
          const size_t end = body.find('\n', at);
          out.push_back(body.substr(at, end - at));
          at = end == std::string::npos ? body.size() : end + 1;
        }
        return out;
      };
      std::vector<std::string> got = lines(merged.body), want = lines(one.body);
      CHECK(got.size() == sent.size() + (format == "csv" ? 1 : 0));
      // Each line starts with its time (CSV) or holds it as the first field (NDJSON): the
      // merged export is in time order.
      std::vector<std::string> times;
      for (const std::string& line : got) {
        const size_t at = line.find("2022-03-01T");
        if (at != std::string::npos) times.push_back(line.substr(at, 24));
      }
      CHECK(std::is_sorted(times.begin(), times.end()));
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      CHECK_MESSAGE(got == want, format, ": the cluster's export differs from one server's");
    }
    HttpResponse reversed = client.Get("/export?time_range=2022-03-01T01:00:00_2022-03-01T00:00:00");
    CHECK_MESSAGE(reversed.status == 400, reversed.Describe());
    CHECK(allezon_test::CheckErrorBody(reversed.body) == "");
    for (const auto& node : config["nodes"].GetArray()) {
      const std::string address = node["address"].GetString();
      HttpClient direct(address.substr(0, address.rfind(':')),
                        std::stoi(address.substr(address.rfind(':') + 1)));
      CheckAnalystAnswers(direct, reference, targets, address);
    }
  }

  // SPEC §7 through the front door.
  HttpResponse bad = client.PostTag(R"({"time":"nope"})");
  CHECK(bad.status == 400);
  CHECK(allezon_test::CheckErrorBody(bad.body) == "");
  HttpResponse bad_range = client.Aggregates("time_range=2022-03-01T00:05:00_2022-03-01T00:01:00&action=VIEW&aggregates=COUNT");
  CHECK(bad_range.status == 400);
  CHECK(allezon_test::CheckErrorBody(bad_range.body) == "");
  HttpResponse unknown = client.Get("/no/such/path");
  CHECK(unknown.status == 404);
  CHECK(allezon_test::CheckErrorBody(unknown.body) == "");
  HttpResponse bad_top = client.Get("/top?time_range=2022-03-01T00:00:00_2022-03-01T00:00:30"
                                    "&action=VIEW&dimension=origin&metric=count");
  CHECK_MESSAGE(bad_top.status == 400, bad_top.Describe());
  CHECK(allezon_test::CheckErrorBody(bad_top.body) == "");

  // Both owners of the group node1-node2 gone: an answer needing it is a 503 naming it, never
  // a sum that silently misses a third of the partitions.
  CHECK(cluster.Kill("node1") == 0);
  CHECK(cluster.Kill("node2") == 0);
  HttpClient node3("127.0.0.1", cluster.NodePort("node3"));
  for (const std::string target :
       {"/top?time_range=2022-03-01T00:00:00_2022-03-01T01:00:00&action=VIEW&dimension=origin"
        "&metric=count",
        "/catalogue?dimension=origin",
        "/anomalies?time_range=2022-03-01T00:00:00_2022-03-01T01:00:00&dimension=origin"}) {
    HttpResponse r = node3.Get(target);
    CHECK_MESSAGE(r.status == 503, target, " ", r.Describe());
    CHECK(allezon_test::CheckErrorBody(r.body) == "");
    CHECK_MESSAGE(r.body.find("node1-node2") != std::string::npos, r.body);
  }
  // Sessions: a cookie of node3's groups still answers, one of that group is a 503.
  int answered = 0, refused = 0;
  for (const std::string& cookie : cookies) {
    HttpResponse r = node3.Get("/user_sessions/" + allezon_test::UrlEncode(cookie) +
                               "?time_range=2022-03-01T00:00:00_2022-03-01T01:00:00");
    CHECK_MESSAGE((r.status == 200 || r.status == 503), r.Describe());
    (r.status == 200 ? answered : refused) += 1;
    if (r.status == 503) CHECK(r.body.find("no owner of partition") != std::string::npos);
  }
  CHECK(answered > 0);
  CHECK(refused > 0);
}

TEST_SUITE_END();

// Tags answered 204 (known stored) and tags whose request failed (maybe stored), by product id.
struct Ledger {
  std::mutex mu;
  std::map<std::string, Tag> acknowledged;
  std::map<std::string, Tag> uncertain;
};

std::string Key(const Tag& tag) {
  return std::holds_alternative<int64_t>(tag.product_id)
             ? std::to_string(std::get<int64_t>(tag.product_id))
             : std::get<std::string>(tag.product_id);
}

TEST_SUITE_BEGIN("faults");

TEST_CASE("faults under load: node and NATS kills, a wiped node; nothing answered 204 is lost") {
  LocalCluster cluster;
  const std::vector<std::string> cookies = Cookies(240);
  Ledger ledger;
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::vector<std::thread> writers;
  constexpr int kWriters = 4;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpClient client("127.0.0.1", cluster.port());
      // Each writer owns the cookies i ≡ w (mod kWriters): per cookie, one writer in order.
      for (int n = 0; !stop.load() && n < 60'000; ++n) {
        const int i = n * kWriters + w;
        Tag tag = StreamTag(i, cookies[static_cast<size_t>(i % cookies.size())]);
        tag.product_id = std::string("T").append(std::to_string(i));
        HttpResponse r = client.PostTag(tag.ToJson());
        sent.fetch_add(1);
        std::lock_guard lock(ledger.mu);
        (r.status == 204 ? ledger.acknowledged : ledger.uncertain).emplace(Key(tag), tag);
      }
    });
  }
  auto pause = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  pause(1500);
  CHECK(cluster.Kill("node1") == 0);
  pause(2500);
  CHECK(cluster.Start("node1") == 0);
  CHECK(cluster.Kill("nats2") == 0);
  pause(2500);
  CHECK(cluster.Start("nats2") == 0);
  CHECK(cluster.Kill("node2") == 0);
  pause(1000);
  CHECK(cluster.Start("node2", /*wipe=*/true) == 0);
  pause(1500);
  stop = true;
  for (std::thread& t : writers) t.join();
  REQUIRE_MESSAGE(cluster.WaitAllReady(30), "status after the faults");
  // node2 started empty while the other owners of its groups served: it began from their
  // copies (then the log), not from the log alone.
  {
    HttpClient node2("127.0.0.1", cluster.NodePort("node2"));
    HttpResponse status = node2.Get("/cluster/status");
    REQUIRE_MESSAGE(status.status == 200, status.Describe());
    CHECK_MESSAGE(status.body.find("\"rebuilt_from\"") != std::string::npos, status.body);
  }
  MESSAGE("tags sent: ", sent.load(), ", answered 204: ", ledger.acknowledged.size(),
          ", failed: ", ledger.uncertain.size());
  // Enough traffic to have crossed every fault (how much more depends on the machine's load).
  CHECK(ledger.acknowledged.size() > 100);

  // "Correct again within 10 s": after every node is ready again, read everything back.
  HttpClient client("127.0.0.1", cluster.port());
  Model stored;
  std::set<std::string> seen;
  size_t duplicates = 0, phantoms = 0;
  for (const std::string& cookie : cookies) {
    HttpResponse p = client.Profile(cookie, allezon_test::ProfileRange(kStreamStart, kStreamStart + 24 * 3600'000), "1000");
    REQUIRE_MESSAGE(p.status == 200, p.Describe());
    rapidjson::Document doc = allezon_test::ParseJson(p.body);
    REQUIRE(!doc.HasParseError());
    for (const char* list : {"views", "buys"}) {
      for (const auto& t : doc[list].GetArray()) {
        const std::string key = t["product_info"]["product_id"].GetString();
        if (!seen.insert(key).second) ++duplicates;
        auto known = ledger.acknowledged.find(key);
        if (known != ledger.acknowledged.end()) {
          stored.Add(known->second);
        } else if (auto maybe = ledger.uncertain.find(key); maybe != ledger.uncertain.end()) {
          stored.Add(maybe->second);
        } else {
          ++phantoms;
        }
      }
    }
  }
  CHECK(duplicates == 0);  // every log entry applied once, even across kills and a wipe
  CHECK(phantoms == 0);
  size_t lost = 0;
  for (const auto& [key, tag] : ledger.acknowledged) lost += seen.count(key) == 0;
  CHECK_MESSAGE(lost == 0, lost, " tags answered 204 are missing");
  // The aggregates equal what the profiles hold (no cookie reaches the profile cap here).
  CheckAggregates(client, stored, kStreamStart, kStreamStart + ((sent.load() * 97) / kMinute + 2) * kMinute);
}

TEST_CASE("NATS unreachable: tags get 503, queries go on from local data, it heals by itself") {
  LocalCluster cluster;
  HttpClient client("127.0.0.1", cluster.port());
  const std::string range = allezon_test::ProfileRange(kStreamStart, kStreamStart + 3600'000);
  Tag first = StreamTag(0, "before-the-outage");
  REQUIRE(client.PostTag(first.ToJson()).status == 204);
  for (const char* nats : {"nats1", "nats2", "nats3"}) CHECK(cluster.Kill(nats) == 0);

  const auto start = std::chrono::steady_clock::now();
  HttpResponse refused = client.PostTag(StreamTag(1, "during-the-outage").ToJson());
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_MESSAGE(refused.status == 503, refused.Describe());
  CHECK(allezon_test::CheckErrorBody(refused.body) == "");
  CHECK(took < std::chrono::seconds(8));
  HttpResponse profile = client.Profile("before-the-outage", range);
  REQUIRE_MESSAGE(profile.status == 200, profile.Describe());
  Model model;
  model.Add(first);
  CHECK(allezon_test::DiffProfile(profile.body, "before-the-outage",
                                  model.Profile("before-the-outage", kStreamStart,
                                                kStreamStart + 3600'000)) == "");
  CHECK(client.Aggregates("time_range=2022-03-01T00:00:00_2022-03-01T00:01:00&action=BUY&aggregates=COUNT")
            .status == 200);
  CHECK(client.Get("/readyz").status == 200);

  for (const char* nats : {"nats1", "nats2", "nats3"}) CHECK(cluster.Start(nats) == 0);
  Tag after = StreamTag(2, "after-the-outage");
  int status = 0;
  for (int attempt = 0; attempt < 60 && status != 204; ++attempt) {
    status = client.PostTag(after.ToJson()).status;
    if (status != 204) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  REQUIRE_MESSAGE(status == 204, "no 204 within 30 s of NATS coming back");
  Model healed;
  healed.Add(after);
  HttpResponse again = client.Profile("after-the-outage", range);
  REQUIRE(again.status == 200);
  CHECK(allezon_test::DiffProfile(again.body, "after-the-outage",
                                  healed.Profile("after-the-outage", kStreamStart,
                                                 kStreamStart + 3600'000)) == "");
  // Refused while no NATS server was up, so never sent: not stored later either (libnats
  // would have buffered it through the reconnect).
  HttpResponse refused_profile = client.Profile("during-the-outage", range);
  REQUIRE(refused_profile.status == 200);
  CHECK(allezon_test::DiffProfile(refused_profile.body, "during-the-outage",
                                  Model().Profile("during-the-outage", kStreamStart,
                                                  kStreamStart + 3600'000)) == "");
}

TEST_SUITE_END();

}  // namespace
}  // namespace allezon_cluster_test
