// Realistic user tags for the library benchmarks: the load generator's deterministic stream
// (bench/loadgen/stream.h: 1,000,000 cookies with a heavy tail, ~100 countries, 1,000
// origins, 250 brands, 67 categories, 1 ms per tag) converted to allezon::UserTag.
#ifndef ALLEZON_BENCH_LIB_REALISTIC_TAGS_H_
#define ALLEZON_BENCH_LIB_REALISTIC_TAGS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "allezon/user_tag.h"
#include "stream.h"

namespace allezon::bench {

class RealisticTags {
 public:
  explicit RealisticTags(uint64_t seed = 1, uint32_t cookies = 1'000'000,
                         int64_t time_step_ms = 1)
      : catalog_(seed, cookies) {
    loadgen::StreamOptions options;
    options.seed = seed;
    options.cookie_population = cookies;
    options.time_step_ms = time_step_ms;
    // Queries are drawn but skipped: only the tags matter here.
    generator_ = std::make_unique<loadgen::StreamGenerator>(options, &catalog_);
  }

  // The next tag of the stream.
  void Next(UserTag* out) {
    do {
      generator_->Next(&item_);
    } while (item_.kind != loadgen::StreamItem::Kind::kTag);
    Convert(item_.tag, out);
  }
  // The next tag of the stream as the JSON body the stream sends.
  void NextJson(std::string* out) {
    do {
      generator_->Next(&item_);
    } while (item_.kind != loadgen::StreamItem::Kind::kTag);
    out->clear();
    loadgen::AppendStreamTagJson(item_.tag, catalog_, out);
  }

  void Convert(const loadgen::Tag& tag, UserTag* out) const {
    out->time = tag.time_ms;
    out->cookie.clear();
    catalog_.AppendCookie(tag.cookie, &out->cookie);
    out->country = catalog_.countries()[tag.country].text;
    out->device = static_cast<Device>(tag.device);
    out->action = tag.action == loadgen::Action::kBuy ? Action::kBuy : Action::kView;
    out->origin = catalog_.origins()[tag.origin].text;
    out->product_id = static_cast<int64_t>(tag.product_id);
    out->brand_id = catalog_.brands()[tag.brand].text;
    out->category_id = catalog_.categories()[tag.category].text;
    out->price = tag.price;
  }

  const loadgen::Catalog& catalog() const { return catalog_; }

 private:
  loadgen::Catalog catalog_;
  std::unique_ptr<loadgen::StreamGenerator> generator_;
  loadgen::StreamItem item_;
};

}  // namespace allezon::bench

#endif  // ALLEZON_BENCH_LIB_REALISTIC_TAGS_H_
