#include "stream.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace allezon::loadgen {
namespace {

constexpr char kAlphanumerics[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// 100 ISO 3166 codes: the spec's "about 100 countries, 2-letter codes".
constexpr const char* kCountries[] = {
    "PL", "DE", "US", "GB", "FR", "IT", "ES", "NL", "BE", "SE", "NO", "DK", "FI", "CZ", "SK",
    "AT", "CH", "HU", "RO", "BG", "GR", "PT", "IE", "LT", "LV", "EE", "UA", "BY", "HR", "SI",
    "RS", "BA", "MK", "AL", "ME", "MD", "IS", "LU", "MT", "CY", "TR", "RU", "CA", "MX", "BR",
    "AR", "CL", "CO", "PE", "VE", "UY", "PY", "BO", "EC", "CR", "PA", "CU", "DO", "JM", "CN",
    "JP", "KR", "IN", "PK", "BD", "ID", "MY", "SG", "TH", "VN", "PH", "AU", "NZ", "ZA", "EG",
    "MA", "DZ", "TN", "NG", "KE", "ET", "GH", "CI", "SN", "SA", "AE", "IL", "JO", "LB", "IQ",
    "IR", "KZ", "UZ", "GE", "AM", "AZ", "MN", "NP", "LK", "QA"};

constexpr const char* kDevices[] = {"PC", "MOBILE", "TV"};

// Real brand names first, including the characters that break naive URL and JSON code
// (spaces, '&', an apostrophe, non-ASCII letters); numbered brands fill up to 250.
constexpr const char* kNamedBrands[] = {
    "Nike",      "Adidas",  "Puma",           "Reebok",        "Dolce & Gabbana",
    "L'Oréal",   "H&M",     "Levi's",         "Pierre Cardin", "Łuczniczka",
    "Zara",      "Mango",   "Tommy Hilfiger", "Calvin Klein",  "Hugo Boss",
    "Gucci",     "Prada",   "Apple",          "Samsung",       "Sony",
    "Lenovo",    "Asus",    "Bosch",          "Philips",       "Gorenje",
    "Wólczanka", "Vistula", "Reserved",       "CCC",           "4F"};
constexpr int kBrands = 250;

constexpr const char* kDepartments[] = {"WOMEN", "MEN", "KIDS", "UNISEX", "HOME", "SPORT", "BABY"};
constexpr const char* kProducts[] = {"SHOES",   "SHIRTS", "TROUSERS", "JACKETS", "BAGS",
                                     "WATCHES", "SOCKS",  "HATS",     "GLOVES",  "PHONES"};
constexpr int kCategories = 67;
constexpr int kOrigins = 1000;

// Cookie tiers: a few heavy shoppers (and bots) generate a large share of the traffic and
// pass the 200-per-action profile cap; most cookies are seen a handful of times.
constexpr double kHeavyShare = 0.40;
constexpr double kMediumShare = 0.20;
constexpr uint32_t kHeavyDivisor = 500;  // 1,000,000 cookies: 2,000 heavy ones
constexpr uint32_t kMediumDivisor = 20;  // and 50,000 medium ones
constexpr double kHeavyBuyRate = 0.40;
constexpr double kMediumBuyRate = 0.10;
constexpr double kLightBuyRate = 0.03;

constexpr int32_t kMaxPrice = 2'147'483'647;

Catalog::Name MakeName(std::string text) {
  Catalog::Name name;
  AppendJsonString(text, &name.json);
  AppendUrlEncoded(text, &name.url);
  name.text = std::move(text);
  return name;
}

// Zipf-like weights 1/(k+1), scaled to a cumulative table out of 2^32.
std::vector<uint64_t> ZipfCdf(size_t count) {
  double total = 0;
  for (size_t k = 0; k < count; ++k) total += 1.0 / static_cast<double>(k + 1);
  std::vector<uint64_t> cdf(count);
  double running = 0;
  for (size_t k = 0; k < count; ++k) {
    running += 1.0 / static_cast<double>(k + 1);
    cdf[k] = static_cast<uint64_t>(running / total * 4294967296.0);
  }
  cdf.back() = uint64_t{1} << 32;
  return cdf;
}

}  // namespace

WeightedPicker::WeightedPicker(std::vector<uint64_t> cdf) : cdf_(std::move(cdf)) {
  // start_[b]: the first index whose cumulative weight exceeds the lowest draw of bucket b.
  start_.resize(kBuckets);
  size_t index = 0;
  for (size_t bucket = 0; bucket < kBuckets; ++bucket) {
    const uint64_t lowest = static_cast<uint64_t>(bucket) << (32 - kBucketBits);
    while (index + 1 < cdf_.size() && cdf_[index] <= lowest) ++index;
    start_[bucket] = static_cast<uint32_t>(index);
  }
}

size_t WeightedPicker::Pick(Random* random) const {
  // The same answer as upper_bound(cdf, r), found from a table instead of a binary search.
  const uint64_t r = random->Next() >> 32;
  size_t index = start_[r >> (32 - kBucketBits)];
  while (cdf_[index] <= r) ++index;
  return index;
}

namespace {

void AppendInt(int64_t value, std::string* out) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out->append(buffer, static_cast<size_t>(result.ptr - buffer));
}

void AppendTagJson(const Tag& tag, const Catalog& catalog, FractionStyle fraction,
                   std::string* out) {
  out->append("{\"time\":\"");
  AppendTime(tag.time_ms, fraction, true, out);
  out->append("\",\"cookie\":\"");
  catalog.AppendCookie(tag.cookie, out);
  out->append("\",\"country\":");
  out->append(catalog.countries()[tag.country].json);
  out->append(",\"device\":");
  out->append(catalog.devices()[tag.device].json);
  out->append(tag.action == Action::kView ? ",\"action\":\"VIEW\",\"origin\":"
                                          : ",\"action\":\"BUY\",\"origin\":");
  out->append(catalog.origins()[tag.origin].json);
  out->append(",\"product_info\":{\"product_id\":");
  AppendInt(tag.product_id, out);
  out->append(",\"brand_id\":");
  out->append(catalog.brands()[tag.brand].json);
  out->append(",\"category_id\":");
  out->append(catalog.categories()[tag.category].json);
  out->append(",\"price\":");
  AppendInt(tag.price, out);
  out->append("}}");
}

}  // namespace

