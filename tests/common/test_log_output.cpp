// The background log writer: a thread that logs never waits for standard error, lines
// beyond the buffer are dropped and reported, all of them leave whole and in order, and
// a reader stuck at exit does not hold the exit up; lines lost to a write that fails
// (EPIPE, ENOSPC, EFBIG) are counted, and a line such a write cut is ended before the
// next. Standard error is a pipe here, read (or not) by the test, or a file.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "common/log.h"
#include "common/log_output.h"
#include "support/spawn_self.h"

using namespace whoisd;
using namespace std::chrono_literals;

namespace {

// Standard error replaced by a small pipe for the test's lifetime.
class StderrPipe {
 public:
  StderrPipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    read_end_ = fds[0];
    (void)::fcntl(fds[1], F_SETPIPE_SZ, 4096);  // fills after a few dozen lines
    saved_ = ::dup(STDERR_FILENO);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
    ::close(fds[1]);
  }
  ~StderrPipe() {
    restore();
    if (read_end_ >= 0) ::close(read_end_);
  }
  // Standard error back as it was: the pipe's last write end closes.
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  // Reads until every write end is closed.
  std::string read_to_end() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(read_end_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // What the pipe holds now, without waiting for more.
  std::string read_available() {
    (void)::fcntl(read_end_, F_SETFL, ::fcntl(read_end_, F_GETFL) | O_NONBLOCK);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_end_, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    (void)::fcntl(read_end_, F_SETFL, ::fcntl(read_end_, F_GETFL) & ~O_NONBLOCK);
    return out;
  }
  void close_read_end() {
    ::close(read_end_);
    read_end_ = -1;
  }

 private:
  int read_end_ = -1;
  int saved_ = -1;
};

}  // namespace

TEST_CASE("a full standard error drops lines instead of blocking, and says so once it is read") {
  StderrPipe pipe;
  const std::uint64_t dropped_before = log::lines_dropped();
  std::string output;
  std::thread reader;
  {
    log::BackgroundLogWriter writer(8192, 10s);
    // Nobody reads yet: the pipe (4 KiB) and the buffer (8 KiB) hold a few dozen lines;
    // written by this thread, the rest would block it for good.
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 5000; ++i) log::info("test_line").kv("i", i).kv("padding", std::string(60, 'x'));
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK(log::lines_dropped() > dropped_before);
    reader = std::thread([&] { output = pipe.read_to_end(); });
    // The destructor flushes what is queued, and the report, while the reader drains.
  }
  log::info("written_directly");  // by this thread again
  pipe.restore();                 // the last write end: the reader sees the end
  reader.join();

  REQUIRE(output.find("event=test_line i=0 ") != std::string::npos);
  const auto report = output.find("event=log_lines_dropped count=");
  REQUIRE(report != std::string::npos);
  CHECK(output.find("reason=\"standard error was not read fast enough\"", report) != std::string::npos);
  const auto direct = output.find("event=written_directly");
  REQUIRE(direct != std::string::npos);
  CHECK(report < direct);
  CHECK(output.find('\n', direct) == output.size() - 1);  // the last line
  // Whatever was kept is whole lines, in the order they were logged.
  int previous = -1;
  int kept = 0;
  std::size_t at = 0;
  while (at < output.size()) {
    const auto end = output.find('\n', at);
    REQUIRE(end != std::string::npos);
    const std::string line = output.substr(at, end - at);
    CHECK(line.rfind("ts=", 0) == 0);
    const auto i = line.find("event=test_line i=");
    if (i != std::string::npos) {
      const int n = std::stoi(line.substr(i + 18));
      CHECK(n > previous);
      previous = n;
      ++kept;
    }
    at = end + 1;
  }
  // Some were dropped, and counted. Which ones depends on when the writer thread first
  // ran: woken late (a loaded machine), it took the buffer near the end of the loop and
  // the last line was kept, so the count, not the last number, says that lines were lost.
  CHECK(kept < 5000);
  CHECK(log::lines_dropped() - dropped_before >= static_cast<std::uint64_t>(5000 - kept));
}

