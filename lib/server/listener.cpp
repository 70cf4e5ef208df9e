#include "server/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/address.h"
#include "common/log.h"
#include "server/connection.h"
#include "server/event_loop.h"
#include "server/query_handler.h"
#include "server/server_context.h"

namespace whoisd {
namespace {

// Connections accepted per wake-up at most (libuv accepts until EAGAIN, unbounded).
constexpr int kAcceptsPerWake = 64;
// How long accepting pauses when descriptors or memory ran out.
constexpr std::uint64_t kPauseMs = 100;
// TCP_DEFER_ACCEPT (see Listener::listen): the kernel turns it into one SYN-ACK retransmit,
// sent when the SYN-ACK's first timeout (1 s) expires.
constexpr int kDeferAcceptSeconds = 1;

// The accept failed for this connection only (it was reset or aborted before the
// accept, or a firewall rule refused it): the next one may be fine.
bool only_this_connection(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
      return true;
    default:
      return false;
  }
}

}  // namespace

Listener::Listener(EventLoop& loop, int fd, std::string name) : loop_(loop), fd_(fd), name_(std::move(name)) {}

Listener::~Listener() {
  if (!initialized_ && fd_ >= 0) ::close(fd_);
}

int Listener::listen(int backlog) {
  // uv_poll_init_socket also makes the socket non-blocking (a socket systemd passed
  // may not be): accept4() below must never wait.
  int rc = uv_poll_init_socket(loop_.uv(), &poll_, fd_);
  if (rc != 0) return rc;
  poll_.data = this;
  uv_timer_init(loop_.uv(), &resume_timer_);
  resume_timer_.data = this;
  initialized_ = true;
  open_handles_ = 2;
  // Accepted sockets inherit TCP_NODELAY from the listener (Linux): one setsockopt here
  // instead of one per connection. The answer is one write: never wait for an ACK.
  // (A failure only costs that: it is not a reason to refuse the listener.)
  int one = 1;
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // WHOIS clients speak first: with TCP_DEFER_ACCEPT the kernel queues a connection
  // for accept once its first data (the query, or a PROXY header) has arrived, so the
  // recv() right after accept finds it and the connection is answered without waiting
  // under epoll. A client that connects and sends nothing is still accepted, once its
  // ACK of the SYN-ACK retransmitted at the end of the deferral arrives (a second after
  // its connect at least); its read timeout then counts from its connect, not from
  // that accept (ClientConnection::start). (The one exception: a connection a socket
  // passed by systemd queued without data before this call was not held, and its
  // timeout ends up to a second early, once, at start-up.)
  // (Again only an optimisation: a failure is not a reason to refuse the listener.)
  int defer_seconds = kDeferAcceptSeconds;
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds) == 0)
    held_if_silent_ns_ = static_cast<std::uint64_t>(defer_seconds) * 1'000'000'000;
  if (::listen(fd_, backlog) != 0) return uv_translate_sys_error(errno);
  backlog_ = backlog;
  return uv_poll_start(&poll_, UV_READABLE, on_readable);
}

void Listener::limit_unacknowledged(std::chrono::milliseconds timeout) {
  if (fd_ < 0 || timeout == limited_to_) return;
  const auto ms = static_cast<unsigned int>(timeout.count());
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) != 0) {
    log::warn("listener_option_failed")
        .kv("listen", name_)
        .kv("option", "TCP_USER_TIMEOUT")
        .kv("error", std::strerror(errno));
    return;
  }
  limited_to_ = timeout;
}

void Listener::accept_queued() {
  if (!initialized_ || closing_) return;
  accept_pending(backlog_);
}

void Listener::close() {
  if (!initialized_ || closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), on_closed);
}

void Listener::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<Listener*>(handle->data);
  if (--self->open_handles_ == 0 && self->fd_ >= 0) {
    ::close(self->fd_);  // only once nothing polls it any more
    self->fd_ = -1;
  }
}

void Listener::on_readable(uv_poll_t* poll, int status, int) {
  auto* self = static_cast<Listener*>(poll->data);
  if (status < 0) {  // the socket itself failed (it is not expected to)
    std::uint64_t suppressed = 0;
    if (self->loop_.may_warn(&suppressed))
      log::warn("accept_failed").kv("listen", self->name_).kv("error", uv_strerror(status)).kv("suppressed", suppressed);
    self->pause();
    return;
  }
  if (self->loop_.stopping()) return;  // accept_queued() took what was queued
  self->accept_pending(kAcceptsPerWake);
}

void Listener::accept_pending(int at_most) {
  for (int i = 0; i < at_most && !closing_; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;  // none left
      if (err == EINTR || only_this_connection(err)) continue;
      std::uint64_t suppressed = 0;
      if (loop_.may_warn(&suppressed))
        log::warn("accept_failed").kv("listen", name_).kv("error", std::strerror(err)).kv("suppressed", suppressed);
      pause();  // EMFILE, ENFILE, ENOBUFS, ENOMEM: the socket stays readable; do not spin on it
      return;
    }
    std::optional<IpAddress> peer;
    if (len <= sizeof addr) peer = IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&addr));
    if (!peer) {  // not an IP peer (cannot happen on a TCP listener): nothing to serve
      ::close(fd);
      continue;
    }
    // The limiter's slot for this client is most likely not in the cache (one of many
    // sources): start loading it now, so that the miss overlaps the connection's
    // set-up and the recv() of its query instead of stalling check() after them.
    // (Behind a trusted proxy this is the proxy's own slot; the end client is only
    // known once its header is parsed, just before check().)
    loop_.context().handler.prefetch(*peer);
    ClientConnection::serve(loop_, fd, *peer, held_if_silent_ns_);
  }
}

void Listener::pause() {
  if (closing_) return;
  uv_poll_stop(&poll_);
  uv_timer_start(&resume_timer_, on_resume, kPauseMs, 0);
}

void Listener::on_resume(uv_timer_t* timer) {
  auto* self = static_cast<Listener*>(timer->data);
  if (self->closing_) return;
  if (uv_poll_start(&self->poll_, UV_READABLE, on_readable) != 0) self->pause();
}

}  // namespace whoisd
