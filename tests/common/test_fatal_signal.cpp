// The fatal signal handler (common/fatal_signal.h): lines queued for the log writer
// thread when abort(), a crash or a stack overflow ends the process still reach standard
// error, then a fatal_signal line, and the process still dies from that signal; with
// standard error stuck, it dies within the handler's deadline all the same.
//
// Each case runs in a process of its own (this binary again, a hidden test), with
// standard error on a small pipe that the test does not read at first: the writer thread
// is stuck in a write, and the lines logged after it wait in the buffer, as they do when
// journald falls behind. The child says (on descriptor 3) when it is about to die; only
// then does the test read (or, for the stuck case, never).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/fatal_signal.h"
#include "common/log.h"
#include "common/log_output.h"
#include "common/thread_setup.h"
#include "snapshot/mapping_guard.h"
#include "support/spawn_self.h"

using namespace whoisd;
using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr int kQueued = 500;

// Lines that wait in the buffer behind a write stuck on the full pipe, then the parent
// is told that the end is near, and `crash` ends the process.
template <typename Crash>
[[noreturn]] void queue_lines_then(Crash crash) {
  if (!kSanitized && !fatal_signal::installed())  // Catch's handlers out of the way: the default action follows
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, SIG_DFL);
  fatal_signal::install();
  static log::BackgroundLogWriter writer;  // never destroyed: the process ends first
  // More than the 4 KiB pipe holds: the writer thread blocks in its write.
  for (int i = 0; i < 100; ++i) log::info("filler").kv("i", i).kv("padding", std::string(100, 'x'));
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < kQueued; ++i) log::error("queued").kv("i", i).kv("padding", std::string(60, 'y'));
  (void)!::write(3, "!", 1);
  crash();
  std::_Exit(99);  // not reached
}

// A real fault: a write to a page that allows none (SEGV_ACCERR).
void write_to_protected_page() {
  void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int*>(page) = 1;
}

int deep(int n) {
  volatile char frame[1024];
  frame[n % 1024] = static_cast<char>(n);
  if (n == 0) return frame[0];
  return deep(n - 1) + frame[(n * 7) % 1024];
}

}  // namespace

TEST_CASE("fatal_abort_child", "[.fatal_abort_child]") {
  queue_lines_then([] { std::abort(); });
}

TEST_CASE("fatal_segv_child", "[.fatal_segv_child]") {
  queue_lines_then(write_to_protected_page);
}

TEST_CASE("fatal_two_threads_child", "[.fatal_two_threads_child]") {
  queue_lines_then([] {
    // The same fault in a second thread while the first is still reporting (the report
    // waits up to half a second for the write stuck on the pipe, which the parent reads
    // only 150 ms after the notice).
    std::thread([] {
      std::this_thread::sleep_for(50ms);
      write_to_protected_page();
    }).detach();
    write_to_protected_page();
  });
}

TEST_CASE("fatal_stack_overflow_child", "[.fatal_stack_overflow_child]") {
  fatal_signal::install();  // before the thread asks for its alternate stack
  std::thread([] {
    queue_lines_then([] {
      set_up_thread("whoisd-deep");  // what every thread the daemon starts does first
      volatile int depth = 1 << 30;
      (void)deep(depth);
    });
  }).join();
}

TEST_CASE("fatal_sigbus_child", "[.fatal_sigbus_child]") {
  queue_lines_then([] {
    // A file mapped, then truncated under the mapping: SIGBUS (BUS_ADRERR). The snapshot
    // guard, installed after the handler, is watching another file: it passes it on.
    char watched[] = "/tmp/whoisd-test-fatal-XXXXXX", other[] = "/tmp/whoisd-test-fatal-XXXXXX";
    const int w = ::mkstemp(watched), o = ::mkstemp(other);
    ::unlink(watched);
    ::unlink(other);
    struct stat st {};
    (void)::fstat(w, &st);
    (void)mapping_guard::watch(st.st_dev, st.st_ino);
    (void)!::ftruncate(o, 4096);
    auto* map = static_cast<volatile char*>(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, o, 0));
    (void)!::ftruncate(o, 0);
    (void)map[0];
  });
}