TEST_CASE("a standard error stuck at the stop is given up after the flush deadline") {
  std::signal(SIGPIPE, SIG_IGN);  // the stuck write fails with EPIPE once the pipe goes
  StderrPipe pipe;
  const std::uint64_t dropped_before = log::lines_dropped();
  const auto started = std::chrono::steady_clock::now();
  {
    log::BackgroundLogWriter writer(8192, 200ms);
    for (int i = 0; i < 200; ++i) log::info("never_read").kv("padding", std::string(60, 'x'));
  }
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  // Given up: later lines are dropped too, not written by a thread that would block.
  log::info("after_giving_up");
  CHECK(log::lines_dropped() > dropped_before);
  // Once the pipe goes, the stuck write returns and lines are written directly again.
  pipe.restore();
  pipe.close_read_end();
  bool writable_again = false;
  for (int i = 0; i < 500 && !writable_again; ++i) {
    try {
      log::BackgroundLogWriter again(8192, 1s);
      writable_again = true;
    } catch (const std::logic_error&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(writable_again);
  // Should the stuck write have failed once the pipe went (EPIPE), the drops wait for a
  // write that succeeds to be reported: this one, rather than one in the next case.
  {
    log::BackgroundLogWriter writer(8192, 1s);
    log::info("written_again");
  }
}

TEST_CASE("a non-blocking standard error that fills is waited for by the writer, not given up") {
  // O_NONBLOCK belongs to the open file, shared with whoever else holds it (a terminal
  // or a pipe that another program set so): write(2) then fails with EAGAIN once the
  // pipe is full, where a blocking one would wait.
  StderrPipe pipe;
  const int flags = ::fcntl(STDERR_FILENO, F_GETFL);
  REQUIRE(flags >= 0);
  REQUIRE(::fcntl(STDERR_FILENO, F_SETFL, flags | O_NONBLOCK) == 0);
  const std::uint64_t dropped_before = log::lines_dropped();
  std::string output;
  std::thread reader;
  {
    log::BackgroundLogWriter writer(1 << 16, 10s);
    // 200 lines of about 130 bytes: more than the 4 KiB pipe, within the 64 KiB buffer.
    for (int i = 0; i < 200; ++i) log::info("nonblocking_line").kv("i", i).kv("padding", std::string(60, 'x'));
    std::this_thread::sleep_for(200ms);  // the writer meets the full pipe, nobody reading
    reader = std::thread([&] { output = pipe.read_to_end(); });
  }
  pipe.restore();
  reader.join();

  CHECK(log::lines_dropped() == dropped_before);  // all within the buffer
  int expected = 0;
  std::size_t at = 0;
  while (at < output.size()) {
    const auto end = output.find('\n', at);
    REQUIRE(end != std::string::npos);
    const std::string line = output.substr(at, end - at);
    CHECK(line.rfind("ts=", 0) == 0);  // whole lines, none cut by a partial write
    const auto i = line.find("event=nonblocking_line i=");
    REQUIRE(i != std::string::npos);
    CHECK(std::stoi(line.substr(i + 25)) == expected);
    ++expected;
    at = end + 1;
  }
  CHECK(expected == 200);
}

// Run by the next test in a process of its own (a hidden test: "[.]"): lines queued,
// then a fatal error ends the process as an uncaught exception does.
TEST_CASE("log_terminate_child", "[.log_terminate_child]") {
  log::BackgroundLogWriter writer;
  for (int i = 0; i < 2000; ++i) log::error("before_terminate").kv("i", i).kv("padding", std::string(60, 'x'));
  std::signal(SIGABRT, SIG_DFL);  // the abort ends the process, not Catch's handler for it
  std::terminate();
}

TEST_CASE("a fatal error (std::terminate) writes the lines queued before it first") {
  // This binary again, running only the test above, with standard error on a pipe.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  const pid_t child = test::spawn_self("[.log_terminate_child]", actions);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(child > 0);
  std::string output;
  char buf[65536];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));  // std::terminate's abort

  int expected = 0;
  std::size_t at = 0;
  while (at < output.size() && output.compare(at, 3, "ts=") == 0) {
    const auto end = output.find('\n', at);
    REQUIRE(end != std::string::npos);
    const auto i = output.find("event=before_terminate i=", at);
    REQUIRE(i < end);
    CHECK(std::stoi(output.substr(i + 25)) == expected);
    ++expected;
    at = end + 1;
  }
  CHECK(expected == 2000);  // every line queued before the fatal error, in order
  // Then what the runtime says of the fatal error, after the lines.
  CHECK(output.find("terminate called", at) != std::string::npos);
}

