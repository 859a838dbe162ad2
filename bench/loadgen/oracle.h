// The oracle: a deliberately simple, independent in-memory model of what a correct server
// answers (SPEC §4, §5). It shares no code with the library it checks: plain containers,
// the SQL of SPEC §5 written as a loop, and its own JSON and time formatting.
//
// Profiles: per cookie and action, the `profile_cap` most recent tags (ordered by time, and
// by acceptance order among equal times: the later accepted is the more recent), exactly as
// a server that keeps only that many would. Aggregates: per minute, the tags' (action,
// origin, brand, category, price), scanned per query.
//
// Memory is bounded by pruning history no query can reach any more (PruneBefore). Every
// answer is written compactly in the server's canonical form (keys in SPEC order, times with
// ".mmm"), so a conforming server's answer is usually byte-identical and checks cheaply.
//
// Not thread-safe; used by the driver's single thread.
#ifndef ALLEZON_BENCH_LOADGEN_ORACLE_H_
#define ALLEZON_BENCH_LOADGEN_ORACLE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "stream.h"

namespace allezon::loadgen {

class Oracle {
 public:
  Oracle(const Catalog* catalog, int profile_cap);

  // Records a tag the server has been sent (and will be assumed to store).
  void AddTag(const Tag& tag);

  // The server's state for this cookie / minute is unknown (a tag request failed): answers
  // about it cannot be checked.
  void TaintCookie(uint32_t cookie) { tainted_cookies_.insert(cookie); }
  void TaintMinute(int64_t minute_start_ms) { tainted_minutes_.insert(minute_start_ms); }

  // Writes the expected answer body. Returns false (and writes nothing) when the answer
  // cannot be known because of a taint.
  bool ExpectedProfile(const ProfileQuery& query, std::string* body) const;
  bool ExpectedAggregates(const AggregateQuery& query, std::string* body) const;

  // Forgets tags older than `horizon_ms` (no later query reaches before it). Profiles are
  // pruned incrementally, a slice of cookies per call, so no call stalls the driver.
  void PruneBefore(int64_t horizon_ms);

  size_t stored_profile_tags() const { return stored_profile_tags_; }

 private:
  // One cookie's tags of one action, oldest first; `head` marks the oldest still held
  // (entries before it are dropped and compacted away lazily, so trimming is O(1)).
  struct CappedTags {
    std::vector<Tag> tags;
    size_t head = 0;
    size_t size() const { return tags.size() - head; }
  };
  struct CookieTags {
    CappedTags by_action[2];
  };
  struct MinuteEntry {
    int32_t price;
    uint16_t origin;
    uint16_t brand;
    uint8_t category;
  };

  void Trim(CappedTags* list, size_t keep_from);
  void AppendProfileList(const CappedTags& list, const ProfileQuery& query,
                         std::string* body) const;

  const Catalog* catalog_;
  size_t profile_cap_;
  std::vector<std::unique_ptr<CookieTags>> cookies_;  // by cookie index
  size_t stored_profile_tags_ = 0;
  size_t prune_cursor_ = 0;
  // By minute start, then by action (a query asks about one action: half the scan).
  std::map<int64_t, std::array<std::vector<MinuteEntry>, 2>> minutes_;
  std::set<uint32_t> tainted_cookies_;
  std::set<int64_t> tainted_minutes_;
};

}  // namespace allezon::loadgen

#endif  // ALLEZON_BENCH_LOADGEN_ORACLE_H_
