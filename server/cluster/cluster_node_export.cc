// ClusterNode's side of GET /export (SPEC §10): every partition group keeps the raw tags of
// its own partitions, so the node reads them a page at a time from one owner of every group
// (itself when it owns the group and has caught up) and merges the pages by time, holding
// one page per group whatever the range.
//
// A page resumes after a cursor: the time of the last tag read and how many tags of that
// time were read. It stays right while tags arrive: a group exports in (time, log sequence)
// order, so a tag taken meanwhile at that time comes after the ones read, and one before it
// was not there when the export passed, as with one server.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "allezon/tag_lines.h"
#include "cluster_node.h"
#include "cluster_node_state.h"
#include "http_message.h"
#include "peer_calls.h"

namespace allezon::cluster {
namespace {

constexpr int64_t kMaxPageTags = 65536;
constexpr size_t kSinkBatch = 2048;
constexpr char kJson[] = "application/json";

struct Cursor {
  EpochMillis time = 0;
  int64_t read_at_time = 0;  // tags of `time` already read
};

// Up to `limit` NDJSON lines of the range's tags after `after`.
absl::StatusOr<std::string> LocalPage(const Database& db, TimeRange range, Cursor after,
                                      int64_t limit) {
  std::string out;
  int64_t lines = 0, skip = after.read_at_time;
  bool full = false;
  absl::Status status = db.ExportTags({std::max(range.begin, after.time), range.end},
                                      [&](std::span<const UserTagView> tags) -> absl::Status {
                                        for (const UserTagView& tag : tags) {
                                          if (skip > 0 && tag.time == after.time) {
                                            --skip;
                                            continue;
                                          }
                                          if (lines == limit) {
                                            full = true;
                                            return absl::CancelledError("page full");
                                          }
                                          AppendUserTagLine(tag, &out);
                                          ++lines;
                                        }
                                        return absl::OkStatus();
                                      });
  if (!status.ok() && !full) return status;
  return out;
}

}  // namespace

absl::StatusOr<std::string> ClusterNode::AskGroup(
    const Group& group, const std::function<absl::StatusOr<std::string>(const Database&)>& local,
    const std::string& target) const {
  int candidates[2] = {group.primary, group.secondary};
  if (group.secondary == self_) std::swap(candidates[0], candidates[1]);  // local first
  absl::Status last = absl::UnavailableError("no owner");
  for (int owner : candidates) {
    if (owner < 0) continue;
    absl::StatusOr<std::string> answer;
    if (owner == self_) {
      absl::StatusOr<const Database*> db = ReadyGroupDatabase(group.key);
      answer = db.ok() ? local(**db) : absl::StatusOr<std::string>(db.status());
    } else {
      answer = PeerGet(config_.nodes[static_cast<size_t>(owner)], target,
                       options_.peer_connect_timeout, options_.peer_timeout);
    }
    // A query's own fault (or raw retention off) is the same on every owner.
    if (answer.ok() || absl::IsInvalidArgument(answer.status()) ||
        absl::IsFailedPrecondition(answer.status())) {
      return answer;
    }
    last = answer.status();
  }
  return absl::UnavailableError(
      absl::StrCat("no owner of partitions group ", group.key, " can answer: ", last.message()));
}

absl::StatusOr<EpochMillis> ClusterNode::EarliestRawTime() {
  EpochMillis latest = kMinTime;
  for (const auto& group : groups_) {
    absl::StatusOr<std::string> answer = AskGroup(
        *group,
        [](const Database& db) -> absl::StatusOr<std::string> {
          absl::StatusOr<EpochMillis> earliest = db.EarliestRawTime();
          if (!earliest.ok()) return earliest.status();
          return absl::StrCat(*earliest);
        },
        absl::StrCat("/cluster/raw_from?group=", group->key));
    if (!answer.ok()) return answer.status();
    EpochMillis earliest = 0;
    if (!absl::SimpleAtoi(*answer, &earliest)) {
      return absl::UnavailableError("a peer's earliest raw time is not a number");
    }
    latest = std::max(latest, earliest);
  }
  return latest;
}

absl::Status ClusterNode::ExportTags(TimeRange range, const ExportSink& sink) {
  if (range.end < range.begin) return absl::InvalidArgumentError("the time range is reversed");
  const int64_t page_tags = std::clamp<int64_t>(options_.export_page_tags, 1, kMaxPageTags);
  struct Pages {
    const Group* group = nullptr;
    std::vector<UserTag> tags;
    size_t next = 0;
    Cursor cursor;
    bool more = true;
  };
  std::vector<Pages> groups(groups_.size());
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].group = groups_[i].get();
    groups[i].cursor.time = range.begin;
  }
  const auto fetch = [&](Pages& pages) -> absl::Status {
    const Cursor after = pages.cursor;
    absl::StatusOr<std::string> page = AskGroup(
        *pages.group, [&](const Database& db) { return LocalPage(db, range, after, page_tags); },
        absl::StrCat("/cluster/export?group=", pages.group->key, "&begin=", range.begin,
                     "&end=", range.end, "&from=", after.time, "&skip=", after.read_at_time,
                     "&limit=", page_tags));
    if (!page.ok()) return page.status();
    pages.tags.clear();
    pages.next = 0;
    if (!ParseUserTagLines(*page, static_cast<size_t>(page_tags), &pages.tags).ok()) {
      return absl::UnavailableError(
          absl::StrCat("group ", pages.group->key, "'s export page is malformed"));
    }
    pages.more = static_cast<int64_t>(pages.tags.size()) == page_tags;
    for (const UserTag& tag : pages.tags) {
      if (tag.time == pages.cursor.time) {
        ++pages.cursor.read_at_time;
      } else {
        pages.cursor = {tag.time, 1};
      }
    }
    return absl::OkStatus();
  };
  // Views into the groups' pages: handed on before any page is replaced.
  std::vector<UserTagView> batch;
  batch.reserve(kSinkBatch);
  const auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::Status status = sink(batch);
    batch.clear();
    return status;
  };
  while (true) {
    Pages* earliest = nullptr;
    for (Pages& pages : groups) {
      if (pages.next == pages.tags.size() && pages.more) {
        if (absl::Status s = flush(); !s.ok()) return s;
        if (absl::Status s = fetch(pages); !s.ok()) return s;
      }
      if (pages.next < pages.tags.size() &&
          (earliest == nullptr ||
           pages.tags[pages.next].time < earliest->tags[earliest->next].time)) {
        earliest = &pages;
      }
    }
    if (earliest == nullptr) break;
    batch.push_back(ViewOf(earliest->tags[earliest->next++]));
    if (batch.size() == kSinkBatch) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  return flush();
}

