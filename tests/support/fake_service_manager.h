// The service manager's end of sd_notify for a test: a datagram socket bound at a path
// that NOTIFY_SOCKET names while the object lives, from which the test reads what the
// code under test told systemd. Include as "support/fake_service_manager.h".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace whoisd::test {

class FakeServiceManager {
 public:
  explicit FakeServiceManager(const std::string& path);  // binds, sets NOTIFY_SOCKET
  ~FakeServiceManager();                                 // unsets NOTIFY_SOCKET, closes
  FakeServiceManager(const FakeServiceManager&) = delete;
  FakeServiceManager& operator=(const FakeServiceManager&) = delete;

  // The next message already queued (a send is done when the notifier's call returns);
  // throws when there is none.
  std::string receive();
  // The next message, waiting for it at most `deadline`; nothing when none came.
  std::optional<std::string> receive_within(std::chrono::milliseconds deadline);
  // Every message queued now, in order.
  std::vector<std::string> receive_queued();

 private:
  int fd_ = -1;
};

}  // namespace whoisd::test
