// Tags as lines of text (SPEC §10): NDJSON batches in, NDJSON or CSV rows out. Shared by the
// HTTP server (POST /user_tags/batch, GET /export), its offline import and the C ABI, so all
// of them accept and write the same bytes. Pure functions: thread-safe, no state.
#ifndef ALLEZON_TAG_LINES_H_
#define ALLEZON_TAG_LINES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "allezon/export.h"
#include "allezon/user_tag.h"
#include "allezon/user_tag_view.h"

namespace allezon {

// Parses NDJSON: one SPEC §1 tag per line ("\n" or "\r\n"; blank lines are skipped and
// counted). Appends the tags to *out, or on the first bad line returns InvalidArgument
// "line N: <reason>" (N from 1) and leaves *out as it was. More than max_tags tags is
// OutOfRange "more than <max_tags> tags" (a batch too large), found before any
// line past the limit is parsed.
ALLEZON_EXPORT absl::Status ParseUserTagLines(std::string_view text, size_t max_tags,
                                              std::vector<UserTag>* out);

// The CSV export's header line, with its "\r\n" (RFC 4180).
inline constexpr std::string_view kUserTagCsvHeader =
    "time,cookie,country,device,action,origin,product_id,brand_id,category_id,price\r\n";

// Appends one CSV row ending "\r\n": time as "YYYY-MM-DDTHH:MM:SS.mmmZ", text quoted when it
// holds a comma, a double quote, CR or LF (quotes doubled), numbers bare. CSV is flat: a
// product_id that arrived as a string of digits reads back like an integer one; NDJSON keeps
// the difference.
ALLEZON_EXPORT void AppendUserTagCsv(const UserTagView& tag, std::string* out);

// Appends the tag's SPEC §1 JSON (AppendUserTagJson) and "\n".
ALLEZON_EXPORT void AppendUserTagLine(const UserTagView& tag, std::string* out);

}  // namespace allezon

#endif  // ALLEZON_TAG_LINES_H_
