#include "snapshot/snapshot_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "snapshot/snapshot_schema.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

namespace {

// The registered domain and its three contacts in one statement (one index search on
// a_label, three rowid searches). Personal values of an opted-out contact are blanked
// here, in SQLite, so they never reach this process; a contact row that is missing
// (a dangling id) is treated as not disclosed. Phone, fax, tax number, arbitration
// option, handle and the managing entity's and technical contact's address fields are
// never selected.
constexpr std::string_view kDomainSql = R"sql(
SELECT d.id, d.a_label, d.u_label, d.status, d.created, d.expires,
       coalesce(r.opt_out, 1) <> 0,
       CASE WHEN r.opt_out = 0 THEN r.name ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.address ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.locality ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.zip_code ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.zip_locality ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.country_code ELSE '' END,
       CASE WHEN r.opt_out = 0 THEN r.email ELSE '' END,
       coalesce(a.opt_out, 1) <> 0,
       CASE WHEN a.opt_out = 0 THEN a.name ELSE '' END,
       CASE WHEN a.opt_out = 0 THEN a.email ELSE '' END,
       coalesce(t.opt_out, 1) <> 0,
       CASE WHEN t.opt_out = 0 THEN t.name ELSE '' END,
       CASE WHEN t.opt_out = 0 THEN t.email ELSE '' END
FROM domains AS d
LEFT JOIN contacts AS r ON r.id = d.registrant_id
LEFT JOIN contacts AS a ON a.id = d.admin_id
LEFT JOIN contacts AS t ON t.id = d.tech_id
WHERE d.a_label = ?1
)sql";

// Name servers, glue and DS records of one domain in one statement: each arm reads one
// clustered primary-key range. Order is restored in C++ from the position columns, so
// nothing here depends on the order SQLite returns rows in.
constexpr std::string_view kChildrenSql = R"sql(
SELECT 1, position, NULL, NULL, NULL, host FROM name_servers WHERE domain_id = ?1
UNION ALL
SELECT 2, ns_position, ip_version, position, NULL, address FROM glue_addresses WHERE domain_id = ?1
UNION ALL
SELECT 3, position, key_tag, algorithm, digest_type, digest FROM ds_records WHERE domain_id = ?1
)sql";

enum DomainColumn {
  kId, kALabel, kULabel, kStatus, kCreated, kExpires,
  kRegistrantHidden, kRegistrantName, kRegistrantAddress, kRegistrantLocality, kRegistrantZipCode,
  kRegistrantZipLocality, kRegistrantCountryCode, kRegistrantEmail,
  kAdminHidden, kAdminName, kAdminEmail,
  kTechHidden, kTechName, kTechEmail,
};

std::string str(std::string_view view) { return std::string(view); }

// Which file a path names. Inode numbers are reused as soon as a file is freed, so the
// change time (set by the rename that installed it), size and modification time are
// compared too.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity identity_of(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino, st.st_size,
                      std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                      std::int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec};
}

