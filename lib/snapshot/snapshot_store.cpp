#include "snapshot/snapshot_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "snapshot/mapping_guard.h"
#include "snapshot/normalised_domain_reader.h"
#include "snapshot/published_record.h"
#include "snapshot/published_view.h"
#include "snapshot/snapshot_file.h"
#include "snapshot/snapshot_meta.h"
#include "snapshot/snapshot_schema.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

namespace {

// A lookup: one search of published_domains' clustered key, then decoding the record.
constexpr std::string_view kPublishedSql = "SELECT record FROM published_domains WHERE a_label = ?1";

std::string str(std::string_view view) { return std::string(view); }

}  // namespace

// One pooled connection with its prepared lookup statement. Named for the snapshot: it
// has external linkage (SnapshotStore::Snapshot holds it), and a bare "Connection"
// in namespace whoisd once collided with the server's (an ODR violation ASan caught).
struct SnapshotConnection {
  sqlite::Db db;
  sqlite::Stmt published;
};

namespace {

// Also opens the read transaction the connection then keeps for its whole life. Why:
// in autocommit mode every lookup began and ended one (page 1 read and checked, the
// schema cookie compared, the pager's pages released), ~2,000 instructions of each
// lookup (bench_lookup: 3.6-5.0 -> 3.3-3.6 us a registered name, 0.7-1.2 -> 0.5-0.8 us
// one not registered). Nothing else can notice: the file is opened immutable, so no
// writer waits on the transaction and it can see no change; a reload opens new
// connections, and closing one rolls its transaction back. Should an error end it,
// SQLite goes back to autocommit, and the failed lookup begins it again
// (restore_read_transaction; a disk read error injected under lookups:
// tests/snapshot/test_snapshot_read_error.cpp).
void prepare_statements(SnapshotConnection& connection) {
  connection.published = sqlite::prepare(connection.db.get(), kPublishedSql, true);
  sqlite::exec(connection.db.get(), "BEGIN");
}

// After a failed lookup: an I/O error (or running out of memory) makes SQLite roll the
// held read transaction back, and the connection would then serve in autocommit mode,
// slower, until the next reload. Begins it again; if that fails too (the file still
// unreadable), the next error tries again. Only on the error path: a lookup that
// succeeds never asks.
void restore_read_transaction(SnapshotConnection& connection) {
  sqlite3* db = connection.db.get();
  sqlite3_reset(connection.published.get());  // the failed statement must not be active
  if (sqlite3_get_autocommit(db) != 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
}

// Opens a connection; with `prepare` also its statements (which needs a valid schema).
std::unique_ptr<SnapshotConnection> open_connection(const std::string& path, std::int64_t file_bytes, bool prepare = true) {
  auto connection = std::make_unique<SnapshotConnection>();
  // immutable=1: no locks, no journal or WAL lookup, nothing created beside the file.
  // NOMUTEX: a connection is used by one thread at a time (the pool sees to it).
  connection->db = sqlite::open(sqlite::immutable_uri(path),
                                SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = connection->db.get();
  // Read pages straight from the page cache of the kernel rather than copying them into
  // SQLite's own cache: the whole file is mapped (up to SQLite's compile-time maximum).
  const std::string mmap = "PRAGMA mmap_size = " + std::to_string(file_bytes + 65536) + "; PRAGMA query_only = 1;";
  sqlite::exec(db, mmap.c_str());
  if (prepare) prepare_statements(*connection);
  return connection;
}

// What an operator runs to turn a registry export, or a snapshot of an older layout or
// with a stale derived table, into a file whoisd serves.
std::string build_advice(const std::string& path) {
  return "make a servable snapshot from it with `whoisd-snapshot build " + path + " --out NEW.sqlite`";
}
std::string rebuild_advice(const std::string& path) {
  return "rebuild it with `whoisd-snapshot build " + path + " --out NEW.sqlite`";
}

void validate_schema(sqlite3* db, const std::string& path) {
  std::int64_t version = sqlite::query_int(db, "PRAGMA user_version");
  if (version == 0) {
    throw SnapshotError(path + ": no schema version (PRAGMA user_version is 0): not a whoisd snapshot, expected version " +
                        std::to_string(kSnapshotSchemaVersion));
  }
  if (version == 1) {
    throw SnapshotError(path + ": schema version 1, the layout without the published_domains table and meta "
                        "'domain_count' that this whoisd (version " + std::to_string(kSnapshotSchemaVersion) +
                        ") reads lookups from; " + build_advice(path));
  }
  if (version != kSnapshotSchemaVersion) {
    throw SnapshotError(path + ": schema version " + std::to_string(version) + ", this whoisd reads version " +
                        std::to_string(kSnapshotSchemaVersion));
  }
  for (const auto& [table, columns] : documented_columns()) {
    sqlite::Stmt info = sqlite::prepare(db, "SELECT name FROM pragma_table_info(?1)");
    sqlite3_bind_text(info.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    std::set<std::string> present;
    int rc;
    while ((rc = sqlite3_step(info.get())) == SQLITE_ROW) present.insert(str(sqlite::column_text(info.get(), 0)));
    if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
    const std::string fix = table == kPublishedDomainsTable ? " (it is derived: " + build_advice(path) + ")"
                                                            : " (see schema.sql)";
    if (present.empty()) throw SnapshotError(path + ": missing table '" + table + "'" + fix);
    for (const auto& column : columns) {
      if (present.count(column) == 0) {
        throw SnapshotError(path + ": table '" + table + "' has no column '" + column + "'" + fix);
      }
    }
  }
}

// Lookups must search, never scan: a table exported without its primary key or the
// UNIQUE index on a_label would turn every query into a full scan. The normalised
// statements are checked too: open-time probes and `whoisd-snapshot check` use them.
void validate_plans(sqlite3* db, const std::string& path) {
  std::vector<std::string_view> statements = NormalisedDomainReader::statements();
  statements.push_back(kPublishedSql);
  for (std::string_view sql : statements) {
    sqlite::Stmt plan = sqlite::prepare(db, "EXPLAIN QUERY PLAN " + std::string(sql));
    sqlite3_bind_text(plan.get(), 1, "", 0, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(plan.get())) == SQLITE_ROW) {
      std::string detail = str(sqlite::column_text(plan.get(), 3));
      if (detail.rfind("SCAN", 0) == 0) {
        throw SnapshotError(path + ": a lookup would read a whole table (" + detail +
                            "): a primary key or the UNIQUE constraint on domains.a_label is missing (see schema.sql)");
      }
    }
    if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
  }
}

struct MetaFacts {
  std::int64_t exported_at = 0;
  std::int64_t domain_count = 0;
  std::optional<std::int64_t> sealed_change_counter;
};

MetaFacts validate_meta(sqlite3* db, const std::string& path) {
  MetaRows meta = read_meta(db);
  if (meta.count("schema_version") == 0) throw SnapshotError(path + ": meta table lacks the key 'schema_version'");
  if (meta["schema_version"] != std::to_string(kSnapshotSchemaVersion)) {
    throw SnapshotError(path + ": meta schema_version is '" + meta["schema_version"] + "', PRAGMA user_version is " +
                        std::to_string(kSnapshotSchemaVersion));
  }
  MetaFacts facts;
  facts.exported_at = validate_exported_meta(meta, path);
  if (meta.count("domain_count") == 0) {
    throw SnapshotError(path + ": meta table lacks the key 'domain_count' (it is derived: " + build_advice(path) + ")");
  }
  std::optional<std::int64_t> count = meta_decimal(meta["domain_count"]);
  if (!count) {
    throw SnapshotError(path + ": meta domain_count is '" + meta["domain_count"] + "', expected a number of domains");
  }
  facts.domain_count = *count;
  if (meta.count("sealed_change_counter")) {
    facts.sealed_change_counter = meta_decimal(meta["sealed_change_counter"]);
    if (!facts.sealed_change_counter)
      throw SnapshotError(path + ": meta sealed_change_counter is '" + meta["sealed_change_counter"] +
                          "', expected a number");
  }
  return facts;
}

// Names spread over the alphabet where published_domains is probed against the normalised
// tables on every open: the first domain at or after each (and the last domain).
constexpr std::string_view kProbePoints[] = {"", "0", "a", "c", "e", "g", "j", "m", "p", "r", "s", "t", "v", "xn--", "z"};

// The first a_label at or after `from` (or the last a_label, when last) in `table`.
std::optional<std::string> neighbour(sqlite3* db, std::string_view table, std::string_view from, bool last) {
  const std::string sql = "SELECT a_label FROM " + std::string(table) +
                          (last ? " ORDER BY a_label DESC LIMIT 1" : " WHERE a_label >= ?1 ORDER BY a_label LIMIT 1");
  sqlite::Stmt stmt = sqlite::prepare(db, sql);
  if (!last) sqlite3_bind_text(stmt.get(), 1, from.data(), static_cast<int>(from.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return str(sqlite::column_text(stmt.get(), 0));
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
  return std::nullopt;
}

}  // namespace

class SnapshotStore::Snapshot {
 public:
  SnapshotInfo info;
  FileIdentity identity;

  Snapshot(std::string path, std::size_t connections, bool full_integrity_check, std::uint64_t generation);

  // True once the file this snapshot opened was seen written in place (its size or
  // modification time changed): from then on every lookup throws. One fstat().
  bool check_written_in_place();
  bool written_in_place() const {
    return written_in_place_.load(std::memory_order_relaxed) || mapping_guard::damaged(guard_.slot);
  }

  // A pooled connection, given back when the lease goes out of scope.
  class Lease {
   public:
    Lease(Snapshot& owner, std::unique_ptr<SnapshotConnection> connection)
        : owner_(owner), connection_(std::move(connection)) {}
    ~Lease() { owner_.give_back(std::move(connection_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    SnapshotConnection& operator*() const { return *connection_; }
    SnapshotConnection* operator->() const { return connection_.get(); }

   private:
    Snapshot& owner_;
    std::unique_ptr<SnapshotConnection> connection_;
  };

  Lease borrow();
  // Decodes into out (true) or returns false when a_label is not in the file.
  bool lookup(SnapshotConnection& connection, std::string_view a_label, PublishedDomain& out) const;

 private:
  // Compares published_domains with the normalised tables where it is cheap: the first
  // name at or after each of kProbePoints and the last name must be the same in both
  // tables, and those names' records must decode to what the normalised statements give.
  // A few milliseconds; `whoisd-snapshot check` compares every domain.
  void probe_published_view(SnapshotConnection& connection) const;
  void give_back(std::unique_ptr<SnapshotConnection> connection);

  // The file's SIGBUS guard (mapping_guard.h): declared before the connections, so that it
  // ends after them, once nothing maps the file any more.
  struct GuardSlot {
    int slot = -1;
    GuardSlot() = default;
    GuardSlot(const GuardSlot&) = delete;
    GuardSlot& operator=(const GuardSlot&) = delete;
    ~GuardSlot() { mapping_guard::unwatch(slot); }
  } guard_;
  std::mutex pool_mutex_;
  std::condition_variable pool_returned_;
  std::vector<std::unique_ptr<SnapshotConnection>> idle_;
  // The opened file itself (not the path, which a rename may point elsewhere), to see
  // whether anything writes into it: the connections read it through a shared mapping
  // and a held read transaction, and the file is opened immutable, so SQLite would
  // read whatever a copy over it left (an answer "no match" for registered domains,
  // in the test that found it) without noticing.
  // (A member that closes itself, so that a file refused by the constructor is closed too.)
  struct OpenFile {
    int fd = -1;
    OpenFile() = default;
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;
    ~OpenFile() {
      if (fd >= 0) ::close(fd);
    }
  } file_;
  std::atomic<bool> written_in_place_{false};
};

SnapshotStore::Snapshot::Snapshot(std::string path, std::size_t connections, bool full_integrity_check,
                                  std::uint64_t generation) {
  info.path = std::move(path);
  info.generation = generation;
  const std::string& file = info.path;
  auto [bytes, before] = check_snapshot_file(file);
  info.file_bytes = bytes;
  guard_.slot = mapping_guard::watch(before.dev, before.ino);  // before the first connection maps it
  file_.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_.fd < 0) throw SnapshotError(file + ": cannot open for reading: " + std::strerror(errno));
  try {
    std::unique_ptr<SnapshotConnection> first = open_connection(file, bytes, false);
    sqlite3* db = first->db.get();
    validate_schema(db, file);
    validate_plans(db, file);
    prepare_statements(*first);
    info.schema_version = kSnapshotSchemaVersion;
    const MetaFacts meta = validate_meta(db, file);
    info.exported_at = meta.exported_at;
    // The count is meta's, not counted here: counting walks a whole index (~80 ms at
    // 1,000,000 domains) on every open and reload. It is only reported (metrics,
    // `whoisd-snapshot check`), never used to answer; `whoisd-snapshot check` verifies it
    // exactly, and the probes below find a file whose derived data is stale.
    info.domains = meta.domain_count;
    // Serving an export that lost its rows would answer "no match" for every domain.
    if (info.domains == 0) throw SnapshotError(file + ": holds no domains (meta domain_count is 0: an empty export?)");
    if (full_integrity_check) {
      sqlite::Stmt check = sqlite::prepare(db, "PRAGMA quick_check(5)");
      std::string problems;
      int rc;
      while ((rc = sqlite3_step(check.get())) == SQLITE_ROW) {
        std::string line = str(sqlite::column_text(check.get(), 0));
        if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
      }
      if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
      if (!problems.empty()) throw SnapshotError(file + ": integrity check failed: " + problems);
    }
    probe_published_view(*first);
    // Last, so that a file with a defect the checks above name is refused for that.
    // Only a file whoisd-snapshot built and sealed is served: the answers come from
    // published_domains alone, and the probes above compare a few names with the
    // normalised tables, so an edit of any other record (an opted-out contact's
    // details put back, a value the policy does not publish) would be served unseen.
    if (!meta.sealed_change_counter)
      throw SnapshotError(file + ": not sealed by whoisd-snapshot (built before it sealed its files, or made by "
                                 "other means), so an edit made after its build could not be told; " +
                          rebuild_advice(file));
    const std::uint32_t counter = sqlite_change_counter(file_.fd, file);
    if (counter != *meta.sealed_change_counter)
      throw SnapshotError(file + ": changed after whoisd-snapshot built it (SQLite change counter " +
                          std::to_string(counter) + ", sealed at " + std::to_string(*meta.sealed_change_counter) +
                          "): an edit of a built snapshot does not reach the published view it serves; " +
                          rebuild_advice(file));
    // Room for the pool to grow without allocating when a connection is given back.
    idle_.reserve(std::max<std::size_t>(connections, 256));
    idle_.push_back(std::move(first));
    while (idle_.size() < connections) idle_.push_back(open_connection(file, bytes));
    info.connections = idle_.size();
  } catch (const sqlite::SqliteError& e) {
    throw SnapshotError(file + ": " + e.what());
  }
  // Every connection must read the same file: if another was renamed over the path
  // while they were being opened, some may read the new one. Refuse; the caller retries.
  if (identity_of(file) != before || identity_of_open_file(file_.fd) != before) {
    throw SnapshotError(file + ": the file was replaced while it was being opened; reload again");
  }
  identity = before;
}

bool SnapshotStore::Snapshot::check_written_in_place() {
  if (written_in_place()) return true;
  std::optional<FileIdentity> now = identity_of_open_file(file_.fd);
  // The change time is left out: a hard link or chmod changes it, not the content.
  if (now && now->size == identity.size && now->mtime_ns == identity.mtime_ns) return false;
  written_in_place_.store(true, std::memory_order_relaxed);
  return true;
}

SnapshotStore::Snapshot::Lease SnapshotStore::Snapshot::borrow() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(connection));
    }
  }
  // All busy: open one more if the path still names this snapshot's file (checked before
  // and after opening, so the new connection reads the same file as the others).
  if (identity_of(info.path) == identity) {
    try {
      auto connection = open_connection(info.path, info.file_bytes);
      if (identity_of(info.path) == identity) return Lease(*this, std::move(connection));
    } catch (const sqlite::SqliteError&) {
      // Fall through to waiting for a pooled connection.
    }
  }
  std::unique_lock lock(pool_mutex_);
  pool_returned_.wait(lock, [this] { return !idle_.empty(); });
  auto connection = std::move(idle_.back());
  idle_.pop_back();
  return Lease(*this, std::move(connection));
}

void SnapshotStore::Snapshot::give_back(std::unique_ptr<SnapshotConnection> connection) {
  {
    std::lock_guard lock(pool_mutex_);
    idle_.push_back(std::move(connection));
  }
  pool_returned_.notify_one();
}

bool SnapshotStore::Snapshot::lookup(SnapshotConnection& connection, std::string_view a_label,
                                     PublishedDomain& out) const {
  // No answer rather than one read from pages a copy is overwriting.
  if (written_in_place()) {
    throw SnapshotError(info.path + ": the file was written in place since it was opened, so it can no longer be "
                        "read; install a snapshot by renaming a new file over the path");
  }
  sqlite3_stmt* stmt = connection.published.get();
  sqlite::ResetGuard reset{stmt};
  sqlite3_bind_text(stmt, 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return false;
  if (rc != SQLITE_ROW) {
    SnapshotError error(info.path + ": lookup of '" + std::string(a_label) +
                        "' failed: " + sqlite3_errmsg(connection.db.get()));
    restore_read_transaction(connection);
    throw error;
  }
  try {
    decode_published_record(a_label, sqlite::column_blob(stmt, 0), out);
    return true;
  } catch (const PublishedRecordError& e) {
    throw SnapshotError(info.path + ": the published_domains record of '" + std::string(a_label) +
                        "' is unreadable: " + e.what() + "; " + rebuild_advice(info.path));
  }
}

void SnapshotStore::Snapshot::probe_published_view(SnapshotConnection& connection) const {
  const std::string& file = info.path;
  sqlite3* db = connection.db.get();
  NormalisedDomainReader normalised(db);
  std::vector<std::string> probed;
  for (std::size_t i = 0; i <= std::size(kProbePoints); ++i) {
    const bool last = i == std::size(kProbePoints);
    const std::string_view from = last ? std::string_view() : kProbePoints[i];
    std::optional<std::string> in_domains = neighbour(db, "domains", from, last);
    std::optional<std::string> in_published = neighbour(db, kPublishedDomainsTable, from, last);
    if (in_domains != in_published) {
      const std::string where = last ? std::string("the last domain") : "the first domain at or after '" + std::string(from) + "'";
      throw SnapshotError(file + ": published_domains does not match domains (stale or edited): " + where + " is '" +
                          in_domains.value_or("(none)") + "' in domains and '" + in_published.value_or("(none)") +
                          "' in published_domains; " + rebuild_advice(file));
    }
    if (in_domains && std::find(probed.begin(), probed.end(), *in_domains) == probed.end()) probed.push_back(*in_domains);
  }
  for (const std::string& a_label : probed) {
    sqlite3_stmt* stmt = connection.published.get();
    sqlite::ResetGuard reset{stmt};
    sqlite3_bind_text(stmt, 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
      throw SnapshotError(file + ": probe lookup of '" + a_label + "' found nothing" +
                          (rc == SQLITE_DONE ? std::string() : std::string(": ") + sqlite3_errmsg(db)));
    }
    std::string problem;
    try {
      problem = published_record_mismatch(normalised, a_label, sqlite::column_blob(stmt, 0));
    } catch (const NormalisedValueError& e) {
      // Not stale: building again from these tables is refused just the same.
      throw SnapshotError(file + ": its normalised tables hold a value whoisd does not publish: " + e.what() +
                          "; correct the export and build the snapshot again");
    }
    if (!problem.empty()) {
      throw SnapshotError(file + ": the published_domains record of '" + a_label +
                          "' is wrong (stale, edited, or built by an older whoisd-snapshot whose rules differed, "
                          "e.g. before glue was published in canonical text): " +
                          problem + "; " + rebuild_advice(file));
    }
  }
}

namespace {

std::size_t pool_size(const SnapshotStoreOptions& options) {
  if (options.connections > 0) return options.connections;
  return std::max<std::size_t>({4, 2 * std::max(1u, std::thread::hardware_concurrency()), options.concurrent_readers});
}

}  // namespace

SnapshotStore::SnapshotStore(std::string path, SnapshotStoreOptions options)
    : path_(std::move(path)), options_(options) {}

SnapshotStore::~SnapshotStore() = default;

std::shared_ptr<SnapshotStore::Snapshot> SnapshotStore::current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

void SnapshotStore::open() {
  std::lock_guard reload_lock(reload_mutex_);
  auto fresh = std::make_shared<Snapshot>(path_, pool_size(options_), options_.full_integrity_check, generation_ + 1);
  ++generation_;
  std::shared_ptr<Snapshot> old;
  {
    std::lock_guard lock(current_mutex_);
    old = std::exchange(current_, std::move(fresh));
  }
  // Close the old file here, on the reloading thread, once the lookups still using it
  // are done, rather than on whichever lookup thread happens to drop it last. Bounded:
  // after a few seconds the last user closes it.
  for (int i = 0; old && old.use_count() > 1 && i < 5000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool SnapshotStore::reload(std::string* error) {
  try {
    open();
    return true;
  } catch (const SnapshotError& e) {
    if (error != nullptr) *error = e.what();
    return false;
  }
}

bool SnapshotStore::written_in_place() const {
  std::shared_ptr<Snapshot> snapshot = current();
  return snapshot && snapshot->check_written_in_place();
}

bool SnapshotStore::lookup(std::string_view a_label, PublishedDomain& out) const {
  std::shared_ptr<Snapshot> snapshot = current();
  if (!snapshot) throw SnapshotError(path_ + ": no snapshot open");
  Snapshot::Lease connection = snapshot->borrow();
  return snapshot->lookup(*connection, a_label, out);
}

std::optional<PublishedDomain> SnapshotStore::lookup(std::string_view a_label) const {
  PublishedDomain d;
  if (!lookup(a_label, d)) return std::nullopt;
  return d;
}

SnapshotInfo SnapshotStore::info() const {
  std::shared_ptr<Snapshot> snapshot = current();
  if (!snapshot) throw SnapshotError(path_ + ": no snapshot open");
  return snapshot->info;
}

bool SnapshotStore::is_open() const { return current() != nullptr; }

SnapshotInfo validate_snapshot(const std::string& path, bool full_integrity_check) {
  SnapshotStore::Snapshot snapshot(path, 1, full_integrity_check, 0);
  return snapshot.info;
}

}  // namespace whoisd
