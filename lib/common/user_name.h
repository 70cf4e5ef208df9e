// The name of the user this process runs as, for messages that say who met a
// permission (the daemon after its privilege drop, --check-config).
#pragma once

#include <string>

namespace whoisd {

// The effective user's name ("whoisd"), or "uid 1234" when the uid has none.
std::string effective_user_name();

}  // namespace whoisd
