#include "allezon_test/tags.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "allezon_test/http.h"

namespace allezon_test {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second, millis;
};

Civil ToCivil(int64_t ms) {
  int64_t days = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
  int64_t rest = ms - days * kDay;
  Civil c{};
  c.millis = static_cast<unsigned>(rest % 1000);
  rest /= 1000;
  c.second = static_cast<unsigned>(rest % 60);
  rest /= 60;
  c.minute = static_cast<unsigned>(rest % 60);
  c.hour = static_cast<unsigned>(rest / 60);
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = y + (c.month <= 2);
  return c;
}

std::string FormatSecondsPart(const Civil& c) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u", c.year, c.month, c.day,
                c.hour, c.minute, c.second);
  return buf;
}

std::string Millis3(unsigned ms) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), ".%03u", ms);
  return buf;
}

const char* TypeName(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "bool";
  if (v.IsString()) return "string";
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsInt64()) return "integer";
  return "number";
}

}  // namespace

int64_t TimeMs(int year, int month, int day, int hour, int minute, int second, int millis) {
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kDay +
         hour * kHour + minute * kMinute + second * int64_t{1000} + millis;
}

std::string FormatTagTime(int64_t ms) { return FormatRangeMs(ms) + "Z"; }

std::string FormatRangeMs(int64_t ms) {
  Civil c = ToCivil(ms);
  return FormatSecondsPart(c) + Millis3(c.millis);
}

std::string FormatSeconds(int64_t ms) { return FormatSecondsPart(ToCivil(ms)); }

std::string ProfileRange(int64_t begin_ms, int64_t end_ms) {
  return FormatRangeMs(begin_ms) + "_" + FormatRangeMs(end_ms);
}

std::string SecondsRange(int64_t begin_ms, int64_t end_ms) {
  return FormatSeconds(begin_ms) + "_" + FormatSeconds(end_ms);
}

std::string JsonQuote(std::string_view s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string Tag::ToJson() const {
  std::string out = "{\"time\":";
  if (const auto* s = std::get_if<std::string>(&time)) {
    out += JsonQuote(*s);
  } else {
    out += std::to_string(std::get<int64_t>(time));
  }
  out += ",\"cookie\":" + JsonQuote(cookie);
  out += ",\"country\":" + JsonQuote(country);
  out += ",\"device\":" + JsonQuote(device);
  out += ",\"action\":" + JsonQuote(action);
  out += ",\"origin\":" + JsonQuote(origin);
  out += ",\"product_info\":{\"product_id\":";
  if (const auto* i = std::get_if<int64_t>(&product_id)) {
    out += std::to_string(*i);
  } else {
    out += JsonQuote(std::get<std::string>(product_id));
  }
  out += ",\"brand_id\":" + JsonQuote(brand_id);
  out += ",\"category_id\":" + JsonQuote(category_id);
  out += ",\"price\":" + std::to_string(price);
  out += "}}";
  return out;
}

Tag MakeTag(int64_t ms, std::string cookie, std::string action) {
  Tag t;
  t.time = FormatTagTime(ms);
  t.ms = ms;
  t.cookie = std::move(cookie);
  t.action = std::move(action);
  return t;
}

rapidjson::Document ParseJson(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  return d;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string DiffTag(const rapidjson::Value& v, const Tag& want) {
  if (!v.IsObject()) return std::string("tag is a JSON ") + TypeName(v) + ", not an object";
  std::string where = " (tag " + ToJson(v) + ", want " + want.ToJson() + ")";
  auto str_field = [&](const rapidjson::Value& obj, const char* name,
                       const std::string& expected) -> std::string {
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd()) return std::string("missing field ") + name + where;
    if (!it->value.IsString()) {
      return std::string(name) + " is a " + TypeName(it->value) + ", want string" + where;
    }
    std::string got(it->value.GetString(), it->value.GetStringLength());
    if (got != expected) {
      return std::string(name) + " = " + JsonQuote(got) + ", want " + JsonQuote(expected) + where;
    }
    return "";
  };
  if (v.MemberCount() != 7) {
    return "tag has " + std::to_string(v.MemberCount()) + " fields, want exactly 7" + where;
  }
  for (auto [name, expected] : {std::pair<const char*, std::string>{"time", FormatTagTime(want.ms)},
                                {"cookie", want.cookie},
                                {"country", want.country},
                                {"device", want.device},
                                {"action", want.action},
                                {"origin", want.origin}}) {
    if (std::string d = str_field(v, name, expected); !d.empty()) return d;
  }
  auto pi = v.FindMember("product_info");
  if (pi == v.MemberEnd() || !pi->value.IsObject())
    return "product_info missing or not an object" + where;
  const auto& p = pi->value;
  if (p.MemberCount() != 4) {
    return "product_info has " + std::to_string(p.MemberCount()) + " fields, want 4" + where;
  }
  auto id = p.FindMember("product_id");
  if (id == p.MemberEnd()) return "missing product_id" + where;
  if (const auto* i = std::get_if<int64_t>(&want.product_id)) {
    if (!id->value.IsInt64()) {
      return std::string("product_id is a JSON ") + TypeName(id->value) + ", want integer" + where;
    }
    if (id->value.GetInt64() != *i) return "product_id value differs" + where;
  } else {
    if (std::string d = str_field(p, "product_id", std::get<std::string>(want.product_id));
        !d.empty()) {
      return d;
    }
  }
  if (std::string d = str_field(p, "brand_id", want.brand_id); !d.empty()) return d;
  if (std::string d = str_field(p, "category_id", want.category_id); !d.empty()) return d;
  auto price = p.FindMember("price");
  if (price == p.MemberEnd()) return "missing price" + where;
  if (!price->value.IsInt64()) {
    return std::string("price is a JSON ") + TypeName(price->value) + ", want integer" + where;
  }
  if (price->value.GetInt64() != want.price) return "price differs" + where;
  return "";
}

std::string CheckErrorBody(std::string_view body) {
  rapidjson::Document d = ParseJson(body);
  if (d.HasParseError()) return "error body is not JSON: " + std::string(body.substr(0, 200));
  if (!d.IsObject()) return "error body is not a JSON object: " + std::string(body.substr(0, 200));
  auto it = d.FindMember("error");
  if (it == d.MemberEnd() || !it->value.IsString()) {
    return "error body has no string \"error\": " + std::string(body.substr(0, 200));
  }
  return "";
}

// --- Model -----------------------------------------------------------------------------------

std::string AggregateQuery::ToQuery() const {
  std::string q = "time_range=" + SecondsRange(begin_ms, end_ms) + "&action=" + UrlEncode(action);
  for (const auto& a : aggregates) q += "&aggregates=" + UrlEncode(a);
  if (origin) q += "&origin=" + UrlEncode(*origin);
  if (brand_id) q += "&brand_id=" + UrlEncode(*brand_id);
  if (category_id) q += "&category_id=" + UrlEncode(*category_id);
  if (bucket != "1m") q += "&bucket=" + UrlEncode(bucket);
  return q;
}

int64_t AggregateQuery::BucketMs() const {
  if (bucket == "15m") return 15 * kMinute;
  if (bucket == "1h") return 60 * kMinute;
  if (bucket == "1d") return 1440 * kMinute;
  return kMinute;
}

std::string AggregateAnswer::ToJson() const {
  std::string out = "{\"columns\":[";
  for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + JsonQuote(columns[i]);
  out += "],\"rows\":[";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += r ? ",[" : "[";
    for (size_t i = 0; i < rows[r].size(); ++i) out += (i ? "," : "") + JsonQuote(rows[r][i]);
    out += "]";
  }
  out += "]}";
  return out;
}

