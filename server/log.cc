#include "log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace allezon::server {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

bool IsBareByte(unsigned char c) {
  return c > ' ' && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") {
    *out = LogLevel::kDebug;
  } else if (text == "info") {
    *out = LogLevel::kInfo;
  } else if (text == "warn" || text == "warning") {
    *out = LogLevel::kWarn;
  } else if (text == "error") {
    *out = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void AppendLogValue(std::string_view value, std::string* out, size_t max_bytes) {
  const bool cut = value.size() > max_bytes;
  if (cut) value = value.substr(0, max_bytes);
  bool bare = !value.empty() && !cut;
  for (unsigned char c : value) bare = bare && IsBareByte(c);
  if (bare) {
    out->append(value);
    return;
  }
  out->push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < ' ' || c >= 0x7f) {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02x", c);
          out->append(hex);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  if (cut) out->append("...");
  out->push_back('"');
}

std::string LogTimestamp() {
  const auto now = std::chrono::system_clock::now();
  const int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc;
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return text;
}

namespace {

void WriteLine(int fd, std::string_view line) {
  std::string text(line);
  text.push_back('\n');
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to; never fail the caller
    written += static_cast<size_t>(n);
  }
}

}  // namespace

void WriteLogLine(std::string_view line) { WriteLine(STDERR_FILENO, line); }

std::unique_ptr<AccessLog> AccessLog::Open(const std::string& path, std::string* error) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(STDERR_FILENO, false));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(fd, true));
}

AccessLog::~AccessLog() {
  if (owned_) ::close(fd_);
}

void AccessLog::Write(std::string_view line) { WriteLine(fd_, line); }

LogLine::LogLine(LogLevel level, std::string_view message) : enabled_(LogEnabled(level)) {
  if (!enabled_) return;
  line_.reserve(256);
  line_.append("ts=").append(LogTimestamp()).append(" level=").append(LogLevelName(level));
  line_.append(" msg=");
  AppendLogValue(message, &line_);
}

LogLine::~LogLine() {
  if (enabled_) WriteLogLine(line_);
}

LogLine& LogLine::Add(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  line_.append(" ").append(key).append("=");
  AppendLogValue(value, &line_);
  return *this;
}

LogLine& LogLine::Add(std::string_view key, int64_t value) {
  if (enabled_) line_.append(" ").append(key).append("=").append(std::to_string(value));
  return *this;
}

LogLine& LogLine::Add(std::string_view key, uint64_t value) {
  if (enabled_) line_.append(" ").append(key).append("=").append(std::to_string(value));
  return *this;
}

LogLine& LogLine::Add(std::string_view key, bool value) {
  if (enabled_) line_.append(" ").append(key).append(value ? "=true" : "=false");
  return *this;
}

LogLine& LogLine::Add(std::string_view key, double value) {
  if (enabled_) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.6g", value);
    line_.append(" ").append(key).append("=").append(text);
  }
  return *this;
}

}  // namespace allezon::server