// ---- write errors: each case in a process of its own, this binary again ----
//
// The output's state (a failing output, a cut line, drops not yet reported) lasts the
// process, and these leave it broken: the cases above must not inherit it.

namespace {

struct ChildResult {
  int status = 0;
  std::string output;  // its standard output: Catch's report
};

// Runs this binary's hidden test `tag` with standard error on `stderr_path` (or this
// process's own standard error), standard output read back.
ChildResult run_child(const char* tag, const char* stderr_path) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  if (stderr_path) posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path, O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  const pid_t child = test::spawn_self(tag, actions);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(child > 0);
  ChildResult result;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) result.output.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  REQUIRE(::waitpid(child, &result.status, 0) == child);
  return result;
}

void require_child_passed(const ChildResult& child) {
  INFO("the child's report:\n" << child.output);
  CHECK(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) == 0);
}

}  // namespace

TEST_CASE("log_epipe_child", "[.log_epipe_child]") {
  std::signal(SIGPIPE, SIG_IGN);  // as the daemon does: the write fails with EPIPE instead
  StderrPipe pipe;
  pipe.close_read_end();  // the reader is gone (journald's stream, a pipe's reader)
  const std::uint64_t dropped_before = log::lines_dropped();
  const auto started = std::chrono::steady_clock::now();
  {
    log::BackgroundLogWriter writer(1 << 20, 3s);
    for (int i = 0; i < 500; ++i) log::info("epipe_line").kv("i", i).kv("padding", std::string(60, 'x'));
  }
  // Each write fails at once: the flush is over long before its deadline (not given up
  // at it), and no report (it would fail in turn) keeps the writer going.
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  CHECK(log::lines_dropped() - dropped_before == 500);
  log::info("written_directly");  // by this thread: lost too, and counted
  CHECK(log::lines_dropped() - dropped_before == 501);
}

TEST_CASE("lines lost to a standard error whose reader is gone (EPIPE) are counted, each of them") {
  require_child_passed(run_child("[.log_epipe_child]", nullptr));
}

// Standard error on /dev/full: every write fails with ENOSPC, as on a full disk.
TEST_CASE("log_enospc_child", "[.log_enospc_child]") {
  const std::uint64_t dropped_before = log::lines_dropped();
  for (int i = 0; i < 10; ++i) log::info("enospc_direct").kv("i", i);  // no writer thread yet
  CHECK(log::lines_dropped() - dropped_before == 10);
  const auto started = std::chrono::steady_clock::now();
  {
    log::BackgroundLogWriter writer(1 << 20, 3s);
    for (int i = 0; i < 1000; ++i) log::info("enospc_line").kv("i", i).kv("padding", std::string(60, 'x'));
    std::this_thread::sleep_for(50ms);  // the writer meets the error, with lines still to come
    for (int i = 0; i < 1000; ++i) log::info("enospc_line").kv("i", i).kv("padding", std::string(60, 'x'));
  }
  CHECK(std::chrono::steady_clock::now() - started < 2s);  // flushed, not given up at the deadline
  CHECK(log::lines_dropped() - dropped_before == 2010);
}

TEST_CASE("lines lost to a full disk (ENOSPC) are counted, each of them") {
  require_child_passed(run_child("[.log_enospc_child]", "/dev/full"));
}

