// SPEC §7 (with §1-§5's validity rules): every bad input is a 4xx with a JSON {"error": ...}
// body and Content-Type application/json, never a 5xx or a crash, and it changes no stored data
// (checked by comparing everything observable before and after).
#include <functional>
#include <string>
#include <vector>

#include "common.h"

namespace allezon_it {
namespace {

const char* const kVictim = "victim";

Tag BaseTag() {
  Tag t = MakeTag(kT0 + 1234, kVictim, "VIEW");
  t.origin = "O";
  t.brand_id = "B";
  t.category_id = "C";
  t.price = 10;
  return t;
}

// A server holding one VIEW and one BUY of the victim cookie, and the snapshot of that state.
struct Victim {
  Victim() {
    AddTag(s.http, BaseTag());
    Tag buy = BaseTag();
    buy.action = "BUY";
    AddTag(s.http, buy);
    before = Snap();
    REQUIRE_MESSAGE(before.find(FormatTagTime(kT0 + 1234)) != std::string::npos, before);
  }
  std::string Snap() { return Snapshot(s.http, {kVictim, "big-body"}, kT0); }
  void ExpectUnchanged() {
    std::string after = Snap();
    CHECK_MESSAGE(after == before,
                  "stored data changed:\nbefore: " << before.substr(0, 3000)
                                                   << "\nafter:  " << after.substr(0, 3000));
    // And the server still serves good requests.
    AddTag(s.http, MakeTag(kT0, "still-alive"));
  }
  Server s;
  std::string before;
};

// The base tag's JSON with `edit` applied.
std::string Edited(const std::function<void(rapidjson::Document&)>& edit) {
  rapidjson::Document d = ParseJson(BaseTag().ToJson());
  edit(d);
  return ToJson(d);
}

std::string WithField(const std::string& path, const std::string& json_value) {
  rapidjson::Document value = ParseJson(json_value);
  REQUIRE_MESSAGE(!value.HasParseError(), json_value);
  return Edited([&](rapidjson::Document& d) {
    rapidjson::Value* obj = &d;
    std::string name = path;
    if (path.rfind("product_info.", 0) == 0) {
      obj = &d["product_info"];
      name = path.substr(13);
    }
    rapidjson::Value key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()),
                         d.GetAllocator());
    obj->RemoveMember(name.c_str());
    obj->AddMember(key, rapidjson::Value(value, d.GetAllocator()), d.GetAllocator());
  });
}

std::string WithoutField(const std::string& path) {
  return Edited([&](rapidjson::Document& d) {
    if (path.rfind("product_info.", 0) == 0) {
      d["product_info"].RemoveMember(path.substr(13).c_str());
    } else {
      d.RemoveMember(path.c_str());
    }
  });
}

