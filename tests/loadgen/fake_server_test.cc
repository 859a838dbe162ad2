// Proves the checker catches wrong answers (issue 3, "Done means"): the driver runs against
// an in-process fake server that answers every query with the expected answer it was sent
// (debug mode), either faithfully, in a different but equivalent form, or with one
// deliberate bug: a dropped tag, an off-by-one range, a missing zero row, an error status.
// The equivalent form must score 100 %; every bug must be scored wrong.
#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>

#include "driver.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::loadgen {
namespace {

enum class Fault {
  kNone,
  kEquivalentForm,  // times without ".000", keys in another order: still correct
  kDropTag,         // a profile loses its oldest view
  kEndInclusive,    // aggregates: the range's end treated as inclusive (one row too many)
  kMissingZeroRow,  // aggregates: buckets without tags left out
  kErrorStatus,     // every 5th profile query answered 500
};

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Rewrites an expected profile into an equivalent one: members in reverse order, and
// "….000Z" times as "…Z".
void MakeEquivalent(rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator) {
  if (value.IsArray()) {
    for (auto& element : value.GetArray()) MakeEquivalent(element, allocator);
  } else if (value.IsObject()) {
    rapidjson::Value reversed(rapidjson::kObjectType);
    for (auto member = value.MemberEnd(); member != value.MemberBegin();) {
      --member;
      MakeEquivalent(member->value, allocator);
      reversed.AddMember(rapidjson::Value(member->name, allocator),
                         rapidjson::Value(member->value, allocator), allocator);
    }
    value = reversed;
  } else if (value.IsString()) {
    std::string text(value.GetString(), value.GetStringLength());
    if (text.size() == 24 && text.compare(19, 5, ".000Z") == 0) {
      text = text.substr(0, 19) + "Z";
      value.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator);
    }
  }
}

class FakeServer {
 public:
  explicit FakeServer(Fault fault) : fault_(fault) {
    // Without it, a two-part answer waits for the client's delayed ACK (~40 ms a query).
    server_.set_tcp_nodelay(true);
    server_.Post("/user_tags", [](const httplib::Request&, httplib::Response& response) {
      response.status = 204;
    });
    server_.Post(R"(/user_profiles/.*)",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   Answer(request.body, /*profile=*/true, response);
                 });
    server_.Post("/aggregates",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   Answer(request.body, /*profile=*/false, response);
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void Answer(const std::string& expected, bool profile, httplib::Response& response) {
    rapidjson::Document document;
    document.Parse(expected.c_str(), expected.size());
    if (document.HasParseError()) {  // the driver always sends its expectation
      response.status = 400;
      return;
    }
    auto& allocator = document.GetAllocator();
    if (profile) {
      if (fault_ == Fault::kErrorStatus && ++profile_count_ % 5 == 0) {
        response.status = 500;
        response.set_content(R"({"error":"injected"})", "application/json");
        return;
      }
      if (fault_ == Fault::kEquivalentForm) MakeEquivalent(document, allocator);
      if (fault_ == Fault::kDropTag && !document["views"].Empty()) document["views"].PopBack();
    } else {
      rapidjson::Value& rows = document["rows"];
      if (fault_ == Fault::kEndInclusive) {
        rapidjson::Value extra(rows[rows.Size() - 1], allocator);
        rows.PushBack(extra, allocator);
      }
      if (fault_ == Fault::kMissingZeroRow) {
        rapidjson::Value kept(rapidjson::kArrayType);
        for (auto& row : rows.GetArray()) {
          const std::string last(row[row.Size() - 1].GetString());
          if (last != "0") kept.PushBack(rapidjson::Value(row, allocator), allocator);
        }
        rows = kept;
      }
    }
    response.set_content(Serialize(document), "application/json");
  }

  Fault fault_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> profile_count_{0};
};

RunReport RunAgainst(Fault fault) {
  FakeServer server(fault);
  REQUIRE(server.port() > 0);
  DriverOptions options;
  options.port = server.port();
  options.stream.seed = 5;
  options.stream.cookie_population = 2'000;  // 4 heavy cookies over the profile cap
  options.stream.time_step_ms = 20;          // 5,000 tags span 100 s: aggregates have data
  options.max_tags = 5'000;
  options.throughput = 0;
  options.profile_latency_ns = 0;
  options.connections = 4;
  Driver driver(options);
  std::string error;
  REQUIRE(driver.Run(&error));
  return driver.report();
}

TEST_CASE("checker: a faithful server scores 20000") {
  const RunReport report = RunAgainst(Fault::kNone);
  CHECK(report.tags.correct + report.tags.late == 5'000);
  CHECK(report.profiles.correct + report.profiles.late == 500);
  CHECK(report.aggregates.correct + report.aggregates.late == 5);
  CHECK(report.profiles.wrong == 0);
  CHECK(report.samples.empty());
  CHECK(report.progress_percent == 100.0);
}

TEST_CASE("checker: an equivalent answer (times without .000, other key order) is correct") {
  const RunReport report = RunAgainst(Fault::kEquivalentForm);
  CHECK(report.profiles.wrong == 0);
  CHECK(report.profiles.failed == 0);
  CHECK(report.profiles.answered() == 500);
}

TEST_CASE("checker: a dropped tag is wrong") {
  const RunReport report = RunAgainst(Fault::kDropTag);
  CHECK(report.profiles.wrong > 50);
  CHECK(report.profiles.correct > 0);  // answers with no views were not touched
  CHECK(report.aggregates.wrong == 0);
  CHECK(report.score() < 20'000);
  REQUIRE_FALSE(report.samples.empty());
  CHECK(report.samples[0].endpoint == "user_profiles");
  CHECK(report.samples[0].problem.find("$.views: expected") != std::string::npos);
}

TEST_CASE("checker: an off-by-one range end is wrong") {
  const RunReport report = RunAgainst(Fault::kEndInclusive);
  CHECK(report.aggregates.wrong == 5);
  CHECK(report.aggregates.correct == 0);
  CHECK(report.profiles.wrong == 0);
  CHECK(report.aggregate_score() == 0.0);
}

TEST_CASE("checker: a missing zero row is wrong") {
  const RunReport report = RunAgainst(Fault::kMissingZeroRow);
  CHECK(report.aggregates.wrong > 0);
  CHECK(report.aggregate_score() < 100.0);
}

TEST_CASE("checker: error statuses count as failed") {
  const RunReport report = RunAgainst(Fault::kErrorStatus);
  CHECK(report.profiles.failed == 100);
  CHECK(report.profile_score() == doctest::Approx(80.0));
  bool sample_found = false;
  for (const Sample& sample : report.samples) {
    sample_found |= sample.problem.find("HTTP 500") != std::string::npos;
  }
  CHECK(sample_found);
}

}  // namespace
}  // namespace allezon::loadgen
