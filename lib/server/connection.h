// One client connection, from accept to close (RFC 3912): an optional PROXY header
// (only from a trusted proxy), one line up to LF, one answer written whole, then a
// close.
//
// The fast path, which most queries take, costs four system calls after the accept
// and never involves epoll: the line is read with one recv() on the bare descriptor
// right after accept (the listener's TCP_DEFER_ACCEPT has the kernel accept a
// connection only once its first bytes are there, so the line has usually arrived),
// the answer is written with one send(), and when the client sent just its line and
// nothing is left unread (FIONREAD), the descriptor is closed (the kernel delivers the
// answer and a FIN). All of it happens within the listener's callback.
//
// The connection falls back to a libuv-watched one (uv_tcp_open on the same
// descriptor, a timer, the loop's list of open connections) only when it must wait:
// the line has not fully arrived, the answer did not fit in the socket's buffer, or
// the close must linger. Lingering: the connection half-closes and stays open only to
// read and discard what the client still sends until it closes (bounded by the write
// timeout), because closing a socket with unread input makes the kernel send a reset,
// which can destroy the answer before the client has read it (a client that sent a
// line too long, or pipelined extra bytes).
//
// Every way out is bounded: the read timeout until the line is complete, the write
// timeout for the answer and the close. Nothing a client sends is held beyond one
// PROXY header and one maximal line.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.h"
#include "server/live_settings.h"
#include "server/outcome.h"

namespace whoisd {

class EventLoop;

class ClientConnection {
 public:
  // Serves the connection just accepted on `loop` as `fd` (non-blocking, owned from
  // here) from `peer`. Returns once it is answered and closed, or once it waits under
  // libuv; a waiting connection owns itself and deletes itself once closed.
  // `held_if_silent_ns`: how long the listening socket made a connection that had sent
  // nothing wait before it could be accepted (TCP_DEFER_ACCEPT's deferral, or 0), which
  // its read timeout has then already used.
  static void serve(EventLoop& loop, int fd, const IpAddress& peer, std::uint64_t held_if_silent_ns);

  // For waiting connections (the loop's list): the server stops accepting. A
  // connection that has already written its answer closes now (the kernel still
  // delivers the answer); others finish.
  void server_stopping();
  // The drain deadline passed: close now, whatever the phase.
  void force_close();

  // The loop's intrusive list of open connections.
  ClientConnection* prev = nullptr;
  ClientConnection* next = nullptr;

 private:
  enum class Phase { reading, writing, lingering, closing };

  ClientConnection(EventLoop& loop, int fd, const IpAddress& peer);
  ~ClientConnection() = default;
  void start(std::uint64_t held_if_silent_ns);
  bool watch();
  void stop_reading();
  bool take_source_slot(const IpAddress& client);
  bool read_now(bool& nothing_arrived);
  bool nothing_unread();
  void discard_unread();
  void send_before_reset();
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void process_input();
  bool process_proxy_header();
  void answer_line(std::string_view line, std::string_view refusal);
  void refuse(std::string text, Outcome outcome, std::string_view query);
  void write_answer(std::string text, Outcome outcome, std::string_view query, std::uint64_t started_ns);
  void on_write(int status);
  void on_shutdown(int status);
  void on_timer();
  void restart_timer(std::chrono::milliseconds timeout);
  // The timer while the line is awaited: the read deadline, or the short wait for the
  // rest of a PROXY v2 signature when that is what is awaited (see process_proxy_header).
  void arm_read_timer();
  void close();

  static void alloc_cb(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void write_cb(uv_write_t* req, int status);
  static void shutdown_cb(uv_shutdown_t* req, int status);
  static void timer_cb(uv_timer_t* timer);
  static void close_cb(uv_handle_t* handle);

  EventLoop& loop_;
  // The loop's settings: they outlive a connection served within one callback; one that
  // waits under libuv keeps its own reference (settings_hold_), as a SIGHUP may replace
  // the loop's meanwhile.
  const LiveSettings* settings_;
  std::shared_ptr<const LiveSettings> settings_hold_;
  int fd_;                              // the socket; libuv owns it once watched_
  bool watched_ = false;                // handed to libuv (tcp_, timer_ initialised): see above
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_write_t write_req_{};
  uv_shutdown_t shutdown_req_{};
  int open_handles_ = 0;
  Phase phase_ = Phase::reading;

  IpAddress peer_;                      // who connected
  IpAddress client_;                    // whom the query is for (the PROXY header's client, or the peer)
  std::optional<IpAddress> proxy_peer_; // the trusted proxy, when a PROXY header named the client
  bool trusted_peer_ = false;
  bool header_done_ = false;            // past the PROXY header stage
  bool input_ended_ = false;            // the client half-closed: what it sent is all there is
  // A trusted peer sent an empty line, which is also how the PROXY v2 signature begins:
  // the rest is awaited for kProxySignatureGrace (awaiting), then it is a line (over).
  bool awaiting_signature_rest_ = false;
  bool signature_wait_over_ = false;
  bool holds_total_slot_ = false;
  std::optional<IpAddress> source_slot_;
  bool attached_ = false;               // in the loop's list (watched connections only)
  bool linger_ = true;                  // after the answer, read until the client closes (see above)...
  bool sent_more_than_line_ = false;    // ...when the client sent more than its line (or it is unread)

  std::uint64_t accepted_ns_ = 0;       // uv_hrtime() at accept (at connect for a silent one: start())
  std::uint64_t read_deadline_ns_ = 0;  // uv_hrtime() when the read timeout ends (set by start())
  std::string input_;                   // bytes received, bounded
  std::string answer_;                  // the whole answer, alive until the write completes
};

}  // namespace whoisd