std::vector<std::string> BadTagBodies() {
  std::vector<std::string> bodies = {
      "",
      "not json",
      "{",
      "{}",
      "[]",
      "null",
      "42",
      "\"a string\"",
      "[" + BaseTag().ToJson() + "]",
      BaseTag().ToJson() + "x",
      BaseTag().ToJson().substr(0, 60),
  };
  const std::vector<std::string> fields = {"time",
                                           "cookie",
                                           "country",
                                           "device",
                                           "action",
                                           "origin",
                                           "product_info",
                                           "product_info.product_id",
                                           "product_info.brand_id",
                                           "product_info.category_id",
                                           "product_info.price"};
  for (const auto& f : fields) {
    bodies.push_back(WithoutField(f));
    bodies.push_back(WithField(f, "null"));
    bodies.push_back(WithField(f, "true"));
    bodies.push_back(WithField(f, "[]"));
    bodies.push_back(WithField(f, "{}"));
  }
  // Strings given as numbers (and the product_info object as a string).
  for (const char* f : {"cookie", "country", "device", "action", "origin", "product_info.brand_id",
                        "product_info.category_id"}) {
    bodies.push_back(WithField(f, "1"));
  }
  bodies.push_back(WithField("product_info", "\"x\""));
  // product_id: integer or string only.
  bodies.push_back(WithField("product_info.product_id", "1.5"));
  // price: a JSON integer within int32, nothing else.
  for (const char* v : {"\"12\"", "1.5", "2147483648", "-2147483649", "9223372036854775808", "1e3",
                        "1.0", "\"\""}) {
    bodies.push_back(WithField("product_info.price", v));
  }
  // Enums are exact.
  for (const char* v : {"\"pc\"", "\"PHONE\"", "\"\"", "\" PC\"", "\"PC \"", "\"Mobile\""}) {
    bodies.push_back(WithField("device", v));
  }
  for (const char* v : {"\"view\"", "\"CLICK\"", "\"\"", "\"VIEWS\"", "\"Buy\""}) {
    bodies.push_back(WithField("action", v));
  }
  // Cookie: non-empty, at most 256 bytes.
  std::string z129;  // 129 x U+017C = 258 bytes
  for (int i = 0; i < 129; ++i) z129 += "\xC5\xBC";
  bodies.push_back(WithField("cookie", "\"\""));
  bodies.push_back(WithField("cookie", JsonQuote(std::string(257, 'c'))));
  bodies.push_back(WithField("cookie", JsonQuote(z129)));
  // Any other string over 256 bytes.
  for (const char* f : {"country", "origin", "product_info.brand_id", "product_info.category_id",
                        "product_info.product_id"}) {
    bodies.push_back(WithField(f, JsonQuote(std::string(257, 'x'))));
  }
  // Times that are not times.
  for (const char* v : {"2022-02-30T00:00:00Z",
                        "2022-02-29T12:00:00.000Z",
                        "2022-13-01T00:00:00Z",
                        "2022-00-10T00:00:00Z",
                        "2022-03-00T00:00:00Z",
                        "2022-03-32T00:00:00Z",
                        "2022-04-31T00:00:00.000Z",
                        "2022-03-01T24:00:00Z",
                        "2022-03-01T00:60:00Z",
                        "2022-03-01T00:00:60Z",
                        "2022-03-01T00:00:00",  // no Z
                        "2022-03-01T00:00:00.000",
                        "2022-03-01 00:00:00Z",
                        "2022-03-01T00:00:00.1234567890Z",  // 10 fraction digits
                        "2022-03-01T00:00:00+01:00",
                        "2022-03-01T00:00:00.000+00:00",
                        "2022-03-01",
                        "",
                        "yesterday",
                        "2022-3-1T0:0:0Z",
                        "2022-03-01T00:00:00.12aZ",
                        "2022-03-01T00:00:00ZZ",
                        "2022-03-01T00:00:00Z ",
                        " 2022-03-01T00:00:00Z",
                        "2022-03-01T00:00:00.-1Z"}) {
    bodies.push_back(WithField("time", JsonQuote(v)));
  }
  bodies.push_back(WithField("time", "1646092800000.5"));
  bodies.push_back(WithField("time", "1.6460928e12"));
  return bodies;
}

