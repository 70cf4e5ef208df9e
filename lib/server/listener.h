// One listening TCP socket of one event loop. The socket is watched with a uv_poll
// handle rather than libuv's own uv_listen, because the accept is where most of a
// query's system calls can be saved: accept4() here asks for the peer's address at
// once (no getpeername()), and the accepted socket goes to ClientConnection::serve()
// as a bare descriptor, which answers most queries without ever registering it with
// epoll (see connection.h).
//
// Each wake-up accepts at most a bounded number of connections, so that a flood of
// connections cannot starve the loop's timers and writes (the poll is level-triggered:
// what is left is accepted on the next iteration). When the process or the system is
// out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), accepting pauses
// for a short while instead of spinning on a socket that stays readable: the pending
// connections wait in the kernel's backlog until descriptors are free again.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace whoisd {

class EventLoop;

class Listener {
 public:
  // Takes ownership of `fd`, a bound TCP socket (or one systemd passed); `name` is its
  // address for log lines. Nothing happens until listen().
  Listener(EventLoop& loop, int fd, std::string name);
  ~Listener();  // closes the descriptor if close() never ran
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Sets TCP_NODELAY (inherited by accepted sockets) and TCP_DEFER_ACCEPT (a
  // connection is accepted once its first bytes are there), listens and starts
  // accepting. Returns 0 or a libuv error code.
  int listen(int backlog);
  // Sets TCP_USER_TIMEOUT, inherited by accepted sockets: the kernel aborts a connection
  // whose sent data stays unacknowledged (or unsent behind a shut window) this long.
  // An answer the daemon handed to the kernel whole and then closed on is no longer the
  // daemon's to time out: without this, a client that never reads it keeps an orphaned
  // socket probing its zero window for minutes. (A failure is logged, not fatal.)
  void limit_unacknowledged(std::chrono::milliseconds timeout);
  // At a graceful stop, before close(): accepts and serves every connection the kernel
  // has queued (at most the backlog's worth, so that a flood cannot keep it going).
  // Closing a listening socket resets the connections in its queue, whose clients have
  // connected and most likely sent their query already; accepted, they are answered
  // within the drain like those accepted earlier. (A connection still in the
  // TCP_DEFER_ACCEPT deferral, connected but silent, is not in the queue and is still
  // lost, as is one that arrives between this and close(); a socket systemd passed
  // keeps both for the next start instead, since systemd holds it open.)
  void accept_queued();
  // Stops accepting and closes the socket (its handles close on the next loop
  // iteration). Idempotent.
  void close();
  const std::string& name() const { return name_; }

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  static void on_resume(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);
  void accept_pending(int at_most);
  void pause();

  EventLoop& loop_;
  int fd_;
  std::string name_;
  uv_poll_t poll_{};
  uv_timer_t resume_timer_{};
  // How long the kernel has already held a connection that is accepted before sending
  // anything: TCP_DEFER_ACCEPT's deferral when it could be set, else 0.
  std::uint64_t held_if_silent_ns_ = 0;
  std::chrono::milliseconds limited_to_{-1};  // the TCP_USER_TIMEOUT set, -1 before any
  int backlog_ = 0;           // listen()'s: the most connections the kernel queues
  bool initialized_ = false;  // the handles exist (listen() ran)
  bool closing_ = false;
  int open_handles_ = 0;
};

}  // namespace whoisd
