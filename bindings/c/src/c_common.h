// Internal to the C ABI (allezon/c.h): the handles' definitions and what every entry point
// shares — error messages in errptr, the exception guard, malloc()ed copies.
//
// Every entry point runs its body inside Guard() or GuardCode() (noexcept), which turn any
// exception into an error message: nothing C++ ever reaches the C caller. Results are copied
// into malloc()ed memory so that one allezon_free() releases anything the ABI hands out.
// Nothing here is exported (hidden visibility and the version script allezon_c.map).
#ifndef ALLEZON_BINDINGS_C_SRC_C_COMMON_H_
#define ALLEZON_BINDINGS_C_SRC_C_COMMON_H_

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "allezon/allezon.hpp"
#include "allezon/c.h"

struct allezon_db_t {
  std::unique_ptr<allezon::Database> rep;
};

struct allezon_options_t {
  allezon::Options rep;
};

namespace allezon::c_abi {

// "InvalidArgument" etc. for an absl::StatusCode value; "Unknown" out of range.
const char* CodeName(int code) noexcept;
// The code whose name is text[0, len), ALLEZON_UNKNOWN when none is.
allezon_code_t CodeOfName(const char* text, size_t len) noexcept;

// Stores "<Code>: <message>" in *errptr (when errptr is not NULL), freeing the previous
// message. Never throws: it runs inside catch handlers.
void SaveError(char** errptr, int code, std::string_view message) noexcept;

// Saves status when it is an error; returns its code (ALLEZON_OK when it is not), so that a
// function returning allezon_code_t can `return SaveStatus(errptr, status);`.
allezon_code_t SaveStatus(char** errptr, const absl::Status& status) noexcept;

// Returns true (and saves the message) when status is an error.
inline bool SaveError(char** errptr, const absl::Status& status) noexcept {
  return SaveStatus(errptr, status) != ALLEZON_OK;
}

// Saves an InvalidArgument message; returns ALLEZON_INVALID_ARGUMENT.
allezon_code_t InvalidArgument(char** errptr, std::string_view message) noexcept;

// Saves the exception being handled (call only inside a catch block); returns its code:
// ResourceExhausted for std::bad_alloc, Internal for anything else.
allezon_code_t SaveCurrentException(char** errptr) noexcept;

// Runs body(), turning any exception into an error; returns on_error in that case.
template <typename R, typename Body>
R Guard(char** errptr, R on_error, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    SaveCurrentException(errptr);
  }
  return on_error;
}

// Guard for entry points that return an allezon_code_t: an exception's code is returned,
// the same as the code word of the message saved, so that callers passing a NULL errptr
// still learn what happened.
template <typename Body>
allezon_code_t GuardCode(char** errptr, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (...) {
    return SaveCurrentException(errptr);
  }
}

// A malloc()ed, NUL-terminated copy (NUL-terminated even when s holds NULs: C callers see a
// prefix). Throws std::bad_alloc so Guard reports it.
char* CopyString(std::string_view s);

// False (and InvalidArgument) when db is NULL.
bool CheckDb(const allezon_db_t* db, char** errptr) noexcept;

}  // namespace allezon::c_abi

#endif  // ALLEZON_BINDINGS_C_SRC_C_COMMON_H_