Catalog::Catalog(uint64_t seed, uint32_t cookie_population)
    : cookie_salt_(Mix64(seed ^ 0xC00C1E5ULL)), cookie_population_(cookie_population) {
  for (const char* code : kCountries) countries_.push_back(MakeName(code));
  for (const char* device : kDevices) devices_.push_back(MakeName(device));
  for (const char* brand : kNamedBrands) brands_.push_back(MakeName(brand));
  for (int i = static_cast<int>(brands_.size()); i < kBrands; ++i) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "Brand_%03d", i);
    brands_.push_back(MakeName(buffer));
  }
  for (const char* department : kDepartments) {
    for (const char* product : kProducts) {
      if (static_cast<int>(categories_.size()) == kCategories) break;
      categories_.push_back(MakeName(std::string(department) + "_" + product));
    }
  }
  for (int i = 0; i < kOrigins; ++i) {
    // Campaigns are named after a brand and a category, as the example NIKE_WOMEN_SHOES_CAMPAIGN.
    std::string brand;
    for (char c : brands_[static_cast<size_t>(i) % brands_.size()].text) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        brand.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
      }
    }
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%s_%s_CAMPAIGN_%d", brand.c_str(),
                  categories_[static_cast<size_t>(i * 7) % categories_.size()].text.c_str(), i);
    origins_.push_back(MakeName(buffer));
  }
}

void Catalog::AppendCookie(uint32_t index, std::string* out) const {
  // Two 64-bit hashes give 20 base-62 digits; distinct indices collide with probability
  // about n^2 / 62^20, nil for any run.
  uint64_t state = cookie_salt_ ^ (static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ULL);
  uint64_t word = SplitMix64(&state);
  char cookie[20];
  for (int i = 0; i < 20; ++i) {
    if (i == 10) word = SplitMix64(&state);
    cookie[i] = kAlphanumerics[word % 62];
    word /= 62;
  }
  out->append(cookie, sizeof cookie);
}

std::string Catalog::Cookie(uint32_t index) const {
  std::string out;
  AppendCookie(index, &out);
  return out;
}

StreamGenerator::StreamGenerator(const StreamOptions& options, const Catalog* catalog)
    : options_(options),
      catalog_(catalog),
      tag_random_(options.seed, 1),
      profile_random_(options.seed, 2),
      aggregate_random_(options.seed, 3),
      newest_time_ms_(options.start_ms - 1),
      country_picker_(ZipfCdf(catalog->countries().size())),
      origin_picker_(ZipfCdf(catalog->origins().size())),
      brand_picker_(ZipfCdf(catalog->brands().size())),
      category_picker_(ZipfCdf(catalog->categories().size())) {
  if (options_.tags_per_profile_query < 1) options_.tags_per_profile_query = 1;
  if (options_.tags_per_aggregate_query < 1) options_.tags_per_aggregate_query = 1;
}

int64_t StreamGenerator::NextTagTimeLowerBound() const {
  const int64_t base =
      options_.start_ms + static_cast<int64_t>(tags_generated_) * options_.time_step_ms;
  return std::max(options_.start_ms, base - options_.disorder_ms);
}