TEST_SUITE("errors") {
  TEST_CASE("invalid user tags: 400 + JSON error, and nothing stored") {
    Victim v;
    const auto bodies = BadTagBodies();
    for (const auto& body : bodies) {
      HttpResponse r = v.s.http.PostTag(body);
      ExpectError(r, 400, "POST /user_tags " + body);
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("invalid profile queries: 400 + JSON error") {
    Victim v;
    const std::string good = ProfileRange(kT0, kT0 + kMinute);
    std::vector<std::string> targets;
    for (const std::string& range :
         {std::string(""), std::string("garbage"), FormatRangeMs(kT0), FormatRangeMs(kT0) + "_",
          "_" + FormatRangeMs(kT0), ProfileRange(kT0 + 1, kT0),  // begin after end
          ProfileRange(kT0 + kMinute, kT0),
          std::string("2022-02-30T00:00:00.000_2022-03-01T00:00:00.000"),
          std::string("2022-03-01T00:00:00.000_2022-03-01T25:00:00.000"),
          std::string("2022-03-01T00:00:00.000-2022-03-01T01:00:00.000"),
          std::string("2022-03-01_2022-03-02"), FormatRangeMs(kT0) + "_x",
          good + "_" + FormatRangeMs(kT0 + 2 * kMinute)}) {
      targets.push_back("/user_profiles/victim?time_range=" + range);
    }
    targets.push_back("/user_profiles/victim");  // no time_range
    targets.push_back("/user_profiles/victim?limit=5");
    for (const char* limit : {"abc", "-1", "", "1.5", "1e3", "0x10", "5abc", " 5", "-0x1"}) {
      targets.push_back("/user_profiles/victim?time_range=" + good + "&limit=" + UrlEncode(limit));
    }
    // Cookies of more than 256 bytes.
    targets.push_back("/user_profiles/" + std::string(257, 'c') + "?time_range=" + good);
    std::string z129;
    for (int i = 0; i < 129; ++i) z129 += "\xC5\xBC";
    targets.push_back("/user_profiles/" + UrlEncode(z129) + "?time_range=" + good);
    for (const auto& target : targets) {
      ExpectError(v.s.http.Post(target), 400, "POST " + target);
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("invalid aggregates queries: 400 + JSON error") {
    Victim v;
    const std::string good = "time_range=" + SecondsRange(kT0, kT0 + 3 * kMinute);
    const std::string rest = "&action=VIEW&aggregates=COUNT";
    std::vector<std::string> queries = {
        "",
        rest.substr(1),                           // no time_range
        good + "&aggregates=COUNT",               // no action
        good + "&action=VIEW",                    // no aggregates
        good + "&action=CLICK&aggregates=COUNT",  // unknown action
        good + "&action=view&aggregates=COUNT",   //
        good + "&action=&aggregates=COUNT",       //
        good + "&action=VIEW&aggregates=AVG",     // unknown aggregate
        good + "&action=VIEW&aggregates=count",   //
        good + "&action=VIEW&aggregates=",        //
        good + "&action=VIEW&aggregates=COUNT&aggregates=MAX",
        "time_range=" + SecondsRange(kT0 + 30000, kT0 + 3 * kMinute) + rest,  // not whole minutes
        "time_range=" + SecondsRange(kT0, kT0 + 3 * kMinute + 1000) + rest,
        "time_range=" + SecondsRange(kT0 + kMinute, kT0) + rest,     // begin after end
        "time_range=" + SecondsRange(kT0, kT0 + 367 * kDay) + rest,  // longer than 366 days
        "time_range=" + SecondsRange(kT0 - 400 * kDay, kT0) + rest,
        "time_range=2022-02-30T00:00:00_2022-03-01T00:00:00" + rest,  // no such date
        "time_range=garbage" + rest,
        "time_range=" + FormatSeconds(kT0) + rest,
        "time_range=" + FormatSeconds(kT0) + "_" + rest,
        "time_range=2022-03-01T12:00_2022-03-01T12:03" + rest,
    };
    for (const auto& q : queries) {
      ExpectError(v.s.http.Aggregates(q), 400, "POST /aggregates?" + q);
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("unknown paths are 404 + JSON error") {
    Victim v;
    // "/" is the dashboard now: POST there is a 405 (checked in tests/browser).
    for (const char* path : {"/nope", "/user_tag", "/user_tags/extra", "/aggregate",
                             "/user_profile/victim", "/USER_TAGS", "/aggregates/x"}) {
      ExpectError(v.s.http.Post(path, BaseTag().ToJson()), 404, std::string("POST ") + path);
    }
    ExpectError(v.s.http.Get("/nope"), 404, "GET /nope");
    v.ExpectUnchanged();
  }

  TEST_CASE("a wrong method on a known path is 405 + JSON error") {
    Victim v;
    const std::string range = ProfileRange(kT0, kT0 + kMinute);
    const std::string agg = "/aggregates?time_range=" + SecondsRange(kT0, kT0 + kMinute) +
                            "&action=VIEW&aggregates=COUNT";
    const std::vector<std::pair<std::string, std::string>> requests = {
        {"GET", "/user_tags"},
        {"PUT", "/user_tags"},
        {"DELETE", "/user_tags"},
        {"PATCH", "/user_tags"},
        {"GET", "/user_profiles/victim?time_range=" + range},
        {"DELETE", "/user_profiles/victim?time_range=" + range},
        {"PUT", "/user_profiles/victim?time_range=" + range},
        {"GET", agg},
        {"DELETE", agg},
    };
    for (const auto& [method, target] : requests) {
      std::string body = method == "GET" || method == "DELETE" ? "" : BaseTag().ToJson();
      ExpectError(v.s.http.Send(method, target, body), 405, method + " " + target);
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("an oversized body (1 MiB) is 413 + JSON error, and nothing is stored") {
    Victim v;
    // A valid tag but for its size: the padding is an unknown field.
    std::string big = Edited([](rapidjson::Document& d) {
      std::string pad(1 << 20, 'p');
      d.AddMember("padding",
                  rapidjson::Value(pad.c_str(), static_cast<rapidjson::SizeType>(pad.size()),
                                   d.GetAllocator()),
                  d.GetAllocator());
      d["cookie"].SetString("big-body", d.GetAllocator());
    });
    // Over a raw connection: the server may answer as soon as it has the headers (and close),
    // or read the body first; either way the answer must be a 413.
    {
      RawConnection c(v.s.process);
      std::string request = BuildRequest("POST", "/user_tags", big);
      size_t head = request.find("\r\n\r\n") + 4;
      REQUIRE(c.SendAll(request.substr(0, head)));
      HttpResponse r = c.ReadResponse(std::chrono::milliseconds(500));
      if (r.status == 0) {
        c.SendAll(request.substr(head));  // it waits for the body: send it
        r = c.ReadResponse(std::chrono::seconds(10));
      }
      ExpectError(r, 413, "POST /user_tags <valid tag padded to 1 MiB>");
    }
    v.ExpectUnchanged();
    // A fresh connection works afterwards, and the big tag is not there.
    HttpClient fresh(v.s.process);
    ExpectProfile(fresh, "big-body", ProfileRange(kT0, kT0 + kMinute), std::nullopt, "big-body",
                  {});
  }

  TEST_CASE("malformed HTTP does not bring the server down") {
    Victim v;
    for (const char* garbage :
         {"GARBAGE\r\n\r\n", "POST /user_tags HTTP/1.1\r\nContent-Length: x\r\n\r\n",
          "\x01\x02\x03\r\n\r\n"}) {
      RawConnection c(v.s.process);
      REQUIRE(c.SendAll(garbage));
      HttpResponse r = c.ReadResponse(std::chrono::seconds(3));
      INFO("request bytes: " << garbage);
      // Either a 4xx (with a JSON body, §7) or a closed connection; never a 5xx.
      if (r.status != 0) {
        CHECK_MESSAGE((r.status >= 400 && r.status < 500), r.Describe());
        std::string diff = CheckErrorBody(r.body);
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
    // A request whose body is shorter than its Content-Length, then the client goes away.
    {
      RawConnection c(v.s.process);
      std::string req = BuildRequest("POST", "/user_tags", BaseTag().ToJson());
      REQUIRE(c.SendAll(req.substr(0, req.size() - 10)));
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("deeply nested JSON in a tag or a query body is no crash") {
    Victim v;
    // Within the 64 KiB tag limit: an unknown field 30,000 arrays deep.
    std::string deep_tag = BaseTag().ToJson();
    deep_tag.pop_back();
    deep_tag += ",\"x\":" + std::string(30000, '[') + std::string(30000, ']') + "}";
    HttpResponse r = v.s.http.PostTag(deep_tag);
    INFO("request: POST /user_tags <tag with a 30,000-deep unknown field>");
    CHECK_MESSAGE(r.status < 500, r.Describe());
    CHECK_MESSAGE(r.status != 0, r.Describe());
    // A debug-mode body 400,000 arrays deep.
    const std::string deep = std::string(400000, '[') + std::string(400000, ']');
    HttpResponse p =
        v.s.http.Profile(kVictim, ProfileRange(kT0, kT0 + kMinute), std::nullopt, deep);
    INFO("request: POST /user_profiles/victim with a 400,000-deep body");
    CHECK_MESSAGE((p.status == 200 || p.status == 413), p.Describe());
    HttpResponse a = v.s.http.Aggregates(
        "time_range=" + SecondsRange(kT0, kT0 + kMinute) + "&action=VIEW&aggregates=COUNT", deep);
    CHECK_MESSAGE((a.status == 200 || a.status == 413), a.Describe());
    if (r.status == 204) {  // accepted as a valid tag with an ignored field: that is fine too
      v.before = v.Snap();
    }
    v.ExpectUnchanged();
  }

  TEST_CASE("percent-encoding that does not decode is a 4xx, not a crash") {
    Victim v;
    const std::string range = ProfileRange(kT0, kT0 + kMinute);
    for (const char* cookie : {"%", "%zz", "a%2", "%G1"}) {
      HttpResponse r =
          v.s.http.Post(std::string("/user_profiles/") + cookie + "?time_range=" + range);
      INFO("request: POST /user_profiles/" << cookie << "?time_range=" << range);
      // A lenient server may take the bytes literally (200); it must not fail.
      CHECK_MESSAGE((r.status == 200 || r.status == 400 || r.status == 404), r.Describe());
      if (r.status >= 400) {
        std::string diff = CheckErrorBody(r.body);
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
    v.ExpectUnchanged();
  }
}

}  // namespace
}  // namespace allezon_it
