#include "server/connection.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

#include <algorithm>

#include "common/log.h"
#include "policy/source_key.h"
#include "query/query_parser.h"
#include "server/connection_limits.h"
#include "server/event_loop.h"
#include "server/metrics.h"
#include "server/proxy_protocol.h"
#include "server/query_handler.h"
#include "server/query_line.h"
#include "server/query_log_sink.h"

namespace whoisd {
namespace {

// A PROXY header, then one line of at most kMaxQueryLineBytes and its CR LF: nothing
// beyond this is ever kept.
constexpr std::size_t kMaxInputBytes = kProxyHeaderMaxBytes + kMaxQueryLineBytes + 2;

std::optional<MetricsOutcome> metrics_outcome(Outcome o) {
  switch (o) {
    case Outcome::found: return MetricsOutcome::found;
    case Outcome::no_match: return MetricsOutcome::no_match;
    case Outcome::invalid: return MetricsOutcome::invalid;
    case Outcome::help: return MetricsOutcome::help;
    case Outcome::limit_crossed: return MetricsOutcome::limit_crossed;
    case Outcome::suspended: return MetricsOutcome::suspended;
    case Outcome::too_many_connections:
    case Outcome::timeout:
    case Outcome::error: return std::nullopt;  // not queries: counted as connections/timeouts
  }
  return std::nullopt;
}

}  // namespace

void ClientConnection::accept(EventLoop& loop, uv_stream_t* server) {
  auto* c = new ClientConnection(loop);
  c->start(server);  // on failure it has begun closing and deletes itself
}

ClientConnection::ClientConnection(EventLoop& loop) : loop_(loop), settings_(loop.settings()) {}

bool ClientConnection::start(uv_stream_t* server) {
  uv_tcp_init(loop_.uv(), &tcp_);
  tcp_.data = this;
  uv_timer_init(loop_.uv(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  accepted_ns_ = uv_hrtime();
  loop_.attach(this);
  attached_ = true;
  auto& metrics = loop_.context().metrics;
  metrics.connections_open.inc();

  int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_));
  if (rc != 0) {
    std::uint64_t suppressed = 0;
    if (loop_.may_warn(&suppressed)) log::warn("accept_failed").kv("error", uv_strerror(rc)).kv("suppressed", suppressed);
    close();
    return false;
  }
  metrics.connections_total.inc();
  sockaddr_storage addr{};
  int len = sizeof addr;
  auto peer = uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0
                  ? IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&addr))
                  : std::nullopt;
  if (!peer) {  // the peer is already gone, or not an IP socket
    close();
    return false;
  }
  peer_ = *peer;
  client_ = peer_;
  // TCP_NODELAY is inherited from the listener (EventLoop::start sets it there once).

  if (!loop_.context().connections.acquire_total(settings_->max_connections)) {
    metrics.connections_refused_total.inc();
    refuse(settings_->renderer->too_many_connections(to_string(source_key(peer_, settings_->ipv6_prefix))),
           Outcome::too_many_connections, {});
    return false;
  }
  holds_total_slot_ = true;
  trusted_peer_ = settings_->is_trusted_proxy(peer_);
  // A trusted proxy carries many end clients: it is limited per end client once its
  // header names one. Anyone else is limited as itself, from the start.
  if (!trusted_peer_ && !take_source_slot(peer_)) return false;

  restart_timer(settings_->read_timeout);
  if (!read_now()) return true;  // answered, refused or closed without waiting
  rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), alloc_cb, read_cb);
  if (rc != 0) {
    close();
    return false;
  }
  return true;
}

// The query has usually arrived by the time the connection is accepted (it follows
// the handshake at once): one non-blocking recv() takes it without registering the
// socket with epoll and waiting a loop iteration. What it reads goes through on_read()
// like anything libuv reads, so the PROXY header and line framing stay in one place.
// Returns true when the line is still incomplete and libuv must wait for more.
bool ClientConnection::read_now() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return true;
  uv_buf_t buf = loop_.read_buffer();
  ssize_t n;
  do {
    n = ::recv(fd, buf.base, buf.len, 0);  // the accepted socket is non-blocking
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  ssize_t nread = n < 0 ? static_cast<ssize_t>(uv_translate_sys_error(errno)) : n == 0 ? static_cast<ssize_t>(UV_EOF) : n;
  on_read(nread, &buf);
  return phase_ == Phase::reading;
}

bool ClientConnection::take_source_slot(const IpAddress& client) {
  IpAddress source = connection_source(client, settings_->ipv6_prefix);
  if (loop_.context().connections.acquire_source(source, settings_->max_connections_per_source)) {
    source_slot_ = source;
    return true;
  }
  loop_.context().metrics.connections_refused_per_source.inc();
  refuse(settings_->renderer->too_many_connections(to_string(source_key(client, settings_->ipv6_prefix))),
         Outcome::too_many_connections, {});
  return false;
}

void ClientConnection::alloc_cb(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<ClientConnection*>(handle->data);
  *buf = self->loop_.read_buffer();
}

void ClientConnection::read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  static_cast<ClientConnection*>(stream->data)->on_read(nread, buf);
}

void ClientConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (phase_ == Phase::lingering) {
    if (nread < 0) close();  // the client closed (or reset): done
    return;                  // anything else it sends after the answer is discarded
  }
  if (phase_ != Phase::reading) return;
  if (nread < 0) {
    // The client half-closed. A line without its LF is still its query (some tools
    // send "name" and shut down); with nothing at all there is nothing to answer.
    if (nread == UV_EOF && header_done_ && !input_.empty()) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
      QueryLineFrame frame = frame_query_line(input_, true);
      answer_line(frame.line, frame.status == QueryLineFrame::Status::too_long);
      return;
    }
    close();
    return;
  }
  if (nread == 0) return;
  std::size_t room = kMaxInputBytes - input_.size();
  input_.append(buf->base, std::min(static_cast<std::size_t>(nread), room));
  process_input();
}

// Returns true when the header stage is over and the line may be read.
bool ClientConnection::process_proxy_header() {
  ProxySignature sig = detect_proxy_signature(input_);
  if (sig == ProxySignature::incomplete) {
    // "\r\n" (an empty line) is also the start of the v2 signature; a real proxy sends
    // its 16 fixed bytes in one segment, so a complete line means "no header".
    if (input_.find('\n') == std::string::npos && input_.size() < kProxyHeaderMaxBytes) return false;
    sig = ProxySignature::absent;
  }
  auto& metrics = loop_.context().metrics;
  if (sig == ProxySignature::absent) {
    header_done_ = true;
    client_ = peer_;
    if (trusted_peer_) return take_source_slot(client_);  // a trusted proxy that sends none is the source
    return true;
  }
  if (!trusted_peer_) {
    metrics.proxy_refused(ProxyRefusal::untrusted).inc();
    std::uint64_t suppressed = 0;
    if (loop_.may_warn(&suppressed))
      log::warn("proxy_refused").kv("peer", peer_.to_string()).kv("reason", "untrusted").kv("suppressed", suppressed);
    refuse(settings_->renderer->invalid(kReasonUntrustedProxy), Outcome::invalid,
           std::string_view(input_).substr(0, std::min<std::size_t>(input_.size(), kProxyV1MaxBytes)));
    return false;
  }
  ProxyParseResult r = parse_proxy_header(input_);
  switch (r.status) {
    case ProxyParseResult::Status::need_more:
      if (input_.size() < kProxyHeaderMaxBytes) return false;
      r.reason = "too long";
      [[fallthrough]];
    case ProxyParseResult::Status::invalid: {
      metrics.proxy_refused(ProxyRefusal::invalid).inc();
      std::uint64_t suppressed = 0;
      if (loop_.may_warn(&suppressed))
        log::warn("proxy_refused").kv("peer", peer_.to_string()).kv("reason", r.reason).kv("suppressed", suppressed);
      refuse(settings_->renderer->invalid(kReasonMalformedProxy), Outcome::invalid,
             std::string_view(input_).substr(0, std::min<std::size_t>(input_.size(), kProxyV1MaxBytes)));
      return false;
    }
    case ProxyParseResult::Status::done:
      break;
  }
  header_done_ = true;
  if (r.header.client) {
    proxy_peer_ = peer_;
    client_ = *r.header.client;
  } else {
    client_ = peer_;  // LOCAL / UNKNOWN: the proxy speaks for itself (health checks)
  }
  input_.erase(0, r.header.consumed);
  return take_source_slot(client_);
}

void ClientConnection::process_input() {
  if (!header_done_ && !process_proxy_header()) return;
  if (phase_ != Phase::reading) return;
  QueryLineFrame frame = frame_query_line(input_);
  if (frame.status == QueryLineFrame::Status::need_more) return;
  // Nothing else is read (RFC 3912: one line per connection).
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  // Bytes after the line (or a line past the cap) mean the client sends more than one
  // line, maybe still: the answer is then protected by the lingering close.
  sent_more_than_line_ = frame.status == QueryLineFrame::Status::too_long || input_.find('\n') + 1 < input_.size();
  answer_line(frame.line, frame.status == QueryLineFrame::Status::too_long);
}

void ClientConnection::answer_line(std::string_view line, bool too_long) {
  std::uint64_t started = uv_hrtime();
  QueryAnswer a;
  try {
    a = loop_.context().handler.answer(client_, line, too_long, *settings_->renderer);
  } catch (const std::exception& e) {
    log::error("query_failed").kv("client", client_.to_string()).kv("error", e.what());
    a = {};
  }
  if (a.text.empty()) {  // no answer could be made: log it and close cleanly
    loop_.context().query_log.record(wall_clock_us(), client_, proxy_peer_, line, Outcome::error, 0);
    close();
    return;
  }
  if (a.outcome == Outcome::limit_crossed) loop_.context().metrics.suspensions.inc();
  write_answer(std::move(a.text), a.outcome, line, started);
}

void ClientConnection::refuse(std::string text, Outcome outcome, std::string_view query) {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  if (outcome == Outcome::too_many_connections) linger_ = false;
  sent_more_than_line_ = true;  // a refused PROXY header: its line may still be on the way
  write_answer(std::move(text), outcome, query, uv_hrtime());
}

