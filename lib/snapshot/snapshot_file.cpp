#include "snapshot/snapshot_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "snapshot/snapshot_store.h"

namespace whoisd {

namespace {

FileIdentity identity_of(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino, st.st_size,
                      std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                      std::int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec};
}

std::uint32_t read_be16(const unsigned char* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

std::pair<std::int64_t, FileIdentity> check_snapshot_file(const std::string& path) {
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

std::uint32_t sqlite_change_counter(int fd, const std::string& path) {
  unsigned char counter[4];
  const ssize_t got = ::pread(fd, counter, sizeof counter, 24);
  if (got < 0) throw SnapshotError(path + ": cannot read: " + std::strerror(errno));
  if (got != sizeof counter) throw SnapshotError(path + ": truncated SQLite header");
  return read_be32(counter);
}

std::uint32_t sqlite_change_counter(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SnapshotError(path + ": cannot open for reading: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return sqlite_change_counter(fd, path);
}

std::optional<FileIdentity> identity_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return identity_of(st);
}

std::optional<FileIdentity> identity_of_open_file(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return identity_of(st);
}

}  // namespace whoisd
