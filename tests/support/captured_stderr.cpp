#include "support/captured_stderr.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace whoisd::test {

CapturedStderr::CapturedStderr() {
  const char* tmp = std::getenv("TMPDIR");
  std::string name = std::string(tmp && *tmp ? tmp : "/tmp") + "/whoisd-stderr-XXXXXX";
  file_fd_ = ::mkstemp(name.data());
  if (file_fd_ < 0) throw std::runtime_error("cannot make a file for standard error in " + name);
  ::unlink(name.c_str());  // the descriptor keeps it for as long as it is needed
  std::fflush(stderr);
  saved_fd_ = ::dup(STDERR_FILENO);
  if (saved_fd_ < 0 || ::dup2(file_fd_, STDERR_FILENO) < 0) throw std::runtime_error("cannot redirect standard error");
}

CapturedStderr::~CapturedStderr() {
  std::fflush(stderr);
  if (saved_fd_ >= 0) {
    ::dup2(saved_fd_, STDERR_FILENO);
    ::close(saved_fd_);
  }
  if (file_fd_ >= 0) ::close(file_fd_);
}

std::string CapturedStderr::text() const {
  std::fflush(stderr);
  std::string out;
  char buf[4096];
  off_t at = 0;
  ssize_t n;
  while ((n = ::pread(file_fd_, buf, sizeof buf, at)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
  return out;
}

}  // namespace whoisd::test
