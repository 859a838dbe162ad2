// HttpApi's handlers through the router, without a socket: status mapping, query parsing
// errors, JSON error bodies, and a tag stored and read back.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "allezon/database.h"
#include "http_api.h"

namespace allezon::server {
namespace {

struct Api {
  Api() {
    char pattern[] = "/tmp/allezon-server-test-XXXXXX";
    dir = ::mkdtemp(pattern);
    Options options;
    options.data_dir = dir;
    options.sync = false;
    database = *Database::Open(options);
    HttpOptions http;
    http.data_dir = dir;
    api = std::make_unique<HttpApi>(database.get(), &comparator, http);
    api->Register(router);
  }
  ~Api() {
    api.reset();
    database.reset();
    std::filesystem::remove_all(dir);
  }
  HttpResponse Call(std::string method, std::string target, std::string body = "") {
    HttpRequest q;
    q.method = std::move(method);
    q.target = std::move(target);
    q.path = q.target.substr(0, q.target.find('?'));
    q.body = std::move(body);
    q.remote_addr = "127.0.0.1";
    return router.Handle(q);
  }

  std::string dir;
  std::unique_ptr<Database> database;
  DebugComparator comparator;
  HttpRouter router;
  std::unique_ptr<HttpApi> api;
};

const char kTag[] =
    R"({"time":"2022-03-01T12:00:30.000Z","cookie":"c","country":"PL","device":"PC",)"
    R"("action":"VIEW","origin":"o","product_info":{"product_id":1,"brand_id":"b",)"
    R"("category_id":"k","price":10}})";

TEST_CASE("Status -> HTTP: one mapping") {
  CHECK(HttpStatusFor(absl::OkStatus()) == 200);
  CHECK(HttpStatusFor(absl::InvalidArgumentError("x")) == 400);
  CHECK(HttpStatusFor(absl::NotFoundError("x")) == 404);
  CHECK(HttpStatusFor(absl::ResourceExhaustedError("x")) == 503);
  CHECK(HttpStatusFor(absl::UnavailableError("x")) == 503);
  CHECK(HttpStatusFor(absl::InternalError("x")) == 500);
  CHECK(HttpStatusForWrite(absl::OkStatus()) == 204);
  CHECK(HttpStatusForWrite(absl::InvalidArgumentError("x")) == 400);
  CHECK(HttpStatusForWrite(absl::ResourceExhaustedError("x")) == 503);
  CHECK(HttpStatusForWrite(absl::FailedPreconditionError("x")) == 503);
}

TEST_CASE("a tag stored through the router is in its profile and the aggregates") {
  Api a;
  CHECK(a.Call("POST", "/user_tags", kTag).status == 204);
  HttpResponse r =
      a.Call("POST", "/user_profiles/c?time_range=2022-03-01T12:00:00.000_2022-03-01T13:00:00.000");
  CHECK(r.status == 200);
  CHECK(r.body.find("\"cookie\":\"c\"") != std::string::npos);
  r = a.Call("POST",
             "/aggregates/?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&"
             "aggregates=COUNT");
  CHECK(r.status == 200);
  CHECK(r.body.find(R"(["2022-03-01T12:00:00","VIEW","1"])") != std::string::npos);
}

TEST_CASE("bad queries and bodies are 400 with a JSON error") {
  Api a;
  for (const char* target :
       {"/aggregates?action=VIEW&aggregates=COUNT",
        "/aggregates?time_range=x&action=VIEW&aggregates=COUNT",
        "/aggregates?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=LOOK&"
        "aggregates=COUNT",
        "/aggregates?time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&"
        "time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&aggregates=COUNT",
        "/user_profiles/c?time_range=%zz"}) {
    CAPTURE(target);
    const HttpResponse r = a.Call("POST", target);
    CHECK(r.status == 400);
    CHECK(r.content_type == "application/json");
    CHECK(r.body.rfind("{\"error\":", 0) == 0);
  }
  CHECK(a.Call("POST", "/user_tags", "{").status == 400);
  CHECK(a.Call("POST", "/user_tags", std::string(kTag) + std::string(1, '\0')).status == 400);
  CHECK(a.Call("GET", "/user_tags").status == 405);
  CHECK(a.Call("GET", "/healthz").status == 200);
  CHECK(a.Call("GET", "/readyz").status == 200);
}

}  // namespace
}  // namespace allezon::server
