// One client connection, from accept to close (RFC 3912): an optional PROXY header
// (only from a trusted proxy), one line up to LF, one answer written in a single
// uv_write, then a close. The line is first read with one recv() right after accept
// (it has usually arrived); libuv's read watcher is armed only when it has not. When
// the client sent just its line and nothing is left unread, the socket is closed
// right after the write (the kernel delivers the answer and a FIN). Otherwise the
// connection half-closes and stays open only to read and discard what the client
// still sends until it closes (bounded by the write timeout): closing a socket with
// unread input makes the kernel send a reset, which can destroy the answer before the
// client has read it (a client that sent a line too long, or pipelined extra bytes).
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
  // Accepts one pending connection of `server` on `loop`. The connection owns
  // itself from here and deletes itself once closed.
  static void accept(EventLoop& loop, uv_stream_t* server);

  // The server stops accepting: a connection that has already written its answer
  // closes now (the kernel still delivers the answer); others finish.
  void server_stopping();
  // The drain deadline passed: close now, whatever the phase.
  void force_close();

  // The loop's intrusive list of open connections.
  ClientConnection* prev = nullptr;
  ClientConnection* next = nullptr;

 private:
  enum class Phase { reading, writing, lingering, closing };

  explicit ClientConnection(EventLoop& loop);
  ~ClientConnection() = default;
  bool start(uv_stream_t* server);
  bool take_source_slot(const IpAddress& client);
  bool read_now();
  bool nothing_unread();
  void discard_unread();
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void process_input();
  bool process_proxy_header();
  void answer_line(std::string_view line, bool too_long);
  void refuse(std::string text, Outcome outcome, std::string_view query);
  void write_answer(std::string text, Outcome outcome, std::string_view query, std::uint64_t started_ns);
  void on_write(int status);
  void on_shutdown(int status);
  void on_timer();
  void restart_timer(std::chrono::milliseconds timeout);
  void close();

  static void alloc_cb(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void read_cb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void write_cb(uv_write_t* req, int status);
  static void shutdown_cb(uv_shutdown_t* req, int status);
  static void timer_cb(uv_timer_t* timer);
  static void close_cb(uv_handle_t* handle);

  EventLoop& loop_;
  std::shared_ptr<const LiveSettings> settings_;
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
  bool holds_total_slot_ = false;
  std::optional<IpAddress> source_slot_;
  bool attached_ = false;
  bool linger_ = true;                  // after the answer, read until the client closes (see above)...
  bool sent_more_than_line_ = false;    // ...when the client sent more than its line (or it is unread)

  std::uint64_t accepted_ns_ = 0;       // uv_hrtime() at accept
  std::string input_;                   // bytes received, bounded
  std::string answer_;                  // the whole answer, alive until the write completes
};

}  // namespace whoisd
