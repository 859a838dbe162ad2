// Internal: per-minute counts of many series (one per (value, action) for the anomaly
// detector), each with a sliding window of its last `window` minutes kept sorted, so the
// window's median is two array reads.
//
// All series advance together, a minute at a time: Add counts to the current minute, read
// Median (of the minutes before it), then Advance. A series added late starts with a window
// of zeros: it had no count in the minutes before it was first seen.
//
// Not thread-safe: one per query.
#ifndef ALLEZON_SRC_MINUTE_SERIES_H_
#define ALLEZON_SRC_MINUTE_SERIES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace allezon::internal {

class MinuteSeries {
 public:
  explicit MinuteSeries(size_t window) : window_(std::max<size_t>(window, 1)) {}

  // The index of the series `key`, added when new.
  size_t Index(uint64_t key) {
    auto [it, inserted] = index_.try_emplace(key, keys_.size());
    if (inserted) {
      keys_.push_back(key);
      current_.push_back(0);
      ring_.resize(ring_.size() + window_, 0);
      sorted_.resize(sorted_.size() + window_, 0);
    }
    return it->second;
  }

  size_t size() const { return keys_.size(); }
  uint64_t key(size_t series) const { return keys_[series]; }
  void Add(size_t series, int64_t count) { current_[series] += count; }
  int64_t current(size_t series) const { return current_[series]; }

  // The median of the series' window: the middle count, or the mean of the middle two.
  double Median(size_t series) const {
    const int64_t* sorted = &sorted_[series * window_];
    if (window_ % 2 == 1) return static_cast<double>(sorted[window_ / 2]);
    return (static_cast<double>(sorted[window_ / 2 - 1]) +
            static_cast<double>(sorted[window_ / 2])) /
           2.0;
  }

  // Ends the current minute: each series' count replaces the oldest of its window, and the
  // counts start again from 0.
  void Advance() {
    for (size_t s = 0; s < keys_.size(); ++s) {
      int64_t& slot = ring_[s * window_ + head_];
      const int64_t out = slot;
      const int64_t in = current_[s];
      current_[s] = 0;
      if (out == in) continue;  // the common case of a quiet series: nothing moves
      slot = in;
      int64_t* sorted = &sorted_[s * window_];
      int64_t* end = sorted + window_;
      // Remove `out` (it is there), then insert `in` in order: a shift of the elements between.
      int64_t* gone = std::lower_bound(sorted, end, out);
      if (in > out) {
        int64_t* to = std::lower_bound(gone + 1, end, in);
        std::copy(gone + 1, to, gone);
        *(to - 1) = in;
      } else {
        int64_t* to = std::upper_bound(sorted, gone, in);
        std::copy_backward(to, gone, gone + 1);
        *to = in;
      }
    }
    head_ = head_ + 1 == window_ ? 0 : head_ + 1;
  }

 private:
  size_t window_;
  absl::flat_hash_map<uint64_t, size_t> index_;
  std::vector<uint64_t> keys_;
  std::vector<int64_t> current_;
  std::vector<int64_t> ring_;    // window_ per series; slot head_ holds the oldest count
  std::vector<int64_t> sorted_;  // the same counts, ascending
  size_t head_ = 0;
};

}  // namespace allezon::internal

#endif  // ALLEZON_SRC_MINUTE_SERIES_H_
