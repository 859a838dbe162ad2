#include "allezon/user_tag.h"

#include <charconv>
#include <cstring>
#include <limits>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl_compat.h"
#include "allezon/user_tag_view.h"
#include "json_writer.h"
#include "user_tag_fast.h"
#include "utf8.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace allezon {
namespace {

using internal::JsonWriter;
using internal::WriteString;

absl::Status FieldError(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("field \"", internal::Sv(field), "\" ", internal::Sv(problem)));
}

// Reads a required string member, checking its length.
absl::Status ReadString(const rapidjson::Value& object, const char* field, size_t max_bytes,
                        std::string* out, std::string_view path = {}) {
  const std::string name = path.empty() ? std::string(field) : absl::StrCat(internal::Sv(path), ".", field);
  auto it = object.FindMember(field);
  if (it == object.MemberEnd()) return FieldError(name, "is missing");
  if (!it->value.IsString()) return FieldError(name, "must be a string");
  const size_t length = it->value.GetStringLength();
  if (length > max_bytes) {
    return FieldError(name, absl::StrCat("is longer than ", max_bytes, " bytes"));
  }
  out->assign(it->value.GetString(), length);
  if (!internal::IsValidUtf8(*out)) return FieldError(name, "is not valid UTF-8");
  return absl::OkStatus();
}

}  // namespace

std::string_view ActionName(Action action) { return action == Action::kBuy ? "BUY" : "VIEW"; }

std::string_view DeviceName(Device device) {
  switch (device) {
    case Device::kMobile:
      return "MOBILE";
    case Device::kTv:
      return "TV";
    case Device::kPc:
      break;
  }
  return "PC";
}

std::optional<Action> ParseAction(std::string_view name) {
  if (name == "VIEW") return Action::kView;
  if (name == "BUY") return Action::kBuy;
  return std::nullopt;
}

std::optional<Device> ParseDevice(std::string_view name) {
  if (name == "PC") return Device::kPc;
  if (name == "MOBILE") return Device::kMobile;
  if (name == "TV") return Device::kTv;
  return std::nullopt;
}

absl::StatusOr<UserTag> ParseUserTagJson(std::string_view json) {
  // The common shape without a DOM (user_tag_fast.h); the rest, errors included, below.
  if (UserTag fast; internal::ParseUserTagJsonFast(json, &fast)) return fast;
  // A NUL cannot appear raw in JSON, and RapidJSON would take it for the end of the input,
  // accepting "{...}\0junk".
  if (json.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("tag is not valid JSON: it contains a NUL byte");
  }
  rapidjson::Document document;
  // Iterative parsing: deeply nested input cannot exhaust the stack. Encoding validation:
  // stored strings are always valid UTF-8, so answers are valid JSON.
  document.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
      json.data(), json.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag is not valid JSON: ", rapidjson::GetParseError_En(document.GetParseError()),
                     " at offset ", document.GetErrorOffset()));
  }
  if (!document.IsObject()) return absl::InvalidArgumentError("a tag must be a JSON object");

  UserTag tag;
  auto time = document.FindMember("time");
  if (time == document.MemberEnd()) return FieldError("time", "is missing");
  if (time->value.IsString()) {
    absl::StatusOr<EpochMillis> parsed = ParseTagTime(
        std::string_view(time->value.GetString(), time->value.GetStringLength()));
    if (!parsed.ok()) return parsed.status();
    tag.time = *parsed;
  } else if (time->value.IsInt64()) {
    absl::StatusOr<EpochMillis> checked = CheckEpochMillis(time->value.GetInt64());
    if (!checked.ok()) return checked.status();
    tag.time = *checked;
  } else {
    return FieldError("time", "must be a string (YYYY-MM-DDTHH:MM:SS.mmmZ) or epoch milliseconds");
  }

  if (absl::Status s = ReadString(document, "cookie", kMaxCookieBytes, &tag.cookie); !s.ok()) {
    return s;
  }
  if (tag.cookie.empty()) return FieldError("cookie", "must not be empty");
  if (absl::Status s = ReadString(document, "country", kMaxFieldBytes, &tag.country); !s.ok()) {
    return s;
  }
  std::string text;
  if (absl::Status s = ReadString(document, "device", kMaxFieldBytes, &text); !s.ok()) return s;
  std::optional<Device> device = ParseDevice(text);
  if (!device) return FieldError("device", "must be one of PC, MOBILE, TV");
  tag.device = *device;
  if (absl::Status s = ReadString(document, "action", kMaxFieldBytes, &text); !s.ok()) return s;
  std::optional<Action> action = ParseAction(text);
  if (!action) return FieldError("action", "must be VIEW or BUY");
  tag.action = *action;
  if (absl::Status s = ReadString(document, "origin", kMaxFieldBytes, &tag.origin); !s.ok()) {
    return s;
  }

  auto info = document.FindMember("product_info");
  if (info == document.MemberEnd()) return FieldError("product_info", "is missing");
  if (!info->value.IsObject()) return FieldError("product_info", "must be an object");
  const rapidjson::Value& product = info->value;
  auto product_id = product.FindMember("product_id");
  if (product_id == product.MemberEnd()) return FieldError("product_info.product_id", "is missing");
  if (product_id->value.IsInt64()) {
    tag.product_id = product_id->value.GetInt64();
  } else if (product_id->value.IsString()) {
    if (product_id->value.GetStringLength() > kMaxProductIdBytes) {
      return FieldError("product_info.product_id",
                        absl::StrCat("is longer than ", kMaxProductIdBytes, " bytes"));
    }
    std::string text(product_id->value.GetString(), product_id->value.GetStringLength());
    if (!internal::IsValidUtf8(text)) {
      return FieldError("product_info.product_id", "is not valid UTF-8");
    }
    tag.product_id = std::move(text);
  } else {
    return FieldError("product_info.product_id", "must be a 64-bit integer or a string");
  }
  if (absl::Status s =
          ReadString(product, "brand_id", kMaxFieldBytes, &tag.brand_id, "product_info");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadString(product, "category_id", kMaxFieldBytes, &tag.category_id, "product_info");
      !s.ok()) {
    return s;
  }
  auto price = product.FindMember("price");
  if (price == product.MemberEnd()) return FieldError("product_info.price", "is missing");
  // IsInt(): a JSON integer (no fraction, no exponent) within int32.
  if (!price->value.IsInt()) {
    return FieldError("product_info.price", "must be an integer within int32");
  }
  tag.price = price->value.GetInt();
  return tag;
}