// The columns schema.sql declares, table by table, read from an in-memory database built
// from the very text of the schema, so the check and the documentation cannot diverge.
const std::map<std::string, std::vector<std::string>>& documented_columns() {
  static const auto columns = [] {
    std::map<std::string, std::vector<std::string>> out;
    sqlite::Db db = sqlite::open(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::exec_script(db.get(), snapshot_schema_sql(), "schema.sql");
    sqlite::Stmt tables = sqlite::prepare(
        db.get(), "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    while (sqlite3_step(tables.get()) == SQLITE_ROW) {
      std::string table = str(sqlite::column_text(tables.get(), 0));
      sqlite::Stmt info = sqlite::prepare(db.get(), "SELECT name FROM pragma_table_info(?1)");
      sqlite3_bind_text(info.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
      auto& list = out[table];
      while (sqlite3_step(info.get()) == SQLITE_ROW) list.push_back(str(sqlite::column_text(info.get(), 0)));
    }
    return out;
  }();
  return columns;
}

std::uint32_t read_be16(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// Checks that SQLite itself does lazily or not at all, on the raw file: that it exists
// and can be read, is a SQLite 3 database, not in WAL mode, and not shorter than its
// header says. Returns the file's size and identity.
std::pair<std::int64_t, FileIdentity> check_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw SnapshotError(path + ": no such file");
    throw SnapshotError(path + ": cannot access: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw SnapshotError(path + ": not a regular file");
  if (st.st_size == 0) throw SnapshotError(path + ": empty file (0 bytes), not a snapshot");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SnapshotError(path + ": cannot open for reading: " + std::strerror(errno));
  unsigned char header[100] = {};
  ssize_t got = ::pread(fd, header, sizeof header, 0);
  int read_errno = errno;
  ::close(fd);
  if (got < 0) throw SnapshotError(path + ": cannot read: " + std::strerror(read_errno));
  static const char magic[] = "SQLite format 3";  // with its terminating NUL: 16 bytes
  if (static_cast<std::size_t>(got) < sizeof header || std::memcmp(header, magic, sizeof magic) != 0) {
    throw SnapshotError(path + ": not a SQLite database (no SQLite 3 header; " + std::to_string(st.st_size) +
                        " bytes)");
  }
  std::uint32_t page_size = read_be16(header + 16);
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
    throw SnapshotError(path + ": corrupt SQLite header (page size " + std::to_string(page_size) + ")");
  }
  if (header[18] == 2 || header[19] == 2) {
    throw SnapshotError(path +
                        ": the database is in WAL mode; export snapshots with journal_mode DELETE (see schema.sql)");
  }
  // The page count in the header is valid when the "version-valid-for" number equals
  // the change counter (SQLite >= 3.7.0 writes both).
  std::uint32_t page_count = read_be32(header + 28);
  if (read_be32(header + 92) == read_be32(header + 24) && page_count > 0) {
    std::int64_t expected = std::int64_t{page_count} * page_size;
    if (st.st_size < expected) {
      throw SnapshotError(path + ": truncated: " + std::to_string(st.st_size) + " bytes, the header says " +
                          std::to_string(expected) + " (" + std::to_string(page_count) + " pages of " +
                          std::to_string(page_size) + ")");
    }
  } else if (st.st_size % page_size != 0) {
    throw SnapshotError(path + ": truncated: " + std::to_string(st.st_size) + " bytes is not a whole number of " +
                        std::to_string(page_size) + "-byte pages");
  }
  return {static_cast<std::int64_t>(st.st_size), identity_of(st)};
}

std::optional<FileIdentity> identity_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return identity_of(st);
}

}  // namespace

// One pooled connection with its two prepared statements. Named for the snapshot: it
// has external linkage (SnapshotStore::Snapshot holds it), and a bare "Connection"
// in namespace whoisd once collided with the server's (an ODR violation ASan caught).
struct SnapshotConnection {
  sqlite::Db db;
  sqlite::Stmt domain;
  sqlite::Stmt children;
};

