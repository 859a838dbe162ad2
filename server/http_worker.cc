#include "http_worker.h"

#include <pthread.h>

#include <exception>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "log.h"

namespace allezon::server {
namespace {

constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Runs `producer` to its end; its bytes go to `stream` (framed as chunks when `chunked`), and
// `notify` tells the loop when there are bytes to take after it had taken them all, and once
// the producer has returned.
void Produce(BodyStream& stream, const BodyProducer& producer, bool chunked,
             const std::function<void()>& notify) {
  const BodyWriter write = [&](std::string_view bytes) {
    std::unique_lock<std::mutex> lock(stream.mutex);
    stream.room.wait(lock,
                     [&] { return stream.cancelled || stream.ready.size() < kStreamBufferBytes; });
    if (stream.cancelled) return false;
    if (bytes.empty()) return true;  // an empty chunk would end the body
    const bool first = stream.ready.empty();
    if (chunked) absl::StrAppend(&stream.ready, absl::Hex(bytes.size()), "\r\n");
    stream.ready.append(bytes);
    if (chunked) stream.ready.append("\r\n");
    lock.unlock();
    if (first) notify();  // otherwise the loop has not taken the bytes before yet
    return true;
  };
  bool complete = false;
  try {
    complete = producer(write);
  } catch (const std::exception& e) {
    LogLine(LogLevel::kError, "streamed answer's producer threw").Add("what", e.what());
  } catch (...) {
    LogLine(LogLevel::kError, "streamed answer's producer threw");
  }
  {
    std::lock_guard<std::mutex> lock(stream.mutex);
    stream.done = true;
    stream.complete = complete && !stream.cancelled;
    if (stream.complete && chunked) stream.ready.append(kLastChunk);
  }
  notify();
}

}  // namespace

std::shared_ptr<BodyStream> StreamThreads::Start(BodyProducer producer, bool chunked,
                                                 std::shared_ptr<Completions> to) {
  std::lock_guard<std::mutex> lock(mutex_);
  JoinFinished();
  if (stopped_ || running_.size() >= max_streams_) return nullptr;
  auto stream = std::make_shared<BodyStream>();
  try {
    std::thread thread([stream, producer = std::move(producer), chunked, to = std::move(to)] {
      Produce(*stream, producer, chunked, [&] { to->StreamReady(stream); });
    });
    running_.push_back({std::move(thread), stream});
  } catch (const std::system_error&) {  // no thread to be had: refused like a full house
    return nullptr;
  }
  return stream;
}

void StreamThreads::StopAll() {
  std::vector<Running> running;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    running.swap(running_);
  }
  for (Running& r : running) r.stream->Cancel();
  for (Running& r : running) r.thread.join();
}

// A producer that has returned is at most a notification away from its thread's end.
void StreamThreads::JoinFinished() {
  for (auto it = running_.begin(); it != running_.end();) {
    bool done;
    {
      std::lock_guard<std::mutex> lock(it->stream->mutex);
      done = it->stream->done;
    }
    if (!done) {
      ++it;
      continue;
    }
    it->thread.join();
    it = running_.erase(it);
  }
}

void HttpWorker::Defer(Job job, std::function<void(Responder)> deferred) {
  job.to->deferred_open.fetch_add(1, std::memory_order_relaxed);
  auto request = std::make_shared<HttpRequest>(std::move(job.request));
  const bool chunked = request->minor_version >= 1;
  deferred([router = router_, to = std::move(job.to), connection = job.connection,
            close = job.close, request, chunked](HttpResponse response) {
    response.deferred = nullptr;
    response.stream = nullptr;  // a deferred answer is whole
    router->Observe(*request, response);
    std::string answer;
    SerializeResponse(response, close, &answer, chunked);
    {
      std::lock_guard<std::mutex> lock(to->mutex);
      to->slow.push_back({connection, std::move(answer), close, nullptr});
    }
    to->deferred_open.fetch_sub(1, std::memory_order_release);
    to->Wake();
  });
}

HttpWorker::HttpWorker(const HttpRouter* router, StreamThreads* streams)
    : router_(router), streams_(streams), thread_([this] { Run(); }) {}

HttpWorker::~HttpWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cond_.notify_all();
  thread_.join();
}

void HttpWorker::Post(std::shared_ptr<Completions> to, Connection* connection, HttpRequest request,
                      bool close) {
  std::lock_guard<std::mutex> lock(mutex_);
  jobs_.push_back({std::move(to), connection, std::move(request), close});
  cond_.notify_one();
}

void HttpWorker::Run() {
  pthread_setname_np(pthread_self(), "alz-http-worker");
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cond_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;  // the jobs left are dropped: their connections are closing
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    HttpResponse response = router_->Handle(job.request);
    if (response.deferred) {
      Defer(std::move(job), std::move(response.deferred));
      continue;
    }
    std::shared_ptr<BodyStream> stream;
    // HTTP/1.0 has no chunks: a streamed body ends with the connection.
    const bool chunked = job.request.minor_version >= 1;
    bool close = job.close;
    if (response.stream && !response.head_only) {
      stream = streams_->Start(response.stream, chunked, job.to);
      if (stream == nullptr) {
        response = HttpResponse();
        SendError(response, 503, "too many streamed answers at once: retry later");
        response.set_header("Retry-After", "1");
      } else if (!chunked) {
        close = true;
      }
    }
    std::string answer;
    SerializeResponse(response, close, &answer, chunked);
    {
      std::lock_guard<std::mutex> lock(job.to->mutex);
      job.to->slow.push_back({job.connection, std::move(answer), close, std::move(stream)});
    }
    job.to->Wake();
  }
}

}  // namespace allezon::server
