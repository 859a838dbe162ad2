#include "flags.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace allezon::server {
namespace {

const Flag* FindFlag(const std::vector<Flag>& flags, std::string_view name) {
  for (const Flag& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

absl::string_view Sv(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

bool ParseInt64Flag(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return false;
  }
  *out = value;
  return true;
}

bool ParseBoolFlag(std::string_view text, bool* out) {
  if (text == "true" || text == "1" || text == "yes") {
    *out = true;
  } else if (text == "false" || text == "0" || text == "no") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

absl::Status ParseFlags(const std::vector<Flag>& flags, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", Sv(arg), "\""));
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != arg.npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const Flag* flag = FindFlag(flags, name);
    if (flag == nullptr && !has_value && name.substr(0, 3) == "no-") {
      const Flag* negated = FindFlag(flags, name.substr(3));
      if (negated != nullptr && negated->value_name.empty()) {
        negated->set("false");
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", Sv(name), " (see --help)"));
    }
    if (!has_value) {
      if (flag->value_name.empty()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", Sv(name), " needs a value"));
      }
    }
    if (!flag->set(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value \"", Sv(value), "\" for --", Sv(name), ": ", flag->help));
    }
  }
  return absl::OkStatus();
}

std::string FlagsHelp(std::string_view program, std::string_view summary,
                      const std::vector<Flag>& flags) {
  std::string out = absl::StrCat("Usage: ", Sv(program), " [flags]\n", Sv(summary), "\n\nFlags:\n");
  for (const Flag& flag : flags) {
    std::string left = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, "=", flag.value_name);
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", flag.help, "\n");
  }
  return out;
}

}  // namespace allezon::server
