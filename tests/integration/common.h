// Helpers shared by the integration tests: a server with a client, and checks that report the
// request, the expected answer and the answer received.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "allezon_test/http.h"
#include "allezon_test/server_process.h"
#include "allezon_test/tags.h"

namespace allezon_it {

using namespace allezon_test;  // NOLINT: test code

// 2022-03-01T12:00:00.000Z: the base time of most tests.
inline const int64_t kT0 = TimeMs(2022, 3, 1, 12, 0, 0);
// A profile range that holds every test's tags.
inline const int64_t kAllBegin = TimeMs(2000, 1, 1);
inline const int64_t kAllEnd = TimeMs(2100, 1, 1);
// Minute k after kT0.
inline int64_t Min(int k) { return kT0 + k * kMinute; }

// A server on a fresh data directory and a keep-alive client for it.
struct Server {
  explicit Server(ServerOptions options = {}) : process(std::move(options)), http(process) {}
  ServerProcess process;
  HttpClient http;
};

// POSTs `tag`, requires 204 with an empty body, and records it in `model` (if given).
inline void AddTag(HttpClient& http, const Tag& tag, Model* model = nullptr) {
  const std::string json = tag.ToJson();
  HttpResponse r = http.PostTag(json);
  INFO("request: POST /user_tags " << json);
  REQUIRE_MESSAGE(r.status == 204, "want 204, got " << r.Describe());
  CHECK_MESSAGE(r.body.empty(), "204 with a body: " << r.body);
  if (model != nullptr) model->Add(tag);
}

// Checks a profile query answers 200 application/json equal to `want`.
inline void ExpectProfile(HttpClient& http, const std::string& cookie, const std::string& range,
                          std::optional<std::string> limit, const std::string& want_cookie,
                          const ProfileAnswer& want) {
  HttpResponse r = http.Profile(cookie, range, limit);
  INFO("request: POST /user_profiles/" << UrlEncode(cookie) << "?time_range=" << range
                                       << (limit ? "&limit=" + *limit : std::string()));
  INFO("want: " << ProfileJson(want_cookie, want).substr(0, 1500));
  REQUIRE_MESSAGE(r.status == 200, "got " << r.Describe());
  CHECK_MESSAGE(r.MediaType() == "application/json", "Content-Type: " << r.Header("content-type"));
  std::string diff = DiffProfile(r.body, want_cookie, want);
  CHECK_MESSAGE(diff.empty(), diff);
}

// Profile check against the model (range in ms, optional limit).
inline void ExpectModelProfile(HttpClient& http, const Model& model, const std::string& cookie,
                               int64_t begin, int64_t end,
                               std::optional<size_t> limit = std::nullopt) {
  ProfileAnswer want = model.Profile(cookie, begin, end, limit ? *limit : 200);
  ExpectProfile(http, cookie, ProfileRange(begin, end),
                limit ? std::optional<std::string>(std::to_string(*limit)) : std::nullopt, cookie,
                want);
}

// Checks an aggregates query answers 200 application/json equal to the model's answer.
inline void ExpectAggregate(HttpClient& http, const Model& model, const AggregateQuery& q) {
  AggregateAnswer want = model.Aggregate(q);
  const std::string query = q.ToQuery();
  HttpResponse r = http.Aggregates(query);
  INFO("request: POST /aggregates?" << query);
  INFO("want: " << want.ToJson().substr(0, 1500));
  REQUIRE_MESSAGE(r.status == 200, "got " << r.Describe());
  CHECK_MESSAGE(r.MediaType() == "application/json", "Content-Type: " << r.Header("content-type"));
  std::string diff = DiffAggregate(r.body, want);
  CHECK_MESSAGE(diff.empty(), diff);
}

// Checks `r` is `want_status` with Content-Type application/json and a {"error": "..."} body.
inline void ExpectError(const HttpResponse& r, int want_status, const std::string& request) {
  INFO("request: " << request.substr(0, 600));
  CHECK_MESSAGE(r.status == want_status, "want " << want_status << ", got " << r.Describe());
  if (r.status >= 400) {
    CHECK_MESSAGE(r.MediaType() == "application/json",
                  "error Content-Type: \"" << r.Header("content-type") << "\"");
    std::string diff = CheckErrorBody(r.body);
    CHECK_MESSAGE(diff.empty(), diff);
  }
}

// Everything a test can observe about `cookies` (profiles over all time, no limit cap beyond
// int32) and the aggregates of the day holding `day_ms` (both actions, no filter): compared
// before and after bad requests to prove they changed nothing.
inline std::string Snapshot(HttpClient& http, const std::vector<std::string>& cookies,
                            int64_t day_ms) {
  std::string out;
  const std::string all_time = ProfileRange(TimeMs(1970, 1, 2), TimeMs(2100, 1, 1));
  for (const auto& cookie : cookies) {
    HttpResponse r = http.Profile(cookie, all_time, "1000");
    out += std::to_string(r.status) + " " + r.body + "\n";
  }
  const int64_t day = day_ms - day_ms % kDay;
  for (const char* action : {"VIEW", "BUY"}) {
    HttpResponse r =
        http.Aggregates("time_range=" + SecondsRange(day, day + kDay) + "&action=" + action +
                        "&aggregates=COUNT&aggregates=SUM_PRICE");
    out += std::to_string(r.status) + " " + r.body + "\n";
  }
  return out;
}

}  // namespace allezon_it