void ClientConnection::write_answer(std::string text, Outcome outcome, std::string_view query, std::uint64_t started_ns) {
  phase_ = Phase::writing;
  answer_ = std::move(text);
  uv_buf_t buf = uv_buf_init(answer_.data(), static_cast<unsigned>(answer_.size()));
  int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, write_cb);
  std::uint64_t elapsed_ns = uv_hrtime() - started_ns;
  auto& ctx = loop_.context();
  std::int64_t now_us = wall_clock_us();
  ctx.query_log.record(now_us - static_cast<std::int64_t>(elapsed_ns / 1000), client_, proxy_peer_, query, outcome,
                       static_cast<std::uint32_t>(std::min<std::uint64_t>(elapsed_ns / 1000, UINT32_MAX)));
  if (auto m = metrics_outcome(outcome)) {
    ctx.metrics.query(*m).inc();
    ctx.metrics.answer_seconds.observe(static_cast<double>(elapsed_ns) / 1e9);
  }
  if (rc != 0) {
    close();
    return;
  }
  restart_timer(settings_->write_timeout);
}

void ClientConnection::write_cb(uv_write_t* req, int status) {
  static_cast<ClientConnection*>(req->handle->data)->on_write(status);
}

void ClientConnection::on_write(int status) {
  if (phase_ == Phase::closing) return;
  // A connection refused for too many connections holds no slot: it must not stay
  // open either, or a flood of them would pile up beyond max_connections.
  // A refused connection (too many) closes at once, but its query has often arrived
  // meanwhile: unread, it would turn the close into a reset that destroys the refusal.
  // One recv() discards it (anything sent later still resets; the refusal stays cheap).
  if (status >= 0 && !linger_) discard_unread();
  if (status < 0 || loop_.stopping() || !linger_ || (!sent_more_than_line_ && nothing_unread())) {
    // Failed (the client went away), or the server drains, or the client sent just
    // its line and nothing of it is left unread: the answer is with the kernel, which
    // delivers it after close and ends it with a FIN (a reset comes only from unread
    // input, which is what lingering guards against).
    close();
    return;
  }
  phase_ = Phase::lingering;
  int rc = uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), shutdown_cb);
  if (rc != 0) close();
}

bool ClientConnection::nothing_unread() {
  uv_os_fd_t fd;
  int unread = 0;
  return uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0 && ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

void ClientConnection::discard_unread() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return;
  uv_buf_t buf = loop_.read_buffer();
  ssize_t n;
  do {
    n = ::recv(fd, buf.base, buf.len, 0);  // non-blocking: EAGAIN when nothing is there
  } while (n < 0 && errno == EINTR);
}

void ClientConnection::shutdown_cb(uv_shutdown_t* req, int status) {
  static_cast<ClientConnection*>(req->handle->data)->on_shutdown(status);
}

void ClientConnection::on_shutdown(int status) {
  if (phase_ == Phase::closing) return;
  if (status < 0) {
    close();
    return;
  }
  input_.clear();
  input_.shrink_to_fit();
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), alloc_cb, read_cb) != 0) close();
}

void ClientConnection::restart_timer(std::chrono::milliseconds timeout) {
  uv_timer_start(&timer_, timer_cb, static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 1)), 0);
}

void ClientConnection::timer_cb(uv_timer_t* timer) { static_cast<ClientConnection*>(timer->data)->on_timer(); }

void ClientConnection::on_timer() {
  auto& ctx = loop_.context();
  switch (phase_) {
    case Phase::reading:
      ctx.metrics.read_timeouts.inc();
      ctx.query_log.record(wall_clock_us(), client_, proxy_peer_, input_, Outcome::timeout,
                           static_cast<std::uint32_t>(std::min<std::uint64_t>((uv_hrtime() - accepted_ns_) / 1000, UINT32_MAX)));
      break;
    case Phase::writing:
      ctx.metrics.write_timeouts.inc();
      break;
    case Phase::lingering: {
      // The answer left our buffers long ago; if the kernel still holds part of it,
      // the client has not read it in the write timeout.
      uv_os_fd_t fd;
      int unsent = 0;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0 && ioctl(fd, SIOCOUTQ, &unsent) == 0 && unsent > 0)
        ctx.metrics.write_timeouts.inc();
      break;
    }
    case Phase::closing:
      return;
  }
  close();
}

void ClientConnection::server_stopping() {
  if (phase_ == Phase::lingering) close();
}

void ClientConnection::force_close() { close(); }

void ClientConnection::close() {
  if (phase_ == Phase::closing) return;
  phase_ = Phase::closing;
  auto& ctx = loop_.context();
  if (holds_total_slot_) ctx.connections.release_total();
  holds_total_slot_ = false;
  if (source_slot_) ctx.connections.release_source(*source_slot_);
  source_slot_.reset();
  if (attached_) {
    loop_.detach(this);
    ctx.metrics.connections_open.dec();
    attached_ = false;
  }
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), close_cb);
}

void ClientConnection::close_cb(uv_handle_t* handle) {
  auto* self = static_cast<ClientConnection*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace whoisd
