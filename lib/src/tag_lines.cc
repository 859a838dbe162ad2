#include "allezon/tag_lines.h"

#include <string>

#include "json_writer.h"
#include "user_tag_fast.h"

namespace allezon {
namespace {

void AppendCsvField(std::string_view text, std::string* out) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(text);
    return;
  }
  out->push_back('"');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

absl::Status ParseUserTagLines(std::string_view text, size_t max_tags, std::vector<UserTag>* out) {
  const size_t first = out->size();
  size_t tags = 0;
  for (size_t line_no = 1; !text.empty(); ++line_no) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    if (++tags > max_tags) {
      out->resize(first);
      return absl::OutOfRangeError("more than " + std::to_string(max_tags) + " tags");
    }
    // Straight into place when the fast path takes the line (user_tag_fast.h): no moves.
    out->emplace_back();
    if (internal::ParseUserTagJsonFast(line, &out->back())) continue;
    out->pop_back();
    absl::StatusOr<UserTag> tag = ParseUserTagJson(line);
    if (!tag.ok()) {
      out->resize(first);
      return absl::InvalidArgumentError("line " + std::to_string(line_no) + ": " +
                                        std::string(tag.status().message()));
    }
    out->push_back(*std::move(tag));
  }
  return absl::OkStatus();
}

void AppendUserTagCsv(const UserTagView& tag, std::string* out) {
  internal::AppendTagTime(tag.time, out);
  out->push_back(',');
  AppendCsvField(tag.cookie, out);
  out->push_back(',');
  AppendCsvField(tag.country, out);
  out->push_back(',');
  out->append(DeviceName(tag.device));
  out->push_back(',');
  out->append(ActionName(tag.action));
  out->push_back(',');
  AppendCsvField(tag.origin, out);
  out->push_back(',');
  if (tag.product_id_is_text) {
    AppendCsvField(tag.product_id_text, out);
  } else {
    out->append(std::to_string(tag.product_id_number));
  }
  out->push_back(',');
  AppendCsvField(tag.brand_id, out);
  out->push_back(',');
  AppendCsvField(tag.category_id, out);
  out->push_back(',');
  out->append(std::to_string(tag.price));
  out->append("\r\n");
}

void AppendUserTagLine(const UserTagView& tag, std::string* out) {
  // Through a small scratch string: AppendUserTagJson reserves room by growing its output to
  // twice its size and back (json_writer.h), which zero-fills as many bytes as the output
  // already holds, per tag: quadratic over an export's chunk of thousands of lines (measured:
  // 93 % of an export's time in memset).
  thread_local std::string scratch;
  scratch.clear();
  AppendUserTagJson(tag, &scratch);
  out->append(scratch);
  out->push_back('\n');
}

}  // namespace allezon
