// The listening side of the daemon: binds the configured addresses (or takes the
// sockets systemd passed), and runs the event loops that serve them. Binding
// happens in the calling thread, before any loop runs, so that a start-up error
// (address in use, permission) is reported and the daemon exits before serving,
// and so that privileges can be dropped after binding and before serving.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/event_loop.h"
#include "server/listen_address.h"
#include "server/live_settings.h"
#include "server/server_context.h"

namespace whoisd {

class Server {
 public:
  // `loops`: how many event loops; 0 = one per core.
  Server(ServerContext& context, std::shared_ptr<const LiveSettings> settings, unsigned loops);
  ~Server();  // stops (deadline 0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `address` once per loop (SO_REUSEPORT), so that each loop accepts on its
  // own socket. Port 0 binds a free port (the same one for every loop). Returns the
  // address bound, with its real port. Throws std::runtime_error naming the address.
  ListenAddress bind(const ListenAddress& address);
  // A listening socket passed by systemd: every loop listens on its own dup() of it.
  // Takes ownership of `fd`. Returns a name for logs. Throws std::runtime_error.
  std::string adopt(int fd);

  unsigned loops() const { return static_cast<unsigned>(loops_.size()); }
  // Before start(): every loop bumps its heartbeat counter every `period` (EventLoop::beat_every).
  void beat_every(std::chrono::milliseconds period);
  // Any thread: each loop's heartbeat counter and name, in the same order.
  std::vector<std::uint64_t> heartbeats() const;
  std::vector<std::string> loop_names() const;
  const std::vector<std::string>& listener_names() const { return names_; }

  // Runs the loops. Throws std::runtime_error when a socket cannot listen.
  void start();
  // Any thread: connections accepted from now on use these settings.
  void update_settings(std::shared_ptr<const LiveSettings> settings);
  // Stops accepting, lets answers in flight finish (at most `deadline`), joins the loops.
  void stop(std::chrono::milliseconds deadline);

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::string> names_;
  bool started_ = false;
  bool stopped_ = false;
};

// The number of event loops for a configured value: itself, or one per core for 0.
unsigned event_loop_count(unsigned configured);

}  // namespace whoisd
