// The C ABI (allezon/c.h) over the C++ API: the library functions, options, opening and
// closing, writes. Queries are in allezon_c_queries.cc; what both share in c_common.h.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allezon/allezon.hpp"
#include "allezon/c.h"
#include "c_common.h"

using allezon::c_abi::CheckDb;
using allezon::c_abi::CodeName;
using allezon::c_abi::CodeOfName;
using allezon::c_abi::Guard;
using allezon::c_abi::GuardCode;
using allezon::c_abi::InvalidArgument;
using allezon::c_abi::SaveError;
using allezon::c_abi::SaveStatus;

namespace {

// Converts a C tag; false (and an error) when a required string is NULL or an enum is out
// of range. The library validates the rest (ValidateUserTag) when the tag is added.
bool ToUserTag(const allezon_tag_t& in, size_t index, allezon::UserTag* out, char** errptr) {
  auto missing = [&](const char* field) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) + "]." + field + " is NULL");
    return false;
  };
  if (in.cookie == nullptr) return missing("cookie");
  if (in.country == nullptr) return missing("country");
  if (in.origin == nullptr) return missing("origin");
  if (in.brand_id == nullptr) return missing("brand_id");
  if (in.category_id == nullptr) return missing("category_id");
  if (in.action != ALLEZON_ACTION_VIEW && in.action != ALLEZON_ACTION_BUY) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) +
                                "].action: not ALLEZON_ACTION_VIEW or ALLEZON_ACTION_BUY");
    return false;
  }
  if (in.device < ALLEZON_DEVICE_PC || in.device > ALLEZON_DEVICE_TV) {
    InvalidArgument(errptr, "tags[" + std::to_string(index) + "].device: not an ALLEZON_DEVICE_*");
    return false;
  }
  out->time = in.time_ms;
  out->cookie = in.cookie;
  out->country = in.country;
  out->device = static_cast<allezon::Device>(in.device);
  out->action = static_cast<allezon::Action>(in.action);
  out->origin = in.origin;
  if (in.product_id_str != nullptr) {
    out->product_id = std::string(in.product_id_str);
  } else {
    out->product_id = in.product_id;
  }
  out->brand_id = in.brand_id;
  out->category_id = in.category_id;
  out->price = in.price;
  return true;
}

}  // namespace

extern "C" {

const char* allezon_version(void) {
  return Guard(nullptr, static_cast<const char*>("unknown"), [] { return allezon::Version(); });
}

void allezon_free(void* p) { std::free(p); }

allezon_code_t allezon_error_code(const char* errmsg) {
  if (errmsg == nullptr) return ALLEZON_OK;
  const char* colon = std::strchr(errmsg, ':');
  return CodeOfName(errmsg,
                    colon != nullptr ? static_cast<size_t>(colon - errmsg) : std::strlen(errmsg));
}

const char* allezon_code_name(allezon_code_t code) { return CodeName(static_cast<int>(code)); }

// ---- Options --------------------------------------------------------------------------------

allezon_options_t* allezon_options_create(void) {
  return Guard(nullptr, static_cast<allezon_options_t*>(nullptr),
               [] { return new allezon_options_t; });
}

void allezon_options_destroy(allezon_options_t* options) { delete options; }

void allezon_options_set_create_if_missing(allezon_options_t* options, unsigned char value) {
  if (options != nullptr) options->rep.create_if_missing = value != 0;
}

void allezon_options_set_profile_cap(allezon_options_t* options, int32_t cap) {
  if (options != nullptr) options->rep.profile_cap = cap;
}

void allezon_options_set_retention_ms(allezon_options_t* options, int64_t retention_ms) {
  if (options != nullptr) options->rep.retention_ms = retention_ms;
}

void allezon_options_set_initial_map_size(allezon_options_t* options, uint64_t bytes) {
  if (options != nullptr) options->rep.tuning.initial_map_size = bytes;
}

void allezon_options_set_max_map_size(allezon_options_t* options, uint64_t bytes) {
  if (options != nullptr) options->rep.max_map_size = bytes;
}

void allezon_options_set_sync(allezon_options_t* options, unsigned char value) {
  if (options != nullptr) options->rep.sync = value != 0;
}

void allezon_options_set_max_batch_tags(allezon_options_t* options, size_t max_tags) {
  if (options != nullptr) options->rep.tuning.max_batch_tags = max_tags;
}

void allezon_options_set_profile_staging_tags(allezon_options_t* options, uint64_t tags) {
  if (options != nullptr) options->rep.tuning.profile_staging_tags = tags;
}

void allezon_options_set_max_readers(allezon_options_t* options, uint32_t max_readers) {
  if (options != nullptr) options->rep.tuning.max_readers = max_readers;
}

allezon_code_t allezon_options_set_raw_retention_ms(allezon_options_t* options,
                                                    int64_t retention_ms, char** errptr) {
  if (options == nullptr || retention_ms < 0) {
    InvalidArgument(errptr, options == nullptr ? "options is NULL" : "raw retention must be >= 0");
    return ALLEZON_INVALID_ARGUMENT;
  }
  options->rep.raw_retention_ms = retention_ms;
  return ALLEZON_OK;
}

// ---- Database -------------------------------------------------------------------------------

allezon_db_t* allezon_open(const char* data_dir, char** errptr) {
  return allezon_open_with_options(data_dir, nullptr, errptr);
}

allezon_db_t* allezon_open_with_options(const char* data_dir, const allezon_options_t* options,
                                        char** errptr) {
  return Guard(errptr, static_cast<allezon_db_t*>(nullptr), [&]() -> allezon_db_t* {
    if (data_dir == nullptr) {
      InvalidArgument(errptr, "data_dir is NULL");
      return nullptr;
    }
    allezon::Options opts = options != nullptr ? options->rep : allezon::Options();
    opts.data_dir = data_dir;
    absl::StatusOr<std::unique_ptr<allezon::Database>> db = allezon::Database::Open(opts);
    if (SaveError(errptr, db.status())) return nullptr;
    auto handle = std::make_unique<allezon_db_t>();
    handle->rep = *std::move(db);
    return handle.release();
  });
}

void allezon_close(allezon_db_t* db) {
  Guard(nullptr, 0, [&] {
    delete db;
    return 0;
  });
}

allezon_code_t allezon_set_max_map_size(allezon_db_t* db, uint64_t bytes, char** errptr) {
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    return SaveStatus(errptr, db->rep->SetMaxMapSize(bytes));
  });
}

