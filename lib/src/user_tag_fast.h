// A fast path for ParseUserTagJson: one pass over the bytes, no DOM, for the common shape of
// a SPEC §1 tag. It accepts only input that the full parser (RapidJSON DOM + the field
// checks in user_tag.cc) accepts, and builds the identical tag; anything else (an escape,
// bytes that are not UTF-8, an unknown or repeated field, a number other than a plain
// integer, any error) makes it give up, and the caller runs the full parser, which then also
// writes the error message. Why: the DOM parse was ~1.2 µs of the server's ~4.7 µs of CPU per
// tag in POST /user_tags/batch, serialized with the commit (bench/RESULTS.md, issue 20).
#ifndef ALLEZON_USER_TAG_FAST_H_
#define ALLEZON_USER_TAG_FAST_H_

#include <string_view>

#include "allezon/user_tag.h"

namespace allezon::internal {

// True with *tag set when `json` is a tag the fast path handles; false (and *tag in any
// state) when the full parser must decide.
bool ParseUserTagJsonFast(std::string_view json, UserTag* tag);

}  // namespace allezon::internal

#endif  // ALLEZON_USER_TAG_FAST_H_
