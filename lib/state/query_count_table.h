// The query-log writer's counts of the rows it wrote since its last flush to
// query_counts (state/query_counts.h), per (UTC hour, source, outcome): queries, first
// and last time. Up to one key per row between two flushes, and at most 100,000 keys by
// default (QueryLogOptions::counts_flush_keys), so its size is the writer's memory with
// many distinct sources (issue #5, scenario 3: a million sources, one query each).
//
// Why not a std::unordered_map keyed by the source's text: a node, a string and a
// cached hash per key, about 100 bytes each, allocated one by one and freed at every
// flush, which left malloc holding the freed nodes between flushes among the other
// threads' allocations. Here a key is the source's fixed-size form (the masked 16-byte
// address and prefix length, SourceKey) and lives in one array of 48-byte entries,
// with an open-addressing index of 4-byte slots (linear probing, at most half full) and
// the sources' texts (needed only for the flush's order) appended to one character
// array. clear() keeps all three allocations, so a writer reuses the same memory from
// flush to flush and allocates nothing once the busiest flush has been seen: about
// 48 + 4 x 2..4 + 10..17 bytes a key, 6.5-7.5 MB for 100,000 keys.
//
// Use (the writer thread only):
//   table.add(row.time_us, key, to_string(key), row.outcome);   // once per written row
//   table.sort_in_table_order();                                  // at the flush
//   for (std::size_t i = 0; i < table.size(); ++i) upsert(table.row(i));
//   table.clear();                                                // after the flush, whatever its result
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "policy/source_key.h"
#include "state/query_log.h"

namespace whoisd {

class QueryCountTable {
 public:
  struct Row {
    std::int64_t hour = 0;   // query_count_hour(time_us)
    std::string_view source; // to_string(SourceKey), valid until clear()
    QueryOutcome outcome = QueryOutcome::error;
    std::int64_t queries = 0, first_us = 0, last_us = 0;
  };

  // Room for this many keys, allocated now and touched only as keys come: the table
  // then never copies itself into a larger array (both would be resident meanwhile).
  void reserve(std::size_t keys);

  // Counts one row. `source_text` is to_string(source).
  void add(std::int64_t time_us, const SourceKey& source, std::string_view source_text, QueryOutcome outcome);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // Puts the keys in query_counts' primary-key order (hour, source text, outcome word,
  // as SQLite compares them), so that a flush visits the table's pages in order, each
  // once. (A later add() first indexes the entries again where the sort put them.)
  void sort_in_table_order();
  // The i-th key (insertion order, or table order after sort_in_table_order()).
  Row row(std::size_t i) const;

  // Forgets every key and keeps the memory for the next keys.
  void clear();

  // Bytes allocated (capacities), for tests and measurements.
  std::size_t allocated_bytes() const;

 private:
  struct Entry {
    std::int64_t hour;
    std::array<std::uint8_t, 16> address;  // SourceKey::bytes
    std::uint64_t queries;
    std::uint32_t first_in_hour_us, last_in_hour_us;  // µs after the hour's start (< 3.6e9)
    std::uint32_t text_at;                            // where the source's text starts in texts_
    std::uint8_t text_length;
    std::uint8_t prefix;  // SourceKey::prefix
    QueryOutcome outcome;
  };
  static_assert(sizeof(Entry) == 48);

  void grow_index();
  void insert_into_index(std::uint32_t entry_index, std::uint64_t hash);
  static std::uint64_t hash(std::int64_t hour, const SourceKey& source, QueryOutcome outcome);
  static std::uint64_t hash(const Entry& e);
  std::string_view text(const Entry& e) const { return {texts_.data() + e.text_at, e.text_length}; }

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> slots_;  // 0: free; otherwise 1 + an index into entries_
  std::vector<char> texts_;
  bool sorted_ = false;  // entries_ moved since the index was built
};

}  // namespace whoisd
