#include "server/connection.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>

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
// How long an empty line from a trusted peer waits for the rest of a PROXY v2
// signature, which begins the same way, before it is answered as a line.
constexpr std::chrono::milliseconds kProxySignatureGrace{1000};

std::optional<MetricsOutcome> metrics_outcome(Outcome o) {
  switch (o) {
    case Outcome::found: return MetricsOutcome::found;
    case Outcome::no_match: return MetricsOutcome::no_match;
    case Outcome::invalid:
    // whoisd_queries_total keeps counting it as the invalid answer the client got; the
    // refusal itself is whoisd_proxy_refused_total{reason="invalid"}.
    case Outcome::malformed_proxy_header: return MetricsOutcome::invalid;
    case Outcome::help: return MetricsOutcome::help;
    case Outcome::limit_crossed: return MetricsOutcome::limit_crossed;
    case Outcome::suspended: return MetricsOutcome::suspended;
    case Outcome::too_many_connections:
    case Outcome::timeout:
    case Outcome::error: return std::nullopt;  // not queries: counted as connections/timeouts
  }
  return std::nullopt;
}

// A line past the cap is answered unparsed (QueryHandler::answer's refusal).
std::string_view refusal_of(const QueryLineFrame& frame) {
  return frame.status == QueryLineFrame::Status::too_long ? kReasonLineTooLong : std::string_view{};
}

}  // namespace

void ClientConnection::serve(EventLoop& loop, int fd, const IpAddress& peer, std::uint64_t held_if_silent_ns) {
  auto* c = new ClientConnection(loop, fd, peer);
  c->start(held_if_silent_ns);
  // Not handed to libuv: it was answered (or refused) and closed within start(). A
  // watched connection deletes itself once its handles are closed.
  if (!c->watched_) delete c;
}

ClientConnection::ClientConnection(EventLoop& loop, int fd, const IpAddress& peer)
    : loop_(loop), settings_(loop.settings().get()), fd_(fd), peer_(peer), client_(peer) {}

void ClientConnection::start(std::uint64_t held_if_silent_ns) {
  accepted_ns_ = uv_hrtime();
  auto& metrics = loop_.context().metrics;
  metrics.connections_open.inc();
  metrics.connections_total.inc();
  // TCP_NODELAY is inherited from the listener (Listener::listen sets it there once).

  if (!loop_.context().connections.acquire_total(settings_->max_connections)) {
    metrics.connections_refused_total.inc();
    refuse(settings_->renderer->too_many_connections(to_string(source_key(peer_, settings_->ipv6_prefix))),
           Outcome::too_many_connections, {});
    return;
  }
  holds_total_slot_ = true;
  trusted_peer_ = settings_->is_trusted_proxy(peer_);
  // A trusted proxy carries many end clients: it is limited per end client once its
  // header names one. Anyone else is limited as itself, from the start.
  if (!trusted_peer_ && !take_source_slot(peer_)) return;

  bool nothing_arrived = false;
  if (!read_now(nothing_arrived)) return;  // answered, refused or closed without waiting
  // The line has not (fully) arrived: wait for it under libuv, within the read timeout.
  // The timeout counts from the client's connect. A connection that had sent nothing
  // when accepted was held by the kernel for the listener's deferral first: that much
  // of its timeout is gone, and its logged time starts that much earlier.
  if (nothing_arrived && held_if_silent_ns > 0) accepted_ns_ -= std::min(accepted_ns_, held_if_silent_ns);
  read_deadline_ns_ = accepted_ns_ + static_cast<std::uint64_t>(
                                         std::chrono::nanoseconds(settings_->read_timeout).count());
  if (!watch()) return;
  arm_read_timer();  // at least 1 ms: a read timeout shorter than the deferral ends it now
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), alloc_cb, read_cb) != 0) close();
}