void StreamGenerator::Next(StreamItem* item) {
  if (profile_due_) {
    profile_due_ = false;
    item->kind = StreamItem::Kind::kProfileQuery;
    NextProfileQuery(&item->profile);
    return;
  }
  if (aggregate_due_) {
    aggregate_due_ = false;
    item->kind = StreamItem::Kind::kAggregateQuery;
    NextAggregateQuery(&item->aggregate);
    return;
  }
  item->kind = StreamItem::Kind::kTag;
  NextTag(&item->tag);
  profile_due_ = tags_generated_ % static_cast<uint64_t>(options_.tags_per_profile_query) == 0;
  aggregate_due_ = tags_generated_ % static_cast<uint64_t>(options_.tags_per_aggregate_query) == 0;
}

uint32_t StreamGenerator::DrawCookie(Random* random) {
  const uint32_t population = catalog_->cookie_population();
  const uint32_t heavy = std::max<uint32_t>(1, population / kHeavyDivisor);
  const uint32_t medium = std::max<uint32_t>(1, population / kMediumDivisor);
  const double tier = random->Unit();
  if (tier < kHeavyShare || population <= heavy + medium) {
    return static_cast<uint32_t>(random->Below(heavy));
  }
  if (tier < kHeavyShare + kMediumShare)
    return heavy + static_cast<uint32_t>(random->Below(medium));
  return heavy + medium + static_cast<uint32_t>(random->Below(population - heavy - medium));
}

