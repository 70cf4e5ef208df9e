#include "state/query_count_table.h"

#include <algorithm>
#include <cstring>

#include "state/query_counts.h"

namespace whoisd {

std::uint64_t QueryCountTable::hash(std::int64_t hour, const SourceKey& source, QueryOutcome outcome) {
  std::uint64_t low, high;
  std::memcpy(&low, source.bytes.data(), 8);
  std::memcpy(&high, source.bytes.data() + 8, 8);
  // The varying part of an address is mostly in `high` (IPv4 sits in its last 4 bytes),
  // of an IPv6 prefix in `low`: both multiplied, then mixed (splitmix64's finaliser).
  std::uint64_t h = low * 0x9e3779b97f4a7c15u ^ high * 0xc2b2ae3d27d4eb4fu ^
                    static_cast<std::uint64_t>(hour) * 0x165667b19e3779f9u ^
                    (static_cast<std::uint64_t>(outcome) << 8 | source.prefix);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9u;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebu;
  return h ^ (h >> 31);
}

std::uint64_t QueryCountTable::hash(const Entry& e) {
  SourceKey key;
  key.bytes = e.address;
  key.prefix = e.prefix;
  return hash(e.hour, key, e.outcome);
}

void QueryCountTable::reserve(std::size_t keys) {
  entries_.reserve(keys);
  texts_.reserve(keys * 16);  // "a.b.c.d" is 7-15 characters, "2001:db8:1:2::/64" about 17-24
}

void QueryCountTable::add(std::int64_t time_us, const SourceKey& source, std::string_view source_text,
                          QueryOutcome outcome) {
  if (sorted_) {  // the sort moved the entries: index them again where they are now
    std::fill(slots_.begin(), slots_.end(), 0);
    for (std::size_t i = 0; i < entries_.size(); ++i)
      insert_into_index(static_cast<std::uint32_t>(i), hash(entries_[i]));
    sorted_ = false;
  }
  if ((entries_.size() + 1) * 2 > slots_.size()) grow_index();
  const std::int64_t hour = query_count_hour(time_us);
  const auto in_hour = static_cast<std::uint32_t>(time_us - hour * kQueryCountHourUs);
  const std::uint64_t h = hash(hour, source, outcome);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint32_t slot = slots_[i];
    if (slot == 0) {
      Entry e{};
      e.hour = hour;
      e.address = source.bytes;
      e.queries = 1;
      e.first_in_hour_us = e.last_in_hour_us = in_hour;
      e.text_at = static_cast<std::uint32_t>(texts_.size());
      e.text_length = static_cast<std::uint8_t>(std::min<std::size_t>(source_text.size(), 255));
      e.prefix = source.prefix;
      e.outcome = outcome;
      texts_.insert(texts_.end(), source_text.begin(), source_text.begin() + e.text_length);
      entries_.push_back(e);
      slots_[i] = static_cast<std::uint32_t>(entries_.size());
      return;
    }
    Entry& e = entries_[slot - 1];
    if (e.hour == hour && e.outcome == outcome && e.prefix == source.prefix && e.address == source.bytes) {
      ++e.queries;
      e.first_in_hour_us = std::min(e.first_in_hour_us, in_hour);
      e.last_in_hour_us = std::max(e.last_in_hour_us, in_hour);
      return;
    }
  }
}

// Doubles the index (at least 1,024 slots) and puts every entry back in it.
void QueryCountTable::grow_index() {
  slots_.assign(std::max<std::size_t>(1024, slots_.size() * 2), 0);
  for (std::size_t i = 0; i < entries_.size(); ++i)
    insert_into_index(static_cast<std::uint32_t>(i), hash(entries_[i]));
}

void QueryCountTable::insert_into_index(std::uint32_t entry_index, std::uint64_t h) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = entry_index + 1;
}

void QueryCountTable::sort_in_table_order() {
  sorted_ = true;
  std::sort(entries_.begin(), entries_.end(), [this](const Entry& a, const Entry& b) {
    if (a.hour != b.hour) return a.hour < b.hour;
    // std::string_view compares as memcmp, as SQLite's BINARY collation does.
    if (int c = text(a).compare(text(b)); c != 0) return c < 0;
    return to_string(a.outcome) < to_string(b.outcome);
  });
}

QueryCountTable::Row QueryCountTable::row(std::size_t i) const {
  const Entry& e = entries_[i];
  const std::int64_t hour_us = e.hour * kQueryCountHourUs;
  return {.hour = e.hour,
          .source = text(e),
          .outcome = e.outcome,
          .queries = static_cast<std::int64_t>(e.queries),
          .first_us = hour_us + e.first_in_hour_us,
          .last_us = hour_us + e.last_in_hour_us};
}

void QueryCountTable::clear() {
  entries_.clear();
  texts_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
  sorted_ = false;
}

std::size_t QueryCountTable::allocated_bytes() const {
  return entries_.capacity() * sizeof(Entry) + slots_.capacity() * sizeof(std::uint32_t) + texts_.capacity();
}

}  // namespace whoisd
