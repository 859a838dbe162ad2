#include "http_message.h"

#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "log.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace allezon::server {
namespace {

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Paths decode %XX only ('+' stays '+'); a malformed escape is kept as sent.
std::string DecodePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int high = HexValue(path[i + 1]), low = HexValue(path[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(path[i]);
  }
  return out;
}

// A short JSON reason for errors whose handler wrote no body.
const char* ErrorReason(int status) {
  switch (status) {
    case 404:
      return "no such endpoint";
    case 405:
      return "method not allowed";
    default:
      return status >= 500 ? "internal server error" : "request failed";
  }
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(Sv(key), Sv(name))) return value;
  }
  return {};
}

bool HttpRequest::has_header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(Sv(key), Sv(name))) return true;
  }
  return false;
}

std::string HttpRequest::param(const std::string& name) const {
  const auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::string ErrorJson(std::string_view message) {
  // The message may echo client input; RapidJSON escapes it (invalid UTF-8 is passed through
  // byte for byte, which JSON parsers either accept or reject, but never mis-frame).
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("error");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void SendError(HttpResponse& response, int status, std::string_view message) {
  response.status = status;
  response.set_content(ErrorJson(message), "application/json");
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

void SerializeResponse(const HttpResponse& response, bool close, std::string* out, bool chunked) {
  const bool bodiless = response.status == 204 || response.status == 304;
  absl::StrAppend(out, "HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status), "\r\n");
  if (!bodiless) {
    if (!response.content_type.empty()) {
      absl::StrAppend(out, "Content-Type: ", response.content_type, "\r\n");
    }
    if (!response.stream) {
      absl::StrAppend(out, "Content-Length: ", response.body.size(), "\r\n");
    } else if (chunked) {
      out->append("Transfer-Encoding: chunked\r\n");
    }
  }
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(out, name, ": ", value, "\r\n");
  }
  out->append(close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
  if (!bodiless && !response.head_only && !response.stream) out->append(response.body);
}

void HttpRouter::Add(std::string method, std::string pattern, HttpHandler handler,
                     Dispatch dispatch) {
  const bool prefix = !pattern.empty() && pattern.back() == '*';
  if (prefix) pattern.pop_back();
  routes_.push_back({std::move(method), std::move(pattern), prefix, std::move(handler), dispatch});
}

const HttpRouter::Route* HttpRouter::Find(std::string_view method, std::string_view path,
                                          bool* path_known, std::string* allow) const {
  // "/aggregates/" is "/aggregates" (but "/" stays "/").
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const Route* found = nullptr;
  *path_known = false;
  for (const Route& route : routes_) {
    const bool match = route.prefix ? path.size() > route.pattern.size() &&
                                          path.substr(0, route.pattern.size()) == route.pattern
                                    : path == route.pattern;
    if (!match) continue;
    *path_known = true;
    if (allow != nullptr && allow->find(route.method) == std::string::npos) {
      if (!allow->empty()) allow->append(", ");
      allow->append(route.method);
    }
    if (found == nullptr &&
        (route.method == method || (method == "HEAD" && route.method == "GET"))) {
      found = &route;
    }
  }
  return found;
}

HttpRouter::Dispatch HttpRouter::DispatchOf(const HttpRequest& request) const {
  bool known = false;
  const Route* route = Find(request.method, DecodePath(request.path), &known, nullptr);
  return route == nullptr ? Dispatch::kLoop : route->dispatch;
}

HttpResponse HttpRouter::Handle(HttpRequest& request) const {
  HttpResponse response;
  request.path = DecodePath(request.path);
  bool known = false;
  std::string allow;
  const Route* route = Find(request.method, request.path, &known, &allow);
  if (route == nullptr) {
    if (known) {
      response.set_header("Allow", allow);
      SendError(response, 405, absl::StrCat("method not allowed: use ", allow));
    } else {
      SendError(response, 404, "no such endpoint");
    }
  } else {
    if (route->prefix) {
      std::string_view rest = std::string_view(request.path).substr(route->pattern.size());
      if (rest.size() > 1 && rest.back() == '/') rest.remove_suffix(1);
      request.path_param = std::string(rest);
    }
    absl::StatusOr<QueryParams> params = ParseQueryString(QueryOfTarget(request.target));
    if (params.ok()) request.params = *std::move(params);
    try {
      route->handler(request, response);
    } catch (const std::exception& e) {
      LogLine(LogLevel::kError, "handler threw").Add("path", request.path).Add("what", e.what());
      response = HttpResponse();
      SendError(response, 500, "internal server error");
    } catch (...) {
      LogLine(LogLevel::kError, "handler threw").Add("path", request.path);
      response = HttpResponse();
      SendError(response, 500, "internal server error");
    }
    if (response.status >= 400 && response.body.empty()) {
      SendError(response, response.status, ErrorReason(response.status));
    }
  }
  response.head_only = request.method == "HEAD";
  if (!response.deferred) Observe(request, response);
  return response;
}

}  // namespace allezon::server
