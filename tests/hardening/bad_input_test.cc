// Hostile and broken input (SPEC §7, issue 7): every case is a 4xx with a JSON error body or a
// clean close, never a 5xx or a crash; the server keeps answering and the victim's data does
// not change.
#include <string>
#include <vector>

#include "hardening.h"

namespace allezon_hardening {
namespace {

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

std::string Base() { return TagJson("victim", 5000); }

TEST_SUITE("bad_input") {
  TEST_CASE("SPEC §7: unknown path, wrong method, invalid tags and queries") {
    Victim v;
    ExpectRefused(v.http.Get("/nope"), "unknown path");
    CHECK(v.http.Get("/nope").status == 404);
    CHECK(v.http.Get("/user_tags").status == 405);
    CHECK(v.http.Send("DELETE", "/aggregates").status == 405);
    CHECK(v.http.Post("/metrics").status == 405);
    for (const std::string& body :
         {std::string(), std::string("{"), std::string("[]"), std::string("null"),
          Replace(Base(), "\"VIEW\"", "\"CLICK\""), Replace(Base(), "\"PC\"", "\"pc\""),
          Replace(Base(), "\"price\":100", "\"price\":\"100\""),
          Replace(Base(), "2022-03-01T12:00:05.000Z", "2022-02-30T00:00:00Z")}) {
      HttpResponse r = v.http.PostTag(body);
      ExpectRefused(r, body);
      CHECK_MESSAGE(r.status == 400, r.Describe());
    }
    const std::string day = "2022-03-01T12:00:00_2022-03-01T12:05:00";
    for (const std::string& query : std::vector<std::string>{
             "action=VIEW&aggregates=COUNT", "time_range=" + day + "&aggregates=COUNT",
             "time_range=" + day + "&action=VIEW",
             "time_range=" + day + "&action=CLICK&aggregates=COUNT",
             "time_range=" + day + "&action=VIEW&aggregates=AVG",
             "time_range=2022-03-01T12:05:00_2022-03-01T12:00:00&action=VIEW&aggregates=COUNT",
             "time_range=2022-03-01T12:00:30_2022-03-01T12:05:00&action=VIEW&aggregates=COUNT",
             "time_range=" + day + "&time_range=" + day + "&action=VIEW&aggregates=COUNT",
             "time_range=" + day + "&action=VIEW&action=BUY&aggregates=COUNT",
             "time_range=" + day + "&action=VIEW&aggregates=COUNT&origin=a&origin=a",
             "time_range=" + day + "&action=VIEW&aggregates=COUNT&brand_id=%zz",
             "time_range=" + day + "&action=VIEW&aggregates=COUNT%",
             "time_range=garbage&action=VIEW&aggregates=COUNT"}) {
      HttpResponse r = v.http.Aggregates(query);
      ExpectRefused(r, query);
      CHECK_MESSAGE(r.status == 400, query << " -> " << r.Describe());
    }
    for (const char* limit : {"-1", "1.5", "abc", "", "+3", "%203"}) {
      HttpResponse r = v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00", limit);
      CHECK_MESSAGE(r.status == 400, "limit=" << limit << " -> " << r.Describe());
    }
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("invalid UTF-8 and NUL bytes") {
    Victim v;
    for (const std::string& bad :
         {std::string("\xff\xfe"), std::string("\xc3\x28"), std::string("\xed\xa0\x80"),
          std::string("\xf8\x88\x80\x80\x80"), std::string("a\0b", 3)}) {
      HttpResponse r = v.http.PostTag(Replace(Base(), "\"PL\"", "\"" + bad + "\""));
      ExpectRefused(r, "invalid UTF-8 / raw NUL in a string");
      CHECK(r.status == 400);
    }
    // Escapes of lone surrogates decode to bytes that are not UTF-8.
    for (const char* escaped : {"\\udc00", "\\udfff", "\\ud800", "\\ud800\\u0041", "x\\uDDDDy"}) {
      HttpResponse r =
          v.http.PostTag(Replace(Base(), "\"PL\"", std::string("\"") + escaped + "\""));
      ExpectRefused(r, escaped);
      CHECK_MESSAGE(r.status == 400, escaped << " -> " << r.Describe());
      HttpResponse c =
          v.http.PostTag(Replace(Base(), "\"victim\"", std::string("\"") + escaped + "\""));
      CHECK_MESSAGE(c.status == 400, "cookie " << escaped << " -> " << c.Describe());
    }
    // A NUL outside strings, and in the middle of the body.
    ExpectRefused(v.http.PostTag(std::string("{\0}", 3)), "NUL in JSON");
    ExpectRefused(v.http.PostTag(Base() + std::string(1, '\0')), "NUL after JSON");
    // Escaped NUL and invalid UTF-8 in the path are a cookie like any other: never a 5xx.
    for (const char* path :
         {"/user_profiles/%00", "/user_profiles/%FF%FE", "/user_profiles/a%00b"}) {
      HttpResponse r =
          v.http.Post(std::string(path) + "?time_range=2022-03-01T00:00:00_2022-03-02T00:00:00");
      CHECK_MESSAGE((r.status == 200 || (r.status >= 400 && r.status < 500)), r.Describe());
    }
    // Raw NUL and control bytes in the request line and headers.
    ExpectRefused(SendRaw(v.server, std::string("POST /user_tags\0 HTTP/1.1\r\n\r\n", 30)),
                  "NUL in request line");
    ExpectRefused(
        SendRaw(v.server, "GET /healthz HTTP/1.1\r\nX-A: a\x01\x02\x7f\r\nHost: x\r\n\r\n"),
        "control bytes in a header");
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("deeply nested JSON") {
    Victim v;
    const std::string deep_tag = std::string(60000, '[') + std::string(60000, ']');
    ExpectRefused(v.http.PostTag(deep_tag), "tag nested 60000 deep");
    const std::string deep_object = [] {
      std::string s;
      for (int i = 0; i < 20000; ++i) s += "{\"a\":";
      return s + "1" + std::string(20000, '}');
    }();
    ExpectRefused(v.http.PostTag(deep_object), "tag of nested objects");
    // Query bodies are the debug-mode expected answers: a nested one is skipped, not parsed
    // recursively, and the query is still answered.
    const std::string deep_body = std::string(500000, '[') + std::string(500000, ']');
    HttpResponse r = v.http.Profile("victim", "2022-03-01T12:00:00_2022-03-02T00:00:00",
                                    std::nullopt, deep_body);
    CHECK_MESSAGE(r.status == 200, r.Describe());
    HttpResponse a = v.http.Aggregates(
        "time_range=2022-03-01T12:00:00_2022-03-01T12:01:00&action=VIEW&aggregates=COUNT",
        std::string(1000000, '{'));
    CHECK_MESSAGE(a.status == 200, a.Describe());
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("numbers with 400 digits, negative and float prices") {
    Victim v;
    const std::string digits(400, '9');
    for (const std::string& body : {Replace(Base(), "\"price\":100", "\"price\":" + digits),
                                    Replace(Base(), "\"price\":100", "\"price\":-" + digits),
                                    Replace(Base(), "\"price\":100", "\"price\":0." + digits),
                                    Replace(Base(), "\"price\":100", "\"price\":1e400"),
                                    Replace(Base(), "\"price\":100", "\"price\":1.5"),
                                    Replace(Base(), "\"price\":100", "\"price\":100.0"),
                                    Replace(Base(), "\"price\":100", "\"price\":2147483648"),
                                    Replace(Base(), "\"product_id\":1", "\"product_id\":" + digits),
                                    Replace(Base(), "\"2022-03-01T12:00:05.000Z\"", digits)}) {
      HttpResponse r = v.http.PostTag(body);
      ExpectRefused(r, body.substr(0, 200));
      CHECK_MESSAGE(r.status == 400, r.Describe());
    }
    v.ExpectUnchangedAndAlive();
    // A negative price is a valid int32 (README decision): stored, for another cookie.
    Tag negative = MakeTag(kT0, "negative-price");
    negative.price = -2147483648LL;
    HttpResponse r = v.http.PostTag(negative.ToJson());
    CHECK_MESSAGE(r.status == 204, r.Describe());
  }

  TEST_CASE("huge limit and time ranges spanning centuries") {
    Victim v;
    for (const std::string& limit : {std::string("2147483648"), std::string(400, '9')}) {
      HttpResponse r = v.http.Profile("victim", "2022-03-01T00:00:00_2022-03-02T00:00:00", limit);
      REQUIRE_MESSAGE(r.status == 200, r.Describe());
      CHECK(r.body.find("2022-03-01T12:00:01.234Z") != std::string::npos);
    }
    // Profiles: any range of four-digit years.
    HttpResponse p = v.http.Profile("victim", "0001-01-01T00:00:00.000_9999-12-31T23:59:59.999");
    REQUIRE_MESSAGE(p.status == 200, p.Describe());
    CHECK(p.body.find("2022-03-01T12:00:01.234Z") != std::string::npos);
    for (const char* range :
         {"0000-01-01T00:00:00_2022-01-01T00:00:00", "2022-01-01T00:00:00_10000-01-01T00:00:00",
          "-2022-01-01T00:00:00_2022-01-01T00:00:00"}) {
      HttpResponse r = v.http.Profile("victim", range);
      ExpectRefused(r, range);
      CHECK_MESSAGE(r.status == 400, range << " -> " << r.Describe());
    }
    // Aggregates: one row per minute, so ranges over 366 days are refused, not computed.
    for (const char* range :
         {"1900-01-01T00:00:00_2100-01-01T00:00:00", "0001-01-01T00:00:00_9999-12-31T23:59:00",
          "2021-01-01T00:00:00_2022-01-03T00:00:00"}) {
      HttpResponse r =
          v.http.Aggregates(std::string("time_range=") + range + "&action=VIEW&aggregates=COUNT");
      ExpectRefused(r, range);
      CHECK_MESSAGE(r.status == 400, range << " -> " << r.Describe());
    }
    HttpResponse year = v.http.Aggregates(
        "time_range=2021-03-01T00:00:00_2022-03-01T00:00:00&action=VIEW&aggregates=COUNT");
    CHECK_MESSAGE(year.status == 200, year.Describe());
    v.ExpectUnchangedAndAlive();
  }

  TEST_CASE("malformed HTTP") {
    Victim v;
    const std::vector<std::string> requests = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET\r\n\r\n",
        "GET /healthz\r\n\r\n",
        "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n",
        "POST /user_tags HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /user_tags HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST /user_tags HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
        "POST /user_tags HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 400\r\n\r\n{}",
        "POST /user_tags HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        "POST /user_tags HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "ffffffffffffffffffff\r\nxx\r\n0\r\n\r\n",
        "POST /user_tags HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
        "POST /user_tags HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nxxxx",
        "POST /user_tags?%%%=%%% HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "POST /user_profiles/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "POST /user_profiles/x?time_range=%zz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "POST //user_tags/../user_tags HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "\r\n\r\n\r\n\r\n",
        std::string(5000, 'A').append("\r\n\r\n"),  // not `+`: GCC 12 -Warray-bounds misfires
    };
    for (const std::string& request : requests) {
      HttpResponse r = SendRaw(v.server, request, std::chrono::seconds(15));
      ExpectRefused(r, request.substr(0, 120));
    }
    v.ExpectUnchangedAndAlive();
  }
}

}  // namespace
}  // namespace allezon_hardening
