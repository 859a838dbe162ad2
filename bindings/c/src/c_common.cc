#include "c_common.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

namespace allezon::c_abi {
namespace {

// Indexed by absl::StatusCode, which allezon_code_t copies value for value.
constexpr const char* kCodeNames[] = {
    "Ok",       "Cancelled",      "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};
constexpr int kNumCodes = static_cast<int>(sizeof(kCodeNames) / sizeof(kCodeNames[0]));
static_assert(kNumCodes == ALLEZON_UNAUTHENTICATED + 1);

}  // namespace

const char* CodeName(int code) noexcept {
  return code >= 0 && code < kNumCodes ? kCodeNames[code] : "Unknown";
}

allezon_code_t CodeOfName(const char* text, size_t len) noexcept {
  for (int code = 0; code < kNumCodes; ++code) {
    if (std::strlen(kCodeNames[code]) == len && std::strncmp(text, kCodeNames[code], len) == 0) {
      return static_cast<allezon_code_t>(code);
    }
  }
  return ALLEZON_UNKNOWN;
}

// Plain malloc, no std::string: this runs inside catch handlers, where nothing may throw.
void SaveError(char** errptr, int code, std::string_view message) noexcept {
  if (errptr == nullptr) return;
  const char* name = CodeName(code);
  const size_t name_len = std::strlen(name);
  const size_t len = name_len + (message.empty() ? 0 : 2 + message.size());
  char* text = static_cast<char*>(std::malloc(len + 1));
  std::free(*errptr);
  *errptr = text;  // NULL when out of memory: the caller then sees no message, nothing better
  if (text == nullptr) return;
  std::memcpy(text, name, name_len);
  if (!message.empty()) {
    std::memcpy(text + name_len, ": ", 2);
    std::memcpy(text + name_len + 2, message.data(), message.size());
  }
  text[len] = '\0';
}

allezon_code_t SaveStatus(char** errptr, const absl::Status& status) noexcept {
  if (status.ok()) return ALLEZON_OK;
  const int code = static_cast<int>(status.code());
  // absl::string_view is not std::string_view in Debian's Abseil build.
  SaveError(errptr, code, std::string_view(status.message().data(), status.message().size()));
  return static_cast<allezon_code_t>(code);
}

allezon_code_t InvalidArgument(char** errptr, std::string_view message) noexcept {
  SaveError(errptr, ALLEZON_INVALID_ARGUMENT, message);
  return ALLEZON_INVALID_ARGUMENT;
}

allezon_code_t SaveCurrentException(char** errptr) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    SaveError(errptr, ALLEZON_RESOURCE_EXHAUSTED, "out of memory");
    return ALLEZON_RESOURCE_EXHAUSTED;
  } catch (const std::exception& e) {
    SaveError(errptr, ALLEZON_INTERNAL, e.what() != nullptr ? e.what() : "exception");
  } catch (...) {
    SaveError(errptr, ALLEZON_INTERNAL, "unknown exception");
  }
  return ALLEZON_INTERNAL;
}

char* CopyString(std::string_view s) {
  char* result = static_cast<char*>(std::malloc(s.size() + 1));
  if (result == nullptr) throw std::bad_alloc();
  std::memcpy(result, s.data(), s.size());
  result[s.size()] = '\0';
  return result;
}

bool CheckDb(const allezon_db_t* db, char** errptr) noexcept {
  if (db == nullptr || db->rep == nullptr) {
    InvalidArgument(errptr, "db is NULL");
    return false;
  }
  return true;
}

}  // namespace allezon::c_abi
