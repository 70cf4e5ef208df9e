// The source_journal table (state schema 3): the limiter's changed sources, one row
// per StatePersister round, appended; folded into source_state (source_state_table.h)
// every minute or so.
//
// Why: writing each round's changed sources straight into source_state (a B-tree keyed
// by the source's text) meant thousands of random-key upserts a round, each dirtying a
// leaf page that the commit then copied into the WAL: with 65,536 sources taking turns
// at 20,700 queries/s that was ~4.9 µs of CPU per query, ~10.6 µs with 1,000,000 sources
// (bench_state_persister, bench/README.md). A journal record is one sequential blob of
// a few bytes per source; the fold writes each source once, in key order, so each leaf
// page is dirtied once a fold instead of once a round.
//
// The stored state of a source is its source_state row, replaced by its last entry in
// the journal if it has one: fold() makes source_state alone say that (the daemon folds
// at load, so nothing else ever reads the journal). Records are folded in id order and
// deleted in the fold's transaction, so a kill -9 at any point leaves a file whose
// stored state is that of the last committed round.
//
// A record's blob: its entries one after the other, each
//   tag        1 byte: 4 = IPv4 key, 6 = IPv6 key
//   key        IPv4: 4 bytes (the address); IPv6: 1 byte prefix length, 16 bytes (the masked address)
//   episodes   varint
//   last_episode, suspended_until   zigzag varints (Unix s)
//   flags      1 byte
//   minutes    varint n, then n (minute, count): the first minute a zigzag varint, each
//              next one the varint difference from the one before (> 0: oldest first),
//              each count a varint
// where a varint is LEB128 (7 bits a byte, low first, at most 10 bytes). A forgotten
// source (SourceState::empty()) is an entry like any other; folding it deletes the row.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "policy/limiter.h"
#include "state/source_state_table.h"
#include "state/sqlite_statement.h"
#include "state/state_db.h"

namespace whoisd {

// One round's entries, encoded as they are added.
class SourceJournalRecord {
 public:
  void add(const SourceState& state);
  std::size_t entries() const { return entries_; }
  const std::string& bytes() const { return bytes_; }
  void clear() {
    bytes_.clear();
    entries_ = 0;
  }

 private:
  std::string bytes_;
  std::size_t entries_ = 0;
};

// The entry that starts at `at` in `blob` into `out`; returns the offset after it, or 0
// with `error` saying what was wrong (truncated, a varint too long, minutes not in
// order, a count of 0, a value out of range). Hostile input is fine (fuzz_source_journal).
std::size_t decode_journal_entry(std::string_view blob, std::size_t at, SourceState& out, std::string& error);

struct JournalFold {
  std::uint64_t records = 0;  // journal rows folded (and deleted)
  std::uint64_t entries = 0;  // entries in them
  std::uint64_t sources = 0;  // source_state rows written or deleted: distinct sources
};

// What a fold holds in memory per journal entry besides the blobs: where the entry is
// (its source key, record and offset: 28 bytes) and, for a source's last entry, a
// pointer to it in the list written to source_state (8).
inline constexpr std::uint64_t kFoldBytesPerEntry = 36;

class SourceJournal {
 public:
  explicit SourceJournal(StateDb& db);
  // Appends one round's record, within the caller's transaction. Throws StateDbError.
  void append(UnixSeconds time, const SourceJournalRecord& record);
  // Writes every source's last journal entry into `table` (deleting the rows of
  // forgotten sources; SourceStateTable::write_all), in address order, and deletes the
  // records, within the caller's transaction. Memory: the records' blobs and
  // kFoldBytesPerEntry per entry, freed on return (the persister bounds the entries
  // between folds). A record that cannot be decoded is an error naming the file, the
  // record's id and what was wrong: the file is damaged. Throws StateDbError.
  JournalFold fold(SourceStateTable& table);

 private:
  StateDb& db_;
  SqliteStatement insert_;
};

}  // namespace whoisd
