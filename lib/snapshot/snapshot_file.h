// Checks of a snapshot file that SQLite does lazily or not at all, on the raw bytes
// (exists, readable, SQLite 3 header, not WAL, not truncated), and the identity of the
// file a path names, so that a store notices a file renamed over its path.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace whoisd {

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

// The identity of the file at path, nullopt when it cannot be stat()ed.
std::optional<FileIdentity> identity_of(const std::string& path);
// The same of an open file (fstat), whatever its path names now.
std::optional<FileIdentity> identity_of_open_file(int fd);

// That the file at path exists and can be read, is a SQLite 3 database, not in WAL mode,
// and not shorter than its header says. Returns its size and identity. Throws
// SnapshotError naming the file.
std::pair<std::int64_t, FileIdentity> check_snapshot_file(const std::string& path);

// SQLite's file change counter (header bytes 24-27) of the open file `fd`: every write
// transaction in rollback-journal mode moves it. Throws SnapshotError naming `path`.
std::uint32_t sqlite_change_counter(int fd, const std::string& path);
// The same of the file at `path` (opened for the read).
std::uint32_t sqlite_change_counter(const std::string& path);

}  // namespace whoisd
