// A read error in the middle of serving: each pooled connection keeps one read
// transaction open for its whole life (snapshot_store.cpp, prepare_statements), and an
// I/O error makes SQLite roll that transaction back. The lookup that met the error must
// fail with a message naming the file and begin the transaction again, and every lookup
// after it must answer as before, on the same connection, without a reload.
//
// The error comes from a shim VFS, registered as the default for the test's duration,
// that forwards everything to the real one and, while armed, refuses to map pages
// (xFetch gives no pointer, so SQLite falls back to xRead) and fails every xRead with
// SQLITE_IOERR_READ, as a disk going bad under a mapped file would. An auto-extension
// puts a rollback hook on every connection opened meanwhile, which is how the test sees
// that the error did end the held transaction (a connection's close does not call it).
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <atomic>
#include <string>

#include "snapshot/snapshot_store.h"
#include "support/fixture_snapshot.h"

using whoisd::SnapshotError;
using whoisd::SnapshotStore;
using whoisd::SnapshotStoreOptions;

namespace {

std::atomic<bool> g_fail_reads{false};
std::atomic<int> g_failed_reads{0};
std::atomic<int> g_rollbacks{0};
sqlite3_vfs* g_real_vfs = nullptr;

// A file of the shim: its own header, then the real VFS's file object.
struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

int shim_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int shim_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  if (g_fail_reads.load()) {
    g_failed_reads.fetch_add(1);
    return SQLITE_IOERR_READ;
  }
  return real_of(f)->pMethods->xRead(real_of(f), buf, amount, offset);
}
int shim_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  return real_of(f)->pMethods->xWrite(real_of(f), buf, amount, offset);
}
int shim_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int shim_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int shim_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int shim_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int shim_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int shim_check_reserved(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int shim_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int shim_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int shim_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int shim_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int shim_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}
int shim_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  if (g_fail_reads.load()) {
    *out = nullptr;  // no mapping: SQLite reads the page with xRead instead
    return SQLITE_OK;
  }
  return real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
}
int shim_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
}

const sqlite3_io_methods kShimMethods = {
    3,           shim_close,         shim_read,    shim_write,   shim_truncate,    shim_sync,
    shim_file_size, shim_lock,       shim_unlock,  shim_check_reserved, shim_file_control,
    shim_sector_size, shim_device,   shim_shm_map, shim_shm_lock, shim_shm_barrier, shim_shm_unmap,
    shim_fetch,  shim_unfetch,
};

int shim_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  shim->base.pMethods = nullptr;  // nothing to close if the real open fails
  int rc = g_real_vfs->xOpen(g_real_vfs, name, shim->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  // Methods older than version 3 lack xFetch (the unix VFS has 3). No REQUIRE here: a
  // throw must not unwind through SQLite's C frames; the open fails, and so does the test.
  if (shim->real->pMethods == nullptr || shim->real->pMethods->iVersion < 3) {
    if (shim->real->pMethods != nullptr) shim->real->pMethods->xClose(shim->real);
    return SQLITE_CANTOPEN;
  }
  shim->base.pMethods = &kShimMethods;
  return SQLITE_OK;
}

int count_rollbacks(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_rollback_hook(db, [](void*) { g_rollbacks.fetch_add(1); }, nullptr);
  return SQLITE_OK;
}

// Registers the shim as the default VFS, and the rollback counter for every new
// connection, for its lifetime; what was there before comes back after.
class ShimVfs {
 public:
  ShimVfs() {
    g_real_vfs = sqlite3_vfs_find(nullptr);
    REQUIRE(g_real_vfs != nullptr);
    vfs_ = *g_real_vfs;  // every other method forwards by being the real one's
    vfs_.zName = "whoisd-test-faulty-reads";
    vfs_.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real_vfs->szOsFile;
    vfs_.pNext = nullptr;
    vfs_.xOpen = shim_open;
    REQUIRE(sqlite3_vfs_register(&vfs_, 1) == SQLITE_OK);
    REQUIRE(sqlite3_auto_extension(extension()) == SQLITE_OK);
    g_fail_reads = false;
    g_rollbacks = 0;
  }
  ~ShimVfs() {
    sqlite3_cancel_auto_extension(extension());
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(g_real_vfs, 1);
    g_fail_reads = false;
  }
  ShimVfs(const ShimVfs&) = delete;
  ShimVfs& operator=(const ShimVfs&) = delete;

 private:
  static void (*extension())() { return reinterpret_cast<void (*)()>(count_rollbacks); }
  sqlite3_vfs vfs_{};
};

}  // namespace

TEST_CASE("a read error ends the held read transaction; the lookup begins it again and the next ones answer",
          "[snapshot][read-error]") {
  const std::string path = whoisd::test::shared_fixture_snapshot();  // built before the hooks count
  ShimVfs shim;
  SnapshotStoreOptions one_connection;
  one_connection.connections = 1;  // every lookup on the connection that met the error
  SnapshotStore store(path, one_connection);
  store.open();

  auto before = store.lookup("xn--aores-yra.pt");
  REQUIRE(before);
  REQUIRE_FALSE(before->name_servers.empty());
  CHECK(g_rollbacks.load() == 0);  // open's validation and the first lookup ended nothing

  // Twice: the rollback hook runs only when a transaction is open, so a second rollback
  // shows the first failed lookup began the transaction again.
  for (int error = 1; error <= 2; ++error) {
    INFO("error " << error);
    g_failed_reads = 0;
    g_fail_reads = true;
    try {
      (void)store.lookup("xn--aores-yra.pt");
      FAIL("a lookup whose pages cannot be read must throw");
    } catch (const SnapshotError& e) {
      const std::string message = e.what();
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find("xn--aores-yra.pt") != std::string::npos);
      CHECK(message.find("disk I/O error") != std::string::npos);
    }
    g_fail_reads = false;
    CHECK(g_failed_reads.load() >= 1);
    CHECK(g_rollbacks.load() == error);  // SQLite rolled the held read transaction back

    // The same connection: found, not found, found again, each whole.
    for (int i = 0; i < 3; ++i) {
      auto after = store.lookup("xn--aores-yra.pt");
      REQUIRE(after);
      CHECK(*after == *before);
      CHECK_FALSE(store.lookup("not-registered-anywhere.pt"));
    }
  }
  CHECK_FALSE(store.written_in_place());
  CHECK(store.info().generation == 1);  // no reload was needed
  CHECK(g_rollbacks.load() == 2);       // and nothing else ended a transaction
}
