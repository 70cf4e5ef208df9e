// One daemon per state directory. Two whoisd processes on one state.sqlite would each
// count only the queries they answer (a source could make twice its limit) and race
// on the same rows; the second one refuses to start instead. An flock(2) on a file in
// the directory, held for the life of the process and released by the kernel however
// it ends (no stale lock after a crash). whoisd-admin does not take it: it is meant to
// run beside the daemon; it only asks whether a daemon holds it (state_dir_holder), to
// tell its operator at once whether a command reaches a running daemon.
#pragma once

#include <string>

namespace whoisd {

class StateDirLock {
 public:
  // Takes the lock of `dir` (created when missing), writing this process's id into the
  // lock file for the message a second daemon gets. Throws std::runtime_error naming
  // the directory, and the holder's process id when another daemon holds it.
  explicit StateDirLock(const std::string& dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  int fd_ = -1;
};

struct StateDirHolder {
  enum class Status {
    held,     // a whoisd holds the lock: it runs on this directory
    free,     // no process holds it (or the lock file does not exist: no whoisd ever ran here)
    unknown,  // the lock file cannot be opened or tested; `error` says why
  };
  Status status = Status::unknown;
  std::string pid;    // held: the process id the daemon wrote into the lock file ("" if none)
  std::string error;  // unknown: what failed, naming the file
};

// Whether a whoisd holds `dir`'s lock now. Tests the lock by taking it shared for an
// instant (flock(2) has no way to ask without taking it); a daemon starting in that
// instant waits for it (StateDirLock retries briefly) instead of refusing to start.
// Creates nothing.
StateDirHolder state_dir_holder(const std::string& dir);

}  // namespace whoisd