void Model::Add(const Tag& tag) { tags_.push_back(tag); }

ProfileAnswer Model::Profile(const std::string& cookie, int64_t begin_ms, int64_t end_ms,
                             size_t limit) const {
  ProfileAnswer answer;
  for (const char* action : {"VIEW", "BUY"}) {
    // (time, arrival) of this cookie's tags of this action, newest first.
    std::vector<size_t> idx;
    for (size_t i = 0; i < tags_.size(); ++i) {
      if (tags_[i].cookie == cookie && tags_[i].action == action) idx.push_back(i);
    }
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      if (tags_[a].ms != tags_[b].ms) return tags_[a].ms > tags_[b].ms;
      return a > b;
    });
    if (idx.size() > cap_) idx.resize(cap_);
    auto& out = std::string(action) == "VIEW" ? answer.views : answer.buys;
    for (size_t i : idx) {
      if (out.size() >= limit) break;
      if (tags_[i].ms >= begin_ms && tags_[i].ms < end_ms) out.push_back(tags_[i]);
    }
  }
  return answer;
}

AggregateAnswer Model::Aggregate(const AggregateQuery& q) const {
  AggregateAnswer a;
  a.columns = {q.bucket + "_bucket", "action"};
  const int64_t size = q.BucketMs();
  if (q.origin) a.columns.push_back("origin");
  if (q.brand_id) a.columns.push_back("brand_id");
  if (q.category_id) a.columns.push_back("category_id");
  for (const auto& name : q.aggregates)
    a.columns.push_back(name == "COUNT" ? "count" : "sum_price");
  for (int64_t bucket = q.begin_ms; bucket < q.end_ms; bucket += size) {
    int64_t count = 0, sum = 0;
    for (const auto& t : tags_) {
      if (t.ms < bucket || t.ms >= bucket + size || t.action != q.action) continue;
      if (q.origin && t.origin != *q.origin) continue;
      if (q.brand_id && t.brand_id != *q.brand_id) continue;
      if (q.category_id && t.category_id != *q.category_id) continue;
      ++count;
      sum += t.price;
    }
    std::vector<std::string> row = {FormatSeconds(bucket), q.action};
    if (q.origin) row.push_back(*q.origin);
    if (q.brand_id) row.push_back(*q.brand_id);
    if (q.category_id) row.push_back(*q.category_id);
    for (const auto& name : q.aggregates) {
      row.push_back(std::to_string(name == "COUNT" ? count : sum));
    }
    a.rows.push_back(std::move(row));
  }
  return a;
}

