// Giving up root after binding port 43, when whoisd is started as root without systemd
// (under systemd the socket unit binds and the service never runs as root).
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>

namespace whoisd {

struct PrivilegeError : std::runtime_error {
  using runtime_error::runtime_error;
};

struct UnprivilegedUser {
  uid_t uid = 0;
  gid_t gid = 0;
};
// The ids of `user`, which must exist and not be root (what drop_privileges switches
// to; --check-config asks the same). Throws PrivilegeError naming the user otherwise.
UnprivilegedUser look_up_unprivileged_user(const std::string& user);

// When the effective user is root: switch to `user` (its uid and primary gid, no
// supplementary groups) and verify that root cannot be regained. Returns true then.
// Returns false and changes nothing when not running as root.
// Throws PrivilegeError naming the user when it is unknown, is root itself, or any step
// fails; the caller must then exit rather than serve as root.
bool drop_privileges(const std::string& user);

// access(2) of `path` for `mode` (W_OK | X_OK...) as whoisd will have it: as `user`
// after drop_privileges() when the effective user is root (asked in a child process
// that drops them, so that the caller keeps root), as the caller otherwise. 0 when
// allowed, else the errno. For --check-config, which runs no threads.
int access_as_daemon(const std::string& user, const std::string& path, int mode);

}  // namespace whoisd