TEST_CASE("fatal_kill_child", "[.fatal_kill_child]") {
  // As systemd's watchdog does: SIGABRT from another process (here, from itself by kill).
  queue_lines_then([] { ::kill(::getpid(), SIGABRT); for (;;) ::pause(); });
}

namespace {

struct Crashed {
  int status = 0;
  std::string output;        // standard error
  std::chrono::milliseconds after_notice{0};  // from the child's notice to its end
};

// Runs this binary's hidden test `tag`; reads standard error once the child says it is
// about to crash, or (stuck) only after it has died.
Crashed run_crashing_child(const char* tag, bool stuck = false) {
  int err[2], notice[2];
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(notice, O_CLOEXEC) == 0);
  REQUIRE(::fcntl(err[1], F_SETPIPE_SZ, 4096) == 4096);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, notice[1], 3);
  pid_t child = test::spawn_self(tag, actions);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err[1]);
  ::close(notice[1]);
  REQUIRE(child > 0);
  Crashed result;
  char byte = 0;
  const bool noticed = ::read(notice[0], &byte, 1) == 1;
  ::close(notice[0]);
  const auto noticed_at = std::chrono::steady_clock::now();
  // Read from a moment later: the handler has then taken the buffer (read at once, the
  // writer thread might still write the queued lines itself), and waits for the write
  // that is stuck (at most half a second) to go on.
  std::this_thread::sleep_for(150ms);
  if (stuck) {
    // Nobody reads: the child must end on its own, within the handler's deadline.
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(child, &result.status, WNOHANG) == child) {
        child = -1;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    result.after_notice =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - noticed_at);
    if (child > 0) {  // still alive after 10 s: end it, and fail
      ::kill(child, SIGKILL);
      ::waitpid(child, &result.status, 0);
      result.after_notice = 10s;
      child = -1;
    }
  }
  char buf[65536];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) result.output.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  if (child > 0) REQUIRE(::waitpid(child, &result.status, 0) == child);
  CHECK(noticed);
  return result;
}

// Every filler and queued line, whole and in order, then the fatal_signal line; returns it.
std::string check_lines_then_fatal(const std::string& output) {
  INFO("standard error:\n" << output.substr(0, 2000) << "\n...\n" << output.substr(output.size() > 3000 ? output.size() - 3000 : 0));
  int fillers = 0, queued = 0;
  std::string fatal;
  std::size_t at = 0;
  while (at < output.size()) {
    const auto end = output.find('\n', at);
    REQUIRE(end != std::string::npos);
    const std::string line = output.substr(at, end - at);
    at = end + 1;
    if (line.find("event=filler i=") != std::string::npos) {
      CHECK(line.rfind("ts=", 0) == 0);
      CHECK(line.find("event=filler i=" + std::to_string(fillers) + " ") != std::string::npos);
      ++fillers;
    } else if (line.find("event=queued i=") != std::string::npos) {
      CHECK(line.rfind("ts=", 0) == 0);
      CHECK(fillers == 100);
      CHECK(line.find("event=queued i=" + std::to_string(queued) + " ") != std::string::npos);
      ++queued;
    } else if (line.find("event=fatal_signal ") != std::string::npos) {
      CHECK(fatal.empty());
      fatal = line;
    }
  }
  CHECK(fillers == 100);
  CHECK(queued == kQueued);  // without the handler, these die with the process
  REQUIRE_FALSE(fatal.empty());
  CHECK(fatal.rfind("ts=", 0) == 0);
  CHECK(fatal.find(" level=error event=fatal_signal signal=") != std::string::npos);
  // Written by the handler: the queued lines (and any fillers still queued with them).
  const auto written = fatal.find(" queued_written=");
  REQUIRE(written != std::string::npos);
  CHECK(std::stoi(fatal.substr(written + 16)) >= kQueued);
  CHECK(fatal.find("queued_lost") == std::string::npos);
  return fatal;
}