void StreamGenerator::NextTag(Tag* tag) {
  Random& random = tag_random_;
  tag->sequence = tags_generated_;
  int64_t time = options_.start_ms + static_cast<int64_t>(tags_generated_) * options_.time_step_ms;
  if (options_.disorder_ms > 0) {
    time += random.Between(-options_.disorder_ms, options_.disorder_ms);
    time = std::max(time, options_.start_ms);
  }
  tag->time_ms = time;
  tag->cookie = DrawCookie(&random);
  const uint32_t population = catalog_->cookie_population();
  const uint32_t heavy = std::max<uint32_t>(1, population / kHeavyDivisor);
  const uint32_t medium = std::max<uint32_t>(1, population / kMediumDivisor);
  const double buy_rate = tag->cookie < heavy            ? kHeavyBuyRate
                          : tag->cookie < heavy + medium ? kMediumBuyRate
                                                         : kLightBuyRate;
  tag->action = random.Chance(buy_rate) ? Action::kBuy : Action::kView;
  tag->country = static_cast<uint8_t>(country_picker_.Pick(&random));
  const uint64_t device_draw = random.Below(100);
  tag->device = device_draw < 50 ? 0 : device_draw < 90 ? 1 : 2;
  tag->origin = static_cast<uint16_t>(origin_picker_.Pick(&random));
  tag->brand = static_cast<uint16_t>(brand_picker_.Pick(&random));
  tag->category = static_cast<uint8_t>(category_picker_.Pick(&random));
  tag->product_id = random.Chance(0.5) ? static_cast<uint32_t>(random.Between(1, 2000))
                                       : static_cast<uint32_t>(random.Between(1, 9'999'999));
  const double price_draw = random.Unit();
  if (price_draw < 0.005) {
    // Near the top of int32: a minute of these overflows any 32-bit sum.
    tag->price = kMaxPrice - static_cast<int32_t>(random.Below(1000));
  } else if (price_draw < 0.01) {
    tag->price = 0;
  } else {
    tag->price = static_cast<int32_t>(random.LogUniform(1, 50'000));
  }
  recent_[tags_generated_ % kRecent] = *tag;
  newest_time_ms_ = std::max(newest_time_ms_, time);
  ++tags_generated_;
}

void StreamGenerator::NextProfileQuery(ProfileQuery* query) {
  Random& random = profile_random_;
  const double who = random.Unit();
  const uint64_t known = std::min<uint64_t>(tags_generated_, kRecent);
  if (who < 0.85 && known > 0) {
    query->cookie = recent_[random.Below(known)].cookie;
  } else if (who < 0.95) {
    query->cookie = DrawCookie(&random);
  } else {
    query->cookie = catalog_->cookie_population() + static_cast<uint32_t>(random.Below(1'000'000));
  }
  int64_t end = newest_time_ms_ + 1 - options_.profile_lag_ms;
  if (random.Chance(0.4)) end -= random.LogUniform(1, kMaxProfileEndOffsetMs);
  const int64_t length = random.LogUniform(1, kMaxProfileRangeMs);
  query->end_ms = end;
  query->begin_ms = end - length;
  const uint64_t limit_draw = random.Below(100);
  if (limit_draw < 80) {
    query->limit = 200;
  } else if (limit_draw < 92) {
    query->limit = static_cast<int>(random.Between(1, 20));
  } else if (limit_draw < 95) {
    query->limit = 0;
  } else if (limit_draw < 98) {
    query->limit = static_cast<int>(random.Between(21, 199));
  } else {
    query->limit = -1;
  }

  std::string& path = query->path;
  path.assign("/user_profiles/");
  std::string cookie = catalog_->Cookie(query->cookie);
  AppendUrlEncoded(cookie, &path);
  path.append("?time_range=");
  AppendTime(query->begin_ms, FractionStyle::kAlways, false, &path);
  path.push_back('_');
  AppendTime(query->end_ms, FractionStyle::kAlways, false, &path);
  if (query->limit >= 0) {
    path.append("&limit=");
    AppendInt(query->limit, &path);
  }
}

void StreamGenerator::NextAggregateQuery(AggregateQuery* query) {
  Random& random = aggregate_random_;
  query->end_ms = FloorToMinute(newest_time_ms_ - options_.aggregate_lag_ms);
  query->begin_ms = query->end_ms - random.Between(1, kMaxAggregateMinutes) * kMillisPerMinute;
  query->action = random.Chance(0.65) ? Action::kView : Action::kBuy;
  const uint64_t filters = random.Below(8);
  const uint64_t known = std::min<uint64_t>(tags_generated_, kRecent);
  // Filter values mostly come from a recent tag (so counts are not all zero), sometimes
  // from anywhere in the catalog.
  const Tag* sample = known > 0 && random.Chance(0.8) ? &recent_[random.Below(known)] : nullptr;
  auto choose = [&](bool wanted, int from_sample, size_t catalog_size) {
    if (!wanted) return -1;
    return sample != nullptr ? from_sample : static_cast<int>(random.Below(catalog_size));
  };
  query->origin = choose(filters & 1, sample ? sample->origin : 0, catalog_->origins().size());
  query->brand = choose(filters & 2, sample ? sample->brand : 0, catalog_->brands().size());
  query->category =
      choose(filters & 4, sample ? sample->category : 0, catalog_->categories().size());
  query->aggregates.clear();
  switch (random.Below(4)) {
    case 0:
      query->aggregates = {Aggregate::kCount};
      break;
    case 1:
      query->aggregates = {Aggregate::kSumPrice};
      break;
    case 2:
      query->aggregates = {Aggregate::kCount, Aggregate::kSumPrice};
      break;
    default:
      query->aggregates = {Aggregate::kSumPrice, Aggregate::kCount};
      break;
  }

  std::string& path = query->path;
  path.assign("/aggregates?time_range=");
  AppendTime(query->begin_ms, FractionStyle::kNever, false, &path);
  path.push_back('_');
  AppendTime(query->end_ms, FractionStyle::kNever, false, &path);
  path.append("&action=");
  path.append(Catalog::ActionName(query->action));
  for (Aggregate aggregate : query->aggregates) {
    path.append(aggregate == Aggregate::kCount ? "&aggregates=COUNT" : "&aggregates=SUM_PRICE");
  }
  if (query->origin >= 0) {
    path.append("&origin=");
    path.append(catalog_->origins()[static_cast<size_t>(query->origin)].url);
  }
  if (query->brand >= 0) {
    path.append("&brand_id=");
    path.append(catalog_->brands()[static_cast<size_t>(query->brand)].url);
  }
  if (query->category >= 0) {
    path.append("&category_id=");
    path.append(catalog_->categories()[static_cast<size_t>(query->category)].url);
  }
}

void AppendStreamTagJson(const Tag& tag, const Catalog& catalog, std::string* out) {
  AppendTagJson(tag, catalog, FractionStyle::kOmitWhenZero, out);
}

void AppendCanonicalTagJson(const Tag& tag, const Catalog& catalog, std::string* out) {
  AppendTagJson(tag, catalog, FractionStyle::kAlways, out);
}

void AppendUrlEncoded(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
        (byte >= '0' && byte <= '9') || byte == '-' || byte == '_' || byte == '.' || byte == '~') {
      out->push_back(c);
    } else {
      out->push_back('%');
      out->push_back(kHex[byte >> 4]);
      out->push_back(kHex[byte & 15]);
    }
  }
}

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (byte < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[byte >> 4]);
      out->push_back(kHex[byte & 15]);
    } else {
      out->push_back(c);  // UTF-8 passes through: JSON text is UTF-8
    }
  }
  out->push_back('"');
}

void StreamDigest::Update(std::string_view bytes) {
  uint64_t state = state_ ^ (bytes.size() * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    state = (state ^ word) * 0xFF51AFD7ED558CCDULL;
    state ^= state >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  state = (state ^ tail) * 0xC4CEB9FE1A85EC53ULL;
  state_ = state ^ (state >> 29);
}

std::string StreamDigest::Hex() const {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(state_));
  return buffer;
}

}  // namespace allezon::loadgen
