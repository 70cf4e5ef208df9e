#include "startup_probe.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace whoisd::bench {

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {

std::uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

// One attempt: blocking socket with a poll() bound on every wait. Returns the answer, or
// sets `error`.
bool one_attempt(const sockaddr_in& target, const sockaddr_in& source, const std::string& line, std::string& answer,
                 std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (source.sin_addr.s_addr != 0 && ::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
    error = std::string("bind: ") + std::strerror(errno);
    return false;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    error = std::string("send: ") + std::strerror(errno);
    return false;
  }
  answer.clear();
  char buffer[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) {
      error = "no answer within 5 s";
      return false;
    }
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0) {
      error = std::string("recv: ") + std::strerror(errno);
      return false;
    }
    answer.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

ProbeResult probe_until_answer(const sockaddr_in& target, const sockaddr_in& source, const std::string& line,
                               std::uint64_t give_up_ms) {
  ProbeResult result;
  const std::uint64_t deadline = monotonic_ms() + give_up_ms;
  std::string answer;
  do {
    ++result.attempts;
    if (one_attempt(target, source, line, answer, result.error)) {
      if (answer_is_complete(answer)) {
        result.answered = true;
        result.answered_realtime_ns = realtime_ns();
        result.kind = classify_answer(answer);
        result.error.clear();
        return result;
      }
      result.error = "incomplete answer (" + std::to_string(answer.size()) + " bytes)";
    }
    usleep(500);
  } while (monotonic_ms() < deadline);
  return result;
}

}  // namespace whoisd::bench
