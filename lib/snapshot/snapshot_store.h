// The read-only snapshot of the registry (SPEC §5; schema in lib/snapshot/schema.sql):
// opened and validated once, then looked up by A-label from any number of threads,
// and swapped for a newer file without stopping or mixing lookups.
//
// - Read-only: the file is opened with SQLITE_OPEN_READONLY and the `immutable=1` URI
//   parameter, so SQLite takes no locks and creates no -journal, -wal or -shm file; it
//   works on a read-only file in a read-only directory. The registry must therefore
//   replace a served file by rename, never write into it; a file written in place
//   anyway is noticed (written_in_place()) and no longer read.
// - Validation on open and reload: SQLite header, WAL mode refused, file size at least
//   page count x page size (a truncated copy is refused), PRAGMA user_version (version 1,
//   the layout without published_domains, is refused with the whoisd-snapshot command
//   that converts it), every table and column of schema.sql, query plans that search (a
//   table exported without its key is refused rather than scanned on every query), the
//   meta rows (domain_count at least 1: it is reported, not counted), and probes of
//   published_domains against the normalised tables: the first name at or after each of
//   fifteen points of the alphabet and the last name must be the same in both, and their
//   records must decode to what the normalised statements give, so a stale or edited
//   derived table is refused. A few milliseconds on a 1,000,000-domain file. A full
//   PRAGMA quick_check reads every page (seconds for the 864 MB of 1,000,000 domains):
//   optional, see full_integrity_check; `whoisd-snapshot check` runs it and compares every
//   record. A corrupt page or record the checks missed shows up as a SnapshotError from
//   the lookups that read it, not as wrong data.
// - A lookup is one search of published_domains (clustered by a_label) and the decoding
//   of its record (published_record.h), which is bounds-checked: a bad record is a
//   SnapshotError naming the file and the domain. The record holds published values only:
//   it was computed by statements that select published columns and blank an opted-out
//   contact's values inside SQLite (normalised_domain_reader.h, published_domain.h).
// - Lookups borrow a connection from the current snapshot's pool (a short mutex guards
//   only the borrow and the return, never the lookup) and hold a shared_ptr to that
//   snapshot, so a reload never waits for lookups and lookups never wait for a reload:
//   each lookup is answered wholly from the old or wholly from the new file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "snapshot/published_domain.h"

namespace whoisd {

// Thrown when a snapshot cannot be opened or used; the message names the file and what
// is wrong with it.
struct SnapshotError : std::runtime_error {
  using runtime_error::runtime_error;
};

struct SnapshotInfo {
  std::string path;
  int schema_version = 0;
  std::int64_t domains = 0;
  std::int64_t file_bytes = 0;
  std::int64_t exported_at = 0;  // Unix seconds, from the file's meta table
  std::uint64_t generation = 0;  // 1 for the first open, +1 for every successful reload
  std::size_t connections = 0;   // opened for lookups, all at open time
};

struct SnapshotStoreOptions {
  // Connections opened per snapshot, all at open time (so that every one reads the same
  // file even after a newer one was renamed over the path). 0 = twice the hardware
  // threads, at least 4 and at least concurrent_readers. A lookup that finds all of them busy opens one more, checked to
  // be the same file, or waits for one if the path now names another file.
  std::size_t connections = 0;
  // Run PRAGMA quick_check (reads every page: about a second per few hundred MB) on open
  // and reload. Off by default: the cheap checks above catch wrong, empty and truncated
  // files; whoisd-snapshot check runs it.
  bool full_integrity_check = false;
  // Threads that look up at the same time (the daemon's event loops). Each holds a
  // connection for the length of a lookup, so the pool has at least one each: short of
  // that, a loop would open a connection (system calls on the file) while it answers,
  // or wait for one.
  std::size_t concurrent_readers = 0;
};

class SnapshotStore {  // thread-safe; lookups never wait on a reload
 public:
  explicit SnapshotStore(std::string path, SnapshotStoreOptions options = {});
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  // Opens and validates the file at path. Throws SnapshotError; on failure the store
  // keeps whatever it served before (nothing, the first time).
  void open();
  // Reopens path (after a new file was renamed over it). On failure returns false, sets
  // *error (when not null) to the reason, and keeps serving the old snapshot. Blocking
  // (validation, then up to a few seconds waiting for lookups still on the old file so
  // that it is closed here): call it off the event loops. The store does not log; the
  // caller logs the result.
  bool reload(std::string* error);
  // The registered domain whose A-label (lower case, no trailing dot) is a_label, or
  // nullopt when it is not in the snapshot. Throws SnapshotError when no snapshot is open
  // or SQLite fails reading the file (e.g. a corrupt page the open-time checks missed).
  std::optional<PublishedDomain> lookup(std::string_view a_label) const;
  // The same into out (true when found), reusing its strings' capacity: the server's
  // path, one PublishedDomain per thread, no allocation per lookup. When it returns
  // false or throws, out holds nothing to use.
  bool lookup(std::string_view a_label, PublishedDomain& out) const;
  // Whether the file being served was written in place since it was opened (its size
  // or modification time changed: a copy over the path instead of a rename). Once seen,
  // every lookup on it throws SnapshotError, so that no answer is read from pages being
  // overwritten, until open() or reload() serves a file again. One fstat(): the daemon
  // calls it every second and whenever the file signals a change.
  bool written_in_place() const;
  // The snapshot being served. Throws SnapshotError when none is open.
  SnapshotInfo info() const;
  bool is_open() const;
  const std::string& path() const { return path_; }

  class Snapshot;  // one opened, validated file and its connection pool (internal)

 private:
  std::shared_ptr<Snapshot> current() const;

  const std::string path_;
  const SnapshotStoreOptions options_;
  mutable std::mutex current_mutex_;  // guards current_ (copy/replace only)
  std::shared_ptr<Snapshot> current_;
  std::mutex reload_mutex_;           // one open/reload at a time
  std::uint64_t generation_ = 0;      // guarded by reload_mutex_
};

// Validates the file at path as SnapshotStore::open() does, without keeping it open;
// with full_integrity_check also runs PRAGMA quick_check. Throws SnapshotError.
SnapshotInfo validate_snapshot(const std::string& path, bool full_integrity_check);

}  // namespace whoisd