// Standard error on a file, with the file size limit (RLIMIT_FSIZE) set inside a line:
// the write that crosses it is partial, cutting that line, and the next fails (EFBIG),
// as a disk that fills does. Then the limit goes and writes succeed again.
TEST_CASE("log_cut_line_child", "[.log_cut_line_child]") {
  std::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead
  char path[] = "/tmp/whoisd-test-log-XXXXXX";
  const int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  ::unlink(path);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(::dup2(file, STDERR_FILENO) == STDERR_FILENO);

  // Every line is this long (a timestamp to the second, i of two digits): the first,
  // written by this thread, says how long.
  const auto padded_line = [](int i) { log::info("cut_test").kv("i", i).kv("padding", std::string(100, 'x')); };
  padded_line(10);
  struct stat st {};
  REQUIRE(::fstat(file, &st) == 0);
  const auto line_size = static_cast<rlim_t>(st.st_size);
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &limit) == 0);
  const rlimit unlimited = limit;
  limit.rlim_cur = 4 * line_size + line_size / 2;  // within the fifth line
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);

  const std::uint64_t dropped_before = log::lines_dropped();
  {
    log::BackgroundLogWriter writer(1 << 20, 2s);
    for (int i = 11; i < 30; ++i) padded_line(i);
  }
  // 11 to 13 whole, 14 cut, 15 to 29 never written.
  CHECK(log::lines_dropped() - dropped_before == 16);

  REQUIRE(::setrlimit(RLIMIT_FSIZE, &unlimited) == 0);
  {
    log::BackgroundLogWriter writer(1 << 20, 2s);
    log::info("after_the_failure");
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);

  std::string output(static_cast<std::size_t>(4 * line_size) + 4096, '\0');
  const ssize_t n = ::pread(file, output.data(), output.size(), 0);
  ::close(file);
  REQUIRE(n > 0);
  output.resize(static_cast<std::size_t>(n));
  INFO("standard error:\n" << output);
  // The cut line's head, ended, then the next line on a line of its own.
  const auto cut = output.find("event=cut_test i=14 ");
  REQUIRE(cut != std::string::npos);
  const auto after = output.find("ts=", cut);
  REQUIRE(after != std::string::npos);
  CHECK(output[after - 1] == '\n');
  CHECK(output.find("event=after_the_failure", after) < output.find('\n', after));
  // Then the report, once a write succeeded: the lines lost, and why.
  const auto report = output.find("event=log_lines_dropped count=16 ");
  REQUIRE(report != std::string::npos);
  CHECK(report > after);
  CHECK(output.find("reason=\"writing to standard error failed\" error=\"File too large\"", report) !=
        std::string::npos);
  CHECK(output.find("event=cut_test i=15 ") == std::string::npos);
}

TEST_CASE("a line cut by a write that failed is ended before the next line, and counted") {
  require_child_passed(run_child("[.log_cut_line_child]", nullptr));
}

TEST_CASE("wait_until_written returns once the queued lines are out, or at its bound when standard error is stuck") {
  CHECK(log::wait_until_written(0ms));  // no writer thread: lines are written directly
  StderrPipe pipe;
  std::string output;
  std::thread reader;
  {
    log::BackgroundLogWriter writer(1 << 16, 10s);
    // 20 short lines fit in the 4 KiB pipe: once the wait returns they are all in it.
    for (int i = 0; i < 20; ++i) log::info("waited").kv("i", i);
    CHECK(log::wait_until_written(10s));
    const std::string there = pipe.read_available();
    for (int i = 0; i < 20; ++i)
      CHECK(there.find("event=waited i=" + std::to_string(i) + "\n") != std::string::npos);

    // Nobody reads: the pipe fills, and the wait ends at its bound, saying so.
    for (int i = 0; i < 2000; ++i) log::info("stuck").kv("i", i).kv("padding", std::string(60, 'x'));
    const auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(log::wait_until_written(300ms));
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= 300ms);
    CHECK(waited < 5s);
    reader = std::thread([&] { output = pipe.read_to_end(); });
  }
  pipe.restore();
  reader.join();
  CHECK(output.find("event=stuck i=0 ") != std::string::npos);
}
