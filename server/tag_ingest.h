// TagIngest: what EventLoopServer's hot path does with POST /user_tags bodies (check one,
// store a batch, account for the answers). HttpApi implements it over the Database; the
// empty-204 benchmark server implements it with no storage at all.
//
// Thread-safety: implementations must be thread-safe; every event loop calls them.
#ifndef ALLEZON_SERVER_TAG_INGEST_H_
#define ALLEZON_SERVER_TAG_INGEST_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "allezon/user_tag.h"

namespace allezon::server {

class TagIngest {
 public:
  virtual ~TagIngest() = default;

  // Checks one body: 0 after appending its tag to `batch`, else the 4xx to answer with
  // `error` set (nothing appended).
  virtual int Accept(std::string_view body, std::vector<UserTag>* batch, std::string* error) = 0;

  // The largest body Accept takes; a request announcing more is refused (413) unread.
  virtual size_t max_body_bytes() const = 0;

  // Stores a batch durably without blocking; `done` gets the outcome exactly once, possibly
  // on another thread (OK: every tag in it is answered 204). As Database::SubmitTags.
  virtual void Submit(std::vector<UserTag> batch, std::function<void(absl::Status)> done) = 0;

  // The HTTP status and error message for a failed Store.
  virtual int StatusFor(const absl::Status& status) const = 0;

  struct Answered {
    std::string_view remote_ip;
    std::string_view target;
    int status;
    size_t bytes_in;
    size_t bytes_out;
    std::chrono::nanoseconds latency;
  };
  // One tag request answered by the hot path (for metrics and the access log).
  virtual void Observe(const Answered& answered) = 0;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_TAG_INGEST_H_
