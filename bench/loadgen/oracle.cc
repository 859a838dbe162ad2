#include "oracle.h"

#include <algorithm>
#include <charconv>

namespace allezon::loadgen {
namespace {

constexpr size_t kCookiesPrunedPerCall = 64;
// Dropped entries are compacted away once they are both many and most of the vector.
constexpr size_t kCompactAfter = 64;

bool IsNewer(const Tag& a, const Tag& b) {
  return a.time_ms != b.time_ms ? a.time_ms > b.time_ms : a.sequence > b.sequence;
}

void AppendQuotedInt(int64_t value, std::string* out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out->push_back('"');
  out->append(buffer, static_cast<size_t>(result.ptr - buffer));
  out->push_back('"');
}

}  // namespace

Oracle::Oracle(const Catalog* catalog, int profile_cap)
    : catalog_(catalog),
      profile_cap_(static_cast<size_t>(std::max(profile_cap, 1))),
      cookies_(catalog->cookie_population()) {}

void Oracle::AddTag(const Tag& tag) {
  if (tag.cookie >= cookies_.size()) cookies_.resize(tag.cookie + size_t{1});
  std::unique_ptr<CookieTags>& cookie = cookies_[tag.cookie];
  if (!cookie) cookie = std::make_unique<CookieTags>();
  CappedTags& list = cookie->by_action[static_cast<int>(tag.action)];

  // Oldest first; a new tag almost always goes at the end (out of order only with disorder).
  size_t position = list.tags.size();
  while (position > list.head && IsNewer(list.tags[position - 1], tag)) --position;
  list.tags.insert(list.tags.begin() + static_cast<std::ptrdiff_t>(position), tag);
  ++stored_profile_tags_;
  // The server keeps only the cap most recent per action: the oldest goes, which may be
  // the tag just added if it arrived late and older than all others.
  if (list.size() > profile_cap_) Trim(&list, list.head + 1);

  minutes_[FloorToMinute(tag.time_ms)][static_cast<int>(tag.action)].push_back(
      MinuteEntry{tag.price, tag.origin, tag.brand, tag.category});
}

void Oracle::Trim(CappedTags* list, size_t keep_from) {
  stored_profile_tags_ -= keep_from - list->head;
  list->head = keep_from;
  if (list->head >= kCompactAfter && list->head * 2 >= list->tags.size()) {
    list->tags.erase(list->tags.begin(),
                     list->tags.begin() + static_cast<std::ptrdiff_t>(list->head));
    list->head = 0;
  }
  if (list->size() == 0) {
    list->tags.clear();
    list->tags.shrink_to_fit();
    list->head = 0;
  }
}

void Oracle::AppendProfileList(const CappedTags& list, const ProfileQuery& query,
                               std::string* body) const {
  const size_t limit = query.limit < 0 ? 200 : static_cast<size_t>(query.limit);
  size_t written = 0;
  // Newest first: walk from the end. Equal times: the later accepted sorts later, so it
  // is written first, as SPEC §4 orders them.
  for (size_t i = list.tags.size(); i > list.head && written < limit; --i) {
    const Tag& tag = list.tags[i - 1];
    if (tag.time_ms >= query.end_ms) continue;
    if (tag.time_ms < query.begin_ms) break;
    if (written > 0) body->push_back(',');
    AppendCanonicalTagJson(tag, *catalog_, body);
    ++written;
  }
}

bool Oracle::ExpectedProfile(const ProfileQuery& query, std::string* body) const {
  if (tainted_cookies_.count(query.cookie) > 0) return false;
  body->append("{\"cookie\":");
  AppendJsonString(catalog_->Cookie(query.cookie), body);
  const CookieTags* cookie =
      query.cookie < cookies_.size() ? cookies_[query.cookie].get() : nullptr;
  body->append(",\"views\":[");
  if (cookie != nullptr) AppendProfileList(cookie->by_action[0], query, body);
  body->append("],\"buys\":[");
  if (cookie != nullptr) AppendProfileList(cookie->by_action[1], query, body);
  body->append("]}");
  return true;
}

bool Oracle::ExpectedAggregates(const AggregateQuery& query, std::string* body) const {
  for (int64_t minute = query.begin_ms; minute < query.end_ms; minute += kMillisPerMinute) {
    if (tainted_minutes_.count(minute) > 0) return false;
  }
  const std::string_view action = Catalog::ActionName(query.action);
  const Catalog::Name* origin =
      query.origin >= 0 ? &catalog_->origins()[static_cast<size_t>(query.origin)] : nullptr;
  const Catalog::Name* brand =
      query.brand >= 0 ? &catalog_->brands()[static_cast<size_t>(query.brand)] : nullptr;
  const Catalog::Name* category =
      query.category >= 0 ? &catalog_->categories()[static_cast<size_t>(query.category)] : nullptr;

  // Columns: bucket, then the filters in SPEC order (action always), then the aggregates in
  // the order asked.
  body->append("{\"columns\":[\"1m_bucket\",\"action\"");
  if (origin) body->append(",\"origin\"");
  if (brand) body->append(",\"brand_id\"");
  if (category) body->append(",\"category_id\"");
  for (Aggregate aggregate : query.aggregates) {
    body->append(aggregate == Aggregate::kCount ? ",\"count\"" : ",\"sum_price\"");
  }
  body->append("],\"rows\":[");

  // The SQL of SPEC §5, one bucket at a time; an empty bucket is still a row of zeros.
  bool first_row = true;
  for (int64_t minute = query.begin_ms; minute < query.end_ms; minute += kMillisPerMinute) {
    int64_t count = 0;
    int64_t sum_price = 0;
    auto found = minutes_.find(minute);
    if (found != minutes_.end()) {
      for (const MinuteEntry& entry : found->second[static_cast<int>(query.action)]) {
        if (query.origin >= 0 && entry.origin != query.origin) continue;
        if (query.brand >= 0 && entry.brand != query.brand) continue;
        if (query.category >= 0 && entry.category != query.category) continue;
        ++count;
        sum_price += entry.price;
      }
    }
    if (!first_row) body->push_back(',');
    first_row = false;
    body->append("[\"");
    AppendBucketTime(minute, body);
    body->append("\",\"");
    body->append(action);
    body->push_back('"');
    if (origin) body->append(",").append(origin->json);
    if (brand) body->append(",").append(brand->json);
    if (category) body->append(",").append(category->json);
    for (Aggregate aggregate : query.aggregates) {
      body->push_back(',');
      AppendQuotedInt(aggregate == Aggregate::kCount ? count : sum_price, body);
    }
    body->push_back(']');
  }
  body->append("]}");
  return true;
}

void Oracle::PruneBefore(int64_t horizon_ms) {
  const int64_t first_kept_minute = FloorToMinute(horizon_ms);
  while (!minutes_.empty() && minutes_.begin()->first < first_kept_minute) {
    minutes_.erase(minutes_.begin());
  }
  if (cookies_.empty()) return;
  for (size_t n = 0; n < kCookiesPrunedPerCall; ++n) {
    if (prune_cursor_ >= cookies_.size()) prune_cursor_ = 0;
    std::unique_ptr<CookieTags>& cookie = cookies_[prune_cursor_++];
    if (!cookie) continue;
    bool empty = true;
    for (CappedTags& list : cookie->by_action) {
      size_t keep_from = list.head;
      while (keep_from < list.tags.size() && list.tags[keep_from].time_ms < horizon_ms) {
        ++keep_from;
      }
      if (keep_from != list.head) Trim(&list, keep_from);
      empty = empty && list.size() == 0;
    }
    if (empty) cookie.reset();
  }
}

}  // namespace allezon::loadgen
