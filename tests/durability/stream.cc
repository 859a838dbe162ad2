#include "stream.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

namespace allezon_dur {

using Clock = std::chrono::steady_clock;

Tag StreamTag(const StreamShape& shape, int writer, int64_t index) {
  const int64_t i = index;
  Tag t = MakeTag(kT0 + i * shape.step_ms + writer,
                  "w" + std::to_string(writer) + "c" + std::to_string(i % shape.cookies_per_writer),
                  i % 3 == 1 ? "VIEW" : (i % 3 == 2 ? "BUY" : "VIEW"));
  t.country = i % 2 ? "PL" : "DE";
  t.device = (i / 2) % 3 == 0 ? "PC" : ((i / 2) % 3 == 1 ? "MOBILE" : "TV");
  t.origin = "ORIGIN_" + std::to_string(writer);
  t.brand_id = "Brand" + std::to_string((i / 7) % 4);
  t.category_id = "Cat" + std::to_string((i / 5) % 5);
  t.price = 1 + static_cast<int64_t>((static_cast<uint64_t>(writer) * 1000003u +
                                      static_cast<uint64_t>(i)) * 7919u % 1000000u);
  if (shape.product_bytes > 0) {
    std::string id = "p" + std::to_string(writer) + "-" + std::to_string(i) + "-";
    if (id.size() < shape.product_bytes) id.append(shape.product_bytes - id.size(), 'x');
    t.product_id = id;
  } else {
    t.product_id = int64_t{writer} * 100'000'000 + i;
  }
  return t;
}

namespace {

std::string KeyOf(const Tag& t) {
  if (const auto* n = std::get_if<int64_t>(&t.product_id)) return std::to_string(*n);
  return std::get<std::string>(t.product_id);
}

}  // namespace

// --- Endpoint ---------------------------------------------------------------------------------

void Endpoint::Publish(int port) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    port_ = port;
    ++epoch_;
  }
  cv_.notify_all();
}

int Endpoint::AwaitNewer(uint64_t* epoch, const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  // A writer whose connection broke while its server lives on (not a kill) reconnects to the
  // same server after a while; a killed server is normally replaced well within that time.
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (!stop.load() && epoch_ <= *epoch) {
    if (epoch_ > 0 && Clock::now() > deadline) break;
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
  if (stop.load()) return 0;
  *epoch = epoch_;
  return port_;
}

// --- Stream -----------------------------------------------------------------------------------

Stream::Stream(StreamShape shape, Endpoint* endpoint)
    : shape_(shape),
      endpoint_(endpoint),
      sent_(static_cast<size_t>(shape.writers)),
      progress_(new std::atomic<int64_t>[static_cast<size_t>(shape.writers)]) {
  for (int i = 0; i < shape.writers; ++i) progress_[static_cast<size_t>(i)] = 0;
}

Stream::~Stream() { Stop(); }

void Stream::Start() {
  running_ = shape_.writers;
  for (int slot = 0; slot < shape_.writers; ++slot) threads_.emplace_back([this, slot] { Run(slot); });
}

void Stream::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_ = true;
  for (auto& t : threads_) t.join();
}

bool Stream::Finished() const { return running_.load() == 0; }

std::vector<int64_t> Stream::Progress() const {
  std::vector<int64_t> out;
  for (int i = 0; i < shape_.writers; ++i) out.push_back(progress_[static_cast<size_t>(i)].load());
  return out;
}

