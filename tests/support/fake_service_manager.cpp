#include "support/fake_service_manager.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace whoisd::test {

FakeServiceManager::FakeServiceManager(const std::string& path) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("FakeServiceManager: socket: ") + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) throw std::runtime_error("FakeServiceManager: path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error("FakeServiceManager: bind " + path + ": " + std::strerror(err));
  }
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
}

FakeServiceManager::~FakeServiceManager() {
  ::unsetenv("NOTIFY_SOCKET");
  ::close(fd_);
}

std::string FakeServiceManager::receive() {
  std::optional<std::string> message = receive_within(std::chrono::milliseconds(0));
  if (!message) throw std::runtime_error("FakeServiceManager: no message queued");
  return *message;
}

std::optional<std::string> FakeServiceManager::receive_within(std::chrono::milliseconds deadline) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(deadline.count())) <= 0) return std::nullopt;
  // recv() takes no ancillary data: a descriptor passed with the message (sd_notify_barrier's)
  // is closed by the kernel, which is what a manager does with it once it has read it.
  char buffer[4096];
  const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0) throw std::runtime_error(std::string("FakeServiceManager: recv: ") + std::strerror(errno));
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::vector<std::string> FakeServiceManager::receive_queued() {
  std::vector<std::string> out;
  while (std::optional<std::string> message = receive_within(std::chrono::milliseconds(0))) out.push_back(*message);
  return out;
}

}  // namespace whoisd::test