void check_died_of(const Crashed& child, int sig, bool sanitizer_may_exit) {
  INFO("status " << child.status);
  if (kSanitized && sanitizer_may_exit) {
    CHECK(!(WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0));
    CHECK(child.output.find("Sanitizer") != std::string::npos);  // the sanitizer still reports
    return;
  }
  REQUIRE(WIFSIGNALED(child.status));
  CHECK(WTERMSIG(child.status) == sig);
}

bool skip_without_handler() {
  if (fatal_signal::supported()) return false;
  WARN("the fatal signal handler is not installed in this build (ThreadSanitizer)");
  return true;
}

}  // namespace

TEST_CASE("abort() writes the queued log lines and a fatal_signal line, then dies of SIGABRT", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_abort_child]");
  const std::string fatal = check_lines_then_fatal(child.output);
  CHECK(fatal.find("signal=SIGABRT code=SI_TKILL thread=") != std::string::npos);
  check_died_of(child, SIGABRT, false);
}

TEST_CASE("a segmentation fault writes the queued log lines and a fatal_signal line, then dies of SIGSEGV", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_segv_child]");
  const std::string fatal = check_lines_then_fatal(child.output);
  CHECK(fatal.find("signal=SIGSEGV code=SEGV_ACCERR addr=0x") != std::string::npos);
  check_died_of(child, SIGSEGV, true);
}

TEST_CASE("the same fatal signal in a second thread during the report does not cut it short", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_two_threads_child]");
  const std::string fatal = check_lines_then_fatal(child.output);  // one fatal_signal line, every queued line
  CHECK(fatal.find("signal=SIGSEGV code=SEGV_ACCERR addr=0x") != std::string::npos);
  check_died_of(child, SIGSEGV, true);
}

TEST_CASE("a stack overflow on a thread set up by set_up_thread (an alternate signal stack) writes the queued log lines, then dies of SIGSEGV", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_stack_overflow_child]");
  const std::string fatal = check_lines_then_fatal(child.output);
  CHECK(fatal.find("signal=SIGSEGV code=SEGV_") != std::string::npos);
  CHECK(fatal.find(" thread=whoisd-deep ") != std::string::npos);
  check_died_of(child, SIGSEGV, true);
}

TEST_CASE("a SIGBUS that the snapshot guard passes on is reported too, then dies of SIGBUS", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_sigbus_child]");
  const std::string fatal = check_lines_then_fatal(child.output);
  CHECK(fatal.find("signal=SIGBUS code=BUS_ADRERR addr=0x") != std::string::npos);
  check_died_of(child, SIGBUS, true);
}

TEST_CASE("a SIGABRT sent by another process (systemd's watchdog) is reported with its sender", "[fatal_signal]") {
  if (skip_without_handler()) return;
  const Crashed child = run_crashing_child("[.fatal_kill_child]");
  const std::string fatal = check_lines_then_fatal(child.output);
  CHECK(fatal.find("signal=SIGABRT code=SI_USER") != std::string::npos);
  check_died_of(child, SIGABRT, false);
}

TEST_CASE("with standard error stuck, a crash still ends the process within the handler's deadline", "[fatal_signal]") {
  if (skip_without_handler()) return;
  // abort(): a sanitizer's handler, which SIGSEGV goes on to, would itself wait for ever
  // to write its report on the stuck pipe.
  const Crashed child = run_crashing_child("[.fatal_abort_child]", true);
  INFO("standard error, read after the end:\n" << child.output.substr(0, 1000));
  CHECK(child.after_notice < 3500ms);  // the handler gives up after about 1.75 s
  check_died_of(child, SIGABRT, false);
  // What the pipe held: the lines before the stuck write, nothing cut and glued.
  CHECK(child.output.find("event=queued i=") == std::string::npos);
}