void Stream::WaitAcked(int64_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + Scaled(timeout);
  while (acked_.load() < n && !Finished() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::vector<Sent> Stream::Results() const {
  std::vector<Sent> all;
  for (const auto& v : sent_) all.insert(all.end(), v.begin(), v.end());
  return all;
}

void Stream::Run(int slot) {
  const int w = shape_.first_writer + slot;
  std::vector<Sent>& out = sent_[static_cast<size_t>(slot)];
  uint64_t epoch = 0;
  int64_t i = 0;
  bool done = false;
  while (!done && !stop_.load() && i < shape_.max_tags_per_writer) {
    const int port = endpoint_->AwaitNewer(&epoch, stop_);
    if (port == 0) break;
    HttpClient http("127.0.0.1", port);
    while (!stop_.load() && i < shape_.max_tags_per_writer) {
      Sent s;
      s.tag = StreamTag(shape_, w, i);
      s.key = KeyOf(s.tag);
      s.writer = w;
      s.index = i;
      HttpResponse r = http.PostTag(s.tag.ToJson());
      s.status = r.status;
      if (r.status == 204) {
        s.outcome = Outcome::kAcked;
      } else if (r.status == 0) {
        s.outcome = Outcome::kUnknown;
      } else if (r.status == 503 && CheckErrorBody(r.body).empty()) {
        s.outcome = Outcome::kRejected;
      } else {
        s.outcome = Outcome::kError;
      }
      out.push_back(std::move(s));
      if (r.status == 204) acked_.fetch_add(1);
      progress_[static_cast<size_t>(slot)].store(++i);
      if (r.status == 0) break;  // the server is gone: wait for the next one
      if (r.status == 503) {
        saw_503_ = true;
        if (shape_.stop_on_503) {
          done = true;
          break;
        }
      }
    }
  }
  running_.fetch_sub(1);
}

// --- Verification -----------------------------------------------------------------------------

Tally Count(const std::vector<Sent>& sent) {
  Tally t;
  for (const Sent& s : sent) {
    switch (s.outcome) {
      case Outcome::kAcked: ++t.acked; break;
      case Outcome::kUnknown: ++t.unknown; break;
      case Outcome::kRejected: ++t.rejected; break;
      case Outcome::kError: ++t.errors; break;
    }
  }
  return t;
}

std::string Describe(const Tally& t) {
  std::ostringstream o;
  o << t.acked << " acked, " << t.unknown << " unanswered (" << t.unknown_present
    << " of them stored), " << t.rejected << " rejected (503), " << t.errors
    << " other answers; " << t.present << " stored";
  return o.str();
}

namespace {

// The aggregates answer for `tags` (O(tags + buckets)).
AggregateAnswer Expected(const std::vector<const Tag*>& tags, const AggregateQuery& q) {
  AggregateAnswer a;
  a.columns = {q.bucket + "_bucket", "action"};
  if (q.origin) a.columns.push_back("origin");
  if (q.brand_id) a.columns.push_back("brand_id");
  if (q.category_id) a.columns.push_back("category_id");
  for (const auto& name : q.aggregates) a.columns.push_back(name == "COUNT" ? "count" : "sum_price");
  const int64_t size = q.BucketMs();
  const size_t buckets = static_cast<size_t>((q.end_ms - q.begin_ms) / size);
  std::vector<std::pair<int64_t, int64_t>> cells(buckets);
  for (const Tag* t : tags) {
    if (t->ms < q.begin_ms || t->ms >= q.end_ms || t->action != q.action) continue;
    if (q.origin && t->origin != *q.origin) continue;
    if (q.brand_id && t->brand_id != *q.brand_id) continue;
    if (q.category_id && t->category_id != *q.category_id) continue;
    auto& c = cells[static_cast<size_t>((t->ms - q.begin_ms) / size)];
    c.first += 1;
    c.second += t->price;
  }
  for (size_t b = 0; b < buckets; ++b) {
    std::vector<std::string> row = {FormatSeconds(q.begin_ms + static_cast<int64_t>(b) * size),
                                    q.action};
    if (q.origin) row.push_back(*q.origin);
    if (q.brand_id) row.push_back(*q.brand_id);
    if (q.category_id) row.push_back(*q.category_id);
    for (const auto& name : q.aggregates) {
      row.push_back(std::to_string(name == "COUNT" ? cells[b].first : cells[b].second));
    }
    a.rows.push_back(std::move(row));
  }
  return a;
}

const rapidjson::Value* Member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

Tally VerifyStore(HttpClient& http, const std::vector<Sent>& sent,
                  const std::function<bool(const Sent&)>& must_have, int64_t profile_cap) {
  Tally tally = Count(sent);
  std::vector<std::string> problems;
  auto problem = [&](std::string text) { problems.push_back(std::move(text)); };

  std::unordered_map<std::string, size_t> by_key;
  std::map<std::pair<std::string, std::string>, int64_t> per_list;  // (cookie, action) -> sent
  std::set<std::string> cookies, origins, brands, categories;
  int64_t min_ms = INT64_MAX, max_ms = INT64_MIN;
  for (size_t i = 0; i < sent.size(); ++i) {
    const Tag& t = sent[i].tag;
    REQUIRE_MESSAGE(by_key.emplace(sent[i].key, i).second, "duplicate test tag " << sent[i].key);
    ++per_list[{t.cookie, t.action}];
    cookies.insert(t.cookie);
    origins.insert(t.origin);
    brands.insert(t.brand_id);
    categories.insert(t.category_id);
    min_ms = std::min(min_ms, t.ms);
    max_ms = std::max(max_ms, t.ms);
  }
  REQUIRE(!sent.empty());
  for (const auto& [list, n] : per_list) {
    REQUIRE_MESSAGE(n < profile_cap, "test set-up: " << n << " tags sent to " << list.first << "/"
                                                     << list.second << " reach the profile cap "
                                                     << profile_cap);
  }

  // Profiles.
  std::vector<bool> present(sent.size(), false);
  const std::string all_time = ProfileRange(TimeMs(2000, 1, 1), TimeMs(2100, 1, 1));
  for (const std::string& cookie : cookies) {
    HttpResponse r = http.Profile(cookie, all_time, "100000000");
    if (r.status != 200) {
      problem("profile of " + cookie + ": " + r.Describe());
      continue;
    }
    rapidjson::Document d = ParseJson(r.body);
    for (const char* list : {"views", "buys"}) {
      const rapidjson::Value* arr = Member(d, list);
      if (arr == nullptr || !arr->IsArray()) {
        problem("profile of " + cookie + " has no " + list + " array: " + r.body.substr(0, 300));
        continue;
      }
      for (const auto& v : arr->GetArray()) {
        const rapidjson::Value* info = Member(v, "product_info");
        const rapidjson::Value* id = info ? Member(*info, "product_id") : nullptr;
        std::string key;
        if (id != nullptr && id->IsInt64()) key = std::to_string(id->GetInt64());
        if (id != nullptr && id->IsString()) key = id->GetString();
        auto it = by_key.find(key);
        if (it == by_key.end()) {
          problem("profile of " + cookie + " holds a tag never sent: " + ToJson(v));
          continue;
        }
        const Sent& s = sent[it->second];
        if (present[it->second]) problem("tag " + key + " stored twice in " + cookie + "'s profile");
        present[it->second] = true;
        if (s.tag.cookie != cookie || (s.tag.action == "VIEW") != (std::string(list) == "views")) {
          problem("tag " + key + " found in " + cookie + "/" + list + ": " + ToJson(v));
        }
        if (std::string diff = DiffTag(v, s.tag); !diff.empty()) problem("tag " + key + ": " + diff);
      }
    }
  }
  std::vector<const Tag*> stored;
  for (size_t i = 0; i < sent.size(); ++i) {
    const Sent& s = sent[i];
    if (present[i]) {
      stored.push_back(&s.tag);
      ++tally.present;
      if (s.outcome == Outcome::kUnknown) ++tally.unknown_present;
    }
    if (must_have(s) && !present[i]) {
      problem("LOST: tag " + s.key + " (writer " + std::to_string(s.writer) + " #" +
              std::to_string(s.index) + ", answered " + std::to_string(s.status) +
              ") is not in " + s.tag.cookie + "'s profile");
    }
    if (s.outcome == Outcome::kRejected && present[i]) {
      problem("tag " + s.key + " answered 503 is stored anyway");
    }
  }

  // Aggregates: exactly the stored tags, whatever the filter.
  AggregateQuery base;
  base.begin_ms = min_ms - ((min_ms % kMinute) + kMinute) % kMinute;
  base.end_ms = max_ms - ((max_ms % kMinute) + kMinute) % kMinute + kMinute;
  base.aggregates = {"COUNT", "SUM_PRICE"};
  std::vector<AggregateQuery> queries;
  for (const char* action : {"VIEW", "BUY"}) {
    AggregateQuery q = base;
    q.action = action;
    queries.push_back(q);
    for (const auto& o : origins) {
      AggregateQuery f = q;
      f.origin = o;
      queries.push_back(f);
      for (const auto& b : brands) {
        AggregateQuery g = f;
        g.brand_id = b;
        queries.push_back(g);
      }
      for (const auto& c : categories) {
        AggregateQuery g = f;
        g.category_id = c;
        queries.push_back(g);
      }
      if (o == *origins.begin()) {
        for (const auto& b : brands) {
          for (const auto& c : categories) {
            AggregateQuery g = f;
            g.brand_id = b;
            g.category_id = c;
            queries.push_back(g);
          }
        }
      }
    }
    for (const auto& b : brands) {
      AggregateQuery f = q;
      f.brand_id = b;
      queries.push_back(f);
      for (const auto& c : categories) {
        AggregateQuery g = f;
        g.category_id = c;
        queries.push_back(g);
      }
    }
    for (const auto& c : categories) {
      AggregateQuery f = q;
      f.category_id = c;
      queries.push_back(f);
    }
  }
  // The coarse buckets (SPEC §10) hold exactly the same tags: unfiltered and by origin.
  for (const char* bucket : {"15m", "1h", "1d"}) {
    for (const char* action : {"VIEW", "BUY"}) {
      AggregateQuery q = base;
      q.bucket = bucket;
      q.action = action;
      const int64_t size = q.BucketMs();
      q.begin_ms = min_ms - ((min_ms % size) + size) % size;
      q.end_ms = max_ms - ((max_ms % size) + size) % size + size;
      queries.push_back(q);
      for (const auto& o : origins) {
        q.origin = o;
        queries.push_back(q);
      }
    }
  }
  for (const AggregateQuery& q : queries) {
    const std::string query = q.ToQuery();
    HttpResponse r = http.Aggregates(query);
    if (r.status != 200) {
      problem("aggregates " + query + ": " + r.Describe());
      continue;
    }
    if (std::string diff = DiffAggregate(r.body, Expected(stored, q)); !diff.empty()) {
      problem("aggregates " + query + " differ from the tags stored in profiles: " + diff);
    }
  }

  std::string report;
  for (size_t i = 0; i < problems.size() && i < 12; ++i) report += "\n  " + problems[i];
  INFO("outcomes: " << Describe(tally));
  CHECK_MESSAGE(problems.empty(), problems.size() << " problems:" << report);
  return tally;
}

// --- Child processes --------------------------------------------------------------------------

Child::Child(const std::vector<std::string>& args) {
  std::vector<std::string> all = {DefaultServerBinary()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = (scratch_.path() / "log").string();
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const pid_t parent = ::getpid();
  start_ = Clock::now();
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fd);
}

Child::~Child() { Kill(); }

bool Child::Wait(std::chrono::milliseconds timeout) {
  if (done) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      done = true;
      ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
      if (WIFEXITED(status)) {
        exited = true;
        exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        term_signal = WTERMSIG(status);
      }
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Child::Kill() {
  if (done || pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Wait(std::chrono::seconds(10));
}

std::string Child::Output() const {
  std::ifstream in(scratch_.path() / "log", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

RunResult RunServer(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> all = {"--host", "127.0.0.1", "--port", "0"};
  all.insert(all.end(), args.begin(), args.end());
  Child child(all);
  RunResult run;
  run.timed_out = !child.Wait(timeout);
  child.Kill();
  run.exited = child.exited;
  run.exit_code = child.exit_code;
  run.term_signal = child.term_signal;
  run.ms = child.ms;
  run.output = child.Output();
  return run;
}

uint64_t TestSeed() {
  if (const char* env = std::getenv("ALLEZON_DUR_SEED"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 10);
  }
  return std::random_device{}();
}

}  // namespace allezon_dur
