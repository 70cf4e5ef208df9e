#include "common/user_name.h"

#include <pwd.h>
#include <unistd.h>

namespace whoisd {

std::string effective_user_name() {
  const uid_t uid = ::geteuid();
  const passwd* entry = ::getpwuid(uid);
  return entry ? std::string(entry->pw_name) : "uid " + std::to_string(uid);
}

}  // namespace whoisd
