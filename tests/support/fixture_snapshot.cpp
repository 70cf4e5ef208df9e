#include "support/fixture_snapshot.h"

#include <cstdlib>
#include <memory>
#include <mutex>

#include "snapshot/snapshot_builder.h"
#include "support/temp_dir.h"

namespace whoisd::test {

std::string fixture_sql_path() { return WHOISD_SUPPORT_FIXTURE_SQL; }

std::string build_fixture_snapshot(const std::string& path) {
  const std::string sql_path = fixture_sql_path();
  build_snapshot_from_sql(path, read_text_file(sql_path), sql_path);
  return path;
}

namespace {

// Kept alive until exit, when its destructor removes the directory.
std::unique_ptr<TempDir> shared_dir;

}  // namespace

const std::string& shared_fixture_snapshot() {
  static std::once_flag once;
  static std::string path;
  std::call_once(once, [] {
    shared_dir = std::make_unique<TempDir>();
    path = build_fixture_snapshot(shared_dir->file("fixture.sqlite"));
  });
  return path;
}

}  // namespace whoisd::test
