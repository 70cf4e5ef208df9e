// How the daemon's result of an operator's command (admin_actions.result, written by
// state_persister.cpp) begins when the command changed nothing, so that whoisd-admin,
// which reads it back, can tell its operator and its exit status apart from "done"
// without parsing the rest of the text (which says the details for a person).
#pragma once

#include <string_view>

namespace whoisd {

// Not carried out (an exempt source, an IPv6 network of another prefix length, a
// damaged row): "refused: <why>".
inline constexpr std::string_view kActionRefused = "refused: ";
// A lift of a source that was not suspended (and had no episodes to forget): no
// abuse event is written, since no suspension ended. The whole result.
inline constexpr std::string_view kNothingToLift = "not suspended: nothing to lift";
// A suspend that met a suspension in force ending as late or later, which is kept as
// it was (an operator's suspension never shortens one): "kept: <its end and kind>".
inline constexpr std::string_view kSuspensionKept = "kept: ";

}  // namespace whoisd
