#include "server/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "common/errno_error.h"
#include "common/log.h"
#include "server/listen_socket.h"

namespace whoisd {
namespace {

// `share`: with SO_REUSEPORT, so that every loop binds a socket of its own; the kernel
// spreads new connections over them, so no loop hands connections to another.
int bind_one(const ListenAddress& address, const std::string& name, bool share = true) {
  const BoundSocket bound = bind_listen_socket(address, whois_listener_options(share));
  if (bound.fd >= 0) return bound.fd;
  if (bound.error == EADDRINUSE)
    throw ErrnoError(
        "cannot listen on " + name + ": the address is in use (another whoisd, or another server, listens there)",
        bound.error);
  throw ErrnoError("cannot listen on " + name + ": " + bound.step + ": " + std::strerror(bound.error), bound.error);
}

// SO_REUSEPORT would let a second whoisd (same user) join this one's sockets and take
// a share of its connections, each daemon counting only its share of every source's
// queries. A socket bound without it first fails if anything listens there already.
void refuse_if_in_use(const ListenAddress& address, const std::string& name) {
  if (address.port == 0) return;  // the kernel picks a free port
  ::close(bind_one(address, name, false));
}

std::uint16_t bound_port(int fd) {
  const auto bound = bound_address(fd);
  return bound ? bound->port : 0;
}

}  // namespace

unsigned event_loop_count(unsigned configured) {
  if (configured) return configured;
  unsigned cores = std::thread::hardware_concurrency();
  return cores ? cores : 1;
}

Server::Server(ServerContext& context, std::shared_ptr<const LiveSettings> settings, unsigned loops) {
  unsigned n = event_loop_count(loops);
  for (unsigned i = 0; i < n; ++i) loops_.push_back(std::make_unique<EventLoop>(i, context, settings));
}

Server::~Server() {
  if (started_ && !stopped_) stop(std::chrono::milliseconds(0));
}

ListenAddress Server::bind(const ListenAddress& address) {
  ListenAddress bound = address;
  std::string name = address.to_string();
  std::vector<int> fds;
  refuse_if_in_use(address, name);
  try {
    for (std::size_t i = 0; i < loops_.size(); ++i) {
      fds.push_back(bind_one(bound, name));
      if (bound.port == 0) {
        bound.port = bound_port(fds.back());  // the others join the port the kernel chose
        name = bound.to_string();
      }
    }
  } catch (...) {
    for (int fd : fds) ::close(fd);
    throw;
  }
  for (std::size_t i = 0; i < loops_.size(); ++i) loops_[i]->add_listener(fds[i], name);
  names_.push_back(name);
  return bound;
}

std::string Server::adopt(int fd) {
  const auto bound = bound_address(fd);
  const std::string name = bound ? bound->to_string() : "fd" + std::to_string(fd);
  std::vector<int> fds{fd};
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) {
      int err = errno;
      for (int f : fds) ::close(f);
      throw std::runtime_error("cannot share the socket-activated " + name + ": dup: " + std::strerror(err));
    }
    fds.push_back(copy);
  }
  for (std::size_t i = 0; i < loops_.size(); ++i) loops_[i]->add_listener(fds[i], name + " (systemd)");
  names_.push_back(name + " (systemd)");
  return name;
}

void Server::beat_every(std::chrono::milliseconds period) {
  for (auto& l : loops_) l->beat_every(period);
}

std::vector<std::uint64_t> Server::heartbeats() const {
  std::vector<std::uint64_t> out;
  for (const auto& l : loops_) out.push_back(l->heartbeats());
  return out;
}

std::vector<std::string> Server::loop_names() const {
  std::vector<std::string> out;
  for (const auto& l : loops_) out.push_back(l->name());
  return out;
}

void Server::start() {
  if (names_.empty()) throw std::runtime_error("no address to listen on");
  for (auto& l : loops_) l->start();
  started_ = true;
}

void Server::update_settings(std::shared_ptr<const LiveSettings> settings) {
  for (auto& l : loops_) l->update_settings(settings);
}

void Server::stop(std::chrono::milliseconds deadline) {
  if (stopped_) return;
  stopped_ = true;
  for (auto& l : loops_) l->begin_stop(deadline);
  for (auto& l : loops_) l->join();
}

}  // namespace whoisd
