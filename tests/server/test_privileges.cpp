#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "server/privileges.h"

using whoisd::drop_privileges;
using whoisd::PrivilegeError;

namespace {

std::string error_of(const std::string& user) {
  try {
    drop_privileges(user);
  } catch (const PrivilegeError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("drop_privileges refuses unknown users and root, changing nothing", "[privileges]") {
  if (geteuid() != 0) {
    CHECK_FALSE(drop_privileges("nobody"));  // nothing to drop
    WARN("not running as root: only the no-op case is tested");
    return;
  }
  CHECK(error_of("no-such-user-whoisd") ==
        "unknown user 'no-such-user-whoisd' ([server] user): no such account on this system");
  CHECK(error_of("root").find("user 'root' ([server] user) is root") != std::string::npos);
  CHECK(error_of("").find("no user to drop privileges to") != std::string::npos);
  CHECK(geteuid() == 0);  // still root: the failures above changed nothing
}

TEST_CASE("drop_privileges switches to the user for good", "[privileges]") {
  if (geteuid() != 0) {
    WARN("not running as root: skipped");
    return;
  }
  // A file only root may read, to show the dropped process cannot.
  char path[] = "/tmp/whoisd-privileges-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(fchmod(fd, 0600) == 0);
  close(fd);

  // In a child, since dropping root cannot be undone: the exit status says what failed.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      if (!drop_privileges("nobody")) _exit(10);
    } catch (...) {
      _exit(11);
    }
    if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534 || getegid() != 65534) _exit(12);
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0) _exit(13);
    gid_t groups[4];
    if (getgroups(4, groups) > 1) _exit(14);
    if (open(path, O_RDONLY) >= 0) _exit(15);
    if (drop_privileges("nobody")) _exit(16);  // no longer root: a no-op
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  unlink(path);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