absl::Status ValidateUserTag(const UserTag& tag) {
  if (tag.cookie.empty()) return FieldError("cookie", "must not be empty");
  const auto* product_text = std::get_if<std::string>(&tag.product_id);
  for (const auto& [name, value, max_bytes] :
       {std::tuple<std::string_view, const std::string*, size_t>{"cookie", &tag.cookie,
                                                                 kMaxCookieBytes},
        {"country", &tag.country, kMaxFieldBytes},
        {"origin", &tag.origin, kMaxFieldBytes},
        {"product_info.brand_id", &tag.brand_id, kMaxFieldBytes},
        {"product_info.category_id", &tag.category_id, kMaxFieldBytes},
        {"product_info.product_id", product_text, kMaxProductIdBytes}}) {
    if (value == nullptr) continue;
    if (value->size() > max_bytes) {
      return FieldError(name, absl::StrCat("is longer than ", max_bytes, " bytes"));
    }
    if (!internal::IsValidUtf8(*value)) return FieldError(name, "is not valid UTF-8");
  }
  if (tag.time < kMinTime || tag.time > kMaxTime) {
    return FieldError("time", "is outside years 0001-9999");
  }
  if (static_cast<uint8_t>(tag.action) > 1) return FieldError("action", "is not VIEW or BUY");
  if (static_cast<uint8_t>(tag.device) > 2) return FieldError("device", "is not PC, MOBILE or TV");
  return absl::OkStatus();
}

char* internal::TagTimeWriter::WriteNewDay(int64_t time, int64_t day, char* p) {
  const std::string text = FormatTagTime(time);
  // Only the usual form is remembered; another (a year beyond 0000-9999) is written as is.
  if (text.size() == 24 && text[10] == 'T') {
    std::memcpy(date_, text.data(), sizeof date_);
    day_ = day;
  }
  return PutBytes(p, text);
}

void AppendUserTagJson(const UserTagView& tag, std::string* out) {
  // By hand (json_writer.h), byte for byte what RapidJSON's Writer wrote before: profiles
  // write up to 400 tags per answer, and the Writer's per-character Put cost ~1.7 us a tag
  // (bench/RESULTS.md).
  internal::StringSink sink(out);
  internal::TagTimeWriter time;
  char* p = sink.Room(internal::TagJsonBound(tag) + internal::JsonStringBound(tag.cookie.size()));
  sink.Advance(internal::WriteTagJson(
      tag, time, p, [&](char* q) { return internal::WriteJsonString(tag.cookie, q); }));
}

void AppendUserTagJson(const UserTag& tag, std::string* out) {
  AppendUserTagJson(ViewOf(tag), out);
}

std::string UserTagToJson(const UserTag& tag) {
  std::string out;
  AppendUserTagJson(tag, &out);
  return out;
}

}  // namespace allezon
