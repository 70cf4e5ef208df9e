// The source_state table: the limiter's per-source state (policy/limiter.h
// SourceState) as rows, one per source, keyed by the source's text.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "policy/limiter.h"
#include "state/multi_row_sql.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"

namespace whoisd {

// The minutes column: (int64 minute, uint32 count) little-endian pairs, oldest first.
// Into out, replacing its contents (its capacity is reused: the persister writes
// thousands of rows a round).
void encode_minutes(const std::vector<MinuteCount>& minutes, std::string& out);
// false when `blob` is not a whole number of pairs.
bool decode_minutes(std::string_view blob, std::vector<MinuteCount>& out);

class SourceStateTable {
 public:
  explicit SourceStateTable(StateDb& db);
  // Writes the state, or deletes the row of a forgotten (empty()) one. Within the caller's transaction.
  void write(const SourceState& state, UnixSeconds now);
  // The same for `count` states of distinct sources (the journal's fold, thousands at
  // once): state_of(i, state) fills the i-th and returns its time (`now` above). The
  // rows to keep are upserted kRowsPerStatement to a statement (multi_row_sql.h), the
  // forgotten ones deleted. Within the caller's transaction; throws StateDbError.
  void write_all(std::size_t count, const std::function<UnixSeconds(std::size_t, SourceState&)>& state_of);
  // Calls sink for every stored row; a row that cannot be read (bad key or minutes)
  // is an error naming the source: the file is damaged. Throws StateDbError.
  std::size_t load_all(const std::function<void(const SourceState&)>& sink);

 private:
  // One row's values, kept until its statement has run (its texts are bound without
  // SQLite's copies).
  struct Row {
    std::string source;
    SourceKey key;
    std::string minutes;
    std::uint32_t episodes = 0;
    UnixSeconds last_episode = 0;
    UnixSeconds suspended_until = 0;
    std::uint8_t flags = 0;
    UnixSeconds updated_at = 0;
  };
  // The row of `state` into `row` (its minutes buffer keeps its capacity).
  static void fill_row(const SourceState& state, UnixSeconds now, Row& row);
  // Binds `row` as the index-th row of `statement` (parameters index * 9 + 1 ..).
  static void bind_row(SqliteStatement& statement, int index, const Row& row);

  StateDb& db_;
  SqliteStatement upsert_;        // one row
  SqliteStatement upsert_group_;  // kRowsPerStatement rows
  SqliteStatement erase_;
  Row row_;                                     // write()'s
  std::array<Row, kRowsPerStatement> group_rows_;  // write_all()'s, a statement's worth
};

}  // namespace whoisd
