#include "common/stderr_lines.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace whoisd::log {
namespace {

// Writes all of data, or returns errno of the write that failed; *written says how far it got.
int write_all(const char* data, std::size_t size, std::size_t* written) {
  *written = 0;
  while (*written < size) {
    const ssize_t n = ::write(STDERR_FILENO, data + *written, size - *written);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        // Standard error is non-blocking: O_NONBLOCK belongs to the open file, shared
        // with whoever set it (a terminal, a pipe's writers). Waited for as a blocking
        // write waits: standard error is slow, not broken, and giving up would lose the
        // rest of the batch.
        pollfd writable{STDERR_FILENO, POLLOUT, 0};
        if (::poll(&writable, 1, -1) < 0 && errno != EINTR) return errno;
        continue;  // POLLERR or POLLHUP: the write says what is wrong
      }
      return errno;
    }
    *written += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

LinesWritten write_lines_to_stderr(std::string_view lines, bool after_cut) {
  LinesWritten result;
  std::size_t written = 0;
  if (after_cut) {
    // Its own write: the cut line's tail is lost, and a '\n' ends what there is of it.
    result.error = write_all("\n", 1, &written);
    if (result.error != 0) {
      result.lost = static_cast<std::size_t>(std::count(lines.begin(), lines.end(), '\n'));
      result.cut = true;  // still
      return result;
    }
  }
  result.error = write_all(lines.data(), lines.size(), &written);
  if (result.error == 0) return result;
  // Every line whose '\n' did not leave is lost, the one cut at `written` among them.
  const std::string_view rest = lines.substr(written);
  result.lost = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n'));
  result.cut = written > 0 && lines[written - 1] != '\n';
  return result;
}

}  // namespace whoisd::log
