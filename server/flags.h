// Command-line flags of allezon-server: a small table-driven parser, because the flags are
// spelled with dashes (--data-dir), which absl::flags does not accept.
//
// Not thread-safe; used once in main().
#ifndef ALLEZON_SERVER_FLAGS_H_
#define ALLEZON_SERVER_FLAGS_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace allezon::server {

struct Flag {
  std::string name;         // without the leading "--"
  std::string value_name;   // e.g. "PORT"; empty for a boolean flag
  std::string help;         // one line, default included
  // Parses and stores the value; returns false when it is malformed.
  std::function<bool(std::string_view)> set;
};

// Accepts "--name=value", "--name value", and for boolean flags "--name", "--no-name",
// "--name=true|false". Unknown flags and bad values are InvalidArgument with a message.
absl::Status ParseFlags(const std::vector<Flag>& flags, int argc, char** argv);

// The --help text: usage line then one line per flag.
std::string FlagsHelp(std::string_view program, std::string_view summary,
                      const std::vector<Flag>& flags);

// Value parsers for Flag::set.
bool ParseInt64Flag(std::string_view text, int64_t min, int64_t max, int64_t* out);
bool ParseBoolFlag(std::string_view text, bool* out);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_FLAGS_H_
