// The daemon's own writable database (state.sqlite in the [state] directory), kept
// apart from the read-only snapshot so that a snapshot reload never touches it.
// It holds what must survive a restart or a crash (per-source counts, episodes and
// suspensions), what the registry must keep (the query log and the abuse log), and
// the operators' commands on their way from whoisd-admin to the running daemon.
//
// One StateDb is one SQLite connection, used by one thread at a time: the daemon's
// StatePersister and QueryLog each open their own. The file is in WAL mode, so the
// admin tool reads while the daemon writes, and synchronous=NORMAL: a committed
// transaction survives a kill -9 of the process (a power cut may lose the last one).
// A writing connection checkpoints every 8,000 WAL pages, so state.sqlite-wal grows to
// about 32 MB and stays that size (fewer checkpoints: less copying for the query log).
//
// The schema is versioned with PRAGMA user_version (kStateSchemaVersion). A file that
// is corrupt, not a database, of another schema version, or not writable is an error
// naming the file and the problem: state is never reset silently. The one exception
// to "another version" is the older versions 1 to 4, which the daemon's open
// (Mode::create) upgrades to version 5 (1 -> 2, 2 -> 3, 3 -> 4 and 4 -> 5 each in its
// own transaction), logged (state_schema_upgrading, _upgraded); the other modes refuse
// them, naming the restart that upgrades them.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;

namespace whoisd {

struct StateDbError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr int kStateSchemaVersion = 5;  // state_schema.h lists the versions
inline constexpr std::string_view kStateFileName = "state.sqlite";

// "<dir>/state.sqlite".
std::string state_db_path(std::string_view state_dir);

class StateDb {
 public:
  enum class Mode {
    create,      // the daemon: creates the directory, the file and the schema when missing
    read_write,  // whoisd-admin commands that write (lift, suspend, purge): the file must exist
    read_only,   // whoisd-admin reports (top, history, suspensions): the file must exist
    check,       // whoisd --check-config: read-only, and it accepts what the daemon's start
                 // would make good: an empty file (schema_version() 0), or version 1 to 4
                 // holding that version's tables (upgraded at the start)
  };

  // Throws StateDbError ("state database /var/lib/whoisd/state/state.sqlite: ...").
  static StateDb open(const std::string& path, Mode mode);

  StateDb(StateDb&& other) noexcept;
  StateDb& operator=(StateDb&& other) noexcept;
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;
  ~StateDb();

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }
  // The file's schema version as opened (after any upgrade the open made).
  std::int64_t schema_version() const { return schema_version_; }

  // Runs SQL without results; throws StateDbError naming the file and SQLite's message.
  void exec(std::string_view sql);
  // Throws a StateDbError for a failed SQLite call: "<file>: <what>: <sqlite message>".
  [[noreturn]] void fail(std::string_view what) const;

  // BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed without commit().
  class Transaction {
   public:
    explicit Transaction(StateDb& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

   private:
    StateDb& db_;
    bool open_ = true;
  };

 private:
  StateDb(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  std::string path_;
  sqlite3* db_ = nullptr;
  std::int64_t schema_version_ = 0;
};

// Microseconds since the Unix epoch, from the system clock (query log times).
std::int64_t unix_now_us();

}  // namespace whoisd
