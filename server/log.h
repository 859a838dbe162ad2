// One-line structured logs: `ts=<UTC time> level=<level> msg=<text> key=value ...`, written to
// stderr with one write(2) per line so that lines from concurrent threads never interleave.
// Values are written bare when they are plain tokens, else double-quoted with C-style escapes
// (\" \\ \n \t \xNN for other control and non-ASCII bytes), so every line splits on spaces
// outside quotes and no client-supplied byte can forge a second line.
//
// Thread-safety: everything here may be called from any thread. SetLogLevel is meant for
// start-up (it is an atomic store, so later calls are safe too).
#ifndef ALLEZON_SERVER_LOG_H_
#define ALLEZON_SERVER_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace allezon::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" (or "warning"), "error".
bool ParseLogLevel(std::string_view text, LogLevel* out);
std::string_view LogLevelName(LogLevel level);

// Lines below this level are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Appends `value` to `out` as a logfmt value: bare when it is a non-empty run of printable
// ASCII without space, '"', '=' or '\\'; quoted and escaped otherwise. At most `max_bytes` of
// the value are written (then `...` marks the cut), so hostile input cannot make lines huge.
void AppendLogValue(std::string_view value, std::string* out, size_t max_bytes = 1024);

// Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string LogTimestamp();

// Builds one line and emits it when destroyed:
//   LogLine(LogLevel::kInfo, "listening").Add("port", 8080);
// Cheap when the level is disabled (Add does nothing).
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view message);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Add(std::string_view key, std::string_view value);
  LogLine& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, int64_t value);
  LogLine& Add(std::string_view key, uint64_t value);
  LogLine& Add(std::string_view key, int value) { return Add(key, static_cast<int64_t>(value)); }
  LogLine& Add(std::string_view key, bool value);
  LogLine& Add(std::string_view key, double value);

 private:
  bool enabled_;
  std::string line_;
};

// Writes a finished line (a trailing '\n' is added) to stderr in one write(2).
void WriteLogLine(std::string_view line);

// The optional access log (--access-log): one line per request, appended to a file, or to
// stderr for "-". Lines go out whole, one write(2) each, so `tail -f` sees them at once and
// concurrent threads never interleave. Thread-safe.
class AccessLog {
 public:
  // Opens (creating, appending) `path`; "-" is stderr. Returns null and sets `error` on
  // failure.
  static std::unique_ptr<AccessLog> Open(const std::string& path, std::string* error);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void Write(std::string_view line);

 private:
  explicit AccessLog(int fd, bool owned) : fd_(fd), owned_(owned) {}
  const int fd_;
  const bool owned_;
};

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_LOG_H_
