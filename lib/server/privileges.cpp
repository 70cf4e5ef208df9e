#include "server/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace whoisd {
namespace {

[[noreturn]] void fail(const std::string& user, std::string_view step) {
  throw PrivilegeError(fmt::format("cannot drop privileges to user '{}': {}: {}", user, step, std::strerror(errno)));
}

}  // namespace

UnprivilegedUser look_up_unprivileged_user(const std::string& user) {
  if (user.empty()) throw PrivilegeError("running as root, but no user to drop privileges to ([server] user)");

  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (1u << 20))
    buffer.resize(buffer.size() * 2);
  if (!found) {
    if (rc != 0 && rc != ENOENT && rc != ESRCH)
      throw PrivilegeError(fmt::format("cannot look up user '{}' ([server] user): {}", user, std::strerror(rc)));
    throw PrivilegeError(fmt::format("unknown user '{}' ([server] user): no such account on this system", user));
  }
  if (entry.pw_uid == 0)
    throw PrivilegeError(fmt::format("user '{}' ([server] user) is root; name an unprivileged account", user));
  return {entry.pw_uid, entry.pw_gid};
}

bool drop_privileges(const std::string& user) {
  if (geteuid() != 0) return false;
  const auto [uid, gid] = look_up_unprivileged_user(user);

  // Groups first: once the uid is gone we could no longer change them. Only the user's
  // primary group is kept; root's supplementary groups must not follow us.
  if (setgroups(1, &gid) != 0) fail(user, "setgroups");
  if (setgid(gid) != 0) fail(user, "setgid");
  if (setuid(uid) != 0) fail(user, "setuid");

  // Verify, rather than trust: every id is the user's, and root cannot be regained.
  if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
    throw PrivilegeError(fmt::format("dropping privileges to user '{}' left another uid or gid in place", user));
  if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
    throw PrivilegeError(fmt::format("after dropping privileges to user '{}', root could be regained", user));
  gid_t groups[2];
  const int count = getgroups(2, groups);
  if (count < 0 || count > 1 || (count == 1 && groups[0] != gid))
    throw PrivilegeError(fmt::format("after dropping privileges to user '{}', other groups remain", user));
  return true;
}

int access_as_daemon(const std::string& user, const std::string& path, int mode) {
  if (geteuid() != 0) return ::access(path.c_str(), mode) == 0 ? 0 : errno;
  const pid_t child = ::fork();
  if (child < 0) return errno;
  if (child == 0) {
    int result = 0;
    try {
      drop_privileges(user);
      result = ::access(path.c_str(), mode) == 0 ? 0 : errno;
    } catch (const PrivilegeError&) {
      result = EPERM;
    }
    ::_exit(result);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
}

}  // namespace whoisd
