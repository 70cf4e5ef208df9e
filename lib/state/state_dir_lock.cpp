#include "state/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "common/errno_error.h"
#include "common/user_name.h"

namespace whoisd {

namespace {

// How long a start waits out a whoisd-admin probe of the lock before it takes the lock
// for another daemon's: 20 x 10 ms, thousands of times a probe's hold.
constexpr int kProbeRetries = 20;
constexpr useconds_t kProbeRetryMicroseconds = 10'000;

std::string lock_file_of(const std::string& dir) { return dir + "/whoisd.lock"; }

// The process id a holder wrote into the lock file, or "" when there is none.
std::string holder_of(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid;
}

// "user 'whoisd'" (or "uid N"): who this process is, once privileges are dropped.
std::string this_user() {
  const std::string name = effective_user_name();
  return name.starts_with("uid ") ? name : "user '" + name + "'";
}

// The first directory on the way to `dir` that this process may not pass through (no
// search permission), or "" when there is none among those that exist. A state
// directory inside a checkout under /root (mode 0700) is the usual case: root made it
// for the daemon's user, which cannot reach it.
std::string first_closed_directory(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path full = std::filesystem::absolute(dir, ec);
  if (ec) return "";
  std::filesystem::path at;
  for (const auto& part : full.parent_path()) {
    at /= part;
    if (::access(at.c_str(), X_OK) != 0) return errno == EACCES ? at.string() : "";
  }
  return "";
}

}  // namespace

StateDirLock::StateDirLock(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);  // as the state database's creation would
  if (ec) {
    std::string why;
    if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
      const std::string closed = first_closed_directory(dir);
      why = closed.empty() ? " (whoisd runs as " + this_user() + ": the parent directory must be writable by it)"
                           : " (whoisd runs as " + this_user() + ", which may not pass through '" + closed +
                                 "': give it search permission there, or choose a state directory it can reach)";
    }
    throw ErrnoError("state directory " + dir + ": cannot create it: " + ec.message() + why, ec.value());
  }
  const std::string path = lock_file_of(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    std::string who;
    if (err == EACCES || err == EPERM)  // typically a directory made by root for a daemon that runs as a user
      who = " (whoisd runs as " + this_user() + ": the state directory must be writable by it)";
    throw ErrnoError(path + ": cannot open the state directory's lock file: " + std::strerror(err) + who, err);
  }
  // whoisd-admin tests the lock by taking it shared for an instant (state_dir_holder):
  // a start that meets such a probe tries again rather than take it for a daemon.
  int tries = 0;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EWOULDBLOCK && ++tries < kProbeRetries) {
      ::usleep(kProbeRetryMicroseconds);
      continue;
    }
    const std::string holder = err == EWOULDBLOCK ? holder_of(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw ErrnoError(path + ": cannot lock: " + std::strerror(err), err);
    throw ErrnoError("state directory " + dir + " is in use by another whoisd" +
                         (holder.empty() ? std::string() : " (process " + holder + ")") +
                         ": two daemons on one state would each count only their share of every source's queries",
                     err);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Best effort: the id only makes a second daemon's message more helpful.
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) return;
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

StateDirHolder state_dir_holder(const std::string& dir) {
  StateDirHolder h;
  const std::string path = lock_file_of(dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      h.status = StateDirHolder::Status::free;
    } else {
      h.error = path + ": cannot open the state directory's lock file: " + std::strerror(err);
    }
    return h;
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    h.status = StateDirHolder::Status::free;
    ::flock(fd, LOCK_UN);
  } else if (errno == EWOULDBLOCK) {
    h.status = StateDirHolder::Status::held;
    h.pid = holder_of(fd);
  } else {
    h.error = path + ": cannot test the lock: " + std::strerror(errno);
  }
  ::close(fd);
  return h;
}

}  // namespace whoisd