// ---- Properties -----------------------------------------------------------------------------

allezon_code_t allezon_get_property(allezon_db_t* db, const char* name, uint64_t* value,
                                    char** errptr) {
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (name == nullptr) return InvalidArgument(errptr, "name is NULL");
    if (value == nullptr) return InvalidArgument(errptr, "value is NULL");
    absl::StatusOr<uint64_t> property = db->rep->GetProperty(name);
    if (!property.ok()) return SaveStatus(errptr, property.status());
    *value = *property;
    return ALLEZON_OK;
  });
}

const char* allezon_property_name(size_t index) {
  return Guard(nullptr, static_cast<const char*>(nullptr), [&]() -> const char* {
    // NUL-terminated copies, made once (thread-safe static initialization): the C++ names
    // are string_views, which promise no terminator.
    static const std::vector<std::string> names = [] {
      const std::span<const std::string_view> views = allezon::Database::PropertyNames();
      return std::vector<std::string>(views.begin(), views.end());
    }();
    return index < names.size() ? names[index].c_str() : nullptr;
  });
}

// ---- Writes ---------------------------------------------------------------------------------

allezon_code_t allezon_add_tag_json(allezon_db_t* db, const char* json, size_t json_len,
                                    char** errptr) {
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (json == nullptr && json_len != 0) return InvalidArgument(errptr, "json is NULL");
    absl::StatusOr<allezon::UserTag> tag =
        allezon::ParseUserTagJson(std::string_view(json != nullptr ? json : "", json_len));
    if (!tag.ok()) return SaveStatus(errptr, tag.status());
    return SaveStatus(errptr, db->rep->AddTag(*tag));
  });
}

size_t allezon_add_tags_jsonl(allezon_db_t* db, const char* data, size_t len, char** errptr) {
  return Guard(errptr, size_t{0}, [&]() -> size_t {
    if (!CheckDb(db, errptr)) return 0;
    if (data == nullptr && len != 0) {
      InvalidArgument(errptr, "data is NULL");
      return 0;
    }
    std::vector<allezon::UserTag> tags;
    if (SaveError(errptr,
                  allezon::ParseUserTagLines(std::string_view(data != nullptr ? data : "", len),
                                             SIZE_MAX, &tags))) {
      return 0;
    }
    if (tags.empty()) return 0;
    if (SaveError(errptr, db->rep->AddTags(tags))) return 0;
    return tags.size();
  });
}

allezon_code_t allezon_add_tag(allezon_db_t* db, const allezon_tag_t* tag, char** errptr) {
  if (tag == nullptr) {
    // The db is checked first, as for every other NULL argument.
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    return InvalidArgument(errptr, "tag is NULL");
  }
  return allezon_add_tags(db, tag, 1, errptr);
}

allezon_code_t allezon_add_tags(allezon_db_t* db, const allezon_tag_t* tags, size_t n_tags,
                                char** errptr) {
  return GuardCode(errptr, [&]() -> allezon_code_t {
    if (!CheckDb(db, errptr)) return ALLEZON_INVALID_ARGUMENT;
    if (n_tags == 0) return ALLEZON_OK;
    if (tags == nullptr) return InvalidArgument(errptr, "tags is NULL");
    std::vector<allezon::UserTag> converted(n_tags);
    for (size_t i = 0; i < n_tags; ++i) {
      if (!ToUserTag(tags[i], i, &converted[i], errptr)) return ALLEZON_INVALID_ARGUMENT;
    }
    return SaveStatus(errptr, db->rep->AddTags(converted));
  });
}

}  // extern "C"