void ClusterNode::RegisterExportRoutes(server::HttpRouter& router) {
  using Req = const server::HttpRequest&;
  using Res = server::HttpResponse&;
  router.Get("/cluster/raw_from", [this](Req q, Res r) {
    absl::StatusOr<const Database*> db = ReadyGroupDatabase(q.param("group"));
    if (!db.ok()) return SendJsonError(r, db.status());
    absl::StatusOr<EpochMillis> earliest = (*db)->EarliestRawTime();
    if (!earliest.ok()) return SendJsonError(r, earliest.status());
    r.set_content(absl::StrCat(*earliest), kJson);
  });
  router.Get(
      "/cluster/export",
      [this](Req q, Res r) {
        absl::StatusOr<int64_t> begin = IntParam(q, "begin"), end = IntParam(q, "end"),
                                from = IntParam(q, "from"), skip = IntParam(q, "skip"),
                                limit = IntParam(q, "limit");
        for (const auto* param : {&begin, &end, &from, &skip, &limit}) {
          if (!param->ok()) return SendJsonError(r, param->status());
        }
        if (*skip < 0 || *limit <= 0 || *limit > kMaxPageTags) {
          return SendJsonError(r, absl::InvalidArgumentError("skip >= 0, 0 < limit <= 65536"));
        }
        absl::StatusOr<const Database*> db = ReadyGroupDatabase(q.param("group"));
        if (!db.ok()) return SendJsonError(r, db.status());
        absl::StatusOr<std::string> page = LocalPage(**db, {*begin, *end}, {*from, *skip}, *limit);
        if (!page.ok()) return SendJsonError(r, page.status());
        r.set_content(std::move(*page), "application/x-ndjson");
      },
      server::HttpRouter::Dispatch::kWorker);
}

}  // namespace allezon::cluster