std::string ProfileJson(const std::string& cookie, const ProfileAnswer& answer) {
  std::string out = "{\"cookie\":" + JsonQuote(cookie) + ",\"views\":[";
  auto tag_json = [](const Tag& t) {
    Tag canonical = t;
    canonical.time = FormatTagTime(t.ms);
    return canonical.ToJson();
  };
  for (size_t i = 0; i < answer.views.size(); ++i)
    out += (i ? "," : "") + tag_json(answer.views[i]);
  out += "],\"buys\":[";
  for (size_t i = 0; i < answer.buys.size(); ++i) out += (i ? "," : "") + tag_json(answer.buys[i]);
  out += "]}";
  return out;
}

std::string DiffProfile(std::string_view body, const std::string& cookie,
                        const ProfileAnswer& want) {
  rapidjson::Document d = ParseJson(body);
  if (d.HasParseError() || !d.IsObject()) {
    return "profile answer is not a JSON object: " + std::string(body.substr(0, 300));
  }
  auto c = d.FindMember("cookie");
  if (c == d.MemberEnd() || !c->value.IsString()) return "profile answer has no string cookie";
  std::string got_cookie(c->value.GetString(), c->value.GetStringLength());
  if (got_cookie != cookie) {
    return "cookie = " + JsonQuote(got_cookie) + ", want " + JsonQuote(cookie);
  }
  for (auto [name, list] : {std::pair<const char*, const std::vector<Tag>*>{"views", &want.views},
                            {"buys", &want.buys}}) {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsArray()) {
      return std::string("profile answer has no array ") + name;
    }
    const auto& arr = it->value;
    if (arr.Size() != list->size()) {
      std::string got_times;
      for (const auto& t : arr.GetArray()) {
        auto tm = t.IsObject() ? t.FindMember("time") : t.MemberEnd();
        got_times += " " + (t.IsObject() && tm != t.MemberEnd() ? ToJson(tm->value) : "?");
      }
      std::string want_times;
      for (const auto& t : *list) want_times += " \"" + FormatTagTime(t.ms) + "\"";
      return std::string(name) + " has " + std::to_string(arr.Size()) + " tags, want " +
             std::to_string(list->size()) + "; got times:" + got_times.substr(0, 600) +
             "; want times:" + want_times.substr(0, 600);
    }
    for (rapidjson::SizeType i = 0; i < arr.Size(); ++i) {
      if (std::string diff = DiffTag(arr[i], (*list)[i]); !diff.empty()) {
        return std::string(name) + "[" + std::to_string(i) + "]: " + diff;
      }
    }
  }
  return "";
}

std::string DiffAggregate(std::string_view body, const AggregateAnswer& want) {
  rapidjson::Document d = ParseJson(body);
  if (d.HasParseError() || !d.IsObject()) {
    return "aggregates answer is not a JSON object: " + std::string(body.substr(0, 300));
  }
  auto cols = d.FindMember("columns");
  auto rows = d.FindMember("rows");
  if (cols == d.MemberEnd() || !cols->value.IsArray() || rows == d.MemberEnd() ||
      !rows->value.IsArray()) {
    return "aggregates answer lacks columns/rows arrays: " + std::string(body.substr(0, 300));
  }
  auto row_diff = [](const rapidjson::Value& got, const std::vector<std::string>& expected,
                     const std::string& what) -> std::string {
    std::string want_json = "[";
    for (size_t i = 0; i < expected.size(); ++i)
      want_json += (i ? "," : "") + JsonQuote(expected[i]);
    want_json += "]";
    if (!got.IsArray()) return what + " is not an array: " + ToJson(got);
    bool same = got.Size() == expected.size();
    for (rapidjson::SizeType i = 0; same && i < got.Size(); ++i) {
      same = got[i].IsString() &&
             std::string(got[i].GetString(), got[i].GetStringLength()) == expected[i];
    }
    return same ? "" : what + " = " + ToJson(got) + ", want " + want_json;
  };
  if (std::string diff = row_diff(cols->value, want.columns, "columns"); !diff.empty()) return diff;
  if (rows->value.Size() != want.rows.size()) {
    return "rows has " + std::to_string(rows->value.Size()) + " rows, want " +
           std::to_string(want.rows.size()) + "; answer: " + std::string(body.substr(0, 400));
  }
  for (rapidjson::SizeType r = 0; r < rows->value.Size(); ++r) {
    if (std::string diff =
            row_diff(rows->value[r], want.rows[r], "rows[" + std::to_string(r) + "]");
        !diff.empty()) {
      return diff;
    }
  }
  return "";
}

}  // namespace allezon_test
