// The source_state table: the limiter's per-source state (policy/limiter.h
// SourceState) as rows, one per source, keyed by the source's text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "policy/limiter.h"
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
  // Calls sink for every stored row; a row that cannot be read (bad key or minutes)
  // is an error naming the source: the file is damaged. Throws StateDbError.
  std::size_t load_all(const std::function<void(const SourceState&)>& sink);

 private:
  StateDb& db_;
  SqliteStatement upsert_;
  SqliteStatement erase_;
  std::string minutes_;  // write()'s encoding buffer
};

}  // namespace whoisd