// Hands the socket to libuv, to wait for the line, for the socket's buffer or for the
// client's close. From here the connection owns itself (it is deleted once its handles
// are closed), keeps its own reference to the settings, and is in the loop's list, so
// that a graceful stop finds it. Returns false when it could not, having closed.
bool ClientConnection::watch() {
  if (watched_) return true;
  settings_hold_ = loop_.settings();
  settings_ = settings_hold_.get();
  uv_tcp_init(loop_.uv(), &tcp_);
  tcp_.data = this;
  uv_timer_init(loop_.uv(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  watched_ = true;
  loop_.attach(this);
  attached_ = true;
  int rc = uv_tcp_open(&tcp_, fd_);
  if (rc != 0) {
    // libuv did not take the descriptor (tcp_ holds none): close it here.
    std::uint64_t suppressed = 0;
    if (loop_.may_warn(&suppressed)) log::warn("accept_failed").kv("error", uv_strerror(rc)).kv("suppressed", suppressed);
    ::close(fd_);
    close();
    return false;
  }
  return true;
}

void ClientConnection::stop_reading() {
  if (watched_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
}

// The query has usually arrived by the time the connection is accepted (it follows
// the handshake at once, and the listener defers the accept until data is there):
// one non-blocking recv() takes it without registering the socket with epoll and
// waiting a loop iteration. What it reads goes through on_read()
// like anything libuv reads, so the PROXY header and line framing stay in one place.
// Returns true when the line is still incomplete and libuv must wait for more, with
// `nothing_arrived` set when not one byte had.
bool ClientConnection::read_now(bool& nothing_arrived) {
  uv_buf_t buf = loop_.read_buffer();
  ssize_t n;
  do {
    n = ::recv(fd_, buf.base, buf.len, 0);  // the accepted socket is non-blocking
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    nothing_arrived = true;
    return true;
  }
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
    if (nread < 0) {  // the client closed (or reset), or the kernel gave up on it: done
      if (nread == UV_ETIMEDOUT) loop_.context().metrics.write_timeouts.inc();
      close();
    }
    return;  // anything else it sends after the answer is discarded
  }
  if (phase_ != Phase::reading) return;
  if (nread < 0) {
    // The client half-closed. A line without its LF is still its query (some tools
    // send "name" and shut down), and so are bytes that had only begun to look like a
    // PROXY signature ("P", "\r"); with nothing at all there is nothing to answer.
    if (nread == UV_EOF && !input_.empty()) {
      input_ended_ = true;
      process_input();
      if (phase_ == Phase::reading) close();  // not reached: at the end every input is decided
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
    // The bytes so far begin a signature (at most 11 of them). "\r\n", an empty line,
    // is also how the v2 signature begins, and a proxy's segment may end anywhere in
    // it: from a trusted proxy, which sends its header first, the rest is awaited (the
    // read timeout bounds the wait; for an empty line, kProxySignatureGrace). From
    // anyone else a complete line means "no header", so that an empty line is answered
    // at once. Once the input has ended, what came is a line.
    // (A proxy writes its 16-byte signature at once; a local `whois` that sent an empty
    // line, loopback being trusted, waits for its answer.)
    const bool line_complete = input_.find('\n') != std::string::npos;
    if (!input_ended_ && !signature_wait_over_ && (trusted_peer_ || !line_complete)) {
      if (trusted_peer_ && line_complete && !awaiting_signature_rest_) {
        awaiting_signature_rest_ = true;
        if (watched_) arm_read_timer();  // else start() arms it once the socket is watched
      }
      return false;
    }
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
    // A query from this peer like any other, whatever the header claims: it counts
    // against the peer's own limit, and a suspended peer gets the suspension answer.
    stop_reading();
    sent_more_than_line_ = true;  // the line after the header may still be on the way
    answer_line(std::string_view(input_).substr(0, std::min<std::size_t>(input_.size(), kProxyV1MaxBytes)),
                kReasonUntrustedProxy);
    return false;
  }
  ProxyParseResult r = parse_proxy_header(input_);
  switch (r.status) {
    case ProxyParseResult::Status::need_more:
      if (!input_ended_ && input_.size() < kProxyHeaderMaxBytes) return false;
      r.reason = input_ended_ ? "truncated" : "too long";
      [[fallthrough]];
    case ProxyParseResult::Status::invalid: {
      // Refused without the limiter: a trusted proxy's broken header names no end
      // client, and charging the proxy would charge every user behind it. It is
      // logged, counted, and answered as an invalid query, logged as its own outcome so
      // that reports do not count it with the queries the limiter counted.
      metrics.proxy_refused(ProxyRefusal::invalid).inc();
      std::uint64_t suppressed = 0;
      if (loop_.may_warn(&suppressed))
        log::warn("proxy_refused").kv("peer", peer_.to_string()).kv("reason", r.reason).kv("suppressed", suppressed);
      refuse(settings_->renderer->invalid(kReasonMalformedProxy), Outcome::malformed_proxy_header,
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
    // The end client's limiter slot (the listener prefetched the proxy's): its miss
    // overlaps the connection-limit bookkeeping and the line's framing before check().
    loop_.context().handler.prefetch(client_);
  } else {
    client_ = peer_;  // LOCAL / UNKNOWN: the proxy speaks for itself (health checks)
  }
  input_.erase(0, r.header.consumed);
  return take_source_slot(client_);
}

void ClientConnection::process_input() {
  if (!header_done_ && !process_proxy_header()) return;
  if (phase_ != Phase::reading) return;
  QueryLineFrame frame = frame_query_line(input_, input_ended_);
  if (frame.status == QueryLineFrame::Status::need_more) return;
  // Nothing else is read (RFC 3912: one line per connection).
  stop_reading();
  // Bytes after the line (or a line past the cap) mean the client sends more than one
  // line, maybe still: the answer is then protected by the lingering close.
  sent_more_than_line_ = !input_ended_ && (frame.status == QueryLineFrame::Status::too_long ||
                                           input_.find('\n') + 1 < input_.size());
  answer_line(frame.line, refusal_of(frame));
}

void ClientConnection::answer_line(std::string_view line, std::string_view refusal) {
  std::uint64_t started = uv_hrtime();
  QueryAnswer a;
  try {
    a = loop_.context().handler.answer(client_, line, refusal, *settings_->renderer);
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
  stop_reading();
  if (outcome == Outcome::too_many_connections) linger_ = false;
  sent_more_than_line_ = true;  // a malformed PROXY header: its line may still be on the way
  write_answer(std::move(text), outcome, query, uv_hrtime());
}

// A connection that has not waited yet writes the answer itself: one send() takes it
// whole unless the client's receive window is nearly shut. Only what did not fit is
// handed to libuv (uv_write waits for the socket to drain).
void ClientConnection::write_answer(std::string text, Outcome outcome, std::string_view query, std::uint64_t started_ns) {
  phase_ = Phase::writing;
  answer_ = std::move(text);
  std::size_t sent = 0;
  int error = 0;
  if (!watched_) {
    // MSG_MORE holds the answer's last partial segment for the FIN that follows at once
    // (close() or shutdown() in on_write), so that both leave in one segment: one packet
    // fewer for both ends. Every way on from here ends in one or the other, or in a
    // uv_write of the rest, which pushes it.
    ssize_t n;
    do {
      n = ::send(fd_, answer_.data(), answer_.size(), MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) sent = static_cast<std::size_t>(n);
    else if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
  }
  std::uint64_t elapsed_ns = uv_hrtime() - started_ns;
  auto& ctx = loop_.context();
  std::int64_t now_us = wall_clock_us();
  ctx.query_log.record(now_us - static_cast<std::int64_t>(elapsed_ns / 1000), client_, proxy_peer_, query, outcome,
                       static_cast<std::uint32_t>(std::min<std::uint64_t>(elapsed_ns / 1000, UINT32_MAX)));
  if (auto m = metrics_outcome(outcome)) {
    ctx.metrics.query(*m).inc();
    ctx.metrics.answer_seconds.observe(static_cast<double>(elapsed_ns) / 1e9);
  }
  if (error != 0) {  // the client went away (reset): nobody to answer
    close();
    return;
  }
  if (!watched_ && sent == answer_.size()) {
    on_write(0);
    return;
  }
  if (!watch()) return;
  restart_timer(settings_->write_timeout);
  uv_buf_t buf = uv_buf_init(answer_.data() + sent, static_cast<unsigned>(answer_.size() - sent));
  if (uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, write_cb) != 0) close();
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
  // The listener's TCP_USER_TIMEOUT (the write timeout) ran out in the kernel before
  // the timer here did: the same timeout, counted the same.
  if (status == UV_ETIMEDOUT) loop_.context().metrics.write_timeouts.inc();
  if (status < 0 || loop_.stopping() || !linger_ || (!sent_more_than_line_ && nothing_unread())) {
    // Failed (the client went away), or the server drains, or the client sent just
    // its line and nothing of it is left unread: the answer is with the kernel, which
    // delivers it after close and ends it with a FIN (a reset comes only from unread
    // input, which is what lingering guards against).
    if (status >= 0 && (loop_.stopping() || !linger_)) send_before_reset();
    close();
    return;
  }
  phase_ = Phase::lingering;
  if (watched_) {
    if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), shutdown_cb) != 0) close();
    return;
  }
  // Written at once: the answer is all in the kernel, so the FIN may follow right away.
  if (::shutdown(fd_, SHUT_WR) != 0 || !watch()) {
    close();
    return;
  }
  restart_timer(settings_->write_timeout);
  on_shutdown(0);
}

// Input still unread (a refused client that sent more than one recv() discards, or any
// client that did while the server drains) turns close() into a reset, and a reset
// throws away what the kernel has not sent yet: with MSG_MORE, the answer's last
// segment, so such a client read nothing at all. SHUT_WR sends it and the FIN first;
// the reset follows them, and the client reads the answer before it.
void ClientConnection::send_before_reset() {
  if (!nothing_unread()) ::shutdown(fd_, SHUT_WR);
}

bool ClientConnection::nothing_unread() {
  int unread = 0;
  return ioctl(fd_, FIONREAD, &unread) == 0 && unread == 0;
}

void ClientConnection::discard_unread() {
  uv_buf_t buf = loop_.read_buffer();
  ssize_t n;
  do {
    n = ::recv(fd_, buf.base, buf.len, 0);  // non-blocking: EAGAIN when nothing is there
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

void ClientConnection::arm_read_timer() {
  const std::uint64_t now = uv_hrtime();
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(read_deadline_ns_ > now ? read_deadline_ns_ - now : 0));
  if (awaiting_signature_rest_ && !signature_wait_over_) timeout = std::min(timeout, kProxySignatureGrace);
  restart_timer(timeout);
}

void ClientConnection::restart_timer(std::chrono::milliseconds timeout) {
  uv_timer_start(&timer_, timer_cb, static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 1)), 0);
}

void ClientConnection::timer_cb(uv_timer_t* timer) { static_cast<ClientConnection*>(timer->data)->on_timer(); }

void ClientConnection::on_timer() {
  auto& ctx = loop_.context();
  switch (phase_) {
    case Phase::reading:
      if (awaiting_signature_rest_ && !signature_wait_over_) {
        // No more of a signature came: what the trusted peer sent is a line.
        signature_wait_over_ = true;
        process_input();
        if (phase_ == Phase::reading) arm_read_timer();  // the line itself is not complete yet
        return;
      }
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
      int unsent = 0;
      if (ioctl(fd_, SIOCOUTQ, &unsent) == 0 && unsent > 0)
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
  ctx.metrics.connections_open.dec();
  if (!watched_) {
    ::close(fd_);  // serve() deletes the connection once start() returns
    return;
  }
  if (attached_) {
    loop_.detach(this);
    attached_ = false;
  }
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), close_cb);  // closes fd_, if libuv took it
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), close_cb);
}

void ClientConnection::close_cb(uv_handle_t* handle) {
  auto* self = static_cast<ClientConnection*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace whoisd
