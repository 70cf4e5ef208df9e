// One daemon per state directory. Two whoisd processes on one state.sqlite would each
// count only the queries they answer (a source could make twice its limit) and race
// on the same rows; the second one refuses to start instead. An flock(2) on a file in
// the directory, held for the life of the process and released by the kernel however
// it ends (no stale lock after a crash). whoisd-admin does not take it: it is meant to
// run beside the daemon.
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

}  // namespace whoisd
