// HttpRouter without a socket: exact and prefix routes, trailing slash, 404/405 with JSON
// bodies and Allow, HEAD from GET, query parameters, a throwing handler, the observer.
#include <doctest/doctest.h>

#include <stdexcept>

#include "http_message.h"

namespace allezon::server {
namespace {

HttpRequest Make(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.path = request.target.substr(0, request.target.find('?'));
  return request;
}

HttpRouter MakeRouter(int* observed) {
  HttpRouter router;
  router.Post("/aggregates", [](const HttpRequest& q, HttpResponse& r) {
    r.set_content("agg:" + q.param("action"), "text/plain");
  });
  router.Post("/user_profiles/*", [](const HttpRequest& q, HttpResponse& r) {
    r.set_content("profile:" + q.path_param, "text/plain");
  });
  router.Get("/healthz",
             [](const HttpRequest&, HttpResponse& r) { r.set_content("ok", "text/plain"); });
  router.Get("/throws", [](const HttpRequest&, HttpResponse&) { throw std::runtime_error("x"); });
  router.Get("/teapot", [](const HttpRequest&, HttpResponse& r) { r.status = 418; });
  router.Post(
      "/admin/backup", [](const HttpRequest&, HttpResponse&) {}, HttpRouter::Dispatch::kWorker);
  router.set_observer([observed](const HttpRequest&, const HttpResponse&) { ++*observed; });
  return router;
}

TEST_CASE("routes, trailing slash, prefix capture and query parameters") {
  int observed = 0;
  HttpRouter router = MakeRouter(&observed);
  HttpRequest q = Make("POST", "/aggregates?action=VIEW&x=%41");
  HttpResponse r = router.Handle(q);
  CHECK(r.status == 200);
  CHECK(r.body == "agg:VIEW");
  CHECK(q.param("x") == "A");
  q = Make("POST", "/aggregates/?action=BUY");
  CHECK(router.Handle(q).body == "agg:BUY");
  q = Make("POST", "/user_profiles/a%20b+c?time_range=x");
  CHECK(router.Handle(q).body == "profile:a b+c");  // '+' is not a space in a path
  q = Make("POST", "/user_profiles/");
  CHECK(router.Handle(q).status == 404);
  CHECK(observed == 4);
}

TEST_CASE("unknown path 404, wrong method 405 with Allow, both JSON") {
  int observed = 0;
  HttpRouter router = MakeRouter(&observed);
  HttpRequest q = Make("GET", "/nope");
  HttpResponse r = router.Handle(q);
  CHECK(r.status == 404);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"error":"no such endpoint"})");
  q = Make("GET", "/aggregates");
  r = router.Handle(q);
  CHECK(r.status == 405);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0] == std::pair<std::string, std::string>("Allow", "POST"));
  CHECK(r.body.find("\"error\"") != std::string::npos);
  q = Make("DELETE", "/healthz");
  CHECK(router.Handle(q).status == 405);
}

TEST_CASE("HEAD is the GET handler without a body; errors get JSON bodies; throws are 500") {
  int observed = 0;
  HttpRouter router = MakeRouter(&observed);
  HttpRequest q = Make("HEAD", "/healthz");
  HttpResponse r = router.Handle(q);
  CHECK(r.status == 200);
  CHECK(r.head_only);
  std::string wire;
  SerializeResponse(r, false, &wire);
  CHECK(wire ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        "Connection: keep-alive\r\n\r\n");
  q = Make("GET", "/throws");
  r = router.Handle(q);
  CHECK(r.status == 500);
  CHECK(r.body == R"({"error":"internal server error"})");
  q = Make("GET", "/teapot");
  r = router.Handle(q);
  CHECK(r.status == 418);
  CHECK(r.content_type == "application/json");
}

TEST_CASE("slow routes are dispatched to the worker") {
  int observed = 0;
  HttpRouter router = MakeRouter(&observed);
  CHECK(router.DispatchOf(Make("POST", "/admin/backup?dir=x")) == HttpRouter::Dispatch::kWorker);
  CHECK(router.DispatchOf(Make("POST", "/aggregates")) == HttpRouter::Dispatch::kLoop);
  CHECK(router.DispatchOf(Make("GET", "/admin/backup")) == HttpRouter::Dispatch::kLoop);
}

TEST_CASE("responses on the wire: 204 and 304 carry no body or length, close is said") {
  HttpResponse r;
  r.status = 204;
  std::string wire;
  SerializeResponse(r, true, &wire);
  CHECK(wire == "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  wire.clear();
  SendError(r, 415, "no gzip");
  SerializeResponse(r, false, &wire);
  CHECK(wire ==
        "HTTP/1.1 415 Unsupported Media Type\r\nContent-Type: application/json\r\n"
        "Content-Length: 19\r\nConnection: keep-alive\r\n\r\n{\"error\":\"no gzip\"}");
}

}  // namespace
}  // namespace allezon::server