namespace {

void prepare_statements(SnapshotConnection& connection) {
  connection.domain = sqlite::prepare(connection.db.get(), kDomainSql, true);
  connection.children = sqlite::prepare(connection.db.get(), kChildrenSql, true);
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

// Resets a statement when it goes out of scope, whatever happened while stepping it.
struct ResetGuard {
  sqlite3_stmt* stmt;
  ~ResetGuard() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

void validate_schema(sqlite3* db, const std::string& path) {
  std::int64_t version = sqlite::query_int(db, "PRAGMA user_version");
  if (version == 0) {
    throw SnapshotError(path + ": no schema version (PRAGMA user_version is 0): not a whoisd snapshot, expected version " +
                        std::to_string(kSnapshotSchemaVersion));
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
    if (present.empty()) throw SnapshotError(path + ": missing table '" + table + "' (see schema.sql)");
    for (const auto& column : columns) {
      if (present.count(column) == 0) {
        throw SnapshotError(path + ": table '" + table + "' has no column '" + column + "' (see schema.sql)");
      }
    }
  }
}

// Lookups must search, never scan: a table exported without its primary key or the
// UNIQUE index on a_label would turn every query into a full scan.
void validate_plans(sqlite3* db, const std::string& path) {
  for (std::string_view sql : {kDomainSql, kChildrenSql}) {
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
};

MetaFacts validate_meta(sqlite3* db, const std::string& path) {
  std::map<std::string, std::string> meta;
  sqlite::Stmt stmt = sqlite::prepare(db, "SELECT key, value FROM meta");
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    meta[str(sqlite::column_text(stmt.get(), 0))] = str(sqlite::column_text(stmt.get(), 1));
  }
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
  for (const char* key : {"schema_version", "exported_at", "source"}) {
    if (meta.count(key) == 0) throw SnapshotError(path + ": meta table lacks the key '" + key + "'");
  }
  if (meta["schema_version"] != std::to_string(kSnapshotSchemaVersion)) {
    throw SnapshotError(path + ": meta schema_version is '" + meta["schema_version"] + "', PRAGMA user_version is " +
                        std::to_string(kSnapshotSchemaVersion));
  }
  const std::string& exported = meta["exported_at"];
  MetaFacts facts;
  bool digits = !exported.empty() && exported.size() <= 12 &&
                std::all_of(exported.begin(), exported.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  if (!digits) {
    throw SnapshotError(path + ": meta exported_at is '" + exported + "', expected Unix seconds");
  }
  facts.exported_at = std::stoll(exported);
  return facts;
}

}  // namespace

class SnapshotStore::Snapshot {
 public:
  SnapshotInfo info;
  FileIdentity identity;

  Snapshot(std::string path, std::size_t connections, bool full_integrity_check, std::uint64_t generation);

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
  std::optional<PublishedDomain> lookup(SnapshotConnection& connection, std::string_view a_label) const;

 private:
  void give_back(std::unique_ptr<SnapshotConnection> connection);

  std::mutex pool_mutex_;
  std::condition_variable pool_returned_;
  std::vector<std::unique_ptr<SnapshotConnection>> idle_;
};

SnapshotStore::Snapshot::Snapshot(std::string path, std::size_t connections, bool full_integrity_check,
                                  std::uint64_t generation) {
  info.path = std::move(path);
  info.generation = generation;
  const std::string& file = info.path;
  auto [bytes, before] = check_file(file);
  info.file_bytes = bytes;
  try {
    std::unique_ptr<SnapshotConnection> first = open_connection(file, bytes, false);
    sqlite3* db = first->db.get();
    validate_schema(db, file);
    validate_plans(db, file);
    prepare_statements(*first);
    info.schema_version = kSnapshotSchemaVersion;
    info.exported_at = validate_meta(db, file).exported_at;
    // Counting walks the smallest index of domains: tens of milliseconds at 1,000,000.
    info.domains = sqlite::query_int(db, "SELECT count(*) FROM domains");
    // Serving an export that lost its rows would answer "no match" for every domain.
    if (info.domains == 0) throw SnapshotError(file + ": holds no domains (an empty export?)");
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
    // A probe lookup of the first and the last domain exercises both statements.
    for (const char* probe : {"SELECT a_label FROM domains ORDER BY a_label ASC LIMIT 1",
                              "SELECT a_label FROM domains ORDER BY a_label DESC LIMIT 1"}) {
      sqlite::Stmt stmt = sqlite::prepare(db, probe);
      int rc = sqlite3_step(stmt.get());
      if (rc == SQLITE_ROW) {
        std::string a_label = str(sqlite::column_text(stmt.get(), 0));
        if (!lookup(*first, a_label)) throw SnapshotError(file + ": probe lookup of '" + a_label + "' found nothing");
      } else if (rc != SQLITE_DONE) {
        throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
      }
    }
    // Room for the pool to grow without allocating when a connection is given back.
    idle_.reserve(std::max<std::size_t>(connections, 256));
    idle_.push_back(std::move(first));
    while (idle_.size() < connections) idle_.push_back(open_connection(file, bytes));
  } catch (const sqlite::SqliteError& e) {
    throw SnapshotError(file + ": " + e.what());
  }
  // Every connection must read the same file: if another was renamed over the path
  // while they were being opened, some may read the new one. Refuse; the caller retries.
  if (identity_of(file) != before) {
    throw SnapshotError(file + ": the file was replaced while it was being opened; reload again");
  }
  identity = before;
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

std::optional<PublishedDomain> SnapshotStore::Snapshot::lookup(SnapshotConnection& connection,
                                                               std::string_view a_label) const {
  sqlite3* db = connection.db.get();
  auto failed = [&](int rc) -> SnapshotError {
    return SnapshotError(info.path + ": lookup of '" + std::string(a_label) + "' failed: " +
                         (rc == SQLITE_OK ? std::string("unexpected") : std::string(sqlite3_errmsg(db))));
  };

  sqlite3_stmt* stmt = connection.domain.get();
  ResetGuard domain_reset{stmt};
  sqlite3_bind_text(stmt, 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) throw failed(rc);

  PublishedDomain d;
  const sqlite3_int64 id = sqlite3_column_int64(stmt, kId);
  d.a_label = str(sqlite::column_text(stmt, kALabel));
  d.u_label = str(sqlite::column_text(stmt, kULabel));
  d.status = str(sqlite::column_text(stmt, kStatus));
  d.created = sqlite3_column_int64(stmt, kCreated);
  d.expires = sqlite3_column_int64(stmt, kExpires);
  d.registrant.disclosed = sqlite3_column_int(stmt, kRegistrantHidden) == 0;
  d.registrant.name = str(sqlite::column_text(stmt, kRegistrantName));
  d.registrant.address = str(sqlite::column_text(stmt, kRegistrantAddress));
  d.registrant.locality = str(sqlite::column_text(stmt, kRegistrantLocality));
  d.registrant.zip_code = str(sqlite::column_text(stmt, kRegistrantZipCode));
  d.registrant.zip_locality = str(sqlite::column_text(stmt, kRegistrantZipLocality));
  d.registrant.country_code = str(sqlite::column_text(stmt, kRegistrantCountryCode));
  d.registrant.email = str(sqlite::column_text(stmt, kRegistrantEmail));
  d.admin.disclosed = sqlite3_column_int(stmt, kAdminHidden) == 0;
  d.admin.name = str(sqlite::column_text(stmt, kAdminName));
  d.admin.email = str(sqlite::column_text(stmt, kAdminEmail));
  d.tech.disclosed = sqlite3_column_int(stmt, kTechHidden) == 0;
  d.tech.name = str(sqlite::column_text(stmt, kTechName));
  d.tech.email = str(sqlite::column_text(stmt, kTechEmail));

  struct Glue {
    std::int64_t ns_position, ip_version, position;
    std::string address;
  };
  std::vector<std::pair<std::int64_t, PublishedNameServer>> servers;
  std::vector<Glue> glue;
  std::vector<std::pair<std::int64_t, PublishedDsRecord>> ds;

  sqlite3_stmt* children = connection.children.get();
  ResetGuard children_reset{children};
  sqlite3_bind_int64(children, 1, id);
  while ((rc = sqlite3_step(children)) == SQLITE_ROW) {
    switch (sqlite3_column_int(children, 0)) {
      case 1: {
        PublishedNameServer server;
        server.host = str(sqlite::column_text(children, 5));
        servers.emplace_back(sqlite3_column_int64(children, 1), std::move(server));
        break;
      }
      case 2:
        glue.push_back(Glue{sqlite3_column_int64(children, 1), sqlite3_column_int64(children, 2),
                            sqlite3_column_int64(children, 3), str(sqlite::column_text(children, 5))});
        break;
      case 3: {
        PublishedDsRecord record;
        record.key_tag = static_cast<std::uint32_t>(sqlite3_column_int64(children, 2));
        record.algorithm = static_cast<std::uint32_t>(sqlite3_column_int64(children, 3));
        record.digest_type = static_cast<std::uint32_t>(sqlite3_column_int64(children, 4));
        record.digest_hex = str(sqlite::column_text(children, 5));
        for (char& c : record.digest_hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ds.emplace_back(sqlite3_column_int64(children, 1), std::move(record));
        break;
      }
      default:
        break;
    }
  }
  if (rc != SQLITE_DONE) throw failed(rc);

  auto by_position = [](const auto& x, const auto& y) { return x.first < y.first; };
  std::stable_sort(servers.begin(), servers.end(), by_position);
  std::stable_sort(ds.begin(), ds.end(), by_position);
  std::sort(glue.begin(), glue.end(), [](const Glue& x, const Glue& y) {
    return std::tie(x.ns_position, x.ip_version, x.position) < std::tie(y.ns_position, y.ip_version, y.position);
  });
  for (Glue& g : glue) {
    auto server = std::lower_bound(servers.begin(), servers.end(), g.ns_position,
                                   [](const auto& s, std::int64_t position) { return s.first < position; });
    if (server == servers.end() || server->first != g.ns_position) continue;  // glue of no listed server
    (g.ip_version == 4 ? server->second.ipv4 : server->second.ipv6).push_back(std::move(g.address));
  }
  d.name_servers.reserve(servers.size());
  for (auto& server : servers) d.name_servers.push_back(std::move(server.second));
  d.ds_records.reserve(ds.size());
  for (auto& record : ds) d.ds_records.push_back(std::move(record.second));
  return d;
}

namespace {

std::size_t pool_size(const SnapshotStoreOptions& options) {
  if (options.connections > 0) return options.connections;
  return std::max<std::size_t>(4, 2 * std::max(1u, std::thread::hardware_concurrency()));
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

std::optional<PublishedDomain> SnapshotStore::lookup(std::string_view a_label) const {
  std::shared_ptr<Snapshot> snapshot = current();
  if (!snapshot) throw SnapshotError(path_ + ": no snapshot open");
  Snapshot::Lease connection = snapshot->borrow();
  return snapshot->lookup(*connection, a_label);
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
